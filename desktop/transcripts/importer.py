"""Reading transcript files into the history: Parley JSON and ChatGPT's conversations.json
(plain, or inside ChatGPT's export zip).

The whole file is read and checked before anything is written, then added in one
transaction: a bad file changes nothing, and a re-import adds only what is new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.store.store import Store
from desktop.store.transcripts import ImportResult, TreeConversation, write_conversations
from desktop.transcripts import chatgpt, parley_json, safejson
from desktop.transcripts.errors import TranscriptError


def conversations_from(value: Any, name: str) -> list[TreeConversation]:
    """Recognise the format of decoded JSON and read its conversations."""
    if parley_json.is_parley_document(value):
        return parley_json.from_document(value, name)
    if chatgpt.is_chatgpt_document(value):
        return chatgpt.from_chatgpt(value, name)
    raise TranscriptError(
        f"{name} is neither a Parley transcript nor ChatGPT's conversations.json; "
        "nothing was imported"
    )


def read_file(path: Path, max_bytes: int = safejson.MAX_BYTES) -> list[TreeConversation]:
    value, name = safejson.load(path, max_bytes)
    return conversations_from(value, name)


def import_file(store: Store, path: Path, max_bytes: int = safejson.MAX_BYTES) -> ImportResult:
    """Import every conversation of ``path`` with all its branches, or nothing.

    Raises :class:`TranscriptError` for a file that cannot be imported, and the store's
    :class:`~desktop.store.KnownError` subclasses (locked, full disk, conflicting uids)."""
    conversations = read_file(path, max_bytes)
    return write_conversations(store, conversations)
