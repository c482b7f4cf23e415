"""Feedback on answers, comparisons of alternatives, the local content filter, exports and
optional submission to a team's endpoint. No Qt.

Importing a submodule imports this package first; the names below load their module on first
use (PEP 562), so the window's start does not pay for keyring, HTTP and the exporters.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "CATEGORIES": "desktop.feedback.records",
    "ComparisonRecord": "desktop.feedback.records",
    "ContentFilter": "desktop.feedback.content_filter",
    "Context": "desktop.feedback.records",
    "Detection": "desktop.feedback.content_filter",
    "ExportFormat": "desktop.feedback.export",
    "FORMATS": "desktop.feedback.export",
    "FeedbackDraft": "desktop.feedback.records",
    "FeedbackRecord": "desktop.feedback.records",
    "FeedbackStore": "desktop.feedback.repository",
    "FilterError": "desktop.feedback.content_filter",
    "Flag": "desktop.feedback.records",
    "HttpSubmitter": "desktop.feedback.submit",
    "ModerationEvent": "desktop.feedback.records",
    "ModerationResult": "desktop.feedback.records",
    "Moderator": "desktop.feedback.content_filter",
    "NEGATIVE_REASONS": "desktop.feedback.records",
    "OnnxClassifierFilter": "desktop.feedback.content_filter",
    "Outbox": "desktop.feedback.outbox",
    "OutboxItem": "desktop.feedback.records",
    "OutboxSender": "desktop.feedback.submit",
    "POSITIVE_REASONS": "desktop.feedback.records",
    "RetryPolicy": "desktop.feedback.submit",
    "RuleBasedFilter": "desktop.feedback.content_filter",
    "SendReport": "desktop.feedback.submit",
    "TokenStore": "desktop.feedback.tokens",
    "export": "desktop.feedback.export",
    "moderator_from_settings": "desktop.feedback.content_filter",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
