"""A database that is locked, damaged, or on a full disk gives one clear KnownError, keeps
a backup where one is promised, and is never reset behind the user's back."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop.store import (
    DatabaseCorrupt,
    DatabaseLocked,
    DatabaseUnavailable,
    DiskFull,
    KnownError,
    Store,
)
from desktop.store.errors import translate
from tests.store.conftest import raw


def _history_with_data(path: Path, conversations: int = 40) -> None:
    with Store.open(path) as store, store.transaction():
        for i in range(conversations):
            c = store.create_conversation(f"conversation {i}")
            q = store.add_message(c.id, None, "user", f"question {i} " + "text " * 300)
            store.add_message(c.id, q.id, "assistant", f"answer {i} " + "more " * 300)


def _one_line(error: Exception) -> str:
    message = str(error)
    assert message
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def _backups(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".corrupt-" in p.name)


@pytest.mark.parametrize(
    "content",
    [os.urandom(8192), b"not a database at all", b"SQLite format 3\x00" + os.urandom(4000)],
    ids=["random bytes", "text", "damaged header"],
)
def test_a_file_that_is_not_a_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(content)

    with pytest.raises(DatabaseCorrupt) as caught:
        Store.open(path)

    error = caught.value
    assert isinstance(error, KnownError)
    assert error.backup is not None
    assert error.backup.name.startswith("history.sqlite3.corrupt-")
    assert error.backup.read_bytes() == content
    assert str(error.backup) in _one_line(error)
    assert path.read_bytes() == content  # never silently reset


def test_opening_a_damaged_file_again_keeps_one_backup_until_the_file_changes(
    tmp_path: Path,
) -> None:
    """Each command on a damaged history made another full copy: a large one filled the disk."""
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"not a database at all")
    backups = []
    for _ in range(3):
        with pytest.raises(DatabaseCorrupt) as caught:
            Store.open(path, recover=False)
        backups.append(caught.value.backup)
    assert backups == [backups[0]] * 3
    assert _backups(path) == [backups[0]]
    path.write_bytes(b"damaged differently now")
    with pytest.raises(DatabaseCorrupt) as caught:
        Store.open(path)
    assert caught.value.backup not in (None, backups[0])
    assert caught.value.backup.read_bytes() == b"damaged differently now"  # type: ignore[union-attr]
    assert len(_backups(path)) == 2


def test_a_schema_whose_text_is_not_utf8_is_damaged_not_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _history_with_data(path, conversations=1)
    data = bytearray(path.read_bytes())
    at = data.find(b"CREATE TABLE conversations")
    assert at > 0
    data[at + 7] = 0xC9  # SQLite quotes this text in its error, which Python cannot decode
    path.write_bytes(bytes(data))

    with pytest.raises(DatabaseCorrupt) as caught:
        Store.open(path)
    assert "not valid UTF-8" in _one_line(caught.value)
    assert caught.value.backup is not None
    assert caught.value.backup.read_bytes() == bytes(data)


def test_a_truncated_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _history_with_data(path)
    data = path.read_bytes()
    assert len(data) > 100_000
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(DatabaseCorrupt) as caught:
        Store.open(path)

    assert caught.value.backup is not None
    assert caught.value.backup.read_bytes() == data[: len(data) // 2]
    assert _backups(path) == [caught.value.backup]
    assert "damaged" in _one_line(caught.value)


def test_start_over_sets_the_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(DatabaseCorrupt):
        Store.open(path)
    store, moved = Store.start_over(path)
    with store:
        assert moved is not None
        assert moved.read_bytes() == b"garbage" * 100
        assert store.list_conversations() == []
        store.create_conversation("fresh start")
    with Store.open(path) as again:
        assert [c.title for c in again.list_conversations()] == ["fresh start"]


def test_a_database_locked_exclusively_before_it_was_ever_opened(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    other = raw(path)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("CREATE TABLE somebody_elses (x)")
    try:
        with pytest.raises(DatabaseLocked) as caught:
            Store.open(path, busy_timeout=0.2)
        assert "in use by another program" in _one_line(caught.value)
        assert caught.value.backup is None
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _backups(path) == []
    with Store.open(path) as store:  # usable once the other program lets go
        assert store.list_conversations() == []


def test_a_history_locked_exclusively_by_another_program(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    _history_with_data(path, conversations=2)
    other = raw(path)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("SELECT count(*) FROM messages").fetchone()
    try:
        with pytest.raises(DatabaseLocked):
            Store.open(path, busy_timeout=0.2)
    finally:
        other.execute("COMMIT")
        other.close()
    with Store.open(path) as store:
        assert len(store.list_conversations()) == 2


def test_a_write_while_another_program_holds_the_write_lock(store: Store) -> None:
    c = store.create_conversation("kept")
    other = raw(store.path)
    other.execute("PRAGMA busy_timeout = 0")
    other.execute("BEGIN IMMEDIATE")
    store._db.execute("PRAGMA busy_timeout = 200")  # not 3 s: keep the test quick
    try:
        with pytest.raises(DatabaseLocked):
            store.add_message(c.id, None, "user", "blocked")
        assert [x.id for x in store.list_conversations()] == [c.id]  # reads still work
    finally:
        other.execute("ROLLBACK")
        other.close()
    message = store.add_message(c.id, None, "user", "now it works")
    assert store.current_path(c.id) == [message]


def test_a_full_disk(store: Store) -> None:
    c = store.create_conversation("before the disk filled up")
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    # SQLite reports a database that reached max_page_count exactly like a full disk.
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull) as caught:
        store.add_message(c.id, None, "user", "x" * 200_000)
    assert "full" in _one_line(caught.value)
    assert store.current_path(c.id) == []  # the failed change left nothing half-written
    store._db.execute("PRAGMA max_page_count = 1073741823")
    store.add_message(c.id, None, "user", "after freeing space")
    assert [m.content for m in store.current_path(c.id)] == ["after freeing space"]


def test_an_io_error_on_a_full_disk_says_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a full disk SQLite reports "disk I/O error" (the WAL's shared memory cannot grow),
    even to read: the user is told about the space, not about permissions."""
    from desktop.store import errors

    io_error = sqlite3.OperationalError("disk I/O error")
    io_error.sqlite_errorcode = 4874  # type: ignore[attr-defined]  # SQLITE_IOERR_SHMSIZE
    path = tmp_path / "history.sqlite3"
    unavailable = errors.translate(io_error, path)
    assert isinstance(unavailable, DatabaseUnavailable), "plenty of space here: another cause"
    full = shutil.disk_usage(tmp_path)._replace(free=4096)
    monkeypatch.setattr(errors.shutil, "disk_usage", lambda _folder: full)
    translated = errors.translate(io_error, path)
    assert isinstance(translated, DiskFull)
    assert _one_line(translated).startswith(f"The disk holding the history database {path} is full")


def test_a_folder_in_place_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.mkdir()
    with pytest.raises(DatabaseUnavailable) as caught:
        Store.open(path)
    assert str(path) in _one_line(caught.value)


def test_a_file_in_place_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    for where in (tmp_path / "blocker", tmp_path / "blocker" / "deeper"):
        with pytest.raises(DatabaseUnavailable) as caught:
            Store.open(where / "history.sqlite3")
        assert _one_line(caught.value).endswith(f"{tmp_path / 'blocker'} is a file, not a folder.")
        assert "Errno" not in str(caught.value)


def test_programming_errors_are_not_known_errors(tmp_path: Path) -> None:
    db = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("SELECT * FROM no_such_table")
    assert translate(caught.value, tmp_path / "x") is None
    store = Store.open(tmp_path / "history.sqlite3")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.list_conversations()  # using a closed store is a bug, not the user's problem


def test_the_history_opens_where_the_settings_moved_it(tmp_path: Path) -> None:
    """Moving the history (Settings ▸ History ▸ Location) used to last one run: the next
    start opened the default folder and showed an empty history."""
    from desktop.config.paths import data_dir
    from desktop.config.settings import Settings
    from desktop.store import HistoryFolderMissing

    store = Store.open()
    store.create_conversation("Precious")
    elsewhere = tmp_path / "elsewhere"
    store.move_to(elsewhere)
    store.close()
    settings = Settings.load()
    settings.update({"history.location": str(elsewhere)})
    settings.save()
    with Store.open() as again:  # the next start
        assert again.path == elsewhere / "history.sqlite3"
        assert [c.title for c in again.list_conversations()] == ["Precious"]
    elsewhere.rename(tmp_path / "unplugged")
    with pytest.raises(HistoryFolderMissing) as caught:
        Store.open()
    message = _one_line(caught.value)
    assert str(elsewhere) in message
    assert "not there now" in message
    assert not elsewhere.exists(), "no empty history made in its place"
    assert not (data_dir() / "history.sqlite3").exists()
