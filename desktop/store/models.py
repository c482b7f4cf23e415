"""What the store hands out: plain frozen dataclasses, safe to pass between threads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

Role = Literal["system", "user", "assistant", "tool"]
Status = Literal["complete", "streaming", "stopped", "error", "interrupted"]
FinalStatus = Literal["complete", "stopped", "error"]

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class Folder:
    id: int
    name: str
    position: int
    created_at: datetime


class ConversationSummary(NamedTuple):
    """One row of the sidebar: what a listing needs, nothing more. A named tuple, not a
    dataclass: the sidebar builds 10,000 of them at once and these are 4x cheaper."""

    id: int
    title: str
    updated_ts: float
    """The last activity (a message added or finished), Unix seconds: the sidebar's order."""
    pinned: bool
    folder_id: int | None

    @property
    def updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.updated_ts, tz=UTC)


@dataclass(frozen=True)
class Conversation:
    id: int
    uid: str
    title: str
    created_at: datetime
    updated_at: datetime
    pinned: bool
    folder_id: int | None
    system_prompt: str | None
    overrides: JSONObject
    """Sampling overrides for this chat (names as in the engine's ``SamplingParams``)."""
    current_leaf_id: int | None
    """The last message of the branch shown; ``None`` for an empty conversation."""
    deleted_at: datetime | None


@dataclass(frozen=True)
class Message:
    id: int
    uid: str
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    status: Status
    model: str | None
    params: JSONObject | None
    stats: JSONObject | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Siblings:
    """A message among the alternatives at its place in the tree: the < 2/3 > switcher.
    ``ids`` are in creation order; ``index`` is 0-based (show ``index + 1``)."""

    index: int
    ids: tuple[int, ...]

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def previous_id(self) -> int | None:
        return self.ids[self.index - 1] if self.index > 0 else None

    @property
    def next_id(self) -> int | None:
        return self.ids[self.index + 1] if self.index + 1 < len(self.ids) else None


@dataclass(frozen=True)
class ThreadEntry:
    """A message of the branch shown, with its alternatives."""

    message: Message
    siblings: Siblings


@dataclass(frozen=True)
class SearchHit:
    """One match. ``message_id`` is ``None`` when the conversation's title matched.
    ``snippet`` is plain text (never markup); ``highlights`` are ``(start, end)`` character
    ranges in it that matched the query, for the view to emphasise."""

    conversation_id: int
    conversation_title: str
    message_id: int | None
    role: Role | None
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    updated_at: datetime


@dataclass(frozen=True)
class SidebarGroup:
    """A heading of the sidebar and its conversations. ``key`` is stable ("pinned", "today",
    "yesterday", "previous_7_days", "previous_30_days", or "YYYY-MM"); ``label`` is for display."""

    key: str
    label: str
    conversations: tuple[ConversationSummary, ...]
