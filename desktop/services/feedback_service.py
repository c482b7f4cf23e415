"""The Qt side of feedback: one object the window talks to for ratings, comparisons, the content
filter and submission.

Everything that touches the database for the window runs on the GUI thread (short queries, like
the store). HTTP never does: sending runs on one worker ``QThread`` with its own database
connection, started when items are due (a timer wakes it for the next retry) and reporting back
with a queued ``send_finished`` signal.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktop.config.settings import Settings, SettingsChange
from desktop.feedback.content_filter import StreamScreen, moderator_from_settings
from desktop.feedback.db import Database
from desktop.feedback.outbox import Outbox
from desktop.feedback.records import (
    ComparisonRecord,
    FeedbackDraft,
    FeedbackEntry,
    FeedbackRecord,
    ModerationEvent,
    ModerationResult,
    OutboxItem,
    Source,
)
from desktop.feedback.repository import FeedbackStore
from desktop.feedback.submission import SubmissionConfig, queue, sender_for
from desktop.feedback.submit import RetryPolicy, SendReport
from desktop.feedback.tokens import TokenStore
from desktop.store import KnownError, Store

# The longest the timer sleeps before looking at the outbox again (items queued by another
# Parley, a clock change).
MAX_WAKE_S = 600.0


class _SendWorker(QObject):
    """Runs one pass over the outbox on the worker thread."""

    finished = Signal(object)  # SendReport

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self._stop = stop

    @Slot(object)
    def run(self, job: Callable[[Callable[[], bool]], SendReport]) -> None:
        try:
            report = job(self._stop.is_set)
        except KnownError as error:  # the database is locked or gone: say so, retry later
            report = SendReport(waiting_reason=str(error))
        self.finished.emit(report)


class FeedbackService(QObject):
    outbox_changed = Signal()
    send_finished = Signal(object)  # SendReport
    feedback_changed = Signal(int)  # message id whose rating or reports changed
    listing_changed = Signal()  # a record or ranking was given, changed or withdrawn
    notice = Signal(str)  # one sentence for the status bar / notification area

    _run = Signal(object)

    def __init__(
        self,
        store: Store,
        settings: Settings,
        tokens: TokenStore | None = None,
        *,
        timeout_s: float = 15.0,
        policy: RetryPolicy | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings
        self._tokens = tokens
        self._found_tokens: list[TokenStore | Exception] = []
        self._token_search: threading.Thread | None = None
        if tokens is None:
            # keyring finds its backend by loading every backend plugin (~0.2 s): on a thread,
            # so that the window does not wait for it (no Qt there)
            self._token_search = threading.Thread(
                target=self._find_tokens, name="parley-keychain", daemon=True
            )
            self._token_search.start()
        self.feedback = FeedbackStore(store)
        self.timeout_s = timeout_s
        self.policy = policy
        self.moderator, self.filter_notices = moderator_from_settings(settings)
        self._endpoint = settings.get_str("submission.endpoint")  # to tell a change of it
        self._unsubscribe = settings.subscribe(self._on_settings_changed)
        self._busy = False
        self._again = False
        self._stop = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("parley-feedback-submit")
        self._worker = _SendWorker(self._stop)
        self._worker.moveToThread(self._thread)
        self._run.connect(self._worker.run)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.request_send)
        self._schedule()

    # ---------------------------------------------------------------- API tokens

    def _find_tokens(self) -> None:
        try:
            self._found_tokens.append(TokenStore())
        except Exception as error:  # raised again where the tokens are first needed
            self._found_tokens.append(error)

    @property
    def tokens(self) -> TokenStore:
        """Where API tokens are kept (the system keychain when there is one)."""
        if self._tokens is None:
            if self._token_search is not None:
                self._token_search.join()  # needed before the search ended: wait for it
            found = self._found_tokens[0] if self._found_tokens else TokenStore()
            if isinstance(found, Exception):
                raise found
            self._tokens = found
        return self._tokens

    def tokens_ready(self) -> bool:
        """Whether ``tokens`` answers without waiting for the keychain search."""
        return self._tokens is not None or bool(self._found_tokens)

    # ---------------------------------------------------------------- ratings

    def rating_for(self, message_id: int) -> FeedbackRecord | None:
        return self.feedback.rating_for(message_id)

    def ratings_for(self, message_ids: Sequence[int]) -> dict[int, int]:
        return self.feedback.ratings_for(message_ids)

    def rate(self, message_id: int, draft: FeedbackDraft) -> FeedbackRecord:
        record = self.feedback.rate(message_id, draft)
        self._queue(record)
        self._changed(message_id)
        return record

    def withdraw_rating(self, message_id: int) -> None:
        record = self.feedback.rating_for(message_id)
        if record is not None:
            self.feedback.withdraw(record.id)
            self._changed(message_id)
            self._outbox_touched(send=True)  # a withdrawal may have been queued

    # ---------------------------------------------------------------- comparisons

    def record_comparison(
        self, message_ids: Sequence[int], ranking: Sequence[int] | None
    ) -> ComparisonRecord:
        """Store the ranking (``None``: all bad); the best answer becomes the branch shown."""
        record = self.feedback.record_comparison(message_ids, ranking)
        self._queue(record)
        self.listing_changed.emit()
        return record

    # ---------------------------------------------------------------- your feedback

    def listing(self) -> list[FeedbackEntry]:
        """Every rating, filter report and ranking in force, newest first."""
        return self.feedback.listing()

    def withdraw_entry(self, entry: FeedbackEntry) -> None:
        """Take back one line of "Your feedback" (a ranking too, which has no other way)."""
        if entry.record == "comparison":
            self.feedback.withdraw_comparison(entry.record_id)
            self.listing_changed.emit()
        else:
            self.feedback.withdraw(entry.record_id)
            self._changed(entry.message_id)
        self._outbox_touched(send=True)  # a withdrawal may have been queued

    # ---------------------------------------------------------------- content filter

    def moderate(self, message_id: int, text: str, source: Source) -> ModerationResult:
        """Check a message's text and remember what was found on it."""
        result = self.moderator.check(text, source)
        if result.flags:
            self.feedback.record_moderation(message_id, result)
        return result

    def stream_screen(self) -> StreamScreen:
        """A screen for one answer being written (nothing recorded: the finished answer is
        moderated)."""
        return self.moderator.stream_screen()

    def moderation_events(self, message_id: int) -> list[ModerationEvent]:
        return self.feedback.moderation_events(message_id)

    def blocked_among(self, message_ids: Sequence[int]) -> set[int]:
        return self.feedback.blocked_among(message_ids)

    def report_false_positive(self, event_id: int) -> FeedbackRecord:
        record = self.feedback.report_false_positive(event_id)
        self._queue(record)
        self._changed(record.message_id)
        return record

    def wrongly_flagged_events(self, message_id: int) -> set[int]:
        """The filter's events on this message reported as mistakes (not withdrawn)."""
        return {
            r.moderation_event_id
            for r in self.feedback.filter_reports(message_id)
            if r.kind == "false_positive" and r.moderation_event_id is not None
        }

    def withdraw_false_positive(self, event_id: int) -> None:
        """Take back "this was wrongly flagged" for one of the filter's events."""
        event = self.feedback.moderation_event(event_id)
        self._withdraw(
            event.message_id,
            lambda r: r.kind == "false_positive" and r.moderation_event_id == event_id,
        )

    def withdraw_false_negative(self, message_id: int, category: str) -> None:
        """Take back "this should have been flagged" as ``category``."""
        self._withdraw(message_id, lambda r: r.kind == "false_negative" and r.category == category)

    def _withdraw(self, message_id: int, which: Callable[[FeedbackRecord], bool]) -> None:
        taken = [r for r in self.feedback.filter_reports(message_id) if which(r)]
        for record in taken:
            self.feedback.withdraw(record.id)
        if taken:
            self._changed(message_id)
            self._outbox_touched(send=True)  # a withdrawal may have been queued

    def missed_categories(self, message_id: int) -> list[str]:
        """The categories reported as missed by the filter on this message (not withdrawn)."""
        return [
            r.category
            for r in self.feedback.filter_reports(message_id)
            if r.kind == "false_negative" and r.category
        ]

    def report_false_negative(self, message_id: int, category: str) -> FeedbackRecord:
        record = self.feedback.report_false_negative(message_id, category)
        self._queue(record)
        self._changed(message_id)
        return record

    # ---------------------------------------------------------------- outbox

    def config(self) -> SubmissionConfig:
        return SubmissionConfig.from_settings(self.settings)

    def outbox_items(self) -> list[OutboxItem]:
        return self.feedback.outbox.items()

    def outbox_counts(self) -> dict[str, int]:
        return self.feedback.outbox.counts()

    def waiting_reason(self) -> str:
        config = self.config()
        token = self.tokens.get(config.endpoint) if config.endpoint else None
        return sender_for(self.feedback.outbox, config, token)[1]

    def approve(self, item_ids: Sequence[int]) -> None:
        self.feedback.outbox.approve(item_ids)
        self._outbox_touched(send=True)

    def retry_now(self, item_ids: Sequence[int]) -> None:
        self.feedback.outbox.retry_now(item_ids)
        self._outbox_touched(send=True)

    def kept_here(self) -> int:
        """Records given while submission was off (or taken out of the outbox with "Don't
        send"): never queued, they stay on this computer unless queued now."""
        return sum(entry.sent is None for entry in self.feedback.listing())

    def queue_kept(self) -> int:
        """Put the records kept here into the outbox, each waiting for review (they were
        given before the user chose to send; nothing of them leaves unseen). Returns how
        many were queued (0 while submission is off)."""
        config = dataclasses.replace(self.config(), auto_send=False)
        queued = 0
        for entry in self.feedback.listing():
            if entry.sent is not None:
                continue
            record: FeedbackRecord | ComparisonRecord = (
                self.feedback.get_comparison(entry.record_id)
                if entry.record == "comparison"
                else self.feedback.get_feedback(entry.record_id)
            )
            if queue(self.feedback, record, config) is not None:
                queued += 1
        if queued:
            self._outbox_touched()
            self.listing_changed.emit()
        return queued

    def remove_from_outbox(self, item_ids: Sequence[int]) -> None:
        self.feedback.outbox.remove(item_ids)
        self._outbox_touched()

    def set_token(self, token: str) -> None:
        endpoint = self.config().endpoint
        self.tokens.set(endpoint, token)
        if self.tokens.notice:
            self.notice.emit(self.tokens.notice)
        # A new token is the fix for items held because the old one was refused.
        held = [
            i.id for i in self.outbox_items() if i.state == "held" and i.last_status in (401, 403)
        ]
        self.feedback.outbox.retry_now(held)
        self._outbox_touched(send=True)

    def forget_token(self) -> None:
        self.tokens.forget(self.config().endpoint)
        self._outbox_touched()

    # ---------------------------------------------------------------- sending

    @Slot()
    def request_send(self) -> None:
        """Send what is due, on the worker thread (at most one pass at a time)."""
        if self._stop.is_set():
            return
        if self._busy:
            self._again = True
            return
        config = self.config()
        due = self.feedback.outbox.next_due()
        if not config.active or due is None or due > time.time():
            self._schedule()  # nothing to do now: wake up when the next item is due
            return
        path = self.store.path
        token = self.tokens.get(config.endpoint)
        timeout_s, policy = self.timeout_s, self.policy

        def job(cancelled: Callable[[], bool]) -> SendReport:
            # Runs on the worker thread: its own connection, closed at the end of the pass.
            database = Database(Path(path))
            try:
                sender, waiting = sender_for(
                    Outbox.on(database), config, token, timeout_s=timeout_s, policy=policy
                )
                return sender.send_due(cancelled, waiting)
            finally:
                database.close()

        self._busy = True
        self._run.emit(job)

    def _on_finished(self, report: SendReport) -> None:
        self._busy = False
        self.send_finished.emit(report)
        self.outbox_changed.emit()
        if report.token_refused:
            self.notice.emit("The feedback endpoint refused the API token; set a new one.")
        if self._again:
            self._again = False
            self.request_send()
        else:
            self._schedule()

    def _schedule(self) -> None:
        if self._stop.is_set():
            return
        due = self.feedback.outbox.next_due()
        if due is None or not self.config().active:
            self._timer.stop()
            return
        wait_s = min(MAX_WAKE_S, max(0.0, due - time.time()))
        self._timer.start(int(wait_s * 1000))

    # ---------------------------------------------------------------- helpers

    def _changed(self, message_id: int) -> None:
        self.feedback_changed.emit(message_id)
        self.listing_changed.emit()

    def _queue(self, record: FeedbackRecord | ComparisonRecord) -> None:
        if queue(self.feedback, record, self.config()) is not None:
            self._outbox_touched(send=True)

    def _outbox_touched(self, send: bool = False) -> None:
        self.outbox_changed.emit()
        if send:
            self.request_send()

    def _on_settings_changed(self, change: SettingsChange) -> None:
        if any(k.startswith("filter.") for k in change.keys):
            self.moderator, self.filter_notices = moderator_from_settings(self.settings)
            for text in self.filter_notices:
                self.notice.emit(text)
        if "submission.endpoint" in change.keys:
            # Another address: what was approved was approved for the old one, so it is shown
            # again before it goes (and then without the backoff the old address earned);
            # "send without asking" was said of the old one too. (A first address: nothing
            # was sent yet, and the first records are seen before they go anyway.)
            before, self._endpoint = self._endpoint, self.config().endpoint
            waiting = [i.id for i in self.outbox_items() if i.state in ("pending", "held")]
            self.feedback.outbox.to_review(waiting)
            if before and self._endpoint and self.settings.get_bool("submission.auto_send"):
                self.settings.update({"submission.auto_send": False})
                self.notice.emit(
                    "Feedback goes to a new address: 'Send without asking' is off until you "
                    "have seen what is sent there (Feedback ▸ Outbox)."
                )
        if any(k.startswith("submission.") for k in change.keys):
            self._outbox_touched(send=True)

    def shutdown(self) -> None:
        """Stop the worker (an HTTP request in flight ends at its timeout) and close."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._timer.stop()
        self._unsubscribe()
        self._thread.quit()
        self._thread.wait()
        if self._token_search is not None:
            self._token_search.join()
        self.feedback.close()
