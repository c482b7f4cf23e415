"""Migrations: every earlier schema version upgrades to the latest with its data intact, and
adding a step is one function appended to MIGRATIONS."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from desktop.store import DatabaseTooNew, Store
from desktop.store.schema import MIGRATIONS, latest_version, migrate, schema_version
from tests.store.conftest import DATA, load_sql, raw, sql_statements

FROZEN = sorted(DATA.glob("history_v*.sql"))


def _version_of(script: Path) -> int:
    match = re.fullmatch(r"history_v(\d+)\.sql", script.name)
    assert match
    return int(match.group(1))


def _schema(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = db.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type, name"
    )
    return [(kind, name, " ".join(sql.split())) for kind, name, sql in rows]


def test_a_frozen_script_exists_for_every_released_version() -> None:
    assert [_version_of(s) for s in FROZEN] == list(range(1, latest_version() + 1))


@pytest.mark.parametrize("script", FROZEN, ids=lambda p: p.stem)
def test_migration_steps_still_create_the_frozen_schemas(script: Path) -> None:
    """A released step must never change: the schema it creates equals the frozen one."""
    version = _version_of(script)
    migrated = sqlite3.connect(":memory:", isolation_level=None)
    migrate(migrated, MIGRATIONS[:version])
    frozen = sqlite3.connect(":memory:", isolation_level=None)
    for statement in sql_statements(script):
        if statement.upper().startswith("CREATE"):
            frozen.execute(statement)
    assert _schema(migrated) == _schema(frozen)


@pytest.mark.parametrize("start", range(latest_version()))
def test_every_earlier_version_upgrades_to_the_latest(tmp_path: Path, start: int) -> None:
    path = tmp_path / "history.sqlite3"
    db = raw(path)
    migrate(db, MIGRATIONS[:start])
    assert schema_version(db) == start
    db.close()
    with Store.open(path) as store:
        conversation = store.create_conversation("after upgrade")
        store.add_message(conversation.id, None, "user", "hello")
    db = raw(path)
    assert schema_version(db) == latest_version()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"")
    with Store.open(path) as store:
        assert store.list_conversations() == []
    assert schema_version(raw(path)) == latest_version()


def test_a_version_1_database_upgrades_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    load_sql(path, DATA / "history_v1.sql")
    with Store.open(path) as store:
        # The answer a crash left streaming is recovered as interrupted, text kept.
        assert [(m.id, m.status, m.content) for m in store.interrupted_on_open] == [
            (5, "interrupted", "The Zeughauskeller serves")
        ]
        (summary,) = store.list_conversations()
        assert (summary.title, summary.pinned, summary.folder_id) == ("Trip to Zürich", True, 1)
        conversation = store.get_conversation(1)
        assert conversation.system_prompt == "You are a travel guide."
        assert conversation.overrides == {"temperature": 0.3}
        assert [m.id for m in store.current_path(1)] == [1, 3, 4, 5]
        assert store.siblings(3).ids == (2, 3)
        assert store.get_message(2).stats == {"decode_tok_s": 91.0}
        assert [f.name for f in store.list_folders()] == ["Travel"]
        # Full-text search works on the upgraded data, diacritics folded.
        hits = store.search("spruengli") + store.search("sprungli")
        assert [h.message_id for h in hits] == [3]
        assert store.search("gnocchi") == []  # conversation 2 is in the trash
        assert store.undo_delete("token-2") == 1
        assert [h.message_id for h in store.search("gnocchi")] == [6]


def _next_example(db: sqlite3.Connection) -> None:
    """What a later issue adds: a table linked to messages."""
    db.execute(
        "CREATE TABLE example_notes (id INTEGER PRIMARY KEY, "
        "message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE, "
        "note INTEGER NOT NULL)"
    )
    db.execute("INSERT INTO example_notes (message_id, note) SELECT id, 0 FROM messages")


def test_appending_a_step_upgrades_existing_data(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    load_sql(path, DATA / "history_v1.sql")
    db = raw(path)
    steps = [*MIGRATIONS, _next_example]
    assert migrate(db, steps) == list(range(2, len(steps) + 1))
    assert schema_version(db) == len(steps)
    assert db.execute("SELECT count(*) FROM example_notes").fetchone()[0] == 6
    assert db.execute("SELECT title FROM conversations WHERE id = 1").fetchone()[0] == (
        "Trip to Zürich"
    )
    assert migrate(db, steps) == []  # idempotent


def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("step failed half-way")

    path = tmp_path / "history.sqlite3"
    db = raw(path)
    migrate(db, MIGRATIONS)
    with pytest.raises(RuntimeError, match="half-way"):
        migrate(db, [*MIGRATIONS, broken])
    assert schema_version(db) == latest_version()
    assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").fetchone() == (
        0,
    )
    assert not db.in_transaction


def test_a_database_from_a_newer_parley_is_refused_and_backed_up(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with Store.open(path) as store:
        store.create_conversation("written by the newer app")
    db = raw(path)
    migrate(db, [*MIGRATIONS, _next_example])
    db.close()
    before = path.read_bytes()

    with pytest.raises(DatabaseTooNew) as caught:
        Store.open(path)

    error = caught.value
    assert error.backup is not None
    assert error.backup.exists()
    assert str(error.backup) in str(error)
    assert "newer version" in str(error)
    assert "\n" not in str(error)
    assert path.read_bytes() == before  # nothing was changed
    backup = raw(error.backup)
    assert schema_version(backup) == latest_version() + 1
    assert backup.execute("SELECT title FROM conversations").fetchall() == [
        ("written by the newer app",)
    ]
