"""Test doubles for the desktop app: a scripted chat engine and an in-memory history.

Both follow the real interfaces (``desktop.engine.types.ChatEngine`` and
``desktop.services.history.History``) so that the services and widgets can be driven
without a model or a database. They live in tests/ on purpose: the app never ships them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from desktop.engine.types import (
    ChatMessage,
    ContextTrimmed,
    Event,
    Finished,
    GenerationStats,
    ModelInfo,
    SamplingParams,
    TextDelta,
)

_PIECES = re.compile(r"\s*\S+|\s+")

Reply = str | Callable[[Sequence[ChatMessage]], str]


def tokens_of(text: str) -> list[str]:
    """Split text the way the fake 'tokenizes': a word with its leading whitespace."""
    return _PIECES.findall(text)


@dataclass
class FakeEngine:
    """Streams scripted replies word by word.

    ``replies`` are used in turn (the last one repeats); a reply may be a function of the
    messages. ``delay_s`` is the pause per token; the pause waits on the cancel event, so a
    cancel is honoured within one token. ``trim`` makes the next answer report a context trim,
    ``fail_with`` makes it end with an error, ``gate`` (if set) blocks the start of every answer
    until it is set.
    """

    replies: list[Reply] = field(default_factory=lambda: ["Hello from the fake engine."])
    delay_s: float = 0.0
    trim: int = 0
    fail_with: str | None = None
    gate: threading.Event | None = None
    context_length: int = 2048
    name: str = "FakeLM-1M"
    calls: list[list[ChatMessage]] = field(default_factory=list)
    _turn: int = 0

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            context_length=self.context_length,
            provider="CPUExecutionProvider",
            fallback_reason="CUDA not available (fake)",
        )

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        cancel = cancel or threading.Event()
        self.calls.append(list(messages))
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if cancel.is_set():
                    yield Finished("cancelled")
                    return
        reply = self.replies[min(self._turn, len(self.replies) - 1)]
        self._turn += 1
        text = reply(messages) if callable(reply) else reply
        if self.trim:
            yield ContextTrimmed(self.trim)
            self.trim = 0
        if self.fail_with is not None:
            yield Finished("error", error=self.fail_with)
            return
        start = time.perf_counter()
        pieces = tokens_of(text)[: params.max_new_tokens]
        for i, piece in enumerate(pieces):
            if cancel.is_set():
                yield Finished("cancelled", self._stats(messages, i, start))
                return
            if self.delay_s and cancel.wait(self.delay_s):
                yield Finished("cancelled", self._stats(messages, i, start))
                return
            yield TextDelta(i, piece)
        yield Finished("stop", self._stats(messages, len(pieces), start))

    def _stats(
        self, messages: Sequence[ChatMessage], generated: int, start: float
    ) -> GenerationStats:
        elapsed = max(time.perf_counter() - start, 1e-6)
        prompt = sum(len(tokens_of(m.content)) + 4 for m in messages)
        return GenerationStats(
            prompt_tokens=prompt,
            generated_tokens=generated,
            ttft_s=0.001,
            decode_tok_s=generated / elapsed,
            provider="CPUExecutionProvider",
        )


@dataclass
class MemMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    status: str = "complete"
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class MemConversation:
    id: int
    title: str
    updated_at: dt.datetime
    pinned: bool = False
    folder: str | None = None
    settings: dict[str, object] = field(default_factory=dict)
    leaf_id: int | None = None
    deleted: bool = False


@dataclass(frozen=True)
class MemHit:
    conversation_id: int
    message_id: int | None
    title: str
    snippet: str


class MemoryHistory:
    """The ``History`` protocol over dicts: a tree of messages per conversation, with the
    current leaf, siblings, soft delete and a naive substring search."""

    def __init__(self) -> None:
        self.conversations: dict[int, MemConversation] = {}
        self.messages: dict[int, MemMessage] = {}
        self.partials: list[tuple[int, str]] = []  # every append_partial call, for tests
        self._next = 1

    def _id(self) -> int:
        self._next += 1
        return self._next

    def _touch(self, conversation_id: int) -> None:
        self.conversations[conversation_id].updated_at = dt.datetime.now()

    def create_conversation(self, title: str, settings: dict[str, object] | None = None) -> int:
        cid = self._id()
        self.conversations[cid] = MemConversation(
            cid, title, dt.datetime.now(), settings=dict(settings or {})
        )
        return cid

    def conversation(self, conversation_id: int) -> MemConversation:
        return self.conversations[conversation_id]

    def list_conversations(self) -> list[MemConversation]:
        alive = [c for c in self.conversations.values() if not c.deleted]
        return sorted(alive, key=lambda c: c.updated_at, reverse=True)

    def rename(self, conversation_id: int, title: str) -> None:
        self.conversations[conversation_id].title = title

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.conversations[conversation_id].pinned = pinned

    def set_folder(self, conversation_id: int, folder: str | None) -> None:
        self.conversations[conversation_id].folder = folder

    def set_settings(self, conversation_id: int, settings: dict[str, object]) -> None:
        self.conversations[conversation_id].settings = dict(settings)

    def delete(self, conversation_id: int) -> None:
        self.conversations[conversation_id].deleted = True

    def undelete(self, conversation_id: int) -> None:
        self.conversations[conversation_id].deleted = False

    def duplicate(self, conversation_id: int) -> int:
        src = self.conversations[conversation_id]
        cid = self.create_conversation(f"{src.title} (copy)", src.settings)
        parent: int | None = None
        for m in self.current_path(conversation_id):
            parent = self.add_message(cid, parent, m.role, m.content)
        return cid

    def search(self, query: str, limit: int = 50) -> list[MemHit]:
        q = query.casefold()
        hits: list[MemHit] = []
        for c in self.list_conversations():
            if q in c.title.casefold():
                hits.append(MemHit(c.id, None, c.title, c.title))
                continue
            for m in self.messages.values():
                if m.conversation_id == c.id and q in m.content.casefold():
                    i = m.content.casefold().index(q)
                    word = m.content[i : i + len(q)]
                    snippet = f"…{m.content[max(0, i - 20) : i]}[{word}]{m.content[i + len(q) :][:20]}…"
                    hits.append(MemHit(c.id, m.id, c.title, snippet))
                    break
        return hits[:limit]

    def current_path(self, conversation_id: int) -> list[MemMessage]:
        path: list[MemMessage] = []
        node = self.conversations[conversation_id].leaf_id
        while node is not None:
            path.append(self.messages[node])
            node = self.messages[node].parent_id
        return path[::-1]

    def add_message(
        self, conversation_id: int, parent_id: int | None, role: str, content: str
    ) -> int:
        mid = self._id()
        self.messages[mid] = MemMessage(mid, conversation_id, parent_id, role, content)
        self.conversations[conversation_id].leaf_id = mid
        self._touch(conversation_id)
        return mid

    def siblings(self, message_id: int) -> list[int]:
        m = self.messages[message_id]
        return [
            o.id
            for o in self.messages.values()
            if o.conversation_id == m.conversation_id and o.parent_id == m.parent_id
        ]

    def select(self, message_id: int) -> None:
        m = self.messages[message_id]
        leaf = message_id
        while True:
            children = [o.id for o in self.messages.values() if o.parent_id == leaf]
            if not children:
                break
            leaf = children[-1]
        self.conversations[m.conversation_id].leaf_id = leaf

    def begin_stream(self, conversation_id: int, parent_id: int) -> int:
        mid = self.add_message(conversation_id, parent_id, "assistant", "")
        self.messages[mid].status = "streaming"
        return mid

    def append_partial(self, message_id: int, content: str) -> None:
        self.partials.append((message_id, content))
        self.messages[message_id].content = content

    def finish_stream(
        self, message_id: int, content: str, status: str, meta: dict[str, object]
    ) -> None:
        m = self.messages[message_id]
        m.content, m.status, m.meta = content, status, dict(meta)


@contextlib.contextmanager
def no_thread_left_running() -> Iterator[None]:
    """Fail if a QThread started inside the block is still running at its end (napari's
    rule: a test that leaks a thread poisons the ones after it)."""
    from PySide6.QtCore import QThread

    original = QThread.start
    started: list[QThread] = []

    def start(self: QThread, *args: object) -> None:
        started.append(self)
        original(self, *args)

    QThread.start = start  # type: ignore[method-assign]
    try:
        yield
    finally:
        QThread.start = original  # type: ignore[method-assign]
    running = [t.objectName() or repr(t) for t in started if _alive(t) and t.isRunning()]
    assert not running, f"QThread left running at the end of the test: {running}"


def _alive(thread: object) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(thread))
