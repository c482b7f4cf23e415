"""Feedback on answers, comparisons of alternatives, the local content filter, exports and
optional submission to a team's endpoint. No Qt."""

from desktop.feedback.content_filter import (
    ContentFilter,
    Detection,
    FilterError,
    Moderator,
    OnnxClassifierFilter,
    RuleBasedFilter,
    moderator_from_settings,
)
from desktop.feedback.export import FORMATS, ExportFormat, export
from desktop.feedback.outbox import Outbox
from desktop.feedback.records import (
    CATEGORIES,
    NEGATIVE_REASONS,
    POSITIVE_REASONS,
    ComparisonRecord,
    Context,
    FeedbackDraft,
    FeedbackRecord,
    Flag,
    ModerationEvent,
    ModerationResult,
    OutboxItem,
)
from desktop.feedback.repository import FeedbackStore
from desktop.feedback.submit import HttpSubmitter, OutboxSender, RetryPolicy, SendReport
from desktop.feedback.tokens import TokenStore

__all__ = [
    "CATEGORIES",
    "FORMATS",
    "NEGATIVE_REASONS",
    "POSITIVE_REASONS",
    "ComparisonRecord",
    "ContentFilter",
    "Context",
    "Detection",
    "ExportFormat",
    "FeedbackDraft",
    "FeedbackRecord",
    "FeedbackStore",
    "FilterError",
    "Flag",
    "HttpSubmitter",
    "ModerationEvent",
    "ModerationResult",
    "Moderator",
    "OnnxClassifierFilter",
    "Outbox",
    "OutboxItem",
    "OutboxSender",
    "RetryPolicy",
    "RuleBasedFilter",
    "SendReport",
    "TokenStore",
    "export",
    "moderator_from_settings",
]
