"""The outbox: records waiting to be submitted to the team's endpoint, and why they wait.

An item is one JSON payload with its own idempotency key, in one of four states:

``review``   queued while "send without asking" is off: shown to the user, sent only once approved
``pending``  will be sent when ``next_attempt_at`` comes (retries back off exponentially)
``held``     the endpoint refused it in a way retrying will not fix (bad token, 4xx): kept, with
             the reason, until the user retries it
``sent``     the endpoint acknowledged it; never sent again

Nothing is dropped on failure. Changing a record before it was sent replaces its payload (with a
new idempotency key if an earlier attempt may have reached the endpoint); withdrawing a record
removes it when it never left, and queues a withdrawal when it may have.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from desktop.feedback.db import Database
from desktop.feedback.records import OutboxItem, OutboxKind, OutboxState

PAYLOAD_SCHEMA = "parley.feedback/1"

_COLUMNS = (
    "id, idempotency_key, kind, record_uid, payload, state, attempts, next_attempt_at, "
    "last_error, last_status, created_at, sent_at"
)
_UNSENT = "('review', 'pending', 'held')"
# An outbox row whose record belongs to a conversation in the trash.
_TRASHED = """
    EXISTS (SELECT 1 FROM feedback f JOIN messages m ON m.id = f.message_id
            JOIN conversations c ON c.id = m.conversation_id
            WHERE f.id = outbox.feedback_id AND c.deleted_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM comparisons k JOIN conversations c ON c.id = k.conversation_id
               WHERE k.id = outbox.comparison_id AND c.deleted_at IS NOT NULL)"""


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _item(row: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        id=row[0],
        idempotency_key=row[1],
        kind=row[2],
        record_uid=row[3],
        payload=json.loads(row[4]),
        state=row[5],
        attempts=row[6],
        next_attempt_at=_dt(row[7]),
        last_error=row[8],
        last_status=row[9],
        created_at=_dt(row[10]),
        sent_at=None if row[11] is None else _dt(row[11]),
    )


def new_key() -> str:
    return uuid.uuid4().hex


class Outbox:
    """The outbox table. ``database`` returns the connection of the calling thread."""

    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    @classmethod
    def on(cls, database: Database) -> Outbox:
        return cls(lambda: database)

    # ---------------------------------------------------------------- queueing

    def put(
        self,
        kind: OutboxKind,
        record_uid: str,
        payload: Mapping[str, Any],
        *,
        review: bool,
        feedback_id: int | None = None,
        comparison_id: int | None = None,
        now: float | None = None,
    ) -> OutboxItem:
        """Queue ``payload`` for the record, replacing an unsent one for the same record."""
        moment = time.time() if now is None else now
        state: OutboxState = "review" if review else "pending"
        text = json.dumps(dict(payload), ensure_ascii=False, separators=(",", ":"))
        with self._database().write() as db:
            # Given again after a withdrawal that has not gone out: the endpoint must end up
            # with this version, not have it withdrawn by a retry that comes after it.
            db.execute(
                f"DELETE FROM outbox WHERE kind = 'withdrawal' AND record_uid = ? "
                f"AND state IN {_UNSENT}",
                (record_uid,),
            )
            row = db.execute(
                f"SELECT id, attempts, idempotency_key FROM outbox WHERE kind = ? "
                f"AND record_uid = ? AND state IN {_UNSENT} ORDER BY id DESC LIMIT 1",
                (kind, record_uid),
            ).fetchone()
            if row is None:
                cursor = db.execute(
                    "INSERT INTO outbox (idempotency_key, kind, record_uid, feedback_id, "
                    "comparison_id, payload, state, next_attempt_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_key(),
                        kind,
                        record_uid,
                        feedback_id,
                        comparison_id,
                        text,
                        state,
                        moment,
                        moment,
                        moment,
                    ),
                )
                item_id = cast(int, cursor.lastrowid)
            else:
                item_id, attempts, key = row
                # An earlier attempt may have reached the endpoint: the new version needs a key
                # of its own, or the endpoint would answer with the stored old version.
                key = new_key() if attempts else key
                db.execute(
                    "UPDATE outbox SET payload = ?, idempotency_key = ?, state = ?, attempts = 0, "
                    "next_attempt_at = ?, last_error = NULL, last_status = NULL, updated_at = ? "
                    "WHERE id = ?",
                    (text, key, state, moment, moment, item_id),
                )
        return self.get(item_id)

    def record_withdrawn(
        self,
        kind: OutboxKind,
        record_uid: str,
        *,
        feedback_id: int | None = None,
        comparison_id: int | None = None,
    ) -> OutboxItem | None:
        """The record was withdrawn: drop it if it never left; if it was (or may have been)
        delivered, queue a withdrawal. Returns the withdrawal, if one was queued."""
        now = time.time()
        with self._database().write() as db:
            reached = db.execute(
                "SELECT count(*) FROM outbox WHERE kind = ? AND record_uid = ? "
                "AND (state = 'sent' OR attempts > 0)",
                (kind, record_uid),
            ).fetchone()[0]
            db.execute(
                f"DELETE FROM outbox WHERE kind = ? AND record_uid = ? AND state IN {_UNSENT}",
                (kind, record_uid),
            )
            if not reached:
                return None
            payload = {
                "schema": PAYLOAD_SCHEMA,
                "type": "withdrawal",
                "record_type": kind,
                "uid": record_uid,
                "withdrawn_at": datetime.fromtimestamp(now, tz=UTC).isoformat(),
            }
            cursor = db.execute(
                "INSERT INTO outbox (idempotency_key, kind, record_uid, payload, state, "
                "next_attempt_at, created_at, updated_at) VALUES (?, 'withdrawal', ?, ?, "
                "'pending', ?, ?, ?)",
                (new_key(), record_uid, json.dumps(payload), now, now, now),
            )
            item_id = cast(int, cursor.lastrowid)
        del feedback_id, comparison_id  # the withdrawal outlives the record
        return self.get(item_id)

    # ---------------------------------------------------------------- reading

    def get(self, item_id: int) -> OutboxItem:
        rows = self._database().query(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,))
        if not rows:
            raise LookupError(f"no outbox item {item_id}")
        return _item(rows[0])

    def items(self, states: Sequence[OutboxState] | None = None) -> list[OutboxItem]:
        """Items in the given states (default: everything not sent yet), oldest first."""
        wanted = tuple(states) if states is not None else ("review", "pending", "held")
        marks = ", ".join("?" for _ in wanted)
        rows = self._database().query(
            f"SELECT {_COLUMNS} FROM outbox WHERE state IN ({marks}) ORDER BY id", wanted
        )
        return [_item(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._database().query("SELECT state, count(*) FROM outbox GROUP BY state")
        found = {"review": 0, "pending": 0, "held": 0, "sent": 0}
        found.update({cast(str, s): cast(int, n) for s, n in rows})
        return found

    def due(self, now: float | None = None, limit: int = 50) -> list[OutboxItem]:
        """Pending items whose time has come. Not those of a chat in the trash: deleted
        while Undo is offered, it is purged next, and its records with it."""
        moment = time.time() if now is None else now
        rows = self._database().query(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? "
            f"AND NOT ({_TRASHED}) ORDER BY next_attempt_at, id LIMIT ?",
            (moment, limit),
        )
        return [_item(r) for r in rows]

    def next_due(self) -> float | None:
        """When the next pending item is due (Unix seconds), ``None`` if none is pending
        (as :meth:`due` counts them)."""
        rows = self._database().query(
            f"SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending' AND NOT ({_TRASHED})"
        )
        value = rows[0][0] if rows else None
        return None if value is None else float(cast(float, value))

    # ---------------------------------------------------------------- the user's actions

    def approve(self, item_ids: Sequence[int]) -> int:
        """The user saw these items and agreed to send them."""
        return self._update(
            "state = 'pending', next_attempt_at = ?", item_ids, "state = 'review'", time.time()
        )

    def to_review(self, item_ids: Sequence[int]) -> int:
        """Back to review: approved for another address, they are seen again first."""
        return self._update("state = 'review'", item_ids, "state IN ('pending', 'held')")

    def retry_now(self, item_ids: Sequence[int]) -> int:
        """Send held or waiting items at the next opportunity."""
        return self._update(
            "state = 'pending', next_attempt_at = ?",
            item_ids,
            "state IN ('pending', 'held')",
            time.time(),
        )

    def remove(self, item_ids: Sequence[int]) -> int:
        """Do not send these (the records themselves stay in the history)."""
        if not item_ids:
            return 0
        marks = ", ".join("?" for _ in item_ids)
        with self._database().write() as db:
            return db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks}) AND state != 'sent'", tuple(item_ids)
            ).rowcount

    def _update(
        self, assignments: str, item_ids: Sequence[int], condition: str, *values: object
    ) -> int:
        if not item_ids:
            return 0
        marks = ", ".join("?" for _ in item_ids)
        with self._database().write() as db:
            return db.execute(
                f"UPDATE outbox SET {assignments}, updated_at = ? "
                f"WHERE id IN ({marks}) AND {condition}",
                (*values, time.time(), *item_ids),
            ).rowcount

    # ---------------------------------------------------------------- the sender's results

    def begin_attempt(self, item: OutboxItem) -> bool:
        """Count an attempt before the item goes out, so that a change or withdrawal made
        while it is on its way knows it may have reached the endpoint (a new key for a new
        version; a withdrawal queued). False: the item was changed or withdrawn since it
        was read, so this version is not sent."""
        with self._database().write() as db:
            return (
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, updated_at = ? WHERE id = ? "
                    "AND idempotency_key = ? AND state = 'pending'",
                    (time.time(), item.id, item.idempotency_key),
                ).rowcount
                == 1
            )

    # The outcome of an attempt applies to the version that was sent (its key): one
    # changed meanwhile is the next thing to send, whatever became of the old one.

    def mark_sent(self, item: OutboxItem, status: int) -> None:
        now = time.time()
        with self._database().write() as db:
            db.execute(
                "UPDATE outbox SET state = 'sent', last_status = ?, last_error = NULL, "
                "sent_at = ?, updated_at = ? WHERE id = ? AND idempotency_key = ?",
                (status, now, now, item.id, item.idempotency_key),
            )

    def mark_retry(self, item: OutboxItem, error: str, status: int | None, at: float) -> None:
        with self._database().write() as db:
            db.execute(
                "UPDATE outbox SET last_error = ?, last_status = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE id = ? AND idempotency_key = ? AND state = 'pending'",
                (error, status, at, time.time(), item.id, item.idempotency_key),
            )

    def mark_held(self, item: OutboxItem, error: str, status: int | None) -> None:
        with self._database().write() as db:
            db.execute(
                "UPDATE outbox SET state = 'held', last_error = ?, last_status = ?, "
                "updated_at = ? WHERE id = ? AND idempotency_key = ? AND state = 'pending'",
                (error, status, time.time(), item.id, item.idempotency_key),
            )

    def postpone(self, item_ids: Sequence[int], at: float, reason: str) -> None:
        """Move pending items to ``at`` without counting an attempt."""
        if not item_ids:
            return
        marks = ", ".join("?" for _ in item_ids)
        with self._database().write() as db:
            db.execute(
                f"UPDATE outbox SET next_attempt_at = max(next_attempt_at, ?), last_error = ?, "
                f"updated_at = ? WHERE id IN ({marks}) AND state = 'pending'",
                (at, reason, time.time(), *item_ids),
            )

    def hold(self, item_ids: Sequence[int], reason: str) -> None:
        """Hold pending items without counting an attempt (the endpoint refused the token)."""
        if not item_ids:
            return
        marks = ", ".join("?" for _ in item_ids)
        with self._database().write() as db:
            db.execute(
                f"UPDATE outbox SET state = 'held', last_error = ?, updated_at = ? "
                f"WHERE id IN ({marks}) AND state = 'pending'",
                (reason, time.time(), *item_ids),
            )

    def note(self, item_ids: Sequence[int], reason: str) -> None:
        """Say why pending items wait without counting an attempt (e.g. no API token yet)."""
        if not item_ids:
            return
        marks = ", ".join("?" for _ in item_ids)
        with self._database().write() as db:
            db.execute(
                f"UPDATE outbox SET last_error = ?, updated_at = ? WHERE id IN ({marks})",
                (reason, time.time(), *item_ids),
            )
