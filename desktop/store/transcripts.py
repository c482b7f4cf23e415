"""Whole conversations in and out of the history, for exports and imports.

A :class:`TreeConversation` is one conversation detached from the database: every message of
every branch, identified by ``uid`` instead of row ids, parents before their children and
siblings in the order the branch switcher shows them. :func:`read_conversation` builds one
from the history; :func:`write_conversations` adds a batch of them in one transaction, so an
import is saved completely or not at all.

Identity is the ``uid``: writing a conversation whose uid is already in the history adds
only the messages it does not have yet (a re-import never duplicates; a later export of the
same conversation brings in its new branches). A message uid that already belongs to a
different conversation gets one of its own, derived from both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from desktop.store.errors import NotFoundError
from desktop.store.models import JSONObject, Role, Status
from desktop.store.store import Store

_CHUNK = 500  # uids per "IN (...)" query, well under SQLite's variable limit


@dataclass(frozen=True)
class TreeMessage:
    uid: str
    parent_uid: str | None
    role: Role
    content: str
    status: Status = "complete"
    model: str | None = None
    params: JSONObject | None = None
    stats: JSONObject | None = None
    created_at: float = 0.0
    """Unix seconds."""
    updated_at: float = 0.0
    rating: JSONObject | None = None
    """The user's thumbs up/down on an answer (``feedback`` row of kind ``rating``, not
    withdrawn): ``uid``, ``rating`` (1 or -1), ``reasons``, ``comment``, ``ideal_answer``,
    ``context`` (what produced the answer), ``created_at``, ``updated_at``."""


@dataclass(frozen=True)
class TreeConversation:
    uid: str
    title: str
    created_at: float
    updated_at: float
    messages: tuple[TreeMessage, ...] = ()
    """Parents before children; siblings in the switcher's order."""
    current_leaf_uid: str | None = None
    """The end of the branch shown; ``None``: the most recent leaf."""
    pinned: bool = False
    folder: str | None = None
    """The folder's name (folders are matched by name on import)."""
    system_prompt: str | None = None
    overrides: JSONObject = field(default_factory=dict)

    def shown_branch(self) -> list[TreeMessage]:
        """The messages of the branch shown, root first."""
        by_uid = {m.uid: m for m in self.messages}
        leaf = self.current_leaf_uid if self.current_leaf_uid in by_uid else None
        if leaf is None:
            leaf = _latest_leaf(self.messages)
        path: list[TreeMessage] = []
        seen: set[str] = set()
        while leaf is not None and leaf in by_uid and leaf not in seen:
            seen.add(leaf)
            message = by_uid[leaf]
            path.append(message)
            leaf = message.parent_uid
        path.reverse()
        return path

    @property
    def branch_count(self) -> int:
        """How many leaves (distinct branches) the tree has."""
        parents = {m.parent_uid for m in self.messages}
        return sum(1 for m in self.messages if m.uid not in parents)


@dataclass(frozen=True)
class ImportResult:
    added: int = 0
    """New conversations."""
    merged: int = 0
    """Conversations already in the history that received new messages."""
    unchanged: int = 0
    """Conversations already in the history with nothing new."""
    messages: int = 0
    """Messages added in all."""
    conversation_ids: tuple[int, ...] = ()
    """The history ids of every conversation of the batch, in the batch's order."""


def _latest_leaf(messages: Sequence[TreeMessage]) -> str | None:
    parents = {m.parent_uid for m in messages}
    leaves = [(m.created_at, i, m.uid) for i, m in enumerate(messages) if m.uid not in parents]
    return max(leaves)[2] if leaves else None


def _loads(text: str | None) -> JSONObject | None:
    if text is None:
        return None
    value = json.loads(text)
    return cast(JSONObject, value) if isinstance(value, dict) else {"value": value}


def _dumps(value: JSONObject | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# ---------------------------------------------------------------------------- reading


def read_conversation(store: Store, conversation_id: int) -> TreeConversation:
    """The conversation with every message of every branch. Raises ``NotFoundError``."""
    conversation = store.get_conversation(conversation_id)
    with store._guard():
        db = store._db
        folder = None
        if conversation.folder_id is not None:
            row = db.execute(
                "SELECT name FROM folders WHERE id = ?", (conversation.folder_id,)
            ).fetchone()
            folder = None if row is None else str(row[0])
        rows = db.execute(
            "SELECT id, uid, parent_id, role, content, status, model, params, stats, "
            "created_at, updated_at FROM messages WHERE conversation_id = ? "
            "ORDER BY created_at, id",
            (conversation_id,),
        ).fetchall()
        ratings = {
            row[0]: {
                "uid": row[1],
                "rating": row[2],
                "reasons": json.loads(row[3]),
                "comment": row[4],
                "ideal_answer": row[5],
                "context": json.loads(row[6]),
                "created_at": row[7],
                "updated_at": row[8],
            }
            for row in db.execute(
                "SELECT f.message_id, f.uid, f.rating, f.reasons, f.comment, f.ideal_answer, "
                "f.context, f.created_at, f.updated_at FROM feedback f "
                "JOIN messages m ON m.id = f.message_id WHERE m.conversation_id = ? "
                "AND f.kind = 'rating' AND f.withdrawn_at IS NULL",
                (conversation_id,),
            )
        }
    uid_of = {row[0]: row[1] for row in rows}
    children: dict[int | None, list[tuple[Any, ...]]] = {}
    for row in rows:
        children.setdefault(row[2], []).append(row)
    # Depth-first from the roots, iteratively, children in (created_at, id) order: every
    # parent comes before its children and re-inserting in this order keeps sibling order.
    ordered: list[TreeMessage] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        row = stack.pop()
        ordered.append(
            TreeMessage(
                uid=row[1],
                parent_uid=None if row[2] is None else uid_of[row[2]],
                role=row[3],
                content=row[4],
                status=row[5],
                model=row[6],
                params=_loads(row[7]),
                stats=_loads(row[8]),
                created_at=float(row[9]),
                updated_at=float(row[10]),
                rating=ratings.get(row[0]),
            )
        )
        stack.extend(reversed(children.get(row[0], [])))
    leaf = conversation.current_leaf_id
    return TreeConversation(
        uid=conversation.uid,
        title=conversation.title,
        created_at=conversation.created_at.timestamp(),
        updated_at=conversation.updated_at.timestamp(),
        messages=tuple(ordered),
        current_leaf_uid=None if leaf is None else uid_of.get(leaf),
        pinned=conversation.pinned,
        folder=folder,
        system_prompt=conversation.system_prompt,
        overrides=dict(conversation.overrides),
    )


def read_conversations(store: Store, conversation_ids: Iterable[int]) -> list[TreeConversation]:
    return [read_conversation(store, i) for i in conversation_ids]


# ---------------------------------------------------------------------------- writing


def write_conversations(store: Store, batch: Sequence[TreeConversation]) -> ImportResult:
    """Add ``batch`` to the history in one transaction (all of it, or nothing on any error).

    The batch must be well formed (unique uids, parents known and listed before their
    children); the importers check this. A message uid another conversation holds already
    gets one of its own (see ``_placed``). Raises the store's errors."""
    added = merged = unchanged = messages = 0
    ids: list[int] = []
    with store.transaction():
        db = store._db
        folders: dict[str, int] = {}
        for conversation in batch:
            row = db.execute(
                "SELECT id FROM conversations WHERE uid = ?", (conversation.uid,)
            ).fetchone()
            existing = None if row is None else int(row[0])
            conversation, known = _placed(store, conversation, existing)
            if existing is None:
                conversation_id = _insert_conversation(store, conversation, folders)
            else:
                conversation_id = existing
            count = _insert_messages(store, conversation, conversation_id, known, existing is None)
            if existing is None:
                added += 1
            elif count:
                merged += 1
            else:
                unchanged += 1
            messages += count
            ids.append(conversation_id)
    return ImportResult(added, merged, unchanged, messages, tuple(ids))


def _folder_id(store: Store, name: str, cache: dict[str, int]) -> int:
    if name not in cache:
        row = store._db.execute(
            "SELECT id FROM folders WHERE name = ? ORDER BY position, id LIMIT 1", (name,)
        ).fetchone()
        cache[name] = int(row[0]) if row is not None else store.create_folder(name).id
    return cache[name]


def _insert_conversation(
    store: Store, conversation: TreeConversation, folders: dict[str, int]
) -> int:
    folder_id = (
        None if conversation.folder is None else _folder_id(store, conversation.folder, folders)
    )
    cursor = store._db.execute(
        "INSERT INTO conversations (uid, title, created_at, updated_at, pinned, folder_id, "
        "system_prompt, overrides) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conversation.uid,
            conversation.title,
            conversation.created_at,
            conversation.updated_at,
            int(conversation.pinned),
            folder_id,
            conversation.system_prompt,
            _dumps(conversation.overrides) or "{}",
        ),
    )
    return cast(int, cursor.lastrowid)


def _placed(
    store: Store, conversation: TreeConversation, conversation_id: int | None
) -> tuple[TreeConversation, dict[str, int]]:
    """``conversation`` as it goes into the history, and which of its messages
    ``conversation_id`` holds already (uid -> row id; none for a new conversation).

    Message uids that another conversation holds are replaced by uids derived from the
    conversation's own and theirs (stable: a re-import matches). A chat branched into a new
    one in ChatGPT carries the messages it copied under their ids, and its original may have
    been imported before: one shared message refused the whole export (the history keeps
    each message in one conversation)."""
    held = _holders(store, [m.uid for m in conversation.messages])
    known = {uid: row for uid, (row, owner) in held.items() if owner == conversation_id}
    taken = [uid for uid, (_row, owner) in held.items() if owner != conversation_id]
    if not taken:
        return conversation, known
    renamed = {uid: _derived_uid(conversation.uid, uid) for uid in taken}
    messages = [
        dataclasses.replace(
            m,
            uid=renamed.get(m.uid, m.uid),
            parent_uid=None if m.parent_uid is None else renamed.get(m.parent_uid, m.parent_uid),
        )
        for m in conversation.messages
    ]
    leaf = conversation.current_leaf_uid
    placed = dataclasses.replace(
        conversation,
        messages=tuple(messages),
        current_leaf_uid=None if leaf is None else renamed.get(leaf, leaf),
    )
    # brought in before under the derived uids: those are this conversation's own
    again = _holders(store, list(renamed.values()))
    known |= {uid: row for uid, (row, owner) in again.items() if owner == conversation_id}
    return placed, known


def _holders(store: Store, uids: list[str]) -> dict[str, tuple[int, int]]:
    """The ``uids`` already in the history: uid -> (row id, conversation id)."""
    held: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(uids):
        marks = ", ".join("?" for _ in chunk)
        for row, uid, owner in store._db.execute(
            f"SELECT id, uid, conversation_id FROM messages WHERE uid IN ({marks})", tuple(chunk)
        ):
            held[uid] = (int(row), int(owner))
    return held


def _derived_uid(conversation_uid: str, uid: str) -> str:
    return "import-" + hashlib.sha256(f"{conversation_uid}\n{uid}".encode()).hexdigest()[:32]


def _insert_messages(
    store: Store,
    conversation: TreeConversation,
    conversation_id: int,
    known: dict[str, int],
    new_conversation: bool,
) -> int:
    db = store._db
    ids = dict(known)
    count = 0
    latest = 0.0
    for message in conversation.messages:
        if message.uid in ids:
            continue
        parent_id = None if message.parent_uid is None else ids.get(message.parent_uid)
        if message.parent_uid is not None and parent_id is None:
            raise ValueError(f"message {message.uid} comes before its parent {message.parent_uid}")
        status = "interrupted" if message.status == "streaming" else message.status
        cursor = db.execute(
            "INSERT INTO messages (uid, conversation_id, parent_id, role, content, status, "
            "model, params, stats, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.uid,
                conversation_id,
                parent_id,
                message.role,
                message.content,
                status,
                message.model,
                _dumps(message.params),
                _dumps(message.stats),
                message.created_at,
                message.updated_at,
            ),
        )
        ids[message.uid] = cast(int, cursor.lastrowid)
        latest = max(latest, message.updated_at, message.created_at)
        count += 1
        if message.rating is not None:
            _insert_rating(store, ids[message.uid], message.rating)
    if count:
        leaf_uid = conversation.current_leaf_uid or _latest_leaf(conversation.messages)
        leaf = ids.get(leaf_uid) if leaf_uid is not None else None
        if new_conversation:  # as it was: its own times and branch on screen
            db.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, conversation_id)
            )
        else:  # new messages are new activity; the branch on screen stays unless none was
            db.execute(
                "UPDATE conversations SET updated_at = max(updated_at, ?), "
                "current_leaf_id = coalesce(current_leaf_id, ?) WHERE id = ?",
                (latest, leaf, conversation_id),
            )
    return count


def _insert_rating(store: Store, message_id: int, rating: JSONObject) -> None:
    """The rating of a message just imported; one already in the history (same uid, from an
    earlier import of another copy) is left as it is."""
    db = store._db
    if db.execute("SELECT 1 FROM feedback WHERE uid = ?", (rating["uid"],)).fetchone():
        return
    db.execute(
        "INSERT INTO feedback (uid, message_id, kind, rating, reasons, comment, ideal_answer, "
        "context, created_at, updated_at) VALUES (?, ?, 'rating', ?, ?, ?, ?, ?, ?, ?)",
        (
            rating["uid"],
            message_id,
            rating["rating"],
            json.dumps(rating["reasons"], ensure_ascii=False),
            rating["comment"],
            rating["ideal_answer"],
            _dumps(rating["context"]),
            rating["created_at"],
            rating["updated_at"],
        ),
    )


def conversation_id_by_uid(store: Store, uid: str) -> int:
    """The history id of the conversation ``uid``; raises ``NotFoundError``."""
    row = store._db.execute("SELECT id FROM conversations WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        raise NotFoundError(f"no conversation with uid {uid}")
    return int(row[0])
