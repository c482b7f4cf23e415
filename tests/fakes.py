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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.types import (
    ChatMessage,
    ContextTrimmed,
    Event,
    Finished,
    FinishReason,
    GenerationStats,
    ModelInfo,
    PromptProgress,
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
    ``fail_with`` makes it end with an error, ``finish_with`` with another reason, ``gate``
    (if set) blocks the start of every answer until it is set; ``reading`` are the
    ``PromptProgress`` of a long prompt, then ``hold_after_reading`` (if set) holds.
    """

    replies: list[Reply] = field(default_factory=lambda: ["Hello from the fake engine."])
    delay_s: float = 0.0
    trim: int = 0
    fail_with: str | None = None
    finish_with: FinishReason | None = None  # how every answer ends, instead of stop/length
    gate: threading.Event | None = None
    reading: list[tuple[int, int]] = field(default_factory=list)  # PromptProgress to send
    hold_after_reading: threading.Event | None = None  # then wait for this to be set
    context_length: int = 2048
    name: str = "FakeLM-1M"
    path: str = ""  # a model folder (its tokenizer.json counts a message's tokens)
    fallback_reason: str | None = "CUDA not available (fake)"
    calls: list[list[ChatMessage]] = field(default_factory=list)
    _turn: int = 0

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            context_length=self.context_length,
            provider="CPUExecutionProvider",
            fallback_reason=self.fallback_reason,
            path=self.path,
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
        if self.reading:  # a long prompt read in parts: (done, total) each
            for done, total in self.reading:
                yield PromptProgress(done, total)
            while self.hold_after_reading is not None and not self.hold_after_reading.wait(0.01):
                if cancel.is_set():
                    yield Finished("cancelled")
                    return
        if self.fail_with is not None:
            yield Finished("error", error=self.fail_with)
            return
        start = time.perf_counter()
        pieces = tokens_of(text)
        reason = "length" if len(pieces) > params.max_new_tokens else "stop"
        pieces = pieces[: params.max_new_tokens]
        for i, piece in enumerate(pieces):
            if cancel.is_set():
                yield Finished("cancelled", self._stats(messages, i, start))
                return
            if self.delay_s and cancel.wait(self.delay_s):
                yield Finished("cancelled", self._stats(messages, i, start))
                return
            yield TextDelta(i, piece)
        yield Finished(self.finish_with or reason, self._stats(messages, len(pieces), start))

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
    stats: dict[str, Any] | None = None
    model: str | None = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class MemSiblings:
    index: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class MemEntry:
    message: MemMessage
    siblings: MemSiblings


@dataclass
class MemConversation:
    id: int
    title: str
    updated_at: dt.datetime
    system_prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False
    folder_id: int | None = None
    current_leaf_id: int | None = None
    deleted: str | None = None


@dataclass(frozen=True)
class MemFolder:
    id: int
    name: str


@dataclass(frozen=True)
class MemHit:
    conversation_id: int
    conversation_title: str
    message_id: int | None
    role: str | None
    snippet: str
    highlights: tuple[tuple[int, int], ...]


class MemoryHistory:
    """The ``History`` protocol (the store's method names) over dicts: a message tree per
    conversation with its current leaf, soft delete with undo tokens, substring search."""

    def __init__(self) -> None:
        self.conversations: dict[int, MemConversation] = {}
        self.messages: dict[int, MemMessage] = {}
        self.folders: dict[int, MemFolder] = {}
        self.partials: list[tuple[int, str]] = []  # every append_partial call, for tests
        self._next = 0
        self._clock = dt.datetime(2025, 1, 1, 12, 0)

    def _id(self) -> int:
        self._next += 1
        return self._next

    def recover_interrupted(self) -> list[MemMessage]:
        return []  # one process: every answer streaming here has its writer alive

    def _touch(self, conversation_id: int) -> None:
        # strictly increasing, so "most recent first" is deterministic within one test
        self._clock = max(self._clock + dt.timedelta(seconds=1), dt.datetime.now())
        self.conversations[conversation_id].updated_at = self._clock

    # conversations
    def create_conversation(
        self,
        title: str = "New chat",
        *,
        system_prompt: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> MemConversation:
        cid = self._id()
        self.conversations[cid] = MemConversation(
            cid, title, dt.datetime.now(), system_prompt, dict(overrides or {})
        )
        self._touch(cid)
        return self.conversations[cid]

    def get_conversation(self, conversation_id: int) -> MemConversation:
        return self.conversations[conversation_id]

    def list_conversations(self) -> list[MemConversation]:
        alive = [c for c in self.conversations.values() if c.deleted is None]
        return sorted(alive, key=lambda c: (not c.pinned, -c.updated_at.timestamp()))

    def list_folders(self) -> list[MemFolder]:
        return list(self.folders.values())

    def create_folder(self, name: str) -> MemFolder:
        folder = MemFolder(self._id(), name)
        self.folders[folder.id] = folder
        return folder

    def rename_folder(self, folder_id: int, name: str) -> None:
        self.folders[folder_id] = MemFolder(folder_id, name)

    def delete_folder(self, folder_id: int) -> None:
        del self.folders[folder_id]
        for c in self.conversations.values():
            if c.folder_id == folder_id:
                c.folder_id = None

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self.conversations[conversation_id].title = title

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.conversations[conversation_id].pinned = pinned

    def move_to_folder(self, conversation_id: int, folder_id: int | None) -> None:
        self.conversations[conversation_id].folder_id = folder_id

    def set_system_prompt(self, conversation_id: int, system_prompt: str | None) -> None:
        self.conversations[conversation_id].system_prompt = system_prompt

    def set_overrides(self, conversation_id: int, overrides: Mapping[str, Any]) -> None:
        self.conversations[conversation_id].overrides = dict(overrides)

    def delete_conversations(self, *conversation_ids: int) -> str:
        token = f"t{self._id()}"
        for cid in conversation_ids:
            self.conversations[cid].deleted = token
        return token

    def clear_all(self) -> None:
        self.conversations.clear()
        self.messages.clear()

    def undo_delete(self, token: str) -> int:
        back = [c for c in self.conversations.values() if c.deleted == token]
        for c in back:
            c.deleted = None
        return len(back)

    def purge(self, token: str) -> int:
        gone = [cid for cid, c in self.conversations.items() if c.deleted == token]
        for cid in gone:
            del self.conversations[cid]
        self.messages = {k: m for k, m in self.messages.items() if m.conversation_id not in gone}
        return len(gone)

    def purge_deleted(self) -> int:
        return sum(self.purge(t) for t in {c.deleted for c in self.conversations.values()} if t)

    def duplicate_conversation(self, conversation_id: int) -> MemConversation:
        src = self.conversations[conversation_id]
        copy = self.create_conversation(
            f"{src.title} (copy)", system_prompt=src.system_prompt, overrides=src.overrides
        )
        parent: int | None = None
        for m in self.current_path(conversation_id):
            parent = self.add_message(copy.id, parent, m.role, m.content).id
        return copy

    def search_in_steps(self, query: str, limit: int = 50) -> Iterator[tuple[list[MemHit], bool]]:
        yield self.search(query, limit), True

    def search(self, query: str, limit: int = 50) -> list[MemHit]:
        q = query.casefold().strip()
        hits: list[MemHit] = []
        if not q:
            return hits
        for c in self.list_conversations():
            if q in c.title.casefold():
                i = c.title.casefold().index(q)
                hits.append(MemHit(c.id, c.title, None, None, c.title, ((i, i + len(q)),)))
            for m in self.messages.values():
                if m.conversation_id == c.id and q in m.content.casefold():
                    i = m.content.casefold().index(q)
                    lo = max(0, i - 20)
                    snippet = m.content[lo : i + len(q) + 20]
                    span = ((i - lo, i - lo + len(q)),)
                    hits.append(MemHit(c.id, c.title, m.id, m.role, snippet, span))
        return hits[:limit]

    # the tree
    def get_message(self, message_id: int) -> MemMessage:
        return self.messages[message_id]

    def current_path(self, conversation_id: int) -> list[MemMessage]:
        path: list[MemMessage] = []
        node = self.conversations[conversation_id].current_leaf_id
        while node is not None:
            path.append(self.messages[node])
            node = self.messages[node].parent_id
        return path[::-1]

    def thread(self, conversation_id: int) -> list[MemEntry]:
        return [MemEntry(m, self.siblings(m.id)) for m in self.current_path(conversation_id)]

    def add_message(
        self,
        conversation_id: int,
        parent_id: int | None,
        role: Any,
        content: str,
        *,
        status: str = "complete",
    ) -> MemMessage:
        mid = self._id()
        self.messages[mid] = MemMessage(mid, conversation_id, parent_id, role, content, status)
        self.conversations[conversation_id].current_leaf_id = mid
        self._touch(conversation_id)
        return self.messages[mid]

    def edit_user_message(self, message_id: int, new_text: str) -> MemMessage:
        old = self.messages[message_id]
        assert old.role == "user"
        return self.add_message(old.conversation_id, old.parent_id, "user", new_text)

    def siblings(self, message_id: int) -> MemSiblings:
        m = self.messages[message_id]
        ids = tuple(
            o.id
            for o in self.messages.values()
            if o.conversation_id == m.conversation_id and o.parent_id == m.parent_id
        )
        return MemSiblings(ids.index(message_id), ids)

    def switch_branch(self, message_id: int) -> int:
        leaf = message_id
        while True:
            children = [o.id for o in self.messages.values() if o.parent_id == leaf]
            if not children:
                break
            leaf = children[-1]
        self.conversations[self.messages[message_id].conversation_id].current_leaf_id = leaf
        return leaf

    # streaming
    def begin_assistant(
        self,
        conversation_id: int,
        parent_id: int | None,
        model: str,
        params: Mapping[str, Any] | None = None,
    ) -> MemMessage:
        message = self.add_message(conversation_id, parent_id, "assistant", "", status="streaming")
        message.model, message.params = model, dict(params) if params is not None else None
        return message

    def regenerate(
        self, assistant_message_id: int, model: str, params: Mapping[str, Any] | None = None
    ) -> MemMessage:
        old = self.messages[assistant_message_id]
        return self.begin_assistant(old.conversation_id, old.parent_id, model, params)

    def resume(self, message_id: int) -> MemMessage:
        m = self.messages[message_id]
        if m.role != "assistant" or m.status == "streaming":
            raise ValueError(f"message {message_id} ({m.role}, {m.status}) cannot be continued")
        m.status = "streaming"
        return m

    def totals(self) -> tuple[int, int, int]:
        alive = {c.id for c in self.conversations.values() if c.deleted is None}
        messages = sum(1 for m in self.messages.values() if m.conversation_id in alive)
        return len(alive), messages, len(self.folders)

    def discard_answer(self, message_id: int) -> int | None:
        m = self.messages[message_id]
        if m.role != "assistant" or m.status != "streaming" or m.content:
            raise ValueError(f"message {message_id} is not an answer still empty")
        del self.messages[message_id]
        self.conversations[m.conversation_id].current_leaf_id = m.parent_id
        return m.parent_id

    def append_partial(self, message_id: int, text_so_far: str) -> None:
        self.partials.append((message_id, text_so_far))
        self.messages[message_id].content = text_so_far

    def finish(
        self,
        message_id: int,
        status: Any,
        stats: Mapping[str, Any] | None = None,
        content: str | None = None,
        model: str | None = None,
    ) -> MemMessage:
        m = self.messages[message_id]
        assert m.status == "streaming", f"message {message_id} is {m.status}"
        if model is not None:
            m.model = model
        m.status = status
        m.stats = dict(stats) if stats is not None else m.stats
        m.content = content if content is not None else m.content
        return m


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


def word_tokenizer(folder: Path) -> str:
    """A ``tokenizer.json`` in ``folder`` that makes one token of each word (so a test
    counts tokens by counting words), for a fake engine's ``path``. Returns the folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    return str(folder)
