"""How a chat is recorded in the history, alike from the window and from ``parley chat``: a
conversation's title from its first message, an answer's stored status from the engine's
reason for ending it, when Continue applies, and the key under which an answer's params keep
its system prompt."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from desktop.store.models import FinalStatus


class StoredAnswer(Protocol):
    """What Continue looks at in a message (a store Message, or the window's view of one)."""

    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def stats(self) -> Mapping[str, Any] | None: ...


TITLE_LENGTH = 48

# What was typed into `parley chat` (for Up in the next chat), next to the history database:
# clearing the history deletes it too.
INPUT_HISTORY_NAME = "chat-input-history"

SYSTEM_PROMPT_KEY = "system_prompt"  # in a message's recorded params (feedback reads it)

# The engine's finish reasons: an answer cut off by its length limit is complete (its stats
# keep ``finish_reason: "length"``, which is what offers Continue); one ended for repeating
# itself counts as stopped. Any other reason is stored as an error (``status_of``).
_STATUS_OF_REASON: Mapping[str, FinalStatus] = {
    "stop": "complete",
    "length": "complete",
    "cancelled": "stopped",
    "error": "error",
    "repetition": "stopped",
}


def status_of(reason: str) -> FinalStatus:
    """The stored status of an answer the engine ended for ``reason``."""
    return _STATUS_OF_REASON.get(reason, "error")


def can_continue(message: StoredAnswer) -> bool:
    """Whether "Continue" applies: an answer with text that was stopped, interrupted or cut
    off by its length limit (one that ended by itself or failed is answered again instead)."""
    if message.role != "assistant" or not message.content:
        return False
    if message.status in ("stopped", "interrupted"):
        return True
    return message.status == "complete" and (message.stats or {}).get("finish_reason") == "length"


def put_back(status: str) -> FinalStatus:
    """The status of an answer put back as it was after a continuation that wrote nothing
    (``interrupted`` is only given by recovery at start-up; ``stopped`` offers Continue the
    same way)."""
    if status == "complete":
        return "complete"
    return "error" if status == "error" else "stopped"


# A fenced block, with the "`name`:" line an attached file puts above it
# (desktop.attachments.Attachment.as_markdown); the closing fence repeats the opening one.
_BLOCK = re.compile(r"^(?:`([^`\n]+)`:[ \t]*\n)?(`{3,}|~{3,})[^\n]*\n.*?^\2[ \t]*$\n?", re.M | re.S)


def title_from(text: str) -> str:
    """A conversation's title: its first message on one line, cut to ``TITLE_LENGTH``, less
    its code blocks and attached files ("Summarize this" rather than the file's first line);
    a message that is nothing but files is named after them."""
    words = " ".join(_BLOCK.sub(" ", text).split())
    if not words:
        names = [m.group(1) for m in _BLOCK.finditer(text) if m.group(1)]
        words = ", ".join(names) if names else " ".join(text.split())
    return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1].rstrip() + "…"
