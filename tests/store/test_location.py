"""Moving the history elsewhere, clearing it, and the no-Qt rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop.store import DatabaseMoveError, Store
from desktop.store.recording import INPUT_HISTORY_NAME
from tests.store.conftest import check_database


def _fill(store: Store) -> int:
    c = store.create_conversation("Portable")
    q = store.add_message(c.id, None, "user", "a secret about aubergines")
    store.add_message(c.id, q.id, "assistant", "kept safe")
    return c.id


def test_move_to_a_folder(store: Store, tmp_path: Path) -> None:
    conversation = _fill(store)
    old = store.path
    target_dir = tmp_path / "elsewhere" / "Parley"

    typed = old.parent / INPUT_HISTORY_NAME  # what was typed into parley chat
    typed.write_text("/help\n", encoding="utf-8")
    answered = store.begin_assistant(conversation, None, "m")  # made its lock folder
    store.finish(answered.id, "complete", None, "an answer streamed before the move")

    new = store.move_to(target_dir)

    assert new == target_dir / "history.sqlite3"
    assert (target_dir / INPUT_HISTORY_NAME).read_text(encoding="utf-8") == "/help\n"
    assert not typed.exists()
    assert store.path == new
    assert new.exists()
    assert not old.exists()
    assert not old.with_name(old.name + "-wal").exists()
    assert sorted(p.name for p in old.parent.iterdir()) == [], "nothing left behind"
    assert [m.content for m in store.current_path(conversation)][-1:] == [
        "an answer streamed before the move"
    ]
    store.add_message(conversation, None, "user", "written after the move")
    store.close()
    with Store.open(new) as reopened:
        assert [h.conversation_id for h in reopened.search("aubergines")] == [conversation]
        assert len(reopened.search("written after the move")) == 1
    check_database(new)


def test_move_refuses_to_overwrite(store: Store, tmp_path: Path) -> None:
    conversation = _fill(store)
    occupied = tmp_path / "occupied" / "history.sqlite3"
    occupied.parent.mkdir()
    occupied.write_bytes(b"someone else's file")
    with pytest.raises(DatabaseMoveError, match="already exists"):
        store.move_to(occupied.parent)
    assert occupied.read_bytes() == b"someone else's file"
    assert store.path.exists()
    assert len(store.current_path(conversation)) == 2


def test_move_to_an_impossible_place_keeps_the_history(store: Store, tmp_path: Path) -> None:
    conversation = _fill(store)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DatabaseMoveError, match="stays at"):
        store.move_to(blocker / "sub")
    assert len(store.current_path(conversation)) == 2
    store.add_message(conversation, None, "user", "still writable")


def test_move_to_the_same_place_is_a_no_op(store: Store) -> None:
    _fill(store)
    assert store.move_to(store.path.parent) == store.path
    assert len(store.list_conversations()) == 1


def test_clear_all_leaves_no_trace_on_disk(store: Store) -> None:
    _fill(store)
    folder = store.create_folder("Folder")
    store.move_to_folder(store.list_conversations()[0].id, folder.id)
    store.delete_conversations(_fill(store))
    c = store.create_conversation("Quantum haiku")
    store.add_message(c.id, None, "user", "zebrafinch " * 50)  # a word of its own in the index
    chats, messages, folders = store.totals()
    assert (folders, chats) == (1, len(store.list_conversations()))
    assert messages >= chats, "the trash left out"
    store.clear_all()
    assert store.totals() == (0, 0, 0)
    assert store.list_conversations() == []
    assert store.list_conversations(deleted=True) == []
    assert store.list_folders() == []
    assert store.search("aubergines") == []
    for suffix in ("", "-wal"):
        file = store.path.with_name(store.path.name + suffix)
        if file.exists():
            data = file.read_bytes()
            assert b"aubergines" not in data
            assert b"zebrafinch" not in data, "not in the search index's segments either"
            assert b"quantum" not in data
    _fill(store)  # still usable
    assert len(store.search("aubergines")) == 1
    # the index still follows deletes (its triggers were dropped for the clearing only)
    store.delete_conversations(*[c.id for c in store.list_conversations()])
    store.purge_deleted()
    assert store.search("aubergines") == []
    check_database(store.path)


def test_the_store_never_imports_qt() -> None:
    code = (
        "import sys, desktop.store, desktop.store.store; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]; "
        "sys.exit(f'Qt imported: {bad}' if bad else 0)"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
