"""The history schema and its migrations.

The schema version is SQLite's ``PRAGMA user_version``. ``MIGRATIONS[i]`` upgrades a database
from version ``i`` to ``i + 1``; each step runs in its own transaction together with the new
``user_version``, so a crash leaves the database at the old or the new version, never between.

Steps are append-only: once released, a step is never edited. To change the schema:

1. write a function and add it at the end of ``MIGRATIONS``, e.g. for feedback (issue 4)::

       def _v2_feedback(db: sqlite3.Connection) -> None:
           db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, message_id INTEGER "
                      "NOT NULL REFERENCES messages(id) ON DELETE CASCADE, ...)")

       MIGRATIONS: list[Migration] = [_v1_history, _v2_feedback]

2. freeze its schema and some data as ``tests/store/data/history_v2.sql`` (like
   ``history_v1.sql``): tests check that every step still creates its frozen schema and
   that every earlier version upgrades with its data.

Steps must not COMMIT themselves and must use ``db.execute`` (``executescript`` commits).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Migration = Callable[[sqlite3.Connection], None]

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("complete", "streaming", "stopped", "error", "interrupted")

# unicode61 with remove_diacritics 2 folds case and accents: "cafe" finds "Café".
# Prefix indexes for 2 to 4 characters keep search-as-you-type on the last word fast: a
# prefix outside them is answered by merging the postings of every word it starts, which
# takes tens of milliseconds at 200,000 messages when it starts very common words.
_FTS_OPTIONS = "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'"


def _v1_history(db: sqlite3.Connection) -> None:
    """Folders, conversations, the message tree and full-text search over text and titles."""
    roles = ", ".join(f"'{r}'" for r in ROLES)
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    statements = [
        """CREATE TABLE folders (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            position INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
            folder_id INTEGER REFERENCES folders(id) ON DELETE SET NULL,
            system_prompt TEXT,
            overrides TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(overrides)),
            current_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            deleted_at REAL,
            delete_token TEXT
        )""",
        # The sidebar: live conversations, pinned first, most recently active first. It
        # covers the listing's columns, so listing never reads the table itself.
        """CREATE INDEX conversations_sidebar
            ON conversations (pinned DESC, updated_at DESC, title, folder_id, deleted_at)
            WHERE deleted_at IS NULL""",
        "CREATE INDEX conversations_folder ON conversations (folder_id)",
        "CREATE INDEX conversations_leaf ON conversations (current_leaf_id)",
        """CREATE INDEX conversations_deleted ON conversations (delete_token)
            WHERE delete_token IS NOT NULL""",
        f"""CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ({roles})),
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ({statuses})),
            model TEXT,
            params TEXT CHECK (params IS NULL OR json_valid(params)),
            stats TEXT CHECK (stats IS NULL OR json_valid(stats)),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        # Roots of a conversation (parent_id IS NULL) and the cascade from conversations.
        "CREATE INDEX messages_tree ON messages (conversation_id, parent_id)",
        # Children and siblings of a message, and the cascade along the tree.
        "CREATE INDEX messages_children ON messages (parent_id, created_at)",
        # Recovery after a crash looks only at this (normally empty) index.
        "CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming'",
        f"""CREATE VIRTUAL TABLE messages_fts USING fts5 (
            content, content = 'messages', content_rowid = 'id', {_FTS_OPTIONS})""",
        """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END""",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
        END""",
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
                VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END""",
        f"""CREATE VIRTUAL TABLE titles_fts USING fts5 (
            title, content = 'conversations', content_rowid = 'id', {_FTS_OPTIONS})""",
        """CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
        END""",
        """CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
        END""",
        """CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', old.id, old.title);
            INSERT INTO titles_fts (rowid, title) VALUES (new.id, new.title);
        END""",
    ]
    for statement in statements:
        db.execute(statement)


FEEDBACK_KINDS = ("rating", "false_positive", "false_negative")
FILTER_ACTIONS = ("allow", "warn", "block")
FILTER_SOURCES = ("input", "output")
OUTBOX_KINDS = ("feedback", "comparison", "withdrawal")
OUTBOX_STATES = ("review", "pending", "held", "sent")


def _v2_feedback(db: sqlite3.Connection) -> None:
    """Feedback on messages, comparisons of alternative answers, content-filter events and the
    outbox of records waiting to be submitted (issue 4).

    ``context`` columns hold a JSON snapshot of what produced the message (model, sampling
    parameters, system prompt, the conversation turns before it), so a record still says what
    was rated after the conversation's settings changed."""
    kinds = ", ".join(f"'{k}'" for k in FEEDBACK_KINDS)
    actions = ", ".join(f"'{a}'" for a in FILTER_ACTIONS)
    sources = ", ".join(f"'{s}'" for s in FILTER_SOURCES)
    outbox_kinds = ", ".join(f"'{k}'" for k in OUTBOX_KINDS)
    states = ", ".join(f"'{s}'" for s in OUTBOX_STATES)
    statements = [
        f"""CREATE TABLE moderation_events (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ({sources})),
            filter TEXT NOT NULL,
            category TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ({actions})),
            score REAL NOT NULL,
            evidence TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX moderation_events_message ON moderation_events (message_id)",
        f"""CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ({kinds})),
            rating INTEGER CHECK (rating IN (-1, 1)),
            reasons TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(reasons)),
            comment TEXT NOT NULL DEFAULT '',
            ideal_answer TEXT,
            category TEXT,
            moderation_event_id INTEGER REFERENCES moderation_events(id) ON DELETE SET NULL,
            context TEXT NOT NULL CHECK (json_valid(context)),
            revision INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            withdrawn_at REAL,
            CHECK ((kind = 'rating') = (rating IS NOT NULL)),
            CHECK (kind = 'rating' OR category IS NOT NULL)
        )""",
        # One rating per message (changed in place, withdrawn by marking it).
        "CREATE UNIQUE INDEX feedback_one_rating ON feedback (message_id) WHERE kind = 'rating'",
        "CREATE INDEX feedback_message ON feedback (message_id, kind)",
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            all_bad INTEGER NOT NULL DEFAULT 0 CHECK (all_bad IN (0, 1)),
            chosen_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            comment TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL CHECK (json_valid(context)),
            revision INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            withdrawn_at REAL
        )""",
        "CREATE INDEX comparisons_parent ON comparisons (parent_id)",
        "CREATE INDEX comparisons_conversation ON comparisons (conversation_id)",
        """CREATE TABLE comparison_items (
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            rank INTEGER CHECK (rank IS NULL OR rank >= 1),
            PRIMARY KEY (comparison_id, message_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX comparison_items_message ON comparison_items (message_id)",
        f"""CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ({outbox_kinds})),
            record_uid TEXT NOT NULL,
            feedback_id INTEGER REFERENCES feedback(id) ON DELETE CASCADE,
            comparison_id INTEGER REFERENCES comparisons(id) ON DELETE CASCADE,
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            state TEXT NOT NULL DEFAULT 'review' CHECK (state IN ({states})),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            last_status INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            sent_at REAL
        )""",
        "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending'",
        "CREATE INDEX outbox_feedback ON outbox (feedback_id)",
        "CREATE INDEX outbox_comparison ON outbox (comparison_id)",
    ]
    for statement in statements:
        db.execute(statement)


MIGRATIONS: list[Migration] = [_v1_history, _v2_feedback]


def latest_version(steps: Sequence[Migration] = MIGRATIONS) -> int:
    return len(steps)


def schema_version(db: sqlite3.Connection) -> int:
    row = db.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(db: sqlite3.Connection, steps: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring ``db`` (a connection in autocommit mode) up to ``len(steps)``, one transaction
    per step. Returns the versions reached, in order. The caller has checked that the
    database is not newer than ``steps``."""
    reached: list[int] = []
    current = schema_version(db)
    for version in range(current + 1, len(steps) + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the write lock.
            if schema_version(db) >= version:
                db.execute("COMMIT")
                continue
            steps[version - 1](db)
            db.execute(f"PRAGMA user_version = {int(version)}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        reached.append(version)
    return reached
