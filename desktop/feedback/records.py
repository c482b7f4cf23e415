"""What feedback is made of: reasons, content-filter categories, and the records the feedback
store hands out (plain frozen dataclasses, safe to pass between threads)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from desktop.config.feedback import CATEGORIES as CATEGORIES
from desktop.config.feedback import Category as Category
from desktop.config.feedback import FilterAction as FilterAction
from desktop.store.models import JSONObject

FeedbackKind = Literal["rating", "false_positive", "false_negative"]

Source = Literal["input", "output"]
OutboxKind = Literal["feedback", "comparison", "withdrawal"]
OutboxState = Literal["review", "pending", "held", "sent"]

THUMBS_UP = 1
THUMBS_DOWN = -1

ACTIONS: tuple[FilterAction, ...] = ("allow", "warn", "block")
ACTION_LABELS: Mapping[str, str] = {"allow": "Allow", "warn": "Warn", "block": "Block"}
# The past tense shown on a banner: "flagged: harassment — warned".
ACTION_DONE: Mapping[str, str] = {"allow": "allowed", "warn": "warned", "block": "blocked"}


@dataclass(frozen=True)
class Reason:
    """A reason chip in the feedback dialog. ``tag`` is the name in ChatGPT's export."""

    key: str
    label: str
    description: str
    tag: str


# The limitations "Introducing ChatGPT" lists, as reasons for a thumbs down.
NEGATIVE_REASONS: tuple[Reason, ...] = (
    Reason(
        "harmful", "Harmful or unsafe", "The answer is harmful, unsafe or offensive.", "harmful"
    ),
    Reason(
        "made_up_facts",
        "Made up facts / incorrect",
        "The answer states things that are not true or invents sources.",
        "false",
    ),
    Reason(
        "false_premise",
        "Accepted a false premise",
        "The question assumed something untrue and the answer went along with it.",
        "false-premise",
    ),
    Reason(
        "should_clarify",
        "Should have asked a clarifying question",
        "The request was ambiguous; the answer guessed instead of asking.",
        "should-clarify",
    ),
    Reason(
        "no_admit_mistake",
        "Did not admit a mistake",
        "When corrected, the answer did not acknowledge its mistake.",
        "no-admit-mistake",
    ),
    Reason(
        "over_refusal",
        "Refused when it should not have",
        "The request was fine, but the model declined to help.",
        "over-refusal",
    ),
    Reason(
        "should_refuse",
        "Should have refused",
        "The request was inappropriate and the model should have declined.",
        "should-refuse",
    ),
    Reason(
        "too_verbose",
        "Too verbose / repetitive",
        "The answer is longer than needed or repeats itself.",
        "too-verbose",
    ),
    Reason(
        "ignored_instructions",
        "Did not follow instructions",
        "The answer ignored what was asked (format, length, language, constraints).",
        "not-following-instructions",
    ),
    Reason("other", "Other", "Something else; say what in the comment.", "other"),
)

POSITIVE_REASONS: tuple[Reason, ...] = (
    Reason("correct", "Correct", "The answer is factually right.", "correct"),
    Reason("helpful", "Helpful", "The answer did what was needed.", "helpful"),
    Reason("clear", "Clear and concise", "Easy to follow, no padding.", "clear"),
    Reason(
        "good_refusal",
        "Declined appropriately",
        "The request was inappropriate and the model rightly declined.",
        "good-refusal",
    ),
    Reason("other_good", "Other", "Something else; say what in the comment.", "other"),
)

REASONS: Mapping[str, Reason] = {r.key: r for r in (*NEGATIVE_REASONS, *POSITIVE_REASONS)}


def reasons_for(rating: int) -> tuple[Reason, ...]:
    return POSITIVE_REASONS if rating == THUMBS_UP else NEGATIVE_REASONS


CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in CATEGORIES)
CATEGORIES_BY_KEY: Mapping[str, Category] = {c.key: c for c in CATEGORIES}


def category_label(key: str) -> str:
    category = CATEGORIES_BY_KEY.get(key)
    return category.label if category is not None else key.replace("_", " ")


@dataclass(frozen=True)
class Turn:
    """One message of the context, as chat training data writes it."""

    role: str
    content: str

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Context:
    """What produced a message: the model, its sampling parameters, the system prompt and the
    turns before it (the system prompt first, when there is one). ``response``: the message's
    text when the feedback was given (an answer continued later grows; the feedback was about
    what the user read)."""

    model: str | None
    params: JSONObject | None
    system_prompt: str | None
    prompt: tuple[Turn, ...]
    response: str | None = None

    def to_json(self) -> JSONObject:
        data: JSONObject = {
            "model": self.model,
            "params": self.params,
            "system_prompt": self.system_prompt,
            "prompt": [t.to_json() for t in self.prompt],
        }
        if self.response is not None:
            data["response"] = self.response
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Context:
        prompt = data.get("prompt") or []
        params = data.get("params")
        return cls(
            model=data.get("model"),
            params=dict(params) if isinstance(params, dict) else None,
            system_prompt=data.get("system_prompt"),
            prompt=tuple(Turn(str(t["role"]), str(t["content"])) for t in prompt),
            response=response if isinstance(response := data.get("response"), str) else None,
        )


@dataclass(frozen=True)
class FeedbackDraft:
    """What the feedback dialog collects. ``ideal_answer`` is ``None`` when the user did not
    write one (or left the model's text unchanged)."""

    rating: int
    reasons: tuple[str, ...] = ()
    comment: str = ""
    ideal_answer: str | None = None


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    uid: str
    message_id: int
    message_uid: str
    conversation_uid: str
    kind: FeedbackKind
    rating: int | None
    reasons: tuple[str, ...]
    comment: str
    ideal_answer: str | None
    category: str | None
    moderation_event_id: int | None
    context: Context
    response: str | None  # None: a report on the user's own message (no answer)
    """The rated message's text."""
    revision: int
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


@dataclass(frozen=True)
class ComparisonItem:
    message_id: int
    message_uid: str
    content: str
    model: str | None
    params: JSONObject | None
    position: int
    rank: int | None
    """1 is best; ``None`` when the user chose "all bad"."""


@dataclass(frozen=True)
class ComparisonRecord:
    id: int
    uid: str
    conversation_id: int
    conversation_uid: str
    parent_id: int | None
    all_bad: bool
    chosen_id: int | None
    comment: str
    context: Context
    items: tuple[ComparisonItem, ...]
    """In display order; :meth:`ranked` gives them best first."""
    revision: int
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None

    def ranked(self) -> list[ComparisonItem]:
        return sorted(
            (i for i in self.items if i.rank is not None), key=lambda i: (i.rank, i.position)
        )


@dataclass(frozen=True)
class FeedbackEntry:
    """One line of "Your feedback": a rating, a content-filter report or a ranking, with
    where it was given and how far its submission got."""

    record: Literal["feedback", "comparison"]
    record_id: int
    kind: FeedbackKind | Literal["comparison"]
    conversation_id: int
    conversation_title: str
    message_id: int
    """The rated message; for a ranking, the answer ranked best (the first one: all bad)."""
    summary: str
    """In words: "Bad: made up facts / incorrect", "Ranked 3 answers"."""
    comment: str
    updated_at: datetime
    sent: OutboxState | None
    """Its submission's state in the outbox; None: kept on this computer only."""


@dataclass(frozen=True)
class ModerationEvent:
    id: int
    message_id: int
    source: Source
    filter: str
    category: str
    action: FilterAction
    score: float
    evidence: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxItem:
    id: int
    idempotency_key: str
    kind: OutboxKind
    record_uid: str
    payload: JSONObject
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status: int | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class Flag:
    """One category the filter found, with the action the settings give it."""

    category: str
    action: FilterAction
    score: float
    evidence: str = ""
    filter: str = ""


@dataclass(frozen=True)
class ModerationResult:
    """The filter's verdict on one text."""

    source: Source
    flags: tuple[Flag, ...] = field(default=())

    @property
    def action(self) -> FilterAction:
        """The strictest action among the flags (``allow`` when nothing was found)."""
        order = {a: i for i, a in enumerate(ACTIONS)}
        return max((f.action for f in self.flags), key=order.__getitem__, default="allow")

    @property
    def flagged(self) -> bool:
        """Whether the message gets a banner (some category is warned or blocked)."""
        return self.action != "allow"

    @property
    def blocked(self) -> bool:
        return self.action == "block"

    def shown_flags(self) -> list[Flag]:
        return [f for f in self.flags if f.action != "allow"]

    def summary(self) -> str:
        """The banner text, e.g. ``flagged: harassment — warned``; "" when nothing is shown."""
        return banner_text(self.shown_flags())


def banner_text(flags: Sequence[Flag] | Sequence[ModerationEvent]) -> str:
    """``flagged: harassment, hate — warned`` (the strictest action of the flags shown)."""
    shown = [f for f in flags if f.action != "allow"]
    if not shown:
        return ""
    names: list[str] = []
    for flag in shown:
        label = category_label(flag.category).lower()
        if label not in names:
            names.append(label)
    order = {a: i for i, a in enumerate(ACTIONS)}
    strictest = max((f.action for f in shown), key=order.__getitem__)
    return f"flagged: {', '.join(names)} — {ACTION_DONE[strictest]}"
