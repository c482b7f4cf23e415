"""Which ``streaming`` answers a live process is still writing.

An answer is stored as ``streaming`` before its first token and finished when it ends; a
process killed in between leaves it ``streaming`` for good. Recovery marks such answers
``interrupted``, but the window and ``parley chat`` / ``parley ask`` may write to the same
history at once, so "still streaming" alone does not say "abandoned".

While a process streams an answer it holds an exclusive lock on a small file named after the
message, in a folder next to the database (``history.sqlite3.writing/<id>``). The operating
system drops the lock when the process ends in any way (SIGKILL and power loss included), so a
lock that can be taken means nobody writes that answer any more. File locks are per open file,
so another connection of the same process sees the lock as held too.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def folder_of(database: Path) -> Path:
    """The folder of the lock files of the history at ``database``."""
    return database.with_name(database.name + ".writing")


class Writers:
    """The locks this process holds on the answers it streams into one history."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[int, Path]] = {}

    def hold(self, database: Path, message_id: int) -> None:
        """Say that this process writes answer ``message_id`` (until :meth:`release`).
        Best effort: where no lock file can be made (a read-only folder), the answer is
        unmarked, as every answer was before these locks."""
        if message_id in self._held:
            return
        path = folder_of(database) / str(message_id)
        try:
            path.parent.mkdir(exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        if not _try_lock(fd):  # a stale id from a dead database: nothing sensible to hold
            os.close(fd)
            return
        self._held[message_id] = (fd, path)

    def release(self, message_id: int) -> None:
        """The answer is finished (or given up): its lock file goes."""
        held = self._held.pop(message_id, None)
        if held is None:
            return
        fd, path = held
        with suppress(OSError):
            path.unlink()  # before the unlock: nobody can lock the name after this
        with suppress(OSError):
            _unlock(fd)
        os.close(fd)

    def release_all(self) -> None:
        for message_id in list(self._held):
            self.release(message_id)

    def holds(self, message_id: int) -> bool:
        return message_id in self._held


def is_written(database: Path, message_id: int) -> bool:
    """Whether a live process (this one included) holds answer ``message_id``'s lock."""
    path = folder_of(database) / str(message_id)
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:  # no lock file: nobody said they write it
        return False
    try:
        if not _try_lock(fd):
            return True
        with suppress(OSError):  # left by a process that ended: tidy up
            path.unlink()
        with suppress(OSError):
            _unlock(fd)
        return False
    finally:
        os.close(fd)
