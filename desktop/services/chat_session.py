"""ChatSession: one open conversation (one tab) between the history store and the engine.

Order of one answer (DESIGN.md "Data flow"): the user message is stored and committed, an
assistant message is begun as ``streaming`` before the first token, the partial text is flushed
to the store every ~0.5 s, and the answer ends as ``complete`` / ``stopped`` / ``error`` with its
statistics. Regenerate and edit add siblings in the message tree, so no branch is ever lost.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.engine.types import ChatMessage, Finished, GenerationStats, SamplingParams
from desktop.services.engine_host import EngineHost, GenerationRequest
from desktop.services.history import History, MessageLike, ThreadEntryLike
from desktop.store.errors import KnownError
from desktop.store.recording import (
    SYSTEM_PROMPT_KEY,
    can_continue,
    put_back,
    status_of,
    title_from,
)

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 500
SAVE_RETRY_MS = 3000  # an answer the history could not store (disk full) is tried again
ALTERNATIVE_MIN_TEMP = 0.7
# answer_finished's status for an answer stopped before it wrote anything: it is gone
DISCARDED = "discarded"

# Per-chat overrides a user may set (the rest of SamplingParams stays at the defaults).
OVERRIDABLE = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "seed",
               "max_new_tokens")  # fmt: skip


UNTITLED = "New chat"  # a chat without a message yet


@dataclass(frozen=True)
class ChatDefaults:
    """What a new chat starts with (from the settings)."""

    system_prompt: str = ""
    sampling: SamplingParams = dataclasses.field(default_factory=SamplingParams)


class ChatSession(QObject):
    """State: ``idle`` -> ``waiting`` (queued on the worker) -> ``streaming`` -> ``idle``.

    Signals: ``path_changed`` (the shown branch changed; views reload ``path()``),
    ``state_changed(str)``, ``delta(int, str)`` (message id, new text),
    ``trimmed(int, int)`` (message id, dropped messages), ``reading(int, int, int)`` (message
    id, prompt tokens read, of: a long prompt before its answer's first token),
    ``answer_finished(int, str, object)``
    (message id, status, GenerationStats; status ``DISCARDED``: stopped before it wrote
    anything, the message is gone and the path shows the question again),
    ``title_changed(str)``, ``error(str)``,
    ``refused(str)`` (no model to ask, or the history busy: send/edit/regenerate/continue did
    nothing).
    """

    path_changed = Signal()
    state_changed = Signal(str)
    delta = Signal(int, str)
    trimmed = Signal(int, int)
    reading = Signal(int, int, int)  # (answer, prompt tokens read, of) before a long answer
    answer_finished = Signal(int, str, object)
    title_changed = Signal(str)
    error = Signal(str)
    input_blocked = Signal(int)  # the user message the content filter kept from the model
    refused = Signal(str)  # why nothing was asked: the prompt stays with the user

    def __init__(
        self,
        history: History,
        host: EngineHost,
        defaults: Callable[[], ChatDefaults],
        conversation_id: int | None = None,
        parent: QObject | None = None,
        *,
        busy: Callable[[], str | None] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self._history = history
        self._host = host
        self._busy = busy  # why the history cannot take an answer now (an import holds it)
        self._defaults = defaults
        self.conversation_id = conversation_id
        self._untitled = False  # created before its first message: not named after it yet
        self.state = "idle"
        self._request: GenerationRequest | None = None
        self._streaming_id: int | None = None
        self._text = ""
        self._dirty = False
        self._extra: dict[str, Any] = {}
        self._resumed: _Resumed | None = None  # the answer being continued, as it was
        self._replacing: int | None = None  # the answer a regenerated one is to replace
        self._title: tuple[int, str] | None = None  # (conversation, its title) as last read
        # The content filter on the user's input: (message id, text) -> True when the message
        # must not go to the model. Set by the window when feedback is available.
        self.input_filter: Callable[[int, str], bool] | None = None
        # which of these messages the content filter blocked (left out of what the model reads)
        self.blocked_among: Callable[[Sequence[int]], set[int]] | None = None
        self._flush = QTimer(self)
        self._flush.setInterval(FLUSH_INTERVAL_MS)
        self._flush.timeout.connect(self._flush_partial)
        self._flush_failed = False  # said once per answer, not at every flush
        # Finished answers the history refused (disk full): message id -> (status, stats,
        # text, model). Shown as finished, stored as soon as the history takes them.
        self._unsaved: dict[int, tuple[str, dict[str, Any] | None, str, str]] = {}
        self._retry = QTimer(self)
        self._retry.setInterval(SAVE_RETRY_MS)
        self._retry.timeout.connect(self._save_unsaved)

    # -- reading --------------------------------------------------------------------------
    def entries(self) -> list[ThreadEntryLike]:
        """The branch shown, each message with its alternatives (for the <n/m> switcher)."""
        if self.conversation_id is None:
            return []
        entries = list(self._history.thread(self.conversation_id))
        if not self._unsaved:
            return entries
        return [
            dataclasses.replace(e, message=self._as_finished(e.message))  # type: ignore[type-var]
            if e.message.id in self._unsaved
            else e
            for e in entries
        ]

    def path(self) -> list[MessageLike]:
        if self.conversation_id is None:
            return []
        return [self._as_finished(m) for m in self._history.current_path(self.conversation_id)]

    def message(self, message_id: int) -> MessageLike:
        return self._as_finished(self._history.get_message(message_id))

    def _as_finished(self, message: MessageLike) -> MessageLike:
        """``message`` as it ended, where the history has not stored its end yet."""
        unsaved = self._unsaved.get(message.id)
        if unsaved is None:
            return message
        status, stats, text, model = unsaved
        replaced: MessageLike = dataclasses.replace(  # type: ignore[type-var]
            message, status=status, stats=stats, content=text, model=model or message.model
        )
        return replaced

    def title(self) -> str:
        """The conversation's title, read once (the tab labels ask on every spinner tick; a
        query there, while the engine worker runs Python, waits for the GIL each time)."""
        if self.conversation_id is None:
            return UNTITLED
        if self._title is None or self._title[0] != self.conversation_id:
            title = self._history.get_conversation(self.conversation_id).title or "Untitled"
            self._title = (self.conversation_id, title)
        return self._title[1]

    def forget_title(self) -> None:
        """The conversation was renamed elsewhere (the sidebar): ``title`` reads it again."""
        self._title = None

    def sibling_position(self, message_id: int) -> tuple[int, int]:
        """(1-based index, count) of this message among its alternatives."""
        siblings = self._history.siblings(message_id)
        return siblings.index + 1, len(siblings.ids)

    @property
    def streaming_id(self) -> int | None:
        return self._streaming_id

    @property
    def streaming_text(self) -> str:
        return self._text

    def system_prompt(self) -> str:
        if self.conversation_id is not None:
            prompt = self._history.get_conversation(self.conversation_id).system_prompt
            if prompt is not None:
                return prompt
        return self._defaults().system_prompt

    def has_own_system_prompt(self) -> bool:
        """This chat's system prompt differs from the default one."""
        return self.conversation_id is not None and (
            self.system_prompt() != self._defaults().system_prompt
        )

    def overrides(self) -> dict[str, Any]:
        if self.conversation_id is None:
            return {}
        raw = self._history.get_conversation(self.conversation_id).overrides
        return {k: v for k, v in raw.items() if k in OVERRIDABLE}

    def sampling_params(self) -> SamplingParams:
        return dataclasses.replace(self._defaults().sampling, **self.overrides())

    def set_chat_settings(self, system_prompt: str | None, overrides: dict[str, Any]) -> None:
        """Per-chat system prompt (``None``: the default) and sampling overrides. Raises
        ValueError with the reason for a value out of bounds; nothing is stored then."""
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise ValueError(f"unknown sampling option(s): {', '.join(sorted(unknown))}")
        dataclasses.replace(self._defaults().sampling, **overrides).validate()
        if self._ensure_conversation(UNTITLED):
            self._untitled = True  # named after its first message, when that comes
        assert self.conversation_id is not None
        self._history.set_system_prompt(self.conversation_id, system_prompt)
        self._history.set_overrides(self.conversation_id, overrides)

    # -- actions --------------------------------------------------------------------------
    def send(self, text: str) -> bool:
        """Store the user's message after the current leaf and ask for an answer."""
        text = text.strip()
        if not text or self.state != "idle" or self._unavailable() or self._too_long(text):
            return False
        created = self._ensure_conversation(title_from(text))
        assert self.conversation_id is not None
        path = self.path()
        if self._untitled and not path:  # made by Chat settings before its first message
            self._history.rename_conversation(self.conversation_id, title_from(text))
            self._title = None
            created = True
        self._untitled = False
        parent = path[-1].id if path else None
        user = self._history.add_message(self.conversation_id, parent, "user", text)
        if created:
            self.title_changed.emit(self.title())
        if self._blocked(user.id, text):
            return True
        self._start_answer(None)
        return True

    def _unavailable(self) -> bool:
        """With no model loaded or loading, or the history held by an import, say why and
        ask for nothing: the prompt stays in the input box (sent, it would only get an empty
        failed answer, or wait on the history and fail)."""
        reason = self._busy() or self._host.unavailable()
        if reason is not None:
            self.refused.emit(reason)
        return reason is not None

    def measure(self, text: str) -> tuple[int, int] | None:
        """(tokens of ``text``, how many a message may have in this chat), or None."""
        return self._host.measure(text, self.sampling_params().max_new_tokens)

    def _too_long(self, text: str) -> bool:
        """A message that alone overflows the model's window is not sent (its answer could
        only fail): say so; the text stays in the box to be shortened."""
        reason = self._host.too_long(text, self.sampling_params().max_new_tokens)
        if reason is not None:
            self.refused.emit(reason)
        return reason is not None

    def _blocked(self, user_id: int, text: str) -> bool:
        """Ask the content filter about the user's message; a blocked one is kept in the
        history (with its banner) but never sent to the model."""
        if self.input_filter is None or not self.input_filter(user_id, text):
            return False
        self.path_changed.emit()
        self.input_blocked.emit(user_id)
        return True

    def regenerate(self, assistant_id: int | None = None, *, seed: int | None = None) -> bool:
        """A new answer to the same prompt, as a sibling of ``assistant_id`` (default: the
        last answer shown). The old answer stays as an alternative. ``seed`` overrides the
        sampling seed for this answer only (alternatives for a comparison)."""
        if self.state != "idle" or self._unavailable():
            return False
        path = self.path()
        if assistant_id is None:
            target = next((m for m in reversed(path) if m.role == "assistant"), None)
        else:
            target = next((m for m in path if m.id == assistant_id), None)
        if target is None or target.role != "assistant":
            return False
        self._start_answer(target, seed)
        return True

    def answer(self, user_id: int) -> bool:
        """An answer for the last message when it is the user's and has none: the app quit
        or the disk filled between storing the message and starting its answer. (A message
        the content filter blocked is not offered this: the chat checks before it asks.)"""
        if self.state != "idle" or self.conversation_id is None or self._unavailable():
            return False
        path = self.path()
        if not path or path[-1].id != user_id or path[-1].role != "user":
            return False
        self._start_answer(None)
        return True

    def continue_answer(self, assistant_id: int) -> bool:
        """More of the last answer when it was stopped, cut off by its length limit or
        interrupted: the model goes on from its last word, into the same message (the
        engine continues a conversation that ends with an assistant message)."""
        if self.state != "idle" or self.conversation_id is None or self._unavailable():
            return False
        path = self.path()
        if not path or path[-1].id != assistant_id or not can_continue(path[-1]):
            return False
        if self.blocked_among is not None and self.blocked_among([assistant_id]):
            return False  # an answer the filter blocked is not fed back to the model to go on
        target = path[-1]
        try:
            message = self._history.resume(target.id)
        except ValueError:  # the store's own check: not a finished answer any more
            return False
        self._submit(message, self._messages_for(path), self.sampling_params(), message.content)
        self._resumed = _Resumed(target.status, dict(target.stats or {}) or None, message.content)
        return True

    def edit(self, user_id: int, text: str) -> bool:
        """Resend an edited user message as a sibling of the original, then answer it."""
        text = text.strip()
        if not text or self.state != "idle" or self.conversation_id is None:
            return False
        if self._unavailable() or self._too_long(text):
            return False
        original = next((m for m in self.path() if m.id == user_id), None)
        if original is None or original.role != "user":
            return False
        edited = self._history.edit_user_message(user_id, text)
        if self._blocked(edited.id, text):
            return True
        self._start_answer(None)
        return True

    def switch(self, message_id: int, step: int) -> bool:
        """Show the previous (-1) or next (+1) alternative of ``message_id``."""
        if self.state != "idle":
            return False
        siblings = self._history.siblings(message_id)
        index = siblings.index + step
        if not 0 <= index < len(siblings.ids):
            return False
        self._history.switch_branch(siblings.ids[index])
        self.path_changed.emit()
        return True

    def show(self, message_id: int) -> bool:
        """Show the branch that holds ``message_id`` (one of the alternatives of its turn)."""
        if self.state != "idle":
            return False
        self._history.switch_branch(message_id)
        self.path_changed.emit()
        return True

    def behind_another(self) -> bool:
        """Waiting because the model is writing another answer (another tab's), rather than
        for the worker to pick this one up, which takes a moment."""
        return self.state == "waiting" and self._host.answering()

    def stop(self) -> None:
        if self._request is not None:
            self._request.cancel()

    def close(self) -> None:
        """The tab closes: stop the answer and store what arrived so far."""
        if self._request is not None and self._streaming_id is not None:
            self._request.cancel()
            self._request = None
            # the engine's own count will not come: counted here, so that a Continue later
            # adds up the whole answer ("128 tokens" for one of 250 otherwise)
            measured = self._host.measure(self._text, 0) if self._text else None
            written = GenerationStats(generated_tokens=measured[0] if measured else 0)
            self._end(Finished("cancelled", written))
        if self._unsaved:
            self._save_unsaved()  # a last try; what still fails shows as interrupted next time

    # -- internals ------------------------------------------------------------------------
    def _ensure_conversation(self, title: str) -> bool:
        if self.conversation_id is not None:
            return False
        prompt = self._defaults().system_prompt or None
        self.conversation_id = self._history.create_conversation(title, system_prompt=prompt).id
        return True

    def prefetch(self) -> bool:
        """Have the engine read this chat ahead of the question being typed (nothing for a
        new chat, or while an answer is written). Returns whether it was asked for."""
        if self.state != "idle" or self.conversation_id is None:
            return False
        path = self.path()
        if not path:
            return False
        return self._host.prefetch(self._messages_for(path), self.sampling_params())

    def _messages_for(self, upto: list[MessageLike]) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        system = self.system_prompt()
        if system:
            messages.append(ChatMessage("system", system))
        blocked = self.blocked_among([m.id for m in upto]) if self.blocked_among else set()
        for m in upto:
            if m.id in blocked:
                continue  # kept from the model when it was written: so in every later turn
            if m.role == "user":
                messages.append(ChatMessage("user", m.content))
            elif m.role == "assistant" and m.content and m.status != "error":
                messages.append(ChatMessage("assistant", m.content))
        return messages

    def _start_answer(self, replacing: MessageLike | None, seed: int | None = None) -> None:
        """Answer the current leaf (a user message), or answer again the prompt of
        ``replacing`` (an assistant message) as its new sibling."""
        assert self.conversation_id is not None
        path = self.path()
        if replacing is not None:
            path = path[: [m.id for m in path].index(replacing.id)]
        messages = self._messages_for(path)
        params = self.sampling_params()
        if seed is not None:  # an alternative: another seed, and never greedy (all the same)
            params = dataclasses.replace(
                params, seed=seed, temperature=max(params.temperature, ALTERNATIVE_MIN_TEMP)
            )
        model = self._host.info.name if self._host.info is not None else ""
        recorded: dict[str, object] = dict(dataclasses.asdict(params))
        # What the model was told, as sent: the chat's system prompt may change before the
        # answer is rated, and feedback must describe what produced it.
        recorded[SYSTEM_PROMPT_KEY] = self.system_prompt() or None
        self._replacing = replacing.id if replacing is not None else None
        if replacing is not None:
            message = self._history.regenerate(replacing.id, model, recorded)
        else:
            parent = path[-1].id if path else None
            message = self._history.begin_assistant(self.conversation_id, parent, model, recorded)
        self._submit(message, messages, params, "")

    def _submit(
        self, message: MessageLike, messages: list[ChatMessage], params: SamplingParams, text: str
    ) -> None:
        """Stream the answer to ``messages`` into ``message`` (which holds ``text`` already)."""
        self._streaming_id = message.id
        self._text, self._dirty, self._extra = text, False, {}
        self._flush_failed = False
        self._resumed = None
        self._set_state("waiting")
        self.path_changed.emit()
        request = self._host.submit(messages, params)
        self._request = request
        request.started.connect(self._on_started)
        request.delta.connect(self._on_delta)
        request.reading.connect(self._on_reading)
        request.trimmed.connect(self._on_trimmed)
        request.finished.connect(self._on_finished)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _on_started(self) -> None:
        if self._streaming_id is None:
            return
        self._set_state("streaming")
        self._flush.start()

    def _on_delta(self, text: str) -> None:
        if self._streaming_id is None:
            return
        self._text += text
        self._dirty = True
        self.delta.emit(self._streaming_id, text)

    def _on_reading(self, done: int, total: int) -> None:
        if self._streaming_id is not None:
            self.reading.emit(self._streaming_id, done, total)

    def _on_trimmed(self, dropped: int) -> None:
        if self._streaming_id is None:
            return
        self._extra["context_trimmed"] = dropped
        self.trimmed.emit(self._streaming_id, dropped)

    def _flush_partial(self) -> None:
        if self._dirty and self._streaming_id is not None:
            try:
                self._history.append_partial(self._streaming_id, self._text)
            except KnownError as exc:  # disk full: the answer goes on, on screen
                if not self._flush_failed:
                    self._flush_failed = True
                    self.error.emit(str(exc))
                return
            self._dirty = False

    def _finish(
        self,
        message_id: int,
        status: str,
        stats: dict[str, Any] | None,
        text: str,
        model: str = "",
    ) -> None:
        """Store the end of an answer (``model``: the one that wrote it, "" if unknown); if
        the history cannot take it now, keep it for later (the session stays usable: it
        must not wait in "streaming" for a disk to empty)."""
        try:
            self._history.finish(message_id, status, stats, text, model or None)
        except KnownError as exc:
            self._unsaved[message_id] = (status, stats, text, model)
            self._retry.start()
            self.error.emit(f"{exc} The answer stays on screen and is saved once it can be.")

    def _save_unsaved(self) -> None:
        for message_id, (status, stats, text, model) in list(self._unsaved.items()):
            try:
                self._history.finish(message_id, status, stats, text, model or None)
            except KnownError:
                return  # still full: the timer tries again
            del self._unsaved[message_id]
        self._retry.stop()

    def _on_finished(self, finished: Finished) -> None:
        request, self._request = self._request, None
        # the model that wrote it: another may have been loaded after it was asked for
        self._end(finished, request.model if request is not None else "")

    def _end(self, finished: Finished, model: str = "") -> None:
        self._flush.stop()
        message_id = self._streaming_id
        if message_id is None:
            return
        status: str = status_of(finished.reason)
        resumed, self._resumed = self._resumed, None
        if (
            finished.reason == "cancelled"
            and resumed is None
            and not self._text
            and self._discard(message_id, finished)
        ):
            return
        self._replacing = None
        if resumed is not None and status != "complete" and self._text == resumed.text:
            # A continuation that wrote nothing (it failed or was stopped at once) leaves the
            # answer as it was, still continuable, rather than turning it into a failed one.
            status = put_back(resumed.status)
            self._finish(message_id, status, resumed.stats, resumed.text, model)
        else:
            stats: dict[str, Any] = dataclasses.asdict(finished.stats)
            if resumed is not None:
                # A continued answer counts all its tokens; its prompt held the earlier ones.
                earlier = (resumed.stats or {}).get("generated_tokens")
                earlier = earlier if isinstance(earlier, int) else 0
                stats["generated_tokens"] += earlier
                stats["prompt_tokens"] = max(0, stats["prompt_tokens"] - earlier)
            stats.update(self._extra)
            stats["finish_reason"] = finished.reason
            if finished.error:
                stats["error"] = finished.error
            self._finish(message_id, status, stats, self._text, model)
        self._streaming_id = None
        self._set_state("idle")
        if finished.error:
            self.error.emit(finished.error)
        self.answer_finished.emit(message_id, status, finished.stats)

    def _discard(self, message_id: int, finished: Finished) -> bool:
        """An answer stopped before it wrote anything (while it waited for the model) is
        not kept: the chat ends with its question again, or shows the answer it was to
        replace. False when the history cannot take it back now (it is kept as stopped)."""
        replaced, self._replacing = self._replacing, None
        try:
            self._history.discard_answer(message_id)
            if replaced is not None:
                self._history.switch_branch(replaced)
        except (KnownError, ValueError):
            return False
        self._streaming_id = None
        self._set_state("idle")
        self.path_changed.emit()
        self.answer_finished.emit(message_id, DISCARDED, finished.stats)
        return True


class _Resumed(NamedTuple):
    """An answer being continued, as it was before."""

    status: str
    stats: dict[str, Any] | None
    text: str


def stats_of(raw: Mapping[str, Any] | None) -> GenerationStats | None:
    """The engine's statistics as stored with an answer (``None`` when there are none)."""
    if not raw:
        return None
    fields = {f.name for f in dataclasses.fields(GenerationStats)}
    return GenerationStats(**{k: v for k, v in raw.items() if k in fields})
