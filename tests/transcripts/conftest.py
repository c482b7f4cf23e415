"""A history with branches, every status, metadata and awkward text, to export and import."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.feedback import FeedbackDraft, FeedbackStore
from desktop.store import Store
from tests.store.conftest import raw


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.open()
    yield opened
    opened.close()


@pytest.fixture
def other_store(tmp_path: Path) -> Iterator[Store]:
    """A second, empty history (the machine a transcript is imported on)."""
    opened = Store.open(tmp_path / "other" / "history.sqlite3")
    yield opened
    opened.close()


def fill(store: Store) -> list[int]:
    """Two conversations: one with regenerated answers and an edited question (three
    branches), stopped/error/interrupted answers, params and stats; one plain."""
    folder = store.create_folder("Work")
    c = store.create_conversation(
        "Résumé of <b>tricky</b> things ✓",
        system_prompt="You are terse.",
        overrides={"temperature": 0.2},
        folder_id=folder.id,
    )
    store.set_pinned(c.id, True)
    q1 = store.add_message(c.id, None, "user", "Write `fib` in Python")
    a1 = store.add_message(
        c.id,
        q1.id,
        "assistant",
        "```python\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n```",
        model="smollm2-135m-instruct",
        params={"temperature": 0.7, "top_k": 40, "seed": 7},
        stats={"decode_tok_s": 91.5, "generated_tokens": 31, "ttft_s": 0.077},
    )
    a2 = store.regenerate(a1.id, "smollm2-135m-instruct", {"temperature": 1.3})
    store.append_partial(a2.id, "def fib(n): ...")
    store.finish(a2.id, "stopped", {"generated_tokens": 5})
    a3 = store.regenerate(a1.id, "other-model")
    store.finish(a3.id, "error", content="out of memory")
    q2 = store.edit_user_message(q1.id, "Write fib in Rust, no <script>alert(1)</script>")
    a4 = store.begin_assistant(c.id, q2.id, "smollm2-135m-instruct", {"temperature": 0})
    store.append_partial(a4.id, "fn fib(n: u64) -> u64 {")
    store.switch_branch(a1.id)  # the branch on screen is not the newest one
    ratings = FeedbackStore(store)
    ratings.rate(a1.id, FeedbackDraft(1, ("correct", "clear"), "nice"))
    ratings.rate(a2.id, FeedbackDraft(-1, (), "", "def fib(n): return n"))
    ratings.withdraw(ratings.rate(a3.id, FeedbackDraft(-1)).id)  # withdrawn: not exported
    ratings.close()

    d = store.create_conversation("Plain")
    q = store.add_message(d.id, None, "user", "hello")
    store.add_message(d.id, q.id, "assistant", "Hi! 👋\n\nTwo paragraphs.", model="m")
    return [c.id, d.id]


@pytest.fixture
def filled(store: Store) -> list[int]:
    return fill(store)


def snapshot(path: Path) -> list[object]:
    """Every row of every table: to prove that a failed import changed nothing."""
    db = raw(path)
    try:
        rows: list[object] = []
        for (table,) in db.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '%fts%' "
            "ORDER BY name"
        ):
            rows.append((table, db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()))
        rows.append(db.execute("SELECT count(*) FROM messages_fts").fetchone())
        return rows
    except sqlite3.Error:
        raise
    finally:
        db.close()
