"""A connection to the history database for the feedback tables.

The feedback store and the outbox sender each open their own connection to the same SQLite file
the :class:`~desktop.store.Store` uses (WAL lets them read and write side by side); the sender
runs on a worker thread, and SQLite connections belong to one thread. Errors the environment
causes become the store's :class:`~desktop.store.StoreError` subclasses (one clear message).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.store.errors import DatabaseUnavailable, is_corruption, keep_damaged, translate
from desktop.store.schema import schema_version

FEEDBACK_SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 3.0


class Database:
    """One connection, used from the thread that opened it."""

    def __init__(self, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self._backup: Path | None = None  # the copy made of the file when found damaged
        with self.guard():
            self.connection = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None
            )
        try:
            with self.guard():
                self.connection.execute("PRAGMA foreign_keys = ON")
                version = schema_version(self.connection)
        except BaseException:
            self.connection.close()
            raise
        if version < FEEDBACK_SCHEMA_VERSION:
            self.connection.close()
            raise DatabaseUnavailable(
                f"The history database {self.path} has no feedback tables yet (schema {version}); "
                "open it with Parley first so it is upgraded.",
                self.path,
            )

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            if is_corruption(error):  # as the store does: the damaged file is kept first
                self._backup = keep_damaged(self.path, self._backup)
            known = translate(error, self.path, self._backup)
            if known is None:
                raise
            raise known from error

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (not nestable)."""
        with self.guard():
            db = self.connection
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self.guard():
            return list(self.connection.execute(sql, parameters).fetchall())
