"""Feedback wired into the window: thumbs on answers, the content filter on input and output
with its banner and reports, "Generate alternatives" into the compare dialog, export."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.config.settings import Settings
from desktop.engine.types import SamplingParams
from desktop.feedback import FeedbackDraft, TokenStore
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.services.feedback_service import FeedbackService
from desktop.store import Store, group_for_sidebar
from desktop.ui.chat_tab import ALTERNATIVES, ChatTab
from desktop.ui.compare_dialog import CompareDialog
from desktop.ui.feedback_list import EMPTY, NOT_QUEUED, FeedbackList
from desktop.ui.main_window import MainWindow, ModelActions
from desktop.ui.message_view import MessageWidget
from desktop.ui.moderation_banner import REPORTED_TEXT, ModerationBanner
from tests.fakes import FakeEngine
from tests.feedback.conftest import make_chat
from tests.ui.feedback_helpers import unnamed_controls

THREAT = "I will kill you tomorrow"


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def service(store: Store, settings: Settings) -> Iterator[FeedbackService]:
    running = FeedbackService(store, settings, TokenStore(fail.Keyring()))
    yield running
    running.shutdown()


@pytest.fixture
def fb_window(
    qtbot: QtBot, store: Store, engine: FakeEngine, service: FeedbackService
) -> Iterator[MainWindow]:
    host = EngineHost()
    window = MainWindow(
        store,
        host,
        lambda: ChatDefaults("", SamplingParams(seed=0)),
        ModelActions(load=lambda _folder: engine),
        group_for_sidebar,
        feedback=service,
    )
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(host.model_loaded, timeout=5000):
        window.load_model(Path("fake-model"))
    yield window
    window.close()
    assert host.shutdown()


def current(window: MainWindow) -> ChatTab:
    tab = window.current_tab()
    assert tab is not None
    return tab


def ask(qtbot: QtBot, tab: ChatTab, text: str) -> None:
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        assert tab.session.send(text)


def test_thumbs_open_the_dialog_and_the_rating_shows_on_the_answer(
    qtbot: QtBot, fb_window: MainWindow, service: FeedbackService
) -> None:
    tab = current(fb_window)
    ask(qtbot, tab, "Hello?")
    user, answer = tab.view.message_widgets()
    assert answer.thumbs_up.isVisibleTo(fb_window)
    assert answer.thumbs_down.isVisibleTo(fb_window)
    assert not user.thumbs_up.isVisibleTo(fb_window)  # only answers are rated
    assert [w.isVisibleTo(fb_window) for w in user.extra_actions] == [True]  # missed flag

    qtbot.mouseClick(answer.thumbs_down, Qt.MouseButton.LeftButton)
    assert not answer.thumbs_down.isChecked()  # nothing stored yet
    dialog = tab.feedback_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.rating == -1
    assert dialog.response == "Hello there, human."
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    record = service.rating_for(answer.message_id)
    assert record is not None
    assert record.rating == -1
    assert answer.thumbs_down.isChecked()
    assert not answer.thumbs_up.isChecked()
    assert fb_window.notice.text() == "Thank you: your feedback is saved on this computer."
    fb_window.activateWindow()
    qtbot.waitUntil(fb_window.isActiveWindow, timeout=2000)
    assert answer.thumbs_up.hasFocus(), "the keys back on the answer rated, not the search"
    # with submission on, the note says where the record waits
    service.settings.update(
        {"submission.enabled": True, "submission.endpoint": "http://127.0.0.1:9/x"}
    )
    qtbot.mouseClick(answer.thumbs_up, Qt.MouseButton.LeftButton)
    assert tab.feedback_dialog is not None
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        qtbot.mouseClick(tab.feedback_dialog.save_button, Qt.MouseButton.LeftButton)
    assert "waits for your review in Feedback ▸ Outbox" in fb_window.notice.text()
    service.settings.update({"submission.enabled": False})

    # change it: the dialog opens with the stored feedback; withdraw clears the thumbs
    qtbot.mouseClick(answer.thumbs_down, Qt.MouseButton.LeftButton)
    again = tab.feedback_dialog
    assert again is not None
    assert again is not dialog
    assert again.existing is not None
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        qtbot.mouseClick(again.withdraw_button, Qt.MouseButton.LeftButton)
    assert service.ratings_for([answer.message_id]) == {}
    assert not answer.thumbs_down.isChecked()
    assert fb_window.notice.text() == "Your feedback on this answer is withdrawn."


def test_a_blocked_input_never_reaches_the_model_and_shows_a_banner(
    qtbot: QtBot, fb_window: MainWindow, settings: Settings, engine: FakeEngine
) -> None:
    settings.update({"filter.action.violence": "block"})
    tab = current(fb_window)
    notices: list[str] = []
    tab.notify.connect(notices.append)
    with qtbot.waitSignal(tab.session.input_blocked, timeout=2000):
        assert tab.session.send(THREAT)
    assert engine.calls == []
    assert tab.session.state == "idle"
    (user,) = tab.view.message_widgets()
    assert isinstance(user.banner, ModerationBanner)
    assert "violence" in user.banner.label.text()
    assert "blocked" in user.banner.label.text()
    assert not user.body_hidden  # the user's own words stay visible
    assert any("not sent to the model" in n for n in notices)
    assert not user.answer_button.isVisible(), "editing it is the way to send it"


def test_a_blocked_message_stays_out_of_the_context_of_every_later_turn(
    qtbot: QtBot, fb_window: MainWindow, settings: Settings, engine: FakeEngine
) -> None:
    """Not sent to the model holds for the next messages too: the chat's context used to
    carry a blocked message along with the next one, and a blocked answer likewise."""
    settings.update({"filter.action.violence": "block"})
    tab = current(fb_window)
    with qtbot.waitSignal(tab.session.input_blocked, timeout=2000):
        assert tab.session.send(THREAT)
    engine.replies = [THREAT + " (the model says it back)", "Fine."]
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        assert tab.session.send("hello")
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        assert tab.session.send("and now?")
    first, second = engine.calls
    assert [m.content for m in first] == ["hello"]
    assert [m.content for m in second] == ["hello", "and now?"], "the blocked answer too"


def tab_stops(start: QWidget, count: int) -> list[QWidget]:
    """The next ``count`` widgets Tab reaches from ``start`` that can take the keys now."""
    stops: list[QWidget] = []
    widget = start.nextInFocusChain()
    while len(stops) < count and widget is not start:
        if (
            widget.isVisible()
            and widget.isEnabled()
            and widget.focusPolicy() & Qt.FocusPolicy.TabFocus
        ):
            stops.append(widget)
        widget = widget.nextInFocusChain()
    return stops


def test_a_blocked_answer_hides_behind_its_banner_and_can_be_reported(
    qtbot: QtBot,
    fb_window: MainWindow,
    settings: Settings,
    engine: FakeEngine,
    service: FeedbackService,
) -> None:
    settings.update({"filter.action.violence": "block", "filter.check_input": False})
    engine.replies = [THREAT]
    tab = current(fb_window)
    ask(qtbot, tab, "Say something")
    answer = tab.view.message_widgets()[-1]
    assert isinstance(answer.banner, ModerationBanner)
    assert answer.body_hidden
    assert answer.reveal_button.isVisibleTo(fb_window)
    assert all(not p.isVisibleTo(fb_window) for p in answer.parts)
    # Tab reaches the banner's report and "Show the text anyway" from the answer's header,
    # before its other buttons (not after the input, far below)
    qtbot.waitUntil(answer.banner.report.isVisible)  # shown by the next pass of events
    stops = tab_stops(answer, 6)
    assert stops.index(answer.banner.report) < stops.index(answer.reveal_button)
    assert stops.index(answer.reveal_button) < stops.index(answer.regen_button)
    with qtbot.waitSignal(service.feedback_changed, timeout=2000) as changed:
        qtbot.mouseClick(answer.banner.report, Qt.MouseButton.LeftButton)
    assert changed.args == [answer.message_id]
    assert answer.banner.report.text() == REPORTED_TEXT
    (event,) = service.moderation_events(answer.message_id)
    assert service.wrongly_flagged_events(answer.message_id) == {event.id}
    qtbot.mouseClick(answer.reveal_button, Qt.MouseButton.LeftButton)
    assert THREAT in answer.plain_text()
    assert not answer.body_hidden

    # it is hidden again when the chat is opened in another tab, and the report is there
    other = fb_window.new_tab(tab.session.conversation_id)
    shown = other.view.widgets[answer.message_id]
    assert shown.body_hidden
    assert isinstance(shown.banner, ModerationBanner)
    assert shown.banner.report.text() == REPORTED_TEXT, "not offered to report twice"
    assert shown.banner.report.isChecked()
    # ...and a second click takes the report back
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        qtbot.mouseClick(shown.banner.report, Qt.MouseButton.LeftButton)
    assert shown.banner.report.text() == "This was wrongly flagged"
    assert service.wrongly_flagged_events(answer.message_id) == set()
    assert [r.kind for r in service.feedback.filter_reports(answer.message_id)] == []


def test_an_answer_the_filter_blocks_stops_and_hides_as_soon_as_it_is_seen_to(
    qtbot: QtBot, fb_window: MainWindow, settings: Settings, engine: FakeEngine
) -> None:
    settings.update({"filter.action.violence": "block", "filter.check_input": False})
    tail = " ".join(f"word{i}" for i in range(300))
    engine.replies = [f"Well. {THREAT}. {tail}"]
    engine.delay_s = 0.005  # ~2 s for the whole answer
    tab = current(fb_window)
    shown_threat: list[bool] = []

    def look(_id: int, _text: str) -> None:  # what is on screen while the answer streams
        widget = tab.view.message_widgets()[-1]
        views = [*widget.parts, widget.tail]
        shown_threat.append(any("kill you" in v.toPlainText() for v in views if v.isVisible()))

    tab.session.delta.connect(look)
    ask(qtbot, tab, "Say something")
    answer = tab.view.message_widgets()[-1]
    stored = tab.session.message(answer.message_id)
    assert "kill you" in stored.content  # what the rule matched: kept, as the answer's record
    assert "word299" not in stored.content, "stopped, not written out in full"
    assert answer.body_hidden
    assert isinstance(answer.banner, ModerationBanner)
    assert not any(shown_threat)
    assert not answer.continue_button.isVisibleTo(fb_window)


def test_a_blocked_answer_is_not_offered_continue(
    qtbot: QtBot, fb_window: MainWindow, settings: Settings, engine: FakeEngine
) -> None:
    """Continue feeds the answer back to the model to go on from it: not a blocked one."""
    settings.update({"filter.action.violence": "block", "filter.check_input": False})
    engine.finish_with = "length"  # cut off by its length limit: Continue would apply
    engine.replies = [THREAT]
    tab = current(fb_window)
    ask(qtbot, tab, "Say something")
    answer = tab.view.message_widgets()[-1]
    assert answer.body_hidden
    assert not answer.continue_button.isVisibleTo(fb_window)
    assert not tab.session.continue_answer(answer.message_id)
    assert len(engine.calls) == 1


def ask_for_alternatives(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> tuple[ChatTab, MessageWidget, CompareDialog]:
    """Ask once, then "Generate alternatives" on the answer: the compare dialog opens."""
    engine.replies = ["First answer.", "Second answer.", "Third answer."]
    tab = current(window)
    ask(qtbot, tab, "Tell me something")
    first = tab.view.message_widgets()[-1]
    assert first.alternatives_button.isVisibleTo(window)
    qtbot.mouseClick(first.alternatives_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.compare_dialog is not None, timeout=5000)
    assert tab.compare_dialog is not None
    return tab, first, tab.compare_dialog


def test_a_blocked_alternative_stays_hidden_in_the_comparison(
    qtbot: QtBot, fb_window: MainWindow, settings: Settings, engine: FakeEngine
) -> None:
    settings.update({"filter.action.violence": "block", "filter.check_input": False})
    engine.replies = ["First answer.", THREAT, "Third answer."]
    tab = current(fb_window)
    ask(qtbot, tab, "Tell me something")
    qtbot.mouseClick(tab.view.message_widgets()[-1].alternatives_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.compare_dialog is not None, timeout=5000)
    dialog = tab.compare_dialog
    assert dialog is not None
    texts = [dialog.list.item(row).text() for row in range(3)]
    assert texts[1] == "2.  ⚠ flagged: violence — blocked"
    dialog.list.setCurrentRow(1)
    assert THREAT not in dialog.preview.toPlainText()
    dialog.reject()


def test_alternatives_are_generated_ranked_and_the_best_is_shown(
    qtbot: QtBot, fb_window: MainWindow, engine: FakeEngine, service: FeedbackService
) -> None:
    tab, _first, dialog = ask_for_alternatives(qtbot, fb_window, engine)
    assert dialog.isVisible()
    assert len(engine.calls) == 1 + ALTERNATIVES
    texts = [dialog.list.item(r).data(Qt.ItemDataRole.UserRole + 1) for r in range(3)]
    assert texts == ["First answer.", "Second answer.", "Third answer."]
    # different seeds, and never greedy
    ids = dialog.ranking()
    seeds = {tab.session.message(i).params["seed"] for i in ids[1:]}  # type: ignore[index]
    assert len(seeds) == ALTERNATIVES
    dialog.move_to(2, 0)  # the third answer is best
    best = dialog.ranking()[0]
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    shown = tab.view.message_widgets()[-1]
    assert shown.message_id == best
    assert shown.plain_text() == "Third answer."
    assert shown.position == (3, 3)
    comparisons = list(service.feedback.all_comparisons())
    assert len(comparisons) == 1
    assert comparisons[0].chosen_id == best


def test_cancelling_the_ranking_shows_the_answer_the_alternatives_were_asked_for(
    qtbot: QtBot, fb_window: MainWindow, engine: FakeEngine, service: FeedbackService
) -> None:
    tab, first, dialog = ask_for_alternatives(qtbot, fb_window, engine)
    assert tab.view.message_widgets()[-1].plain_text() == "Third answer."  # the last written
    fb_window.activateWindow()
    qtbot.waitUntil(fb_window.isActiveWindow, timeout=2000)
    fb_window.sidebar.search.setFocus()  # where the keys went after the dialog
    dialog.reject()
    shown = tab.view.message_widgets()[-1]
    assert shown.message_id == first.message_id
    assert shown.plain_text() == "First answer."
    assert shown.position == (1, 3)  # the alternatives stay as its versions
    assert list(service.feedback.all_comparisons()) == []
    assert tab.composer.hasFocus(), "back to writing in the chat"


def test_all_bad_keeps_the_answer_the_alternatives_were_asked_for(
    qtbot: QtBot, fb_window: MainWindow, engine: FakeEngine, service: FeedbackService
) -> None:
    tab, first, dialog = ask_for_alternatives(qtbot, fb_window, engine)
    qtbot.mouseClick(dialog.bad_button, Qt.MouseButton.LeftButton)
    shown = tab.view.message_widgets()[-1]
    assert shown.message_id == first.message_id, "not the last alternative written"
    (comparison,) = service.feedback.all_comparisons()
    assert comparison.chosen_id is None


def test_an_alternative_ended_for_repeating_itself_is_ranked_too(
    qtbot: QtBot, fb_window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = ["First answer.", "Again and again and again.", "Third answer."]
    tab = current(fb_window)
    ask(qtbot, tab, "Tell me something")
    engine.finish_with = "repetition"  # the small model loops: Parley ends the answer
    qtbot.mouseClick(tab.view.message_widgets()[-1].alternatives_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.compare_dialog is not None, timeout=5000)
    dialog = tab.compare_dialog
    assert dialog is not None
    assert dialog.list.count() == 3
    dialog.reject()


def test_an_answer_cut_off_before_its_first_word_is_not_ranked_among_the_alternatives(
    qtbot: QtBot, fb_window: MainWindow, store: Store, engine: FakeEngine
) -> None:
    """Parley ended while an answer had not begun: "Alternatives…" on it ranks the two
    new answers alone (an empty answer is no candidate)."""
    chat = store.create_conversation("Crashed")
    question = store.add_message(chat.id, None, "user", "Tell me something")
    with Store.open(store.path) as crashed:  # the writer went away before a word
        crashed.begin_assistant(chat.id, question.id, "FakeLM-1M")
    store.recover_interrupted()
    engine.replies = ["Second answer.", "Third answer."]
    tab = fb_window.open_conversation(chat.id)
    empty = tab.view.message_widgets()[-1]
    assert empty.status_label.text() == "interrupted"
    qtbot.mouseClick(empty.alternatives_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.compare_dialog is not None, timeout=5000)
    dialog = tab.compare_dialog
    assert dialog is not None
    texts = [dialog.list.item(r).data(Qt.ItemDataRole.UserRole + 1) for r in range(2)]
    assert dialog.list.count() == 2
    assert texts == ["Second answer.", "Third answer."]
    dialog.reject()
    assert fb_window.notice.text() == "Not ranked; the alternatives stay as versions of the answer."


def test_a_missed_flag_report_is_shown_again_when_the_chat_is_opened_again(
    qtbot: QtBot, fb_window: MainWindow, service: FeedbackService
) -> None:
    from desktop.ui.moderation_banner import MissedFlagButton

    tab = current(fb_window)
    ask(qtbot, tab, "Hello?")
    answer = tab.view.message_widgets()[-1]
    (flag,) = answer.extra_actions
    assert isinstance(flag, MissedFlagButton)
    menu = flag.menu()
    assert menu is not None
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        menu.actions()[0].trigger()  # violence
    chat = tab.session.conversation_id
    assert chat is not None
    fb_window.close_tab(fb_window.tabs.indexOf(tab), fb_window.tabs)
    reopened = fb_window.open_conversation(chat)
    (flag,) = reopened.view.message_widgets()[-1].extra_actions
    assert isinstance(flag, MissedFlagButton)
    assert flag.text() == "Reported: violence"
    reopened_menu = flag.menu()
    assert reopened_menu is not None
    assert reopened_menu.actions()[0].isChecked(), "ticked: not reported twice"
    assert service.missed_categories(answer.message_id) == ["violence"]
    with qtbot.waitSignal(service.feedback_changed, timeout=2000):
        reopened_menu.actions()[0].trigger()  # chosen again: the report is taken back
    assert flag.text() == "Flag…"
    assert service.missed_categories(answer.message_id) == []


def test_feedback_export_runs_off_the_gui_thread(
    qtbot: QtBot, fb_window: MainWindow, service: FeedbackService, tmp_path: Path
) -> None:
    tab = current(fb_window)
    ask(qtbot, tab, "Hello?")
    answer = tab.view.message_widgets()[-1]
    qtbot.mouseClick(answer.thumbs_up, Qt.MouseButton.LeftButton)
    assert tab.feedback_dialog is not None
    qtbot.mouseClick(tab.feedback_dialog.save_button, Qt.MouseButton.LeftButton)
    target = tmp_path / "ratings.jsonl"
    thread = fb_window.export_feedback("ratings", target)
    assert thread is not None
    qtbot.waitUntil(lambda: "Exported 1" in fb_window.notice.text(), timeout=5000)
    thread.join(5)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 1
    assert rows[0]["rating"] == 1


def test_the_outbox_opens_from_the_menu(qtbot: QtBot, fb_window: MainWindow) -> None:
    titles = [a.text() for a in fb_window._menus["F&eedback"].actions()]
    assert "&Outbox and submission…" in titles
    assert any(t.startswith("Export preference pairs") for t in titles)
    view = fb_window.show_outbox()
    assert view is not None
    assert view.isVisible()
    assert view.isWindow()
    assert view.width() >= 700, "the endpoint field and the table's columns fit"
    assert fb_window.frameGeometry().intersects(view.frameGeometry()), "opened over Parley"
    view.close_button.click()
    assert not view.isVisible()
    view = fb_window.show_outbox()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible(), "Esc closes it, as every other dialog"


def test_without_feedback_the_window_has_no_feedback_controls(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window()
    tab = current(window)
    ask(qtbot, tab, "Hello?")
    answer = tab.view.message_widgets()[-1]
    assert not answer.thumbs_up.isVisibleTo(window)
    assert not window._menus["F&eedback"].menuAction().isVisible()


def test_a_narrow_pane_wraps_the_actions_instead_of_clipping_the_answer(
    qtbot: QtBot, fb_window: MainWindow, engine: FakeEngine
) -> None:
    """Split view in a small window: every message fits its pane (the action buttons take a
    second line), so no text runs under the pane's edge."""
    engine.replies = ["A fairly long answer " * 12]
    fb_window.resize(900, 700)
    left = current(fb_window)
    ask(qtbot, left, "A first question long enough to take two lines once the pane is narrow")
    fb_window.toggle_split()
    right = current(fb_window)
    ask(qtbot, right, "Second question")
    qtbot.wait(50)
    for tab in (left, right):
        view = tab.view
        room = view.viewport().width()
        assert room < 400  # the case at hand: a narrow pane
        answer = view.message_widgets()[-1]
        assert answer.thumbs_up.isVisible()
        assert answer.width() <= room, (answer.width(), room)
        buttons = [answer.copy_button, answer.regen_button, answer.alternatives_button,
                   answer.thumbs_up, answer.thumbs_down]  # fmt: skip
        rows = {b.geometry().top() for b in buttons}
        assert len(rows) > 1  # wrapped onto a second line
        for b in buttons:
            assert b.geometry().right() <= answer.width()
        # Messages laid out before the pane narrowed were laid out again: no text runs under
        # its buttons.
        for widget in view.message_widgets():
            actions_top = widget._actions_box.geometry().top()
            for part in widget.parts:
                assert part.geometry().bottom() < actions_top, (widget.role, part.geometry())


def test_the_settings_feedback_page_holds_the_api_token_and_the_model_page_the_manager(
    qtbot: QtBot,
    fb_window: MainWindow,
    service: FeedbackService,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.ui.settings_dialog import SettingsDialog
    from desktop.ui.token_editor import TokenEditor

    managed: list[bool] = []
    monkeypatch.setattr(MainWindow, "open_model_manager", lambda _self: managed.append(True))
    dialog = SettingsDialog(settings, fb_window, extra_rows=fb_window.settings_rows())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_section("feedback")
    (editor,) = dialog.pages["feedback"].findChildren(TokenEditor)
    assert not editor.token.isEnabled(), "a token belongs to an endpoint: none set yet"
    settings.set("submission.endpoint", "https://feedback.example.com/v1")
    assert editor.token.isEnabled()
    assert not editor.save_token.isEnabled()
    qtbot.keyClicks(editor.token, "s3cret")
    qtbot.keyClick(editor.token, Qt.Key.Key_Return)
    assert editor.token.text() == ""
    assert service.tokens.get("https://feedback.example.com/v1") == "s3cret"
    assert "for this session" in editor.token.placeholderText()  # the failing keychain
    # never squeezed to "API…" (large text sizes did), nor so wide its buttons cannot fit
    metrics = editor.token.fontMetrics()
    placeholder = metrics.horizontalAdvance(editor.token.placeholderText())
    wide = min(placeholder, 36 * metrics.averageCharWidth())
    assert wide <= editor.token.minimumWidth() <= 40 * metrics.averageCharWidth()
    assert editor.token_notice.isVisibleTo(dialog)
    editor.forget_token.click()
    assert service.tokens.get("https://feedback.example.com/v1") is None
    assert not editor.forget_token.isEnabled()

    manage = next(
        b for b in dialog.pages["model"].findChildren(QPushButton) if b.text() == "Manage models…"
    )
    manage.click()
    assert managed == [True]
    outbox = next(
        b for b in dialog.pages["feedback"].findChildren(QPushButton) if "outbox" in b.text()
    )
    outbox.click()
    assert fb_window.outbox_view is not None
    assert fb_window.outbox_view.isVisible()
    dialog.close()
    assert "s3cret" not in settings.path.read_text(encoding="utf-8")


def test_your_feedback_lists_opens_in_the_chat_and_withdraws_a_ranking(
    qtbot: QtBot, fb_window: MainWindow, service: FeedbackService, store: Store
) -> None:
    chat = make_chat(store)
    ids = [m.id for m in chat.alternatives]
    service.rate(chat.a1.id, FeedbackDraft(1, ("correct",), "short and right"))
    view = fb_window.show_feedback_list()
    assert isinstance(view, FeedbackList)
    assert view.isVisible()
    assert unnamed_controls(view) == []
    assert view.table.rowCount() == 1
    assert view.table.item(0, 2).text() == "Good: correct — “short and right”"
    assert not view.withdraw_button.isEnabled(), "nothing selected yet"

    service.record_comparison(ids, [ids[2], ids[0], ids[1]])  # given while the list is open
    assert view.table.rowCount() == 2
    assert [view.table.item(0, c).text() for c in (1, 2, 3)] == [
        "Capitals",
        "Ranked 3 answers",
        NOT_QUEUED,
    ]
    assert view.status.text() == "1 rating, 0 content-filter reports, 1 ranking."

    view.table.selectRow(0)
    assert view.open_button.isEnabled()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)  # Open in chat
    tab = current(fb_window)
    assert tab.session.conversation_id == chat.conversation_id
    assert store.get_conversation(chat.conversation_id).current_leaf_id == ids[2]

    asked: list[str] = []
    answers = [False, True]

    def confirm(text: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    view.confirm = confirm
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)  # Withdraw: a ranking, asked first
    assert "A ranking cannot be given again" in asked[0]
    assert len(view.entries) == 2, "Cancel: kept"
    qtbot.keyClick(view.table, Qt.Key.Key_Delete)
    assert [e.kind for e in view.entries] == ["rating"]
    assert list(service.feedback.all_comparisons()) == []
    assert view.withdraw_button.isEnabled(), "the neighbour is selected, as in a list"
    # a change elsewhere refreshes the list without selecting anything the user did not
    view.table.clearSelection()
    service.report_false_negative(chat.a1.id, "hate")
    assert view.selected() == []
    service.withdraw_false_negative(chat.a1.id, "hate")
    view.table.selectRow(0)
    view.withdraw_button.click()  # a rating kept here: no question
    assert len(asked) == 2
    assert service.rating_for(chat.a1.id) is None
    assert view.table.rowCount() == 0
    assert view.status.text() == EMPTY
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.isVisible()
