"""The feedback service end to end: rating in the GUI thread, sending on the worker thread to
a real endpoint, the outbox view showing what waits and why."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from keyring.backends import fail
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from desktop.config.settings import Settings
from desktop.feedback import FeedbackDraft, RetryPolicy, TokenStore
from desktop.services.feedback_service import FeedbackService
from desktop.store import Store
from desktop.ui.outbox_view import OutboxView, SubmissionPreview
from tests.feedback.conftest import Chat, make_chat
from tests.feedback.endpoint import TOKEN, Endpoint, running_endpoint
from tests.ui.feedback_helpers import unnamed_controls


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running_endpoint() as running:
        yield running


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.open()
    yield opened
    opened.close()


@pytest.fixture
def settings(endpoint: Endpoint) -> Settings:
    settings = Settings.load()
    settings.update({"submission.enabled": True, "submission.endpoint": endpoint.url})
    return settings


@pytest.fixture
def service(store: Store, settings: Settings) -> Iterator[FeedbackService]:
    running = FeedbackService(
        store,
        settings,
        TokenStore(fail.Keyring()),
        timeout_s=2.0,
        policy=RetryPolicy(base_s=0.2, jitter=0.0),
    )
    yield running
    running.shutdown()


def test_a_rating_is_reviewed_then_sent_off_the_gui_thread(
    qtbot: QtBot, store: Store, service: FeedbackService, endpoint: Endpoint
) -> None:
    chat: Chat = make_chat(store)
    record = service.rate(chat.a1.id, FeedbackDraft(-1, ("too_verbose",), "shorter"))
    (item,) = service.outbox_items()
    assert item.state == "review"  # "send without asking" is off: nothing leaves yet
    assert service.waiting_reason() == "Waiting for an API token for this endpoint."
    service.set_token(TOKEN)
    assert service.tokens.notice is not None  # no keychain here: kept in memory, and said so
    assert endpoint.requests == []
    with qtbot.waitSignal(service.send_finished, timeout=5000) as finished:
        service.approve([item.id])
    assert finished.args[0].sent == 1
    assert service.outbox_counts()["sent"] == 1
    (stored,) = endpoint.stored
    assert stored["uid"] == record.uid
    assert stored["comment"] == "shorter"
    # The worker thread did the HTTP, not the GUI thread.
    assert service._thread.isRunning()
    assert service._thread is not QThread.currentThread()


def test_a_down_endpoint_is_retried_by_the_timer(
    qtbot: QtBot, store: Store, settings: Settings, service: FeedbackService, endpoint: Endpoint
) -> None:
    settings.set("submission.auto_send", True)
    service.set_token(TOKEN)
    chat = make_chat(store)
    endpoint.behaviour = ["500"]
    service.rate(chat.a1.id, FeedbackDraft(1))
    (item,) = service.outbox_items()
    assert item.state == "review", "the first record is seen even so"
    with qtbot.waitSignal(service.send_finished, timeout=5000) as first:
        service.approve([item.id])
    assert first.args[0].retrying == 1
    # The timer wakes the sender after the backoff (0.2 s here) without anyone asking.
    with qtbot.waitSignal(service.send_finished, timeout=5000) as second:
        pass
    assert second.args[0].sent == 1
    assert len(endpoint.stored) == 1


def test_a_withdrawal_goes_out_at_once(
    qtbot: QtBot, store: Store, settings: Settings, service: FeedbackService, endpoint: Endpoint
) -> None:
    settings.set("submission.auto_send", True)
    service.set_token(TOKEN)
    chat = make_chat(store)
    service.rate(chat.a1.id, FeedbackDraft(1))
    with qtbot.waitSignal(service.send_finished, timeout=5000):
        service.approve([i.id for i in service.outbox_items()])
    assert service._timer.isActive() is False  # nothing pending: no timer would wake it
    with qtbot.waitSignal(service.send_finished, timeout=5000) as sent:
        service.withdraw_rating(chat.a1.id)
    assert sent.args[0].sent == 1
    assert [r["type"] for r in endpoint.stored] == ["feedback", "withdrawal"]


def test_moderation_is_recorded_and_reports_are_feedback(
    store: Store, settings: Settings, service: FeedbackService
) -> None:
    settings.set("filter.rules.harassment", "dummkopf")
    chat = make_chat(store)
    result = service.moderate(chat.q2.id, "Du Dummkopf", "input")
    assert result.summary() == "flagged: harassment — warned"
    (event,) = service.moderation_events(chat.q2.id)
    report = service.report_false_positive(event.id)
    assert (report.kind, report.category) == ("false_positive", "harassment")
    missed = service.report_false_negative(chat.a1.id, "hate")
    assert missed.kind == "false_negative"
    assert service.moderate(chat.q1.id, "Capital of France?", "input").flags == ()
    assert service.moderation_events(chat.q1.id) == []


def test_a_comparison_switches_the_branch_and_is_queued(
    store: Store, service: FeedbackService
) -> None:
    chat = make_chat(store)
    ids = [m.id for m in chat.alternatives]
    service.record_comparison(ids, [ids[1], ids[0], ids[2]])
    assert store.get_conversation(chat.conversation_id).current_leaf_id == ids[1]
    assert [i.kind for i in service.outbox_items()] == ["comparison"]


def test_the_outbox_view_shows_why_items_wait_and_previews_exactly_what_is_sent(
    qtbot: QtBot,
    store: Store,
    service: FeedbackService,
    endpoint: Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = make_chat(store)
    empty = OutboxView(service)
    qtbot.addWidget(empty)
    assert not empty.retry_button.isEnabled(), "nothing to retry in an empty outbox"
    assert not empty.remove_button.isEnabled()
    service.rate(chat.a1.id, FeedbackDraft(-1, ("made_up_facts",), "not Paris?"))
    view = OutboxView(service)
    qtbot.addWidget(view)
    view.show()
    assert unnamed_controls(view) == []
    assert view.table.rowCount() == 1
    assert view.retry_button.isEnabled()
    assert empty.remove_button.isEnabled(), "the open view follows the outbox"
    assert view.table.item(0, 0).text() == "Thumbs down"
    assert view.table.item(0, 1).text() == "Waiting for your review"
    assert "Sending to http://127.0.0.1" in view.status.text()
    assert "Waiting for an API token" in view.status.text()
    assert view.token_notice.isVisibleTo(view)
    view.token.setText(TOKEN)
    view.save_token.click()
    assert view.token.text() == ""
    assert "for this session" in view.token.placeholderText()

    shown: list[SubmissionPreview] = []

    def accept(preview: SubmissionPreview) -> int:
        shown.append(preview)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(SubmissionPreview, "exec", accept)
    with qtbot.waitSignal(service.send_finished, timeout=5000):
        assert view.review()
    (preview,) = shown
    words = preview.readable.toPlainText()
    for turn in (
        "System: Be brief.",
        "User: Capital of France?",
        "Answer: Paris.",
        "Comment: not Paris?",
    ):
        assert turn in words
    assert unnamed_controls(preview) == []
    (stored,) = endpoint.stored
    assert '"comment": "not Paris?"' in preview.raw.toPlainText()
    assert stored["comment"] == "not Paris?"
    qtbot.waitUntil(lambda: view.table.rowCount() == 0)
    assert "1 sent" in view.status.text()


def test_the_keychain_is_looked_up_off_the_gui_thread(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import keyring

    lookups: list[str] = []

    def get_keyring() -> fail.Keyring:
        lookups.append(threading.current_thread().name)
        return fail.Keyring()

    monkeypatch.setattr(keyring, "get_keyring", get_keyring)
    running = FeedbackService(store, settings)
    try:
        tokens = running.tokens  # waits for the search if it is still going on
        assert running.tokens_ready()
        assert lookups == ["parley-keychain"]  # not the GUI thread: start-up does not wait
        assert tokens.notice is not None  # the fail backend: kept in memory, and said so
        assert running.waiting_reason() == "Waiting for an API token for this endpoint."
    finally:
        running.shutdown()


def test_feedback_given_before_submission_was_on_can_be_added_to_the_outbox(
    qtbot: QtBot, store: Store, settings: Settings, service: FeedbackService
) -> None:
    chat = make_chat(store)
    settings.update({"submission.enabled": False})
    service.rate(chat.a1.id, FeedbackDraft(1))
    ids = [m.id for m in chat.alternatives]
    service.record_comparison(ids, [ids[1], ids[0], ids[2]])
    assert service.outbox_items() == []
    settings.update({"submission.enabled": True, "submission.auto_send": True})
    view = OutboxView(service)
    qtbot.addWidget(view)
    view.show()
    assert service.kept_here() == 2
    assert view.add_kept_button.isVisibleTo(view)
    assert view.add_kept_button.text() == "&Add earlier feedback (2)"
    view.add_kept_button.click()
    items = service.outbox_items()
    assert sorted(i.kind for i in items) == ["comparison", "feedback"]
    assert {i.state for i in items} == {"review"}, "seen before it leaves, auto-send or not"
    assert service.kept_here() == 0
    assert not view.add_kept_button.isVisibleTo(view)


def test_a_new_endpoint_address_shows_what_waits_again_then_sends_it_without_backoff(
    qtbot: QtBot, store: Store, settings: Settings, endpoint: Endpoint
) -> None:
    slow = FeedbackService(
        store,
        settings,
        TokenStore(fail.Keyring()),
        timeout_s=2.0,
        policy=RetryPolicy(base_s=600.0, jitter=0.0),  # the old address earned a long wait
    )
    try:
        settings.set("submission.auto_send", True)
        slow.set_token(TOKEN)
        chat = make_chat(store)
        endpoint.behaviour = ["500"]
        slow.rate(chat.a1.id, FeedbackDraft(1))
        (item,) = slow.outbox_items()
        with qtbot.waitSignal(slow.send_finished, timeout=5000) as first:
            slow.approve([item.id])
        assert first.args[0].retrying == 1
        (waiting,) = slow.outbox_items()
        assert waiting.next_attempt_at.timestamp() > time.time() + 500
        other = endpoint.url + "?another"
        slow.tokens.set(other, TOKEN)
        said: list[str] = []
        slow.notice.connect(said.append)
        settings.set("submission.endpoint", other)  # approved for the old address: not this
        (again,) = slow.outbox_items()
        assert again.state == "review"
        assert not settings.get_bool("submission.auto_send")
        assert any("new address" in s for s in said)
        assert endpoint.stored == []
        slow.rate(chat.alternatives[0].id, FeedbackDraft(-1))  # a new record: seen first too
        assert {i.state for i in slow.outbox_items()} == {"review"}
        with qtbot.waitSignal(slow.send_finished, timeout=5000) as second:
            slow.approve([i.id for i in slow.outbox_items()])  # at once, no backoff left
        assert second.args[0].sent == 2
    finally:
        slow.shutdown()


def test_a_record_waiting_for_a_token_shows_no_time_gone_by(
    qtbot: QtBot, store: Store, service: FeedbackService
) -> None:
    chat = make_chat(store)
    service.rate(chat.a1.id, FeedbackDraft(1))
    (item,) = service.outbox_items()
    service.approve([item.id])  # no token yet: it waits, due since the approval
    view = OutboxView(service)
    qtbot.addWidget(view)
    assert view.table.item(0, 1).text() == "Waiting to be sent"
    assert view.table.item(0, 3).text() == "when it can"


def test_a_first_endpoint_address_keeps_send_without_asking(
    store: Store, endpoint: Endpoint
) -> None:
    settings = Settings.load()
    settings.update({"submission.enabled": True, "submission.auto_send": True})
    fresh = FeedbackService(store, settings, TokenStore(fail.Keyring()))
    try:
        settings.set("submission.endpoint", endpoint.url)  # set up for the first time
        assert settings.get_bool("submission.auto_send"), "nothing was sent anywhere yet"
    finally:
        fresh.shutdown()
