"""Local chat history in one SQLite file.

One :class:`Store` owns one connection and is used from one thread (the GUI thread in the
app); every call is a short transaction. Messages form a tree per conversation: an edit or a
regeneration adds a sibling, so every branch is kept, and the conversation remembers the leaf
of the branch on screen.

Crash safety of a streamed answer: :meth:`Store.begin_assistant` commits an empty
``streaming`` message before the first token, :meth:`Store.append_partial` commits the text
so far (the caller throttles it to about every 0.5 s), :meth:`Store.finish` commits the final
status. A process killed in between leaves a ``streaming`` row, which the next
:meth:`Store.open` (or :meth:`Store.recover_interrupted`) turns into ``interrupted`` with its
partial text kept. Several processes may write at once (the window, ``parley chat``), so an
answer counts as abandoned only when no live process holds its lock (``writers``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from desktop.config.paths import data_dir
from desktop.store import fts
from desktop.store.errors import (
    DatabaseLocked,
    DatabaseMoveError,
    DatabaseTooNew,
    DatabaseUnavailable,
    HistoryFolderMissing,
    NotFoundError,
    StoreError,
    damaged,
    is_corruption,
    keep_damaged,
    translate,
)
from desktop.store.models import (
    Conversation,
    ConversationSummary,
    FinalStatus,
    Folder,
    JSONObject,
    Message,
    Role,
    SearchHit,
    Siblings,
    Status,
    ThreadEntry,
)
from desktop.store.recording import INPUT_HISTORY_NAME
from desktop.store.schema import ROLES, latest_version, migrate, schema_version
from desktop.store.writers import Writers, folder_of, is_written

DEFAULT_FILENAME = "history.sqlite3"
DEFAULT_BUSY_TIMEOUT_S = 3.0
DEFAULT_TITLE = "New chat"

_P = ParamSpec("_P")
_R = TypeVar("_R")

_CONVERSATION_COLUMNS = (
    "id, uid, title, created_at, updated_at, pinned, folder_id, system_prompt, overrides, "
    "current_leaf_id, deleted_at"
)
_SUMMARY_COLUMNS = "id, title, updated_at, pinned, folder_id"
# what a copy of a message takes along (duplicate, branch): all but its uid and conversation
_COPIED_COLUMNS = (
    "id, parent_id, role, content, status, model, params, stats, created_at, updated_at"
)
_MESSAGE_COLUMNS = (
    "id, uid, conversation_id, parent_id, role, content, status, model, params, stats, "
    "created_at, updated_at"
)
_FINAL_STATUSES = ("complete", "stopped", "error")
_RESUMABLE_STATUSES = ("interrupted", "stopped", "error")


def default_path() -> Path:
    """The history database: in the folder the settings name (Settings ▸ History ▸ Location,
    which moving the history sets), by default the data directory. The window, ``parley
    chat`` and ``parley export`` all open this one."""
    from desktop.config.settings import Settings

    return Settings.load().history_dir() / DEFAULT_FILENAME


def _check_chosen_folder(path: Path) -> None:
    """A history moved to a folder that is not there now (a drive not connected) is said,
    rather than a new, empty history started in its place."""
    folder = path.parent
    if folder != data_dir() and not folder.exists():
        raise HistoryFolderMissing(
            f"The history is in {folder} (Settings ▸ History ▸ Location), which is not there "
            "now. Connect the drive it is on, or point the setting back to where it is.",
            path,
        )


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _holds(column: str, needles: Sequence[str], excluded: Sequence[str]) -> str:
    """The SQL condition that ``column`` holds every one of ``needles`` and none of
    ``excluded`` as written (their values bound in that order). Lower-cased only when a
    word has a letter with case: symbols, Chinese and Japanese have none, and lowering every
    message made a full search of 60,000 of them half as long again."""
    cased = any(
        ch.lower() != ch.upper() for words in (needles, excluded) for w in words for ch in w
    )
    text = f"lower({column})" if cased else column
    return " AND ".join(
        [*(f"instr({text}, ?) > 0" for _ in needles), *(f"instr({text}, ?) = 0" for _ in excluded)]
    )


def _snippet(
    marked: str, text: str | None, literals: Sequence[str], words: Sequence[str]
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A hit's snippet: FTS5's, or, when the query has terms made mostly of symbols, one
    around those as written (FTS5 would mark every "1" of a search for "[::-1]")."""
    if literals and text is not None:
        return fts.literal_snippet(text, literals, ignore_case=True, words=words)
    return fts.parse_snippet(marked)


def _ts(moment: datetime | None) -> float:
    return time.time() if moment is None else moment.timestamp()


def _dumps(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(dict(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _loads(text: str | None) -> JSONObject | None:
    if text is None:
        return None
    value = json.loads(text)
    return cast(JSONObject, value) if isinstance(value, dict) else {"value": value}


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(
        id=row[0],
        uid=row[1],
        title=row[2],
        created_at=_dt(row[3]),
        updated_at=_dt(row[4]),
        pinned=bool(row[5]),
        folder_id=row[6],
        system_prompt=row[7],
        overrides=_loads(row[8]) or {},
        current_leaf_id=row[9],
        deleted_at=None if row[10] is None else _dt(row[10]),
    )


def _summary(row: tuple[Any, ...]) -> ConversationSummary:
    return ConversationSummary(row[0], row[1], row[2], bool(row[3]), row[4])


def _message(row: tuple[Any, ...]) -> Message:
    return Message(
        id=row[0],
        uid=row[1],
        conversation_id=row[2],
        parent_id=row[3],
        role=row[4],
        content=row[5],
        status=row[6],
        model=row[7],
        params=_loads(row[8]),
        stats=_loads(row[9]),
        created_at=_dt(row[10]),
        updated_at=_dt(row[11]),
    )


def _guarded(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
    """Turn the SQLite errors the environment causes into :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._guard():
            return method(self, *args, **kwargs)

    return wrapper


def _folder_problem(folder: Path, error: OSError) -> str:
    """Why ``folder`` could not be made, in words ("Errno 17 File exists" for a file in
    the way says little)."""
    for parent in (folder, *folder.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    return error.strerror or str(error)


class Store:
    """The chat history. Create it with :meth:`Store.open`."""

    SEARCH_FIRST_SPAN = 4096
    """Message ids read by the first step of a search for symbols (:meth:`search_in_steps`)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
        self._db = connection
        self._path = path
        self._busy_timeout = busy_timeout
        self._depth = 0
        self._corrupt_backup: Path | None = None
        self.write_guard: Callable[[], str | None] = lambda: None
        """Why this connection must not write now (another one holds the database for long,
        e.g. an import): a write then fails at once with that reason as
        :class:`DatabaseLocked`, instead of waiting the busy timeout and blaming another
        program."""
        self.interrupted_on_open: list[Message] = []
        """Answers that were streaming when the previous session ended (see ``recover``)."""
        self._writers = Writers()  # the answers this connection is streaming

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
        recover: bool = True,
    ) -> Store:
        """Open (creating or upgrading as needed) the history at ``path``, by default
        :func:`default_path` (where the settings say it is). With ``recover``, answers left
        ``streaming`` by a previous session become ``interrupted``; they are in
        :attr:`interrupted_on_open`.

        Raises :class:`DatabaseLocked`, :class:`DatabaseCorrupt` (a backup copy was made),
        :class:`DatabaseTooNew` (a backup copy was made, nothing changed),
        :class:`DatabaseUnavailable` or :class:`DiskFull`."""
        if path is None:
            path = default_path()
            _check_chosen_folder(path)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailable(
                f"Cannot create the folder for the history database {path}: "
                f"{_folder_problem(path.parent, error)}.",
                path,
            ) from error
        if path.is_dir():
            raise DatabaseUnavailable(f"The history database {path} is a folder, not a file.", path)
        connection = cls._connect(path, busy_timeout)
        store = cls(connection, path, busy_timeout)
        try:
            store._prepare(recover)
        except BaseException:
            connection.close()
            raise
        return store

    @staticmethod
    def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                str(path),
                timeout=busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=True,
            )
        except sqlite3.Error as error:
            known = translate(error, path)
            if known is None:
                raise
            raise known from error

    @_guarded
    def _prepare(self, recover: bool) -> None:
        db = self._db
        # The first reads fail on a file that is not a database, or is locked exclusively.
        version = schema_version(db)
        db.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        known = latest_version()
        if version > known:
            backup = self._backup_newer(version)
            raise DatabaseTooNew(
                f"The history database {self._path} was written by a newer version of Parley "
                f"(schema {version}; this version knows up to {known}). Nothing was changed; "
                f"a backup copy is at {backup}. Update Parley to open it.",
                self._path,
                backup,
            )
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        db.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across app crashes
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
        if version > 0:
            # Touch the tables' root pages so that a damaged file is noticed now, not later.
            db.execute("SELECT max(id) FROM conversations").fetchone()
            db.execute("SELECT max(id) FROM messages").fetchone()
        if recover:
            self.interrupted_on_open = self.recover_interrupted()

    def _backup_newer(self, version: int) -> Path:
        target = self._path.with_name(f"{self._path.name}.schema-v{version}.bak")
        target.unlink(missing_ok=True)
        destination = sqlite3.connect(str(target))
        try:
            self._db.backup(destination)
        finally:
            destination.close()
        return target

    @classmethod
    def start_over(
        cls, path: Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> tuple[Store, Path | None]:
        """After :class:`DatabaseCorrupt` or :class:`DatabaseTooNew`, when the user chooses to
        begin an empty history: rename the existing files to ``<name>.set-aside-<time>``
        (nothing is deleted) and open a new database. Returns the store and where the old
        file went (``None`` when there was none)."""
        path = Path(path) if path is not None else default_path()
        moved: Path | None = None
        if path.exists():
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            moved = path.with_name(f"{path.name}.set-aside-{stamp}")
            try:
                for suffix in ("", "-wal", "-shm"):
                    source = path.with_name(path.name + suffix)
                    if source.exists():
                        os.replace(source, moved.with_name(moved.name + suffix))
            except OSError as error:
                raise DatabaseUnavailable(
                    f"Cannot set the history database {path} aside ({error}).", path
                ) from error
        return cls.open(path, busy_timeout=busy_timeout), moved

    @property
    def path(self) -> Path:
        return self._path

    @_guarded
    def data_version(self) -> int:
        """A number that changes when another connection (``parley chat``, an import, a
        second window) commits to the history; this connection's own writes leave it."""
        row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the database. Safe to call twice. An answer still ``streaming`` here is
        left to recovery (by this process's next start, or another process's check)."""
        self._writers.release_all()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- transactions and errors

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            if is_corruption(error):
                self._back_up_damaged()
            known = translate(error, self._path, self._corrupt_backup)
            if known is None:
                raise
            raise known from error
        except UnicodeDecodeError as error:
            # SQLite quoting a damaged schema, or text that is not UTF-8: the file is damaged
            self._back_up_damaged()
            raise damaged(
                self._path, "is damaged (some of its text is not valid UTF-8)", self._corrupt_backup
            ) from error

    def _back_up_damaged(self) -> None:
        self._corrupt_backup = keep_damaged(self._path, self._corrupt_backup)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested ones become savepoints of the outer one."""
        db = self._db
        name = f"sp{self._depth}"
        if self._depth == 0 and (reason := self.write_guard()) is not None:
            raise DatabaseLocked(reason, self._path)
        db.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield db
        except BaseException:
            self._depth -= 1
            # After SQLITE_FULL, IOERR or BUSY, SQLite may already have rolled back the
            # whole transaction: then there is nothing left to undo here.
            if db.in_transaction:
                if self._depth == 0:
                    db.execute("ROLLBACK")
                else:
                    db.execute(f"ROLLBACK TO {name}")
                    db.execute(f"RELEASE {name}")
            raise
        self._depth -= 1
        if self._depth == 0:
            try:
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        else:
            db.execute(f"RELEASE {name}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several calls into one transaction: all of them are saved, or none (an
        import that fails half-way leaves nothing behind). Nesting is allowed."""
        with self._guard(), self._write():
            yield

    # ---------------------------------------------------------------- folders

    @_guarded
    def create_folder(self, name: str) -> Folder:
        now = time.time()
        with self._write() as db:
            position = db.execute("SELECT coalesce(max(position), -1) + 1 FROM folders")
            cursor = db.execute(
                "INSERT INTO folders (name, position, created_at) VALUES (?, ?, ?)",
                (name, position.fetchone()[0], now),
            )
            folder_id = cast(int, cursor.lastrowid)
        return self._folder(folder_id)

    def _folder(self, folder_id: int) -> Folder:
        row = self._db.execute(
            "SELECT id, name, position, created_at FROM folders WHERE id = ?", (folder_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no folder {folder_id}")
        return Folder(row[0], row[1], row[2], _dt(row[3]))

    @_guarded
    def list_folders(self) -> list[Folder]:
        rows = self._db.execute(
            "SELECT id, name, position, created_at FROM folders ORDER BY position, id"
        )
        return [Folder(r[0], r[1], r[2], _dt(r[3])) for r in rows]

    @_guarded
    def rename_folder(self, folder_id: int, name: str) -> None:
        with self._write() as db:
            self._expect_one(
                db.execute("UPDATE folders SET name = ? WHERE id = ?", (name, folder_id)),
                "folder",
                folder_id,
            )

    @_guarded
    def delete_folder(self, folder_id: int) -> None:
        """Delete a folder; its conversations stay, outside any folder."""
        with self._write() as db:
            self._expect_one(
                db.execute("DELETE FROM folders WHERE id = ?", (folder_id,)), "folder", folder_id
            )

    # ---------------------------------------------------------------- conversations

    @_guarded
    def create_conversation(
        self,
        title: str = DEFAULT_TITLE,
        *,
        system_prompt: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        folder_id: int | None = None,
        uid: str | None = None,
        created_at: datetime | None = None,
    ) -> Conversation:
        """A new, empty conversation. ``uid`` and ``created_at`` are for imports (they keep
        the original's identity and time)."""
        moment = _ts(created_at)
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (uid, title, created_at, updated_at, folder_id, "
                "system_prompt, overrides) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    uid or uuid.uuid4().hex,
                    title,
                    moment,
                    moment,
                    folder_id,
                    system_prompt,
                    _dumps(overrides) or "{}",
                ),
            )
            conversation_id = cast(int, cursor.lastrowid)
        return self.get_conversation(conversation_id)

    @_guarded
    def get_conversation(self, conversation_id: int) -> Conversation:
        row = self._db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no conversation {conversation_id}")
        return _conversation(row)

    @_guarded
    def list_conversations(
        self, *, folder_id: int | None = None, deleted: bool = False
    ) -> list[ConversationSummary]:
        """Conversations for the sidebar, pinned first, then most recently active first.
        ``folder_id`` limits the list to one folder; ``deleted`` lists the deleted ones
        that have not been purged yet instead. Group them with ``group_for_sidebar``."""
        where = "deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"
        parameters: tuple[Any, ...] = ()
        if folder_id is not None:
            where += " AND folder_id = ?"
            parameters = (folder_id,)
        rows = self._db.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM conversations WHERE {where} "
            "ORDER BY pinned DESC, updated_at DESC",
            parameters,
        )
        return [_summary(row) for row in rows]

    def _update_conversation(self, conversation_id: int, assignments: str, *values: Any) -> None:
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE conversations SET {assignments} WHERE id = ?", (*values, conversation_id)
            )
            self._expect_one(cursor, "conversation", conversation_id)

    @_guarded
    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._update_conversation(conversation_id, "title = ?", title)

    @_guarded
    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update_conversation(conversation_id, "pinned = ?", int(pinned))

    @_guarded
    def move_to_folder(self, conversation_id: int, folder_id: int | None) -> None:
        if folder_id is not None:
            self._folder(folder_id)
        self._update_conversation(conversation_id, "folder_id = ?", folder_id)

    @_guarded
    def set_system_prompt(self, conversation_id: int, system_prompt: str | None) -> None:
        self._update_conversation(conversation_id, "system_prompt = ?", system_prompt)

    @_guarded
    def set_overrides(self, conversation_id: int, overrides: Mapping[str, Any]) -> None:
        """Replace the conversation's sampling overrides (an empty mapping: use defaults)."""
        self._update_conversation(conversation_id, "overrides = ?", _dumps(overrides))

    @_guarded
    def delete_conversations(self, *conversation_ids: int) -> str:
        """Move conversations to the trash. Returns a token for :meth:`undo_delete` and
        :meth:`purge`. Deleted conversations leave the sidebar and search at once."""
        token = uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            for conversation_id in conversation_ids:
                cursor = db.execute(
                    "UPDATE conversations SET deleted_at = ?, delete_token = ? "
                    "WHERE id = ? AND deleted_at IS NULL",
                    (now, token, conversation_id),
                )
                if cursor.rowcount != 1:
                    self.get_conversation(conversation_id)  # raises NotFoundError if missing
        return token

    @_guarded
    def undo_delete(self, token: str) -> int:
        """Bring back what :meth:`delete_conversations` removed. Returns how many came back
        (0 when the token is unknown or already purged)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE conversations SET deleted_at = NULL, delete_token = NULL "
                "WHERE delete_token = ?",
                (token,),
            )
            return cursor.rowcount

    @_guarded
    def purge(self, token: str) -> int:
        """Delete for good what one :meth:`delete_conversations` call moved to the trash."""
        with self._write() as db:
            return db.execute(
                "DELETE FROM conversations WHERE delete_token = ? AND deleted_at IS NOT NULL",
                (token,),
            ).rowcount

    @_guarded
    def purge_deleted(self, older_than: timedelta = timedelta(0)) -> int:
        """Delete for good the conversations deleted more than ``older_than`` ago."""
        cutoff = time.time() - older_than.total_seconds()
        with self._write() as db:
            return db.execute(
                "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                (cutoff,),
            ).rowcount

    @_guarded
    def duplicate_conversation(
        self, conversation_id: int, title: str | None = None
    ) -> Conversation:
        """A copy of the conversation with its whole message tree (every branch), the same
        branch selected, settings and folder; not pinned."""
        source = self.get_conversation(conversation_id)
        with self._write() as db:
            rows = db.execute(
                f"SELECT {_COPIED_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
            name = title if title is not None else f"{source.title} (copy)"
            return self._copy(db, source, name, rows, source.current_leaf_id)

    @_guarded
    def branch_conversation(self, message_id: int, title: str | None = None) -> Conversation:
        """A new conversation that holds the branch from the first message down to
        ``message_id`` (ChatGPT's "Branch in new chat"): that message is its last, the
        chat's settings and folder come along, and the chat it came from stays as it was."""
        message = self.get_message(message_id)
        if message.status == "streaming":
            raise ValueError(f"message {message_id} is still being written")
        source = self.get_conversation(message.conversation_id)
        path = {m.id for m in self.path_to(message_id)}
        with self._write() as db:
            rows = [
                row
                for row in db.execute(
                    f"SELECT {_COPIED_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
                    (source.id,),
                )
                if row[0] in path
            ]
            name = title if title is not None else f"{source.title} (branch)"
            return self._copy(db, source, name, rows, message_id)

    def _copy(
        self,
        db: sqlite3.Connection,
        source: Conversation,
        title: str,
        rows: list[Any],
        leaf_id: int | None,
    ) -> Conversation:
        """Insert a conversation like ``source`` with the messages ``rows`` (``id,
        parent_id, ...``: parents before their children), ``leaf_id``'s copy selected."""
        now = time.time()
        cursor = db.execute(
            "INSERT INTO conversations (uid, title, created_at, updated_at, folder_id, "
            "system_prompt, overrides) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                title,
                now,
                now,
                source.folder_id,
                source.system_prompt,
                _dumps(source.overrides) or "{}",
            ),
        )
        copy_id = cast(int, cursor.lastrowid)
        new_ids: dict[int, int] = {}
        for row in rows:  # a parent is always inserted before its children: ids order them
            old_id, parent_id, *rest = row
            inserted = db.execute(
                "INSERT INTO messages (uid, conversation_id, parent_id, role, content, "
                "status, model, params, stats, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (uuid.uuid4().hex, copy_id, None if parent_id is None else new_ids[parent_id],
                 *rest),
            )  # fmt: skip
            new_ids[old_id] = cast(int, inserted.lastrowid)
        if leaf_id is not None:
            db.execute(
                "UPDATE conversations SET current_leaf_id = ? WHERE id = ?",
                (new_ids[leaf_id], copy_id),
            )
        return self.get_conversation(copy_id)

    # ---------------------------------------------------------------- messages

    @_guarded
    def add_message(
        self,
        conversation_id: int,
        parent_id: int | None,
        role: Role,
        content: str,
        *,
        status: Status = "complete",
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        stats: Mapping[str, Any] | None = None,
        uid: str | None = None,
        created_at: datetime | None = None,
        select: bool = True,
    ) -> Message:
        """Add a message under ``parent_id`` (``None``: a first message). With ``select`` it
        becomes the conversation's current leaf, the end of the branch shown."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        moment = _ts(created_at)
        with self._write() as db:
            self.get_conversation(conversation_id)  # NotFoundError rather than a FK error
            if parent_id is not None:
                parent = self.get_message(parent_id)
                if parent.conversation_id != conversation_id:
                    raise ValueError(
                        f"message {parent_id} belongs to conversation {parent.conversation_id}, "
                        f"not {conversation_id}"
                    )
            cursor = db.execute(
                "INSERT INTO messages (uid, conversation_id, parent_id, role, content, status, "
                "model, params, stats, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid or uuid.uuid4().hex,
                    conversation_id,
                    parent_id,
                    role,
                    content,
                    status,
                    model,
                    _dumps(params),
                    _dumps(stats),
                    moment,
                    moment,
                ),
            )
            message_id = cast(int, cursor.lastrowid)
            assignments = "updated_at = max(updated_at, ?)"
            if select:
                assignments += ", current_leaf_id = ?"
            values = (moment, message_id) if select else (moment,)
            self._update_conversation(conversation_id, assignments, *values)
        return self.get_message(message_id)

    @_guarded
    def get_message(self, message_id: int) -> Message:
        row = self._db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no message {message_id}")
        return _message(row)

    @_guarded
    def path_to(self, message_id: int) -> list[Message]:
        """The messages from the root of the tree down to ``message_id``, in order."""
        rows = self._db.execute(
            f"""WITH RECURSIVE up(id, depth) AS (
                    SELECT ?, 0
                    UNION ALL
                    SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id
                    WHERE m.parent_id IS NOT NULL
                )
                SELECT {", ".join("m." + c for c in _MESSAGE_COLUMNS.split(", "))}
                FROM up JOIN messages m ON m.id = up.id ORDER BY up.depth DESC""",
            (message_id,),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no message {message_id}")
        return [_message(row) for row in rows]

    @_guarded
    def current_path(self, conversation_id: int) -> list[Message]:
        """The branch shown: root to the current leaf (empty for a new conversation)."""
        leaf = self.get_conversation(conversation_id).current_leaf_id
        return [] if leaf is None else self.path_to(leaf)

    @_guarded
    def children(self, message_id: int) -> list[Message]:
        rows = self._db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE parent_id = ? ORDER BY created_at, id",
            (message_id,),
        )
        return [_message(row) for row in rows]

    @_guarded
    def siblings(self, message_id: int) -> Siblings:
        """Where the message stands among the alternatives that share its parent."""
        message = self.get_message(message_id)
        ids = tuple(
            row[0]
            for row in self._db.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? "
                "ORDER BY created_at, id",
                (message.conversation_id, message.parent_id),
            )
        )
        return Siblings(ids.index(message_id), ids)

    @_guarded
    def thread(self, conversation_id: int) -> list[ThreadEntry]:
        """The branch shown with the < n/m > information of each message, in two queries."""
        path = self.current_path(conversation_id)
        by_parent: dict[int | None, list[int]] = {}
        for message_id, parent_id in self._db.execute(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY created_at, id",
            (conversation_id,),
        ):
            by_parent.setdefault(parent_id, []).append(message_id)
        entries = []
        for message in path:
            ids = tuple(by_parent[message.parent_id])
            entries.append(ThreadEntry(message, Siblings(ids.index(message.id), ids)))
        return entries

    @_guarded
    def switch_branch(self, message_id: int) -> int:
        """Show the branch through ``message_id`` (a sibling picked in the switcher, or a
        search hit): the current leaf becomes the most recent leaf below it. Returns it."""
        message = self.get_message(message_id)
        row = self._db.execute(
            """WITH RECURSIVE below(id) AS (
                    SELECT ?
                    UNION ALL
                    SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id
                )
                SELECT m.id FROM below JOIN messages m ON m.id = below.id
                WHERE NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = m.id)
                ORDER BY m.created_at DESC, m.id DESC LIMIT 1""",
            (message_id,),
        ).fetchone()
        leaf = int(row[0])
        self._update_conversation(message.conversation_id, "current_leaf_id = ?", leaf)
        return leaf

    @_guarded
    def edit_user_message(self, message_id: int, new_text: str) -> Message:
        """A new version of a user message, as a sibling of the old one (whose branch is
        kept). It becomes the current leaf; the caller then asks for an answer below it."""
        old = self.get_message(message_id)
        if old.role != "user":
            raise ValueError(f"message {message_id} is a {old.role} message, not a user message")
        return self.add_message(old.conversation_id, old.parent_id, "user", new_text)

    @_guarded
    def regenerate(
        self, assistant_message_id: int, model: str, params: Mapping[str, Any] | None = None
    ) -> Message:
        """Start another answer to the same prompt: a new ``streaming`` sibling of
        ``assistant_message_id`` (the old answer is kept). Stream into it as with
        :meth:`begin_assistant`."""
        old = self.get_message(assistant_message_id)
        if old.role != "assistant":
            raise ValueError(f"message {assistant_message_id} is not an assistant message")
        return self.begin_assistant(old.conversation_id, old.parent_id, model, params)

    # ---------------------------------------------------------------- streaming

    @_guarded
    def begin_assistant(
        self,
        conversation_id: int,
        parent_id: int | None,
        model: str,
        params: Mapping[str, Any] | None = None,
    ) -> Message:
        """Insert (and commit) the empty answer before the first token arrives; this
        connection holds it (see ``writers``) until :meth:`finish`."""
        with self._writing() as hold, self._write():
            return hold(
                self.add_message(
                    conversation_id,
                    parent_id,
                    "assistant",
                    "",
                    status="streaming",
                    model=model,
                    params=params,
                )
            )

    @contextmanager
    def _writing(self) -> Iterator[Callable[[Message], Message]]:
        """Mark a message this connection begins to stream as held, before the transaction
        that makes it ``streaming`` commits (no other process can find it unheld); if that
        transaction fails, the mark goes again."""
        held: list[int] = []

        def hold(message: Message) -> Message:
            self._writers.hold(self._path, message.id)
            held.append(message.id)
            return message

        try:
            yield hold
        except BaseException:
            for message_id in held:
                self._writers.release(message_id)
            raise

    @_guarded
    def append_partial(self, message_id: int, text_so_far: str) -> None:
        """Save the answer's text so far (the whole text, not a delta). Call it about every
        0.5 s while streaming; each call is one small transaction."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET content = ?, updated_at = ? "
                "WHERE id = ? AND status = 'streaming'",
                (text_so_far, time.time(), message_id),
            )
            if cursor.rowcount != 1:
                status = self.get_message(message_id).status
                raise ValueError(f"message {message_id} is {status}, not streaming")

    @_guarded
    def finish(
        self,
        message_id: int,
        status: FinalStatus,
        stats: Mapping[str, Any] | None = None,
        content: str | None = None,
        model: str | None = None,
    ) -> Message:
        """End a streamed answer: ``complete``, ``stopped`` (the user pressed stop) or
        ``error``, with the engine's stats and, preferably, the final text; ``model``: the
        one that wrote it, where that is not the one named at :meth:`begin_assistant`."""
        if status not in _FINAL_STATUSES:
            raise ValueError(f"a finished message is one of {_FINAL_STATUSES}, not {status!r}")
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "UPDATE messages SET status = ?, stats = coalesce(?, stats), "
                "content = coalesce(?, content), model = coalesce(?, model), updated_at = ? "
                "WHERE id = ? AND status = 'streaming'",
                (status, _dumps(stats), content, model, now, message_id),
            )
            if cursor.rowcount != 1:
                current = self.get_message(message_id).status
                self._writers.release(message_id)  # not ours to write any more
                raise ValueError(f"message {message_id} is {current}, not streaming")
            conversation_id = self.get_message(message_id).conversation_id
            self._update_conversation(conversation_id, "updated_at = max(updated_at, ?)", now)
        self._writers.release(message_id)
        return self.get_message(message_id)

    @_guarded
    def discard_answer(self, message_id: int) -> int | None:
        """Take back an answer that is being written and has no text yet (stopped while it
        waited for the model): there is nothing to keep, rate or copy. The chat ends with
        its question again (its parent becomes the current leaf); returns that parent."""
        message = self.get_message(message_id)
        if message.role != "assistant" or message.status != "streaming" or message.content:
            raise ValueError(f"message {message_id} is not an answer still empty")
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE id = ? AND content = ''", (message_id,))
            self._update_conversation(
                message.conversation_id,
                "current_leaf_id = ?",
                message.parent_id,
            )
        self._writers.release(message_id)
        return message.parent_id

    @_guarded
    def resume(self, message_id: int) -> Message:
        """ "Continue" an interrupted, stopped or failed answer, or one its length limit cut
        off: it becomes ``streaming`` again, with its text kept, and takes
        :meth:`append_partial` and :meth:`finish`."""
        with self._writing() as hold, self._write() as db:
            placeholders = ", ".join("?" for _ in _RESUMABLE_STATUSES)
            cursor = db.execute(
                f"UPDATE messages SET status = 'streaming', updated_at = ? "
                f"WHERE id = ? AND role = 'assistant' AND (status IN ({placeholders}) "
                f"OR (status = 'complete' AND json_valid(stats) "
                f"AND json_extract(stats, '$.finish_reason') = 'length'))",
                (time.time(), message_id, *_RESUMABLE_STATUSES),
            )
            if cursor.rowcount != 1:
                message = self.get_message(message_id)
                raise ValueError(
                    f"message {message_id} ({message.role}, {message.status}) cannot be continued"
                )
            return hold(self.get_message(message_id))

    @_guarded
    def recover_interrupted(self) -> list[Message]:
        """Mark every answer left ``streaming`` by a process that ended (no live process
        holds it) as ``interrupted``, its partial text kept, and return them. Cheap when
        there are none (one indexed read, no write): the window runs it every few seconds."""
        streaming = "SELECT id FROM messages WHERE status = 'streaming'"
        if not any(self._abandoned(row[0]) for row in self._db.execute(streaming).fetchall()):
            return []
        recovered: list[int] = []
        with self._write() as db:  # again under the write lock: a writer may have come back
            for (message_id,) in db.execute(streaming).fetchall():
                if self._abandoned(message_id):
                    db.execute(
                        "UPDATE messages SET status = 'interrupted' WHERE id = ?", (message_id,)
                    )
                    recovered.append(message_id)
        return [self.get_message(i) for i in recovered]

    def _abandoned(self, message_id: int) -> bool:
        return not self._writers.holds(message_id) and not is_written(self._path, message_id)

    # ---------------------------------------------------------------- search

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Titles and message text matching ``query`` (see :func:`fts.build_match` for the
        syntax; case and accents are ignored; a query of symbols only, such as "&" or "->",
        is looked for as written). Title hits come first (at most half of ``limit``), then
        messages, newest first. Deleted conversations are left out."""
        *_, (hits, _finished) = self.search_in_steps(query, limit)
        return hits

    def search_in_steps(
        self, query: str, limit: int = 50, step_s: float = 0.025
    ) -> Iterator[tuple[list[SearchHit], bool]]:
        """:meth:`search` in steps of about ``step_s`` seconds, for a caller that must stay
        responsive (the window's search field): yields the hits found so far and whether
        that is all of them. A query of words is answered by the index in one step; one of
        symbols reads the messages themselves, newest first, a slice per step. Nothing is
        held open between steps."""
        expression = fts.build_match(query) if limit > 0 else None
        literals = fts.literal_terms(query)
        if expression is not None and not literals:
            yield self._search_index(expression, limit), True
            return
        # Symbols: a message must hold them as written ("[::-1]": the index has only "1",
        # which most chats hold), read a slice of the history at a time.
        messages: Callable[[int, int, int], list[SearchHit]]
        if expression is not None:
            words = fts.other_terms(query)
            hits = self._search_index(expression, limit, literals, words, titles_only=True)
            messages = functools.partial(self._indexed_messages, expression, literals, words)
        elif limit > 0 and (literal := fts.literal_needles(query))[0]:
            needles, excluded = literal
            hits = self._titles_containing(needles, excluded, max(1, limit // 2))
            messages = functools.partial(self._messages_containing, needles, excluded)
        else:  # nothing to look for
            yield [], True
            return
        below = self._message_id_bound()
        span = self.SEARCH_FIRST_SPAN  # message ids per step, then adjusted to take step_s
        while below > 0 and len(hits) < limit:
            started = time.perf_counter()
            hits += messages(max(0, below - span), below, limit - len(hits))
            below -= span
            elapsed = max(time.perf_counter() - started, 1e-4)
            span = int(min(max(span * step_s / elapsed, 1024), 1 << 20))
            if below > 0 and len(hits) < limit:
                yield list(hits), False
        yield hits, True

    @_guarded
    def _search_index(
        self,
        expression: str,
        limit: int,
        literals: Sequence[str] = (),
        words: Sequence[str] = (),
        *,
        titles_only: bool = False,
        ids: tuple[int, int] | None = None,
    ) -> list[SearchHit]:
        """Titles (unless ``ids``), then messages (unless ``titles_only``; only those with
        ids in ``[low, below)`` when ``ids`` is given) matching ``expression`` and holding
        every one of ``literals`` (lower case) as written; their snippets marking those and
        the query's other ``words``."""
        marks = (fts.HIGHLIGHT_START, fts.HIGHLIGHT_END, "…", 16)
        hits: list[SearchHit] = []
        holds_title = "".join(" AND instr(lower(c.title), ?) > 0" for _ in literals)
        holds_text = "".join(" AND instr(lower(m.content), ?) > 0" for _ in literals)
        if ids is None:
            for conversation_id, title, updated_at, marked in self._db.execute(
                f"""SELECT c.id, c.title, c.updated_at, snippet(titles_fts, 0, ?, ?, ?, ?)
                   FROM titles_fts JOIN conversations c ON c.id = titles_fts.rowid
                   WHERE titles_fts MATCH ? AND c.deleted_at IS NULL{holds_title}
                   ORDER BY c.updated_at DESC LIMIT ?""",
                (*marks, expression, *literals, max(1, limit // 2)),
            ):
                text, spans = _snippet(marked, title, literals, words)
                hits.append(
                    SearchHit(conversation_id, title, None, None, text, spans, _dt(updated_at))
                )
        if titles_only:
            return hits
        low, below = ids if ids is not None else (0, 1 << 62)
        for (
            message_id,
            conversation_id,
            role,
            title,
            updated_at,
            marked,
            content,
        ) in self._db.execute(
            f"""SELECT m.id, m.conversation_id, m.role, c.title, c.updated_at,
                      snippet(messages_fts, 0, ?, ?, ?, ?), iif(?, m.content, NULL)
               FROM messages_fts
               JOIN messages m ON m.id = messages_fts.rowid
               JOIN conversations c ON c.id = m.conversation_id
               WHERE messages_fts MATCH ? AND messages_fts.rowid >= ?
                 AND messages_fts.rowid < ? AND c.deleted_at IS NULL{holds_text}
               ORDER BY messages_fts.rowid DESC LIMIT ?""",
            (*marks, bool(literals), expression, low, below, *literals, limit - len(hits)),
        ):
            text, spans = _snippet(marked, content, literals, words)
            hits.append(
                SearchHit(conversation_id, title, message_id, role, text, spans, _dt(updated_at))
            )
        return hits

    def _indexed_messages(
        self,
        expression: str,
        literals: Sequence[str],
        words: Sequence[str],
        low: int,
        below: int,
        limit: int,
    ) -> list[SearchHit]:
        return self._search_index(expression, limit, literals, words, ids=(low, below))

    @_guarded
    def _titles_containing(
        self, needles: Sequence[str], excluded: Sequence[str], limit: int
    ) -> list[SearchHit]:
        hits: list[SearchHit] = []
        holds = _holds("title", needles, excluded)
        for conversation_id, title, updated_at in self._db.execute(
            f"""SELECT id, title, updated_at FROM conversations
               WHERE {holds} AND deleted_at IS NULL
               ORDER BY updated_at DESC LIMIT ?""",
            (*needles, *excluded, limit),
        ):
            text, spans = fts.literal_snippet(title, needles, ignore_case=True)
            hits.append(SearchHit(conversation_id, title, None, None, text, spans, _dt(updated_at)))
        return hits

    @_guarded
    def _message_id_bound(self) -> int:
        """One more than the highest message id (0 for an empty history)."""
        return int(self._db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0])

    @_guarded
    def _messages_containing(
        self, needles: Sequence[str], excluded: Sequence[str], low: int, below: int, limit: int
    ) -> list[SearchHit]:
        """Messages with ids in ``[low, below)`` that contain every one of ``needles`` and
        none of ``excluded`` (lower case; the text's ASCII letters are folded), newest
        first."""
        hits: list[SearchHit] = []
        holds = _holds("m.content", needles, excluded)
        for message_id, conversation_id, role, content, title, updated_at in self._db.execute(
            f"""SELECT m.id, m.conversation_id, m.role, m.content, c.title, c.updated_at
               FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE m.id >= ? AND m.id < ? AND {holds}
                 AND c.deleted_at IS NULL
               ORDER BY m.id DESC LIMIT ?""",
            (low, below, *needles, *excluded, limit),
        ):
            text, spans = fts.literal_snippet(content, needles, ignore_case=True)
            hits.append(
                SearchHit(conversation_id, title, message_id, role, text, spans, _dt(updated_at))
            )
        return hits

    # ---------------------------------------------------------------- the whole history

    @_guarded
    def totals(self) -> tuple[int, int, int]:
        """(chats, their messages, folders), the trash left out: what "clear all" deletes."""
        chats, messages = self._db.execute(
            "SELECT count(DISTINCT c.id), count(m.id) FROM conversations c "
            "LEFT JOIN messages m ON m.conversation_id = c.id WHERE c.deleted_at IS NULL"
        ).fetchone()
        (folders,) = self._db.execute("SELECT count(*) FROM folders").fetchone()
        return int(chats), int(messages), int(folders)

    @_guarded
    def clear_all(self) -> None:
        """Delete every conversation, message and folder for good, and compact the file so
        the text does not linger on disk."""
        with self._write() as db:
            # The search index is emptied as a whole below: the triggers that take each row
            # out of it (tokenizing its text again) go for the while, and come back in the
            # same transaction. 60,000 messages: 13.5 s with them, 2 s without.
            triggers = db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND name IN ('messages_fts_delete', 'titles_fts_delete')"
            ).fetchall()
            for name, _sql in triggers:
                db.execute(f"DROP TRIGGER {name}")
            db.execute("DELETE FROM conversations")
            db.execute("DELETE FROM folders")
            # The search index kept the words in its segments (a delete only marks them),
            # and VACUUM does not touch them: emptied as a whole.
            db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')")
            db.execute("INSERT INTO titles_fts (titles_fts) VALUES ('delete-all')")
            for _name, sql in triggers:
                db.execute(sql)
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        with suppress(FileNotFoundError):  # what was typed into parley chat goes as well
            (self._path.parent / INPUT_HISTORY_NAME).unlink()

    @_guarded
    def move_to(self, folder: Path) -> Path:
        """Move the history into ``folder`` (created if needed; the file keeps its name) and
        continue there. Returns the new path. The copy is complete and opened before the old
        files are removed; on failure the history stays where it was and
        :class:`DatabaseMoveError` says why."""
        target = Path(folder) / self._path.name
        if target.resolve() == self._path.resolve():
            return self._path
        if target.exists():
            raise DatabaseMoveError(
                f"Cannot move the history to {target}: a file with that name already exists.",
                self._path,
            )
        if self._depth:
            raise RuntimeError("move_to inside a transaction")
        if (reason := self.write_guard()) is not None:  # another connection holds the files
            raise DatabaseLocked(reason, self._path)
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise DatabaseLocked(
                f"Cannot move the history database {self._path}: another program is using it.",
                self._path,
            )
        partial = target.with_name(target.name + ".moving")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.unlink(missing_ok=True)
            destination = sqlite3.connect(str(partial))
            try:
                self._db.backup(destination)  # a consistent copy, even of a live database
            finally:
                destination.close()
            os.replace(partial, target)
            moved = self._connect(target, self._busy_timeout)
        except (OSError, sqlite3.Error, StoreError) as error:
            for leftover in (partial, target):
                with suppress(OSError):
                    leftover.unlink(missing_ok=True)
            raise DatabaseMoveError(
                f"Cannot move the history to {target} ({error}); it stays at {self._path}.",
                self._path,
            ) from error
        old_path, old_db = self._path, self._db
        self._db, self._path, self._corrupt_backup = moved, target, None
        try:
            self._prepare(recover=False)
        except BaseException:
            moved.close()
            self._db, self._path = old_db, old_path
            with suppress(OSError):
                target.unlink(missing_ok=True)
            raise
        old_db.close()
        for suffix in ("", "-wal", "-shm"):
            # The copy is safe; an old file another program still holds is only left over.
            with suppress(OSError):
                old_path.with_name(old_path.name + suffix).unlink(missing_ok=True)
        with suppress(OSError):  # the answers' lock files: none is left once they finished
            folder_of(old_path).rmdir()
        with suppress(OSError):  # what was typed into parley chat goes along (a convenience)
            shutil.move(old_path.parent / INPUT_HISTORY_NAME, target.parent / INPUT_HISTORY_NAME)
        return target

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _expect_one(cursor: sqlite3.Cursor, kind: str, item_id: int) -> None:
        if cursor.rowcount != 1:
            raise NotFoundError(f"no {kind} {item_id}")
