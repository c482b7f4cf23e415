"""Store fixtures: a real SQLite database in the test's own data directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.store import Store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def store() -> Iterator[Store]:
    """A new, empty history at the default place (the test's PARLEY_DATA_DIR)."""
    opened = Store.open()
    yield opened
    opened.close()


def sql_statements(script: Path) -> list[str]:
    """The statements of a frozen SQL script (separated by lines holding only ';')."""
    statements = []
    for chunk in script.read_text(encoding="utf-8").split("\n;\n"):
        body = "\n".join(line for line in chunk.splitlines() if not line.startswith("--"))
        if body.strip():
            statements.append(body.strip())
    return statements


def load_sql(path: Path, script: Path) -> None:
    """Build a database file from a frozen SQL script, in one transaction."""
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("BEGIN")
        for statement in sql_statements(script):
            db.execute(statement)
        db.execute("COMMIT")
    finally:
        db.close()


def raw(path: Path) -> sqlite3.Connection:
    """A second, independent connection to a history file (as another process would have)."""
    return sqlite3.connect(str(path), isolation_level=None)


def check_database(path: Path) -> None:
    """Fail unless the file passes SQLite's integrity check and both full-text indexes agree
    with the rows they index (FTS5's integrity-check raises when they do not)."""
    db = raw(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for table in ("messages_fts", "titles_fts"):
            db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    finally:
        db.close()
