"""Submission as the settings describe it: whether and where to send, which turns go along,
and whether the user reviews each record first. Glue between the feedback store, the outbox
and the sender; the Qt service and the CLI both use it."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.config.settings import Settings
from desktop.feedback.outbox import Outbox
from desktop.feedback.payloads import ContextMode, comparison_payload, feedback_payload
from desktop.feedback.records import ComparisonRecord, FeedbackRecord, OutboxItem
from desktop.feedback.repository import FeedbackStore
from desktop.feedback.submit import HttpSubmitter, OutboxSender, RetryPolicy


@dataclass(frozen=True)
class SubmissionConfig:
    enabled: bool = False
    endpoint: str = ""
    context: ContextMode = "conversation"
    auto_send: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> SubmissionConfig:
        context = settings.get_str("submission.context")
        return cls(
            enabled=settings.get_bool("submission.enabled"),
            endpoint=settings.get_str("submission.endpoint"),
            context="turn" if context == "turn" else "conversation",
            auto_send=settings.get_bool("submission.auto_send"),
        )

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.endpoint)


def queue(
    feedback: FeedbackStore, record: FeedbackRecord | ComparisonRecord, config: SubmissionConfig
) -> OutboxItem | None:
    """Queue a new or changed record when submission is on (``None`` when it is off). Without
    "send without asking" it waits in ``review`` until the user has seen it; with it too,
    while nothing was ever sent or approved: the user sees exactly what leaves before the
    first send."""
    if not config.active or record.withdrawn_at is not None:
        return None
    counts = feedback.outbox.counts()
    review = not config.auto_send or counts["sent"] + counts["pending"] == 0
    if isinstance(record, FeedbackRecord):
        payload = feedback_payload(record, config.context)
        return feedback.outbox.put(
            "feedback", record.uid, payload, review=review, feedback_id=record.id
        )
    payload = comparison_payload(record, config.context)
    return feedback.outbox.put(
        "comparison", record.uid, payload, review=review, comparison_id=record.id
    )


def sender_for(
    outbox: Outbox,
    config: SubmissionConfig,
    token: str | None,
    *,
    timeout_s: float = 15.0,
    policy: RetryPolicy | None = None,
) -> tuple[OutboxSender, str]:
    """A sender for the configured endpoint with its API token (from :meth:`TokenStore.get`),
    and why nothing can be sent ("" when it can)."""
    waiting = ""
    submitter: HttpSubmitter | None = None
    if not config.enabled:
        waiting = "Submission is turned off in the settings."
    elif not config.endpoint:
        waiting = "No endpoint address is set."
    elif token is None:
        waiting = "Waiting for an API token for this endpoint."
    else:
        submitter = HttpSubmitter(config.endpoint, token, timeout_s=timeout_s)
    return OutboxSender(outbox, submitter, policy=policy), waiting
