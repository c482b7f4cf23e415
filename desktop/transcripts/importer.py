"""Reading transcript files into the history: Parley JSON and ChatGPT's conversations.json
(plain, or inside ChatGPT's export zip).

The whole file is read and checked before anything is written, then added in one
transaction: a bad file changes nothing, and a re-import adds only what is new. What a
ChatGPT export holds that Parley does not keep (tool steps, reasoning, attachments' files,
content types it cannot read) is left out or shown as a placeholder, and said so in
``warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from desktop.store.store import Store
from desktop.store.transcripts import ImportResult, TreeConversation, write_conversations
from desktop.transcripts import chatgpt, parley_json, safejson
from desktop.transcripts.errors import TranscriptError


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


def conversations_from(value: Any, name: str) -> Transcript:
    """Recognise the format of decoded JSON and read its conversations."""
    if parley_json.is_parley_document(value):
        return Transcript(parley_json.from_document(value, name))
    if chatgpt.is_chatgpt_document(value):
        return Transcript(*chatgpt.from_chatgpt(value, name))
    raise TranscriptError(
        f"{name} is neither a Parley transcript nor ChatGPT's conversations.json; "
        "nothing was imported"
    )


def read_file(path: Path, max_bytes: int = safejson.MAX_BYTES) -> Transcript:
    value, name = safejson.load(path, max_bytes)
    return conversations_from(value, name)


def import_file(store: Store, path: Path, max_bytes: int = safejson.MAX_BYTES) -> ImportReport:
    """Import every conversation of ``path`` with all its branches, or nothing.

    Raises :class:`TranscriptError` for a file that cannot be imported, and the store's
    :class:`~desktop.store.KnownError` subclasses (locked, full disk, conflicting uids)."""
    transcript = read_file(path, max_bytes)
    result = write_conversations(store, transcript.conversations)
    counts = {field.name: getattr(result, field.name) for field in fields(result)}
    return ImportReport(**counts, warnings=transcript.warnings)
