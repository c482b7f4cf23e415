"""Errors the user's environment causes (a locked, damaged or too new database, a full disk).

Each is a :class:`KnownError` whose message is one clear line, shown as is by the CLI and UI.
Anything else that SQLite raises is our bug and stays an ordinary exception.
"""

from __future__ import annotations

import glob
import shutil
import sqlite3
import time
from pathlib import Path


class KnownError(Exception):
    """The environment's fault, not Parley's: the message tells the user what happened."""


class StoreError(KnownError):
    """The history database cannot be used right now. ``path`` names it, ``backup`` names the
    safety copy made before reporting the problem, when there is one."""

    def __init__(self, message: str, path: Path, backup: Path | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.backup = backup


class DatabaseLocked(StoreError):  # noqa: N818 (the names the UI and DESIGN use)
    """Another program holds the database and did not let go within the busy timeout."""


class DatabaseCorrupt(StoreError):  # noqa: N818 (the names the UI and DESIGN use)
    """The file is not an SQLite database, or it is damaged. A backup copy was made."""


class DatabaseTooNew(StoreError):  # noqa: N818 (the names the UI and DESIGN use)
    """A newer Parley wrote this database. A backup copy was made; nothing was changed."""


class DiskFull(StoreError):  # noqa: N818 (the names the UI and DESIGN use)
    """The disk (or the database's size limit) is full; the last change was not saved."""


class DatabaseUnavailable(StoreError):  # noqa: N818 (the names the UI and DESIGN use)
    """The file cannot be opened, read or written (permissions, missing folder, I/O error)."""


class HistoryFolderMissing(DatabaseUnavailable):
    """The folder the settings put the history in is not there (a drive not connected)."""


class DatabaseMoveError(StoreError):
    """Moving the history to another place failed; the history stayed where it was."""


# Primary result codes (the low byte of the extended code), see https://sqlite.org/rescode.html
_BUSY, _LOCKED = 5, 6
_CORRUPT, _NOTADB = 11, 26
_FULL = 13
_PERM, _READONLY, _IOERR, _CANTOPEN, _AUTH = 3, 8, 10, 14, 23


def primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


FULL_BELOW_BYTES = 1 << 20  # free space under which an I/O error is put down to a full disk


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False


def is_corruption(error: sqlite3.Error) -> bool:
    return primary_code(error) in (_CORRUPT, _NOTADB)


def damaged(path: Path, what: str, backup: Path | None) -> DatabaseCorrupt:
    """The history at ``path`` ``what`` (e.g. "is damaged (…)"), naming the copy made of it."""
    where = f" A copy of the damaged file was saved as {backup}." if backup else ""
    return DatabaseCorrupt(f"The history database {path} {what}.{where}", path, backup)


def translate(error: sqlite3.Error, path: Path, backup: Path | None = None) -> StoreError | None:
    """The :class:`StoreError` for an SQLite error the environment caused, else ``None``
    (the caller re-raises the original: it is a bug). ``backup`` is the copy already made
    for a corrupt database."""
    code = primary_code(error)
    if code in (_BUSY, _LOCKED):
        return DatabaseLocked(
            f"The history database {path} is in use by another program. "
            "Close other copies of Parley and try again.",
            path,
        )
    if code in (_CORRUPT, _NOTADB):
        return damaged(path, f"is damaged or is not a Parley history ({error})", backup)
    if code == _FULL:
        return DiskFull(
            f"The disk holding the history database {path} is full; the last change was not "
            "saved. Free some space and try again.",
            path,
        )
    if code == _IOERR and _disk_full(path):
        # SQLite says "disk I/O error" when the write-ahead log's shared memory cannot grow
        # (SQLITE_IOERR_SHMSIZE), even to read: the cause the user can act on is the space
        return DiskFull(
            f"The disk holding the history database {path} is full, so Parley cannot read or "
            "write its chats (nothing was lost). Free some space and try again.",
            path,
        )
    if code in (_PERM, _READONLY, _IOERR, _CANTOPEN, _AUTH):
        return DatabaseUnavailable(
            f"The history database {path} cannot be opened or written ({error}). "
            "Check that the folder exists and that you may write to it.",
            path,
        )
    return None


def _same_file(a: Path, b: Path) -> bool:
    """``b`` is a copy of ``a`` as it is now (copy2 keeps size and modification time), or
    neither exists (or both are empty, as a write-ahead log can be)."""
    try:
        sa = a.stat()
    except OSError:
        sa = None
    try:
        sb = b.stat()
    except OSError:
        sb = None
    if sa is None or sb is None:
        return (sa is None or sa.st_size == 0) and (sb is None or sb.st_size == 0)
    return sa.st_size == sb.st_size and sa.st_mtime_ns == sb.st_mtime_ns


def backup_copy(path: Path, label: str) -> Path:
    """Copy the database file (and its write-ahead log, if any) next to it as
    ``<name>.<label>-<UTC timestamp>`` and return the copy's path. Raw file copies: this is
    for files SQLite may not be able to read. A file that was copied before and has not
    changed since is not copied again (each command on a damaged history would add a full
    copy): the earlier copy is returned."""
    wal = path.with_name(path.name + "-wal")
    for earlier in sorted(path.parent.glob(f"{glob.escape(path.name)}.{label}-*")):
        earlier_wal = earlier.with_name(earlier.name + "-wal")
        copied = not earlier.name.endswith("-wal") and _same_file(path, earlier)
        if copied and _same_file(wal, earlier_wal):
            return earlier
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{label}-{stamp}-{n}")
    shutil.copy2(path, target)
    if wal.exists() and wal.stat().st_size > 0:
        shutil.copy2(wal, target.with_name(target.name + "-wal"))
    return target


def keep_damaged(path: Path, kept: Path | None) -> Path | None:
    """The copy of the damaged database at ``path``: ``kept`` when one was made already,
    else a new one (:func:`backup_copy`); None when it cannot be made (the message then
    names no copy)."""
    if kept is not None or not path.exists():
        return kept
    try:
        return backup_copy(path, "corrupt")
    except OSError:
        return None


class NotFoundError(LookupError):
    """No conversation, message or folder with that id (a stale id: the caller's bug or a
    race with a purge; not something the user caused)."""
