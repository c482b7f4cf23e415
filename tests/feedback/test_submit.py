"""Submission against a real HTTP endpoint on 127.0.0.1: down, slow, 500, 401, garbage,
success; nothing is lost and nothing is stored twice."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from desktop.config.feedback import check_endpoint
from desktop.feedback import FeedbackDraft, FeedbackStore, HttpSubmitter, OutboxSender, RetryPolicy
from desktop.feedback.records import ComparisonRecord, FeedbackRecord, OutboxItem
from desktop.feedback.submission import SubmissionConfig, queue, sender_for
from desktop.feedback.tokens import TokenStore
from desktop.store import Store
from tests.feedback.conftest import Chat
from tests.feedback.endpoint import TOKEN, Endpoint, dead_url, running_endpoint
from tests.feedback.test_tokens import MemoryKeyring

NO_JITTER = RetryPolicy(base_s=10.0, factor=2.0, maximum_s=3600.0, jitter=0.0)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with running_endpoint() as running:
        yield running


class Clock:
    """Real time, moved forward by the test (``clock.now += 60``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    @property
    def now(self) -> float:
        return time.time() + self.offset

    @now.setter
    def now(self, value: float) -> None:
        self.offset = value - time.time()

    def __call__(self) -> float:
        return self.now


def sender(
    feedback: FeedbackStore, url: str, clock: Clock, token: str = TOKEN, timeout: float = 5.0
) -> OutboxSender:
    return OutboxSender(
        feedback.outbox, HttpSubmitter(url, token, timeout_s=timeout), policy=NO_JITTER, clock=clock
    )


def rate_and_queue(feedback: FeedbackStore, chat: Chat, url: str, n: int = 1) -> list[int]:
    config = SubmissionConfig(enabled=True, endpoint=url, auto_send=True)
    answers = [chat.a1, *chat.alternatives][:n]
    ids = []
    for answer in answers:
        record = feedback.rate(answer.id, FeedbackDraft(-1, ("too_verbose",), "shorter please"))
        item = queue(feedback, record, config)
        assert item is not None
        if not ids and feedback.outbox.counts()["sent"] == 0:
            assert item.state == "review", "the first record waits to be seen, even so"
            feedback.outbox.approve([item.id])
            item = feedback.outbox.get(item.id)
        assert item.state == "pending"
        ids.append(item.id)
    return ids


def queued(
    feedback: FeedbackStore, record: FeedbackRecord | ComparisonRecord, config: SubmissionConfig
) -> OutboxItem | None:
    """``queue``, with the first record's review done (``rate_and_queue`` says why)."""
    item = queue(feedback, record, config)
    if item is not None and item.state == "review" and config.auto_send:
        feedback.outbox.approve([item.id])
        return feedback.outbox.get(item.id)
    return item


def test_send_without_asking_still_shows_the_first_record_before_it_goes(
    feedback: FeedbackStore, chat: Chat
) -> None:
    config = SubmissionConfig(enabled=True, endpoint="https://feedback.example", auto_send=True)
    first = queue(feedback, feedback.rate(chat.a1.id, FeedbackDraft(1)), config)
    assert first is not None
    assert first.state == "review"
    second = queue(feedback, feedback.rate(chat.alternatives[0].id, FeedbackDraft(-1)), config)
    assert second is not None
    assert second.state == "review", "nothing seen yet"
    feedback.outbox.approve([first.id])
    third = queue(feedback, feedback.rate(chat.alternatives[1].id, FeedbackDraft(1)), config)
    assert third is not None
    assert third.state == "pending", "seen once: the rest go as they are given"


def test_success_sends_each_record_once_with_token_and_key(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    ids = rate_and_queue(feedback, chat, endpoint.url, n=2)
    clock = Clock()
    report = sender(feedback, endpoint.url, clock).send_due()
    assert (report.sent, report.retrying, report.held) == (2, 0, 0)
    items = [feedback.outbox.get(i) for i in ids]
    assert [i.state for i in items] == ["sent", "sent"]
    assert [i.last_status for i in items] == [200, 200]
    assert len(endpoint.requests) == 2
    for request, item in zip(endpoint.requests, items, strict=True):
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["Idempotency-Key"] == item.idempotency_key
        assert request["headers"]["Content-Type"] == "application/json"
        assert request["body"] == item.payload
    assert endpoint.stored[0]["response"] == "Paris."
    assert endpoint.stored[0]["reasons"] == ["too_verbose"]
    # Sent items are never sent again.
    clock.now += 10_000
    assert sender(feedback, endpoint.url, clock).send_due().sent == 0
    assert len(endpoint.requests) == 2


def test_an_endpoint_that_is_down_loses_nothing(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    ids = rate_and_queue(feedback, chat, endpoint.url, n=3)
    clock = Clock()
    report = sender(feedback, dead_url(), clock).send_due()
    assert (report.sent, report.retrying) == (0, 1)
    first, *rest = [feedback.outbox.get(i) for i in ids]
    assert first.state == "pending"
    assert first.attempts == 1
    assert first.last_error is not None
    assert first.last_error.startswith("Cannot reach the endpoint")
    assert first.next_attempt_at.timestamp() == pytest.approx(clock.now + 10.0)
    # The others were not tried against the dead endpoint, only postponed, and say why.
    for item in rest:
        assert (item.state, item.attempts) == ("pending", 0)
        assert item.next_attempt_at.timestamp() == pytest.approx(clock.now + 10.0)
        assert item.last_error is not None
        assert item.last_error.startswith("Waiting: Cannot reach the endpoint")
    assert feedback.outbox.due(clock.now) == []
    # Once the endpoint is back and the delay has passed, everything arrives.
    clock.now += 10.5
    report = sender(feedback, endpoint.url, clock).send_due()
    assert report.sent == 3
    assert len(endpoint.stored) == 3


def test_a_slow_endpoint_times_out_and_the_retry_is_not_stored_twice(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["slow"]
    endpoint.slow_s = 1.5
    clock = Clock()
    report = sender(feedback, endpoint.url, clock, timeout=0.4).send_due()
    assert report.retrying == 1
    item = feedback.outbox.get(item_id)
    assert item.state == "pending"
    assert item.last_error == "The endpoint did not answer within 0.4 s."
    # The endpoint did store it before answering too late.
    assert len(endpoint.stored) == 1
    clock.now += 11
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    assert len(endpoint.requests) == 2
    keys = {r["headers"]["Idempotency-Key"] for r in endpoint.requests}
    assert keys == {item.idempotency_key}
    assert len(endpoint.stored) == 1  # the idempotency key prevented a duplicate


def test_server_errors_back_off_exponentially(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["500", "500", "500"]
    clock = Clock()
    delays = []
    for _ in range(3):
        assert sender(feedback, endpoint.url, clock).send_due().retrying == 1
        item = feedback.outbox.get(item_id)
        delays.append(round(item.next_attempt_at.timestamp() - clock.now, 1))
        clock.now = item.next_attempt_at.timestamp() + 0.001
    assert delays == [10.0, 20.0, 40.0]
    assert item.attempts == 3
    assert item.last_status == 500
    assert item.last_error is not None
    assert "500" in item.last_error
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    assert feedback.outbox.get(item_id).attempts == 4


def test_retry_after_is_honoured(feedback: FeedbackStore, chat: Chat, endpoint: Endpoint) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["503-later"]
    clock = Clock()
    sender(feedback, endpoint.url, clock).send_due()
    item = feedback.outbox.get(item_id)
    assert item.last_status == 503
    assert item.next_attempt_at.timestamp() == pytest.approx(clock.now + 120.0)


def test_a_refused_token_holds_everything_until_the_user_retries(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    ids = rate_and_queue(feedback, chat, endpoint.url, n=3)
    clock = Clock()
    report = sender(feedback, endpoint.url, clock, token="wrong").send_due()
    assert (report.sent, report.held) == (0, 1)
    assert report.token_refused
    items = [feedback.outbox.get(i) for i in ids]
    assert [i.state for i in items] == ["held", "held", "held"]
    assert [i.attempts for i in items] == [1, 0, 0]  # only one request was made
    assert len(endpoint.requests) == 1
    assert items[0].last_status == 401
    assert items[0].last_error is not None
    assert "refused the API token (401 Unauthorized): invalid token" in items[0].last_error
    # Held items are not retried by themselves, however long one waits.
    clock.now += 86_400
    assert sender(feedback, endpoint.url, clock).send_due().sent == 0
    assert feedback.outbox.retry_now(ids) == 3
    assert sender(feedback, endpoint.url, clock).send_due().sent == 3
    assert len(endpoint.stored) == 3


def test_garbage_with_200_is_not_an_acknowledgement(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["garbage"]
    clock = Clock()
    assert sender(feedback, endpoint.url, clock).send_due().retrying == 1
    item = feedback.outbox.get(item_id)
    assert item.state == "pending"
    assert item.last_error is not None
    assert "did not acknowledge the record" in item.last_error
    assert "hotel Wi-Fi" in item.last_error


def test_a_rejected_record_is_held_with_the_endpoints_reason(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["422"]
    sender(feedback, endpoint.url, Clock()).send_due()
    item = feedback.outbox.get(item_id)
    assert item.state == "held"
    assert item.last_error == (
        "The endpoint refused the record (422 Unprocessable Entity): rating must be -1 or 1."
    )


def test_redirects_are_not_followed_so_the_token_stays_put(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    endpoint.behaviour = ["redirect"]
    sender(feedback, endpoint.url, Clock()).send_due()
    item = feedback.outbox.get(item_id)
    assert item.state == "held"
    assert item.last_status == 302
    assert [r["path"] for r in endpoint.requests] == ["/records"]


def test_review_items_wait_for_approval(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=False)
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    item = queued(feedback, record, config)
    assert item is not None
    assert item.state == "review"
    clock = Clock()
    assert sender(feedback, endpoint.url, clock).send_due().sent == 0
    assert endpoint.requests == []
    assert feedback.outbox.approve([item.id]) == 1
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1


def test_changing_and_withdrawing_records(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True)
    clock = Clock()
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    first = queued(feedback, record, config)
    assert first is not None
    # Changed before it was sent: the one item carries the new version, same key (never sent).
    record = feedback.rate(chat.a1.id, FeedbackDraft(-1, ("other",), "changed my mind"))
    second = queued(feedback, record, config)
    assert second is not None
    assert second.id == first.id
    assert second.idempotency_key == first.idempotency_key
    assert second.payload["rating"] == -1
    assert second.payload["revision"] == 2
    # Withdrawn before it was sent: it simply leaves the outbox.
    feedback.withdraw(record.id)
    assert feedback.outbox.items() == []
    # Given again and sent; then withdrawn: a withdrawal goes out.
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    queued(feedback, record, config)
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    feedback.withdraw(record.id)
    (withdrawal,) = feedback.outbox.items()
    assert withdrawal.kind == "withdrawal"
    assert withdrawal.payload["uid"] == record.uid
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    assert endpoint.stored[-1]["type"] == "withdrawal"
    assert feedback.outbox.counts() == {"review": 0, "pending": 0, "held": 0, "sent": 2}


def test_a_withdrawal_made_while_the_record_is_on_its_way_is_sent_after_it(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True)
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    item = queued(feedback, record, config)
    assert item is not None
    assert feedback.outbox.begin_attempt(item)  # the sender took it: the request is out
    feedback.withdraw(record.id)  # the user takes it back meanwhile
    feedback.outbox.mark_sent(item, 200)  # ...and the endpoint's answer comes
    (withdrawal,) = feedback.outbox.items()
    assert (withdrawal.kind, withdrawal.payload["uid"]) == ("withdrawal", record.uid)
    assert sender(feedback, endpoint.url, Clock()).send_due().sent == 1
    assert endpoint.stored[-1]["type"] == "withdrawal"


def test_a_version_changed_while_on_its_way_is_sent_too(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True)
    item = queued(feedback, feedback.rate(chat.a1.id, FeedbackDraft(1)), config)
    assert item is not None
    assert feedback.outbox.begin_attempt(item)
    changed = queued(feedback, feedback.rate(chat.a1.id, FeedbackDraft(-1)), config)
    assert changed is not None
    assert changed.idempotency_key != item.idempotency_key
    feedback.outbox.mark_sent(item, 200)  # the first version arrived: not the second
    assert [(i.state, i.payload["rating"]) for i in feedback.outbox.items()] == [("pending", -1)]
    assert not feedback.outbox.begin_attempt(item), "the old version is not sent again"
    assert sender(feedback, endpoint.url, Clock()).send_due().sent == 1
    assert endpoint.stored[-1]["rating"] == -1


def test_giving_feedback_again_cancels_a_withdrawal_still_waiting(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True)
    clock = Clock()
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    queued(feedback, record, config)
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    feedback.withdraw(record.id)
    sender(feedback, dead_url(), clock, timeout=1.0).send_due()  # the withdrawal waits
    (withdrawal,) = feedback.outbox.items()
    assert (withdrawal.kind, withdrawal.attempts) == ("withdrawal", 1)
    again = queued(feedback, feedback.rate(chat.a1.id, FeedbackDraft(-1, (), "after all")), config)
    assert again is not None
    assert [i.kind for i in feedback.outbox.items()] == ["feedback"], "no withdrawal after it"
    clock.now += 3600
    assert sender(feedback, endpoint.url, clock).send_due().sent == 1
    assert [r["type"] for r in endpoint.stored] == ["feedback", "feedback"]
    assert endpoint.stored[-1]["comment"] == "after all"


def test_records_of_a_deleted_chat_are_not_sent(
    store: Store, feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    token = store.delete_conversations(chat.conversation_id)  # Undo is still offered
    assert feedback.outbox.due() == []
    assert feedback.outbox.next_due() is None
    assert sender(feedback, endpoint.url, Clock()).send_due().sent == 0
    store.undo_delete(token)
    assert [i.id for i in feedback.outbox.due()] == [item_id]
    store.purge(store.delete_conversations(chat.conversation_id))  # gone for good
    assert feedback.outbox.items() == []
    assert sender(feedback, endpoint.url, Clock()).send_due().sent == 0
    assert endpoint.requests == []


def test_a_change_after_a_failed_attempt_gets_a_new_key(
    feedback: FeedbackStore, chat: Chat
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=dead_url(), auto_send=True)
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    first = queued(feedback, record, config)
    assert first is not None
    sender(feedback, config.endpoint, Clock(), timeout=1.0).send_due()
    record = feedback.rate(chat.a1.id, FeedbackDraft(-1))
    second = queued(feedback, record, config)
    assert second is not None
    # The first attempt may have reached the endpoint: the changed record must not reuse its key.
    assert second.idempotency_key != first.idempotency_key
    assert second.attempts == 0


def test_comparisons_are_submitted_with_their_ranking(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True, context="turn")
    ids = [m.id for m in chat.alternatives]
    record = feedback.record_comparison(ids, [ids[1], ids[2], ids[0]])
    assert queued(feedback, record, config) is not None
    assert sender(feedback, endpoint.url, Clock()).send_due().sent == 1
    (stored,) = endpoint.stored
    assert stored["type"] == "comparison"
    assert [a["rank"] for a in stored["alternatives"]] == [3, 1, 2]
    # "turn": only the last user message goes along, not the system prompt or earlier turns.
    assert stored["prompt"] == [{"role": "user", "content": "And of Australia?"}]


def test_nothing_is_queued_or_sent_while_submission_is_off(
    feedback: FeedbackStore, chat: Chat
) -> None:
    record = feedback.rate(chat.a1.id, FeedbackDraft(1))
    assert (
        queue(feedback, record, SubmissionConfig(enabled=False, endpoint="https://x.org")) is None
    )
    assert queue(feedback, record, SubmissionConfig(enabled=True, endpoint="")) is None
    assert feedback.outbox.items() == []


def test_without_a_token_items_wait_and_say_why(
    feedback: FeedbackStore, chat: Chat, endpoint: Endpoint
) -> None:
    (item_id,) = rate_and_queue(feedback, chat, endpoint.url)
    config = SubmissionConfig(enabled=True, endpoint=endpoint.url, auto_send=True)
    tokens = TokenStore(MemoryKeyring())
    outbox_sender, waiting = sender_for(feedback.outbox, config, tokens.get(endpoint.url))
    assert waiting == "Waiting for an API token for this endpoint."
    report = outbox_sender.send_due(waiting_reason=waiting)
    assert report.waiting_reason == waiting
    item = feedback.outbox.get(item_id)
    assert (item.state, item.attempts, item.last_error) == ("pending", 0, waiting)
    assert endpoint.requests == []
    tokens.set(endpoint.url, TOKEN)
    outbox_sender, waiting = sender_for(feedback.outbox, config, tokens.get(endpoint.url))
    assert waiting == ""
    assert outbox_sender.send_due().sent == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://feedback.example.com/v1", None),
        ("", None),
        ("http://localhost:8080/records", None),
        ("http://127.0.0.1/records", None),
        ("http://feedback.example.com/v1", "must start with https://"),
        ("ftp://example.com", "must start with https://"),
        ("https://user:pw@example.com", "must not contain a user name or password"),
        ("https:///path", "must name a server"),
        ("https://example.com/a b", "must not contain spaces"),
        ("https://example.com:99999/", "is not a valid address"),
    ],
)
def test_endpoint_addresses(url: str, reason: str | None) -> None:
    found = check_endpoint(url)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(reason)


def test_the_retry_policy_caps_and_spreads_delays() -> None:
    policy = RetryPolicy(base_s=10, factor=2, maximum_s=300, jitter=0.2)
    rng = random.Random(3)
    for failures in range(1, 12):
        raw = min(300.0, 10.0 * 2 ** (failures - 1))
        delay = policy.delay(failures, rng)
        assert raw * 0.8 <= delay <= raw * 1.2
    assert NO_JITTER.delay(30) == 3600.0
