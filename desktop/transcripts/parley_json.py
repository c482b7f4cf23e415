"""Parley's own transcript format: every conversation with its whole message tree.

Version 1, one JSON object::

    {"format": "parley-transcripts", "version": 1, "exported_at": <Unix s>,
     "generator": "Parley 0.1.0",
     "conversations": [
       {"uid": str, "title": str, "created_at": s, "updated_at": s, "pinned": bool,
        "folder": str | null, "system_prompt": str | null, "overrides": {...},
        "current_leaf": <message uid> | null,
        "messages": [
          {"uid": str, "parent": <message uid> | null, "role": "system|user|assistant|tool",
           "content": str, "status": "complete|stopped|error|interrupted|streaming",
           "model": str | null, "params": {...} | null, "stats": {...} | null,
           "created_at": s, "updated_at": s,
           "rating": {"uid", "rating": 1 | -1, "reasons": [...], "comment", "ideal_answer",
                      "context": {...}, "created_at", "updated_at"} | null}, ...]}, ...]}

Times are Unix seconds (floats, exact). ``params`` are the sampling parameters the answer
was generated with, ``stats`` the engine's statistics, ``rating`` the user's thumbs up/down
on an answer with its reasons and the snapshot of what produced it (feedback). Messages may
come in any order; every branch is kept. Readers ignore keys they do not know, so later
versions may add some (e.g. comparisons of answers) without breaking older readers; a higher
``version`` means a change older readers cannot follow, and they refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from desktop.store.transcripts import TreeConversation, TreeMessage
from desktop.transcripts.fields import MAX_TITLE, Fields, order_tree

FORMAT = "parley-transcripts"
VERSION = 1
GENERATOR = "Parley 0.1.0"


def to_document(conversations: Sequence[TreeConversation]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": time.time(),
        "generator": GENERATOR,
        "conversations": [_conversation(c) for c in conversations],
    }


def _conversation(c: TreeConversation) -> dict[str, Any]:
    return {
        "uid": c.uid,
        "title": c.title,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "pinned": c.pinned,
        "folder": c.folder,
        "system_prompt": c.system_prompt,
        "overrides": c.overrides,
        "current_leaf": c.current_leaf_uid,
        "messages": [
            {
                "uid": m.uid,
                "parent": m.parent_uid,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "model": m.model,
                "params": m.params,
                "stats": m.stats,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
                "rating": m.rating,
            }
            for m in c.messages
        ],
    }


def is_parley_document(value: Any) -> bool:
    return isinstance(value, dict) and value.get("format") == FORMAT


def from_document(value: Any, name: str) -> list[TreeConversation]:
    """The conversations of a Parley transcript. Raises ``TranscriptError`` naming the first
    problem; nothing is partially returned."""
    f = Fields(name)
    root = f.object(value, "")
    check_header(f, root)
    items = f.array(root.get("conversations"), "'conversations'")
    return [read_conversation(f, item, i + 1) for i, item in enumerate(items)]


def check_header(f: Fields, root: dict[str, Any]) -> None:
    """Raise ``TranscriptError`` unless ``root``'s ``format`` and ``version`` are ones this
    reader follows (the top-level keys other than ``conversations`` are enough)."""
    if root.get("format") != FORMAT:
        f.fail("", f"not a Parley transcript ('format' is not {FORMAT!r})")
    version = root.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        f.fail("", "'version' must be a positive whole number")
    if version > VERSION:
        f.fail(
            "",
            f"written by a newer Parley (format version {version}; this version reads up to "
            f"{VERSION}). Update Parley to import it",
        )


def read_conversation(f: Fields, value: Any, number: int) -> TreeConversation:
    """Conversation ``number`` (from 1) of the file; raises ``TranscriptError``."""
    where = f"conversation {number}"
    data = f.object(value, where)
    uid = f.uid(data, "uid", where)
    where = f"conversation {number} ({uid})"
    created = f.number(data, "created_at", where, time.time())
    messages: list[TreeMessage] = []
    for i, item in enumerate(f.array(data.get("messages", []), f"{where}, 'messages'")):
        spot = f"{where}, message {i + 1}"
        m = f.object(item, spot)
        m_created = f.number(m, "created_at", spot, created)
        role = f.role(m, "role", spot)
        messages.append(
            TreeMessage(
                uid=f.uid(m, "uid", spot),
                parent_uid=f.optional_uid(m, "parent", spot),
                role=role,
                content=f.text(m, "content", spot),
                status=f.status(m, "status", spot),
                model=f.optional_text(m, "model", spot),
                params=f.optional_object(m, "params", spot),
                stats=f.optional_object(m, "stats", spot),
                created_at=m_created,
                updated_at=f.number(m, "updated_at", spot, m_created),
                rating=f.rating(m, "rating", spot, role),
            )
        )
    ordered = order_tree(messages, f, where)
    leaf = f.optional_uid(data, "current_leaf", where)
    if leaf is not None and leaf not in {m.uid for m in ordered}:
        f.fail(where, f"'current_leaf' {leaf!r} is not one of its messages")
    return TreeConversation(
        uid=uid,
        title=f.text(data, "title", where, "Imported chat")[:MAX_TITLE],
        created_at=created,
        updated_at=f.number(data, "updated_at", where, created),
        messages=ordered,
        current_leaf_uid=leaf,
        pinned=f.flag(data, "pinned", where),
        folder=f.optional_text(data, "folder", where),
        system_prompt=f.optional_text(data, "system_prompt", where),
        overrides=f.optional_object(data, "overrides", where) or {},
    )
