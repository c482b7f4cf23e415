"""ChatGPT's ``conversations.json`` (the file in ChatGPT's "Export data" zip).

A JSON array of conversations; each holds its messages as a ``mapping`` of nodes
``{id: {"id", "message" | null, "parent" | null, "children": [...]}}`` and names the node on
screen as ``current_node``. A message has ``author.role``, ``content`` (``content_type`` with
``parts`` or ``text``), ``create_time``, ``status`` and ``metadata`` (``model_slug``).

Import keeps every branch. Nodes that ChatGPT does not show (the empty root, system and
context messages, reasoning, the plumbing of tools) are left out and their children hang
from the nearest shown ancestor; images and other attachments become a placeholder such as
``[image]`` (``chatgpt_content`` decides what a message shows). What was left out or
replaced is counted, for the user, by kind. Messages that Parley itself exported come back
exactly as they were.

Export writes the same shape. What ChatGPT has no field for (message status, sampling
parameters, statistics, ratings, the system prompt, pinning, folder) goes under a ``parley`` key,
which ChatGPT-format readers ignore, so Parley -> ChatGPT format -> Parley loses nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from desktop.store.models import Role, Status
from desktop.store.recording import title_from
from desktop.store.schema import STATUSES
from desktop.store.transcripts import TreeConversation, TreeMessage
from desktop.transcripts.chatgpt_content import Report, shown_text
from desktop.transcripts.fields import MAX_TITLE, MAX_UID, Fields, order_tree

ROOT_ID = "client-created-root"
_CHUNK = 500
"""Uids per ``IN (...)`` query, well under SQLite's limit of variables."""
"""As long as the title Parley gives a new chat."""

_STATUS_TO_CHATGPT: dict[str, str] = {
    "complete": "finished_successfully",
    "stopped": "finished_partial_completion",
    "error": "finished_partial_completion",
    "interrupted": "in_progress",
    "streaming": "in_progress",
}
_STATUS_FROM_CHATGPT: dict[str, Status] = {
    "finished_successfully": "complete",
    "finished_partial_completion": "stopped",
    "in_progress": "interrupted",
}


# ---------------------------------------------------------------------------- export


def to_chatgpt(conversations: Sequence[TreeConversation]) -> list[dict[str, Any]]:
    return [_conversation(c) for c in conversations]


def _conversation(c: TreeConversation) -> dict[str, Any]:
    root_children = [m.uid for m in c.messages if m.parent_uid is None]
    mapping: dict[str, Any] = {
        ROOT_ID: {"id": ROOT_ID, "message": None, "parent": None, "children": root_children}
    }
    children: dict[str, list[str]] = {}
    for m in c.messages:
        if m.parent_uid is not None:
            children.setdefault(m.parent_uid, []).append(m.uid)
    for m in c.messages:
        mapping[m.uid] = {
            "id": m.uid,
            "message": _message(m),
            "parent": m.parent_uid or ROOT_ID,
            "children": children.get(m.uid, []),
        }
    branch = c.shown_branch()
    models = [m.model for m in c.messages if m.model]
    return {
        "title": c.title,
        "create_time": c.created_at,
        "update_time": c.updated_at,
        "mapping": mapping,
        "current_node": branch[-1].uid if branch else ROOT_ID,
        "conversation_id": c.uid,
        "id": c.uid,
        "default_model_slug": models[-1] if models else None,
        "is_archived": False,
        "parley": {
            "system_prompt": c.system_prompt,
            "overrides": c.overrides,
            "pinned": c.pinned,
            "folder": c.folder,
            "current_leaf": c.current_leaf_uid,
        },
    }


def _message(m: TreeMessage) -> dict[str, Any]:
    return {
        "id": m.uid,
        "author": {"role": m.role, "name": None, "metadata": {}},
        "create_time": m.created_at,
        "update_time": m.updated_at,
        "content": {"content_type": "text", "parts": [m.content]},
        "status": _STATUS_TO_CHATGPT[m.status],
        "end_turn": True if m.role == "assistant" and m.status == "complete" else None,
        "weight": 1.0,
        "metadata": {
            "model_slug": m.model,
            "parley": {
                "status": m.status,
                "params": m.params,
                "stats": m.stats,
                "rating": m.rating,
            },
        },
        "recipient": "all",
    }


# ---------------------------------------------------------------------------- import


def _fallback_uid(data: dict[str, Any]) -> str:
    """A stable id for a conversation without one (old exports), so re-imports match."""
    h = hashlib.sha256()
    h.update(repr((data.get("title"), data.get("create_time"))).encode())
    mapping = data.get("mapping")
    if isinstance(mapping, dict):
        for key in sorted(k for k in mapping if isinstance(k, str)):
            h.update(key.encode())
    return "chatgpt-" + h.hexdigest()[:32]


def _message_uid(key: str) -> str:
    """A node's id as a message uid (a very long id is hashed, the same way everywhere)."""
    return key if len(key) <= MAX_UID else hashlib.sha256(key.encode()).hexdigest()


def read_conversation(f: Fields, value: Any, number: int, report: Report) -> TreeConversation:
    """Conversation ``number`` (from 1) of the file; what was left out or replaced is
    counted in ``report``. Raises ``TranscriptError`` naming the first problem."""
    where = f"conversation {number}"
    data = f.object(value, where)
    uid_key = "conversation_id" if data.get("conversation_id") is not None else "id"
    uid = f.uid(data, uid_key, where) if data.get(uid_key) is not None else _fallback_uid(data)
    where = f"conversation {number} ({uid})"
    title = f.optional_text(data, "title", where)
    created, updated = _times(f, data, where)
    mapping = f.object(data.get("mapping"), f"{where}, 'mapping'")
    extra = f.optional_object(data, "parley", where) or {}

    # Node structure first: parents, children in the order the parent lists them.
    nodes: dict[str, dict[str, Any]] = {}
    for key, node in mapping.items():
        nodes[key] = f.object(node, f"{where}, node {key[:40]!r}")
    parent_of: dict[str, str | None] = {}
    for key, node in nodes.items():
        parent = f.optional_text(node, "parent", f"{where}, node {key[:40]!r}")
        parent_of[key] = parent if parent in nodes else None  # a dangling link: a root
    order = _walk(f, where, nodes, parent_of)

    # Then the messages: shown nodes become messages under their nearest shown ancestor.
    shown_parent: dict[str, str | None] = {}  # node -> uid of the nearest shown node
    messages: list[TreeMessage] = []
    times: dict[str, float] = {}
    for key in order:
        parent = parent_of[key]
        inherited = None if parent is None else shown_parent[parent]
        parent_time = created if parent is None else times[parent]
        spot = f"{where}, node {key[:40]!r}"
        message = _read_message(f, spot, _message_uid(key), nodes[key], parent_time, report)
        if message is None:
            shown_parent[key] = inherited
            times[key] = parent_time
            continue
        messages.append(replace(message, parent_uid=inherited))
        shown_parent[key] = message.uid
        times[key] = message.created_at
    ordered = order_tree(messages, f, where)

    current = f.optional_text(data, "current_node", where)
    leaf_uid = shown_parent.get(current) if current is not None else None
    stored_leaf = extra.get("current_leaf")
    if isinstance(stored_leaf, str) and stored_leaf in shown_parent:
        leaf_uid = shown_parent[stored_leaf]
    folder = extra.get("folder")
    system_prompt = extra.get("system_prompt")
    overrides = extra.get("overrides")
    return TreeConversation(
        uid=uid,
        title=(title or _title_from(ordered))[:MAX_TITLE],
        created_at=created,
        updated_at=updated,
        messages=ordered,
        current_leaf_uid=leaf_uid,
        pinned=extra.get("pinned") is True,
        folder=folder if isinstance(folder, str) else None,
        system_prompt=system_prompt if isinstance(system_prompt, str) else None,
        overrides=overrides if isinstance(overrides, dict) else {},
    )


def _title_from(messages: Sequence[TreeMessage]) -> str:
    """A title for a conversation ChatGPT left untitled: its first question, as Parley
    titles a new chat."""
    first = next((m.content for m in messages if m.role == "user"), "")
    return title_from(first) or "Untitled"


def _times(f: Fields, data: dict[str, Any], where: str) -> tuple[float, float]:
    """``create_time`` and ``update_time``; a null one is the other one (the time of the
    import when both are null)."""
    created = f.number(data, "create_time", where, time.time())
    updated = f.number(data, "update_time", where, created)
    if data.get("create_time") is None and data.get("update_time") is not None:
        created = updated
    return created, updated


def _walk(
    f: Fields, where: str, nodes: dict[str, dict[str, Any]], parent_of: dict[str, str | None]
) -> list[str]:
    """Node ids parents first (iterative depth-first). A node the roots do not reach is on a
    cycle of parent links: an error."""
    position: dict[str, dict[str, int]] = {}
    for key, node in nodes.items():
        listed = node.get("children")
        if isinstance(listed, list):
            position[key] = {c: i for i, c in enumerate(listed) if isinstance(c, str)}
    kids: dict[str | None, list[str]] = {}
    for key, parent in parent_of.items():
        kids.setdefault(parent, []).append(key)
    for parent, group in kids.items():
        if parent is not None and parent in position:
            rank = position[parent]
            group.sort(key=lambda k: rank.get(k, len(rank)))
    order: list[str] = []
    stack = list(reversed(kids.get(None, [])))
    while stack:
        key = stack.pop()
        order.append(key)
        stack.extend(reversed(kids.get(key, [])))
    if len(order) != len(nodes):
        reached = set(order)
        stuck = next(k for k in nodes if k not in reached)
        f.fail(where, f"the 'parent' links of the mapping form a cycle (through {stuck[:40]!r})")
    return order


def _read_message(
    f: Fields, where: str, uid: str, node: dict[str, Any], parent_time: float, report: Report
) -> TreeMessage | None:
    """The message of a node, or ``None`` for a node ChatGPT does not show. A message that
    Parley exported (``metadata.parley``) comes back exactly as it was written."""
    raw = node.get("message")
    if raw is None:
        return None  # the root and other pure structure
    message = f.object(raw, f"{where}, 'message'")
    author = f.object(message.get("author"), f"{where}, 'author'")
    metadata = f.optional_object(message, "metadata", where) or {}
    extra = metadata.get("parley")
    if isinstance(extra, dict):
        role: Role = f.role(author, "role", where)
        content = f.object(message.get("content"), f"{where}, 'content'")
        text = _own_text(f, where, content)
    else:
        written_by = f.text(author, "role", where)
        extra = {}
        shown = shown_text(f, where, written_by, author, message, metadata, report)
        if shown is None:
            return None
        role = cast(Role, written_by)  # shown_text shows only the roles of ROLES
        text = shown
    status: Status = _STATUS_FROM_CHATGPT.get(str(message.get("status")), "complete")
    if extra.get("status") in STATUSES:
        status = extra["status"]
    model = metadata.get("model_slug")
    params, stats = extra.get("params"), extra.get("stats")
    created = f.number(message, "create_time", where, parent_time)
    rating = f.rating(extra, "rating", f"{where}, 'metadata.parley'", role)
    return TreeMessage(
        uid=uid,
        parent_uid=None,
        role=role,
        content=text,
        status=status,
        model=model if isinstance(model, str) else None,
        params=params if isinstance(params, dict) else None,
        stats=stats if isinstance(stats, dict) else None,
        created_at=created,
        updated_at=f.number(message, "update_time", where, created),
        rating=rating,
    )


def _own_text(f: Fields, where: str, content: dict[str, Any]) -> str:
    """The text of a message Parley exported: its parts, all strings."""
    parts = f.array(content.get("parts", []), f"{where}, 'parts'")
    if not all(isinstance(part, str) for part in parts):
        f.fail(where, "'parts' of a message Parley exported must be strings")
    return "\n\n".join(parts)


class SharedIds:
    """The message ids that more than one conversation of a file uses, and which of them
    keeps each, learnt one conversation at a time: :meth:`add` each, :meth:`settle`, then
    :meth:`unshare` each.

    A conversation copied from another (a chat branched into a new one) may carry the
    messages it copied under the same node ids, and the history keeps each message in one
    conversation: the file would be refused. A shared id stays with the oldest conversation
    that has it; the others get a uid derived from theirs and the id, so the result does
    not depend on the file's order and a re-import matches.

    The ids are kept in a private temporary database (SQLite's own, which goes to a
    temporary file once larger than its cache, and is deleted on :meth:`close`), not in
    Python's memory: a file may hold millions of messages."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": a private temporary database
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("CREATE TABLE seen (uid TEXT, created REAL, conversation TEXT)")
        self._any = False

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SharedIds:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, conversation: TreeConversation) -> None:
        c = conversation
        self._db.executemany(
            "INSERT INTO seen VALUES (?, ?, ?)", [(m.uid, c.created_at, c.uid) for m in c.messages]
        )

    def settle(self) -> None:
        """After the last :meth:`add`: which conversation keeps each shared id. (SQLite
        orders text by its UTF-8 bytes, which is the order of Python's strings.)"""
        self._db.executescript(
            """
            CREATE TABLE owner (uid TEXT PRIMARY KEY, conversation TEXT) WITHOUT ROWID;
            INSERT INTO owner SELECT uid, conversation FROM (
                SELECT uid, conversation,
                    row_number() OVER (PARTITION BY uid ORDER BY created, conversation) AS rank,
                    min(conversation) OVER (PARTITION BY uid) AS first,
                    max(conversation) OVER (PARTITION BY uid) AS last
                FROM seen
            ) WHERE rank = 1 AND first != last;
            DROP TABLE seen;
            """
        )
        self._any = self._db.execute("SELECT 1 FROM owner LIMIT 1").fetchone() is not None

    def unshare(self, conversation: TreeConversation) -> TreeConversation:
        """``conversation`` with the shared ids it does not keep replaced by uids of its
        own (after :meth:`settle`)."""
        c = conversation
        if not self._any:
            return c
        uids = [m.uid for m in c.messages]
        renamed: dict[str, str] = {}
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for uid, owner in self._db.execute(
                f"SELECT uid, conversation FROM owner WHERE uid IN ({marks})", chunk
            ):
                if owner != c.uid:
                    renamed[uid] = _derived_uid(c.uid, uid)
        if not renamed:
            return c
        messages = tuple(
            replace(
                m,
                uid=renamed.get(m.uid, m.uid),
                parent_uid=None
                if m.parent_uid is None
                else renamed.get(m.parent_uid, m.parent_uid),
            )
            for m in c.messages
        )
        leaf = c.current_leaf_uid
        return replace(
            c,
            messages=messages,
            current_leaf_uid=None if leaf is None else renamed.get(leaf, leaf),
        )


def _derived_uid(conversation_uid: str, uid: str) -> str:
    return "chatgpt-" + hashlib.sha256(f"{conversation_uid}\n{uid}".encode()).hexdigest()[:32]
