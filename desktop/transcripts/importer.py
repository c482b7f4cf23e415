"""Reading transcript files into the history: Parley JSON and ChatGPT's conversations.json
(plain, or inside ChatGPT's export zip).

Files are read a conversation at a time, never whole (``safejson.JsonStream``), so an
export of hundreds of MB imports in bounded memory. The file is read twice: first every
conversation is read and checked, keeping only its message ids (on disk, to find the ids
that several conversations share: ``chatgpt.SharedIds``); then, in one transaction, each
conversation is read again and added before the next one is read. A bad file changes
nothing, a failure anywhere (the file, the disk) leaves nothing behind, and a re-import adds
only what is new. What a ChatGPT export holds that Parley does not keep (tool steps,
reasoning, attachments' files, content types it cannot read) is left out or shown as a
placeholder, and said so in ``warnings``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.store.store import Store
from desktop.store.transcripts import ImportResult, TreeConversation, write_conversations
from desktop.transcripts import chatgpt, parley_json, safejson
from desktop.transcripts.chatgpt_content import Report
from desktop.transcripts.errors import ImportCancelled, TranscriptError
from desktop.transcripts.fields import Fields


@dataclass(frozen=True)
class Transcript:
    """The conversations of a file, ready to be added to the history."""

    conversations: list[TreeConversation]
    warnings: tuple[str, ...] = ()
    """One line for each kind of thing left out or shown as a placeholder (ChatGPT's tool
    steps, reasoning, images, content types not known here); empty when nothing was."""


@dataclass(frozen=True)
class ImportReport(ImportResult):
    """An :class:`ImportResult` with what the user should be told about the file."""

    warnings: tuple[str, ...] = ()
    """As :attr:`Transcript.warnings`: for the user, after the counts."""


class _Reading:
    """One read through a transcript file: iterating gives its conversations one at a time
    (as the file has them: ChatGPT's shared message ids not yet made unique). Once iteration
    has begun, ``chatgpt`` says the format; ``report`` counts what ChatGPT conversations
    left out."""

    def __init__(self, source: safejson.Source, limit: int) -> None:
        self.source = source
        self.limit = limit
        self.chatgpt = False
        self.report = Report()
        self._stream: safejson.JsonStream | None = None

    @property
    def fraction(self) -> float:
        """How much of the file this reading has gone through, 0 to 1."""
        done = self._stream.bytes_read if self._stream is not None else 0
        return min(1.0, done / self.source.size) if self.source.size else 0.0

    def __iter__(self) -> Iterator[TreeConversation]:
        with self.source.open() as file:
            stream = self._stream = safejson.JsonStream(
                file,
                self.source.name,
                limit=self.limit,
                item_limit=safejson.MAX_ITEM_BYTES,
                chunk=safejson.CHUNK_BYTES,
            )
            first = stream.peek()
            if first == "[":
                yield from self._chatgpt(stream)
            elif first == "{":
                yield from self._object(stream)
            else:  # invalid JSON, or a lone string, number, …
                stream.value("the file")
                stream.end()
                raise self._neither()
            stream.end()

    def _neither(self) -> TranscriptError:
        return TranscriptError(
            f"{self.source.name} is neither a Parley transcript nor ChatGPT's "
            "conversations.json; nothing was imported"
        )

    def _chatgpt(self, stream: safejson.JsonStream) -> Iterator[TreeConversation]:
        """ChatGPT's array of conversations, one at a time."""
        f = Fields(self.source.name)
        self.chatgpt = True
        for number, item in enumerate(stream.items("conversation"), 1):
            if number == 1 and not (isinstance(item, dict) and "mapping" in item):
                raise self._neither()
            yield chatgpt.read_conversation(f, item, number, self.report)

    def _object(self, stream: safejson.JsonStream) -> Iterator[TreeConversation]:
        """A Parley transcript, its conversations one at a time when its header comes first
        (as Parley writes it); otherwise the object decoded whole, within
        :data:`~desktop.transcripts.safejson.MAX_ITEM_BYTES` (a Parley file written
        otherwise, or one ChatGPT conversation on its own)."""
        f = Fields(self.source.name)
        held: dict[str, Any] = {}
        held_size = 0
        streamed = False
        for key in stream.members():
            if (
                key == "conversations"
                and not streamed
                and parley_json.is_parley_document(held)
                and "version" in held
                and stream.peek() == "["
            ):
                parley_json.check_header(f, held)
                streamed = True
                for number, item in enumerate(stream.items("conversation"), 1):
                    yield parley_json.read_conversation(f, item, number)
                continue
            if key == "conversations" and streamed:
                f.fail("", "'conversations' appears twice")
            start = stream.offset
            try:
                held[key] = stream.value(key, safejson.MAX_ITEM_BYTES - held_size)
            except safejson.ValueTooLargeError as error:
                raise TranscriptError(
                    f"{self.source.name} is larger than {safejson.mb(safejson.MAX_ITEM_BYTES)} "
                    "and not a list of conversations that can be read one at a time; nothing "
                    "was imported"
                ) from error
            held_size += stream.offset - start
        if streamed:
            return
        if parley_json.is_parley_document(held):
            yield from parley_json.from_document(held, self.source.name)
        elif "mapping" in held:
            self.chatgpt = True
            yield chatgpt.read_conversation(f, held, 1, self.report)
        else:
            raise self._neither()


MAX_CONVERSATIONS = 1_000_000
"""More than any export has (heavy users have tens of thousands): what an import keeps per
conversation (its id in the history) stays small."""


def read_file(path: Path, max_bytes: int = safejson.MAX_BYTES) -> Transcript:
    """Every conversation of ``path`` at once, in memory (for a look at a small file;
    :func:`import_file` holds one conversation at a time)."""
    reading = _Reading(safejson.open_source(path, max_bytes), max_bytes)
    conversations = list(reading)
    if reading.chatgpt:
        with chatgpt.SharedIds() as shared:
            for c in conversations:
                shared.add(c)
            shared.settle()
            conversations = [shared.unshare(c) for c in conversations]
    return Transcript(conversations, reading.report.warnings())


ImportProgress = Callable[[str, float], None]
"""``(stage, fraction)``: stage "checking" (the first reading) or "adding" (the second, in
the transaction), fraction of the file read in that stage, 0 to 1."""


def import_file(
    store: Store,
    path: Path,
    max_bytes: int = safejson.MAX_BYTES,
    *,
    progress: ImportProgress | None = None,
    cancel: threading.Event | None = None,
) -> ImportReport:
    """Import every conversation of ``path`` with all its branches, or nothing.

    ``progress`` is called after each conversation; setting ``cancel`` stops the import
    before the next one (:class:`ImportCancelled`; nothing was imported). Raises
    :class:`TranscriptError` for a file that cannot be imported, and the store's
    :class:`~desktop.store.KnownError` subclasses (locked, full disk)."""
    source = safejson.open_source(path, max_bytes)

    def step(stage: str, reading: _Reading) -> None:
        if cancel is not None and cancel.is_set():
            raise ImportCancelled(
                f"the import of {source.name} was cancelled; nothing was imported"
            )
        if progress is not None:
            progress(stage, reading.fraction)

    with chatgpt.SharedIds() as shared:
        # First every conversation is read and checked; only their message ids are kept.
        checking = _Reading(source, max_bytes)
        numbers: dict[str, int] = {}  # a Parley file's conversations, by uid
        for number, conversation in enumerate(checking, 1):
            step("checking", checking)
            if number > MAX_CONVERSATIONS:
                raise TranscriptError(
                    f"{source.name} has more than {MAX_CONVERSATIONS:,} conversations, more "
                    "than any export; nothing was imported"
                )
            if checking.chatgpt:
                shared.add(conversation)
            elif (first := numbers.setdefault(conversation.uid, number)) != number:
                # Parley writes each once: two would be merged into one chat of two roots
                raise TranscriptError(
                    f"{source.name}: conversations {first} and {number} have the same uid "
                    f"{conversation.uid!r}; nothing was imported"
                )
        shared.settle()
        # Then each conversation is read again and written before the next one is read.
        reading = _Reading(source, max_bytes)
        added = merged = unchanged = messages = 0
        ids: list[int] = []
        with store.transaction():
            for conversation in reading:
                step("adding", reading)  # cancelled: the transaction is rolled back
                if reading.chatgpt:
                    conversation = shared.unshare(conversation)
                result = write_conversations(store, [conversation])
                added += result.added
                merged += result.merged
                unchanged += result.unchanged
                messages += result.messages
                ids.extend(result.conversation_ids)
    return ImportReport(
        added, merged, unchanged, messages, tuple(ids), warnings=reading.report.warnings()
    )
