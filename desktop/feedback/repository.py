"""Feedback, comparisons and content-filter events, stored next to the chat history.

:class:`FeedbackStore` works beside a :class:`~desktop.store.Store` on the same SQLite file
(migration step 2 created its tables). Each record is linked to its message and keeps a snapshot
of what produced it (model, sampling parameters, system prompt, the turns before it), so an
export still says what was rated after the conversation changed. Deleting a conversation
deletes its feedback (foreign keys cascade).

Use it from one thread (the GUI thread in the app), like the store.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from desktop.feedback.db import Database
from desktop.feedback.outbox import Outbox
from desktop.feedback.records import (
    CATEGORY_KEYS,
    REASONS,
    THUMBS_UP,
    ComparisonItem,
    ComparisonRecord,
    Context,
    FeedbackDraft,
    FeedbackEntry,
    FeedbackKind,
    FeedbackRecord,
    ModerationEvent,
    ModerationResult,
    Turn,
    category_label,
)
from desktop.store import Message, NotFoundError, Store

_FEEDBACK_COLUMNS = (
    "f.id, f.uid, f.message_id, m.uid, c.uid, f.kind, f.rating, f.reasons, f.comment, "
    "f.ideal_answer, f.category, f.moderation_event_id, f.context, "
    "CASE WHEN m.role = 'assistant' THEN m.content END, f.revision, "
    "f.created_at, f.updated_at, f.withdrawn_at"
)
_FEEDBACK_FROM = (
    "feedback f JOIN messages m ON m.id = f.message_id "
    "JOIN conversations c ON c.id = m.conversation_id"
)
_EVENT_COLUMNS = "id, message_id, source, filter, category, action, score, evidence, created_at"


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _maybe_dt(timestamp: object) -> datetime | None:
    return None if timestamp is None else _dt(float(cast(float, timestamp)))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _feedback(row: Sequence[Any]) -> FeedbackRecord:
    context = Context.from_json(json.loads(row[12]))
    return FeedbackRecord(
        id=row[0],
        uid=row[1],
        message_id=row[2],
        message_uid=row[3],
        conversation_uid=row[4],
        kind=row[5],
        rating=row[6],
        reasons=tuple(json.loads(row[7])),
        comment=row[8],
        ideal_answer=row[9],
        category=row[10],
        moderation_event_id=row[11],
        context=context,
        response=context.response if context.response is not None else row[13],
        revision=row[14],
        created_at=_dt(row[15]),
        updated_at=_dt(row[16]),
        withdrawn_at=_maybe_dt(row[17]),
    )


def _event(row: Sequence[Any]) -> ModerationEvent:
    return ModerationEvent(
        id=row[0],
        message_id=row[1],
        source=row[2],
        filter=row[3],
        category=row[4],
        action=row[5],
        score=row[6],
        evidence=row[7],
        created_at=_dt(row[8]),
    )


def _feedback_summary(
    kind: FeedbackKind, rating: int | None, reasons: Sequence[str], category: str | None
) -> str:
    """A feedback record in words, as "Your feedback" lists it."""
    if kind == "rating":
        head = "Good" if rating == THUMBS_UP else "Bad"
        labels = [REASONS[key].label.lower() if key in REASONS else key for key in reasons]
        return f"{head}: {', '.join(labels)}" if labels else head
    label = category_label(category or "")
    if kind == "false_positive":
        return f"Wrongly flagged: {label}"
    return f"Should have been flagged: {label}"


def _clean_ideal(ideal: str | None, original: str) -> str | None:
    """An ideal answer the user left empty or unchanged is no ideal answer."""
    if ideal is None or not ideal.strip() or ideal.strip() == original.strip():
        return None
    return ideal


class FeedbackStore:
    """Feedback records in the history database of ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._database = Database(store.path)
        self.outbox = Outbox(self.database)

    def database(self) -> Database:
        """The connection, reopened when the history was moved (``Store.move_to``)."""
        if self._database.path != self._store.path:
            self._database.close()
            self._database = Database(self._store.path)
        return self._database

    @property
    def store(self) -> Store:
        return self._store

    @property
    def path(self) -> Path:
        return self._store.path

    def close(self) -> None:
        self._database.close()

    # ---------------------------------------------------------------- context

    def context_for(self, message_id: int) -> Context:
        """What the model saw when it wrote ``message_id``: the conversation's system prompt
        and the turns of its branch before it (as the chat session sends them: failed and empty
        answers and what the content filter blocked left out), plus the model and parameters
        recorded on the message."""
        message = self._store.get_message(message_id)
        conversation = self._store.get_conversation(message.conversation_id)
        before = self._store.path_to(message.parent_id) if message.parent_id is not None else []
        if message.role != "assistant":
            # a report on the user's own message ("should have been flagged"): it is the last
            # turn of the prompt, and there is no answer to speak of
            turns = [*self._unblocked(before), message]
            return self._context(message, conversation.system_prompt, turns)
        context = self._context(message, conversation.system_prompt, self._unblocked(before))
        return dataclasses.replace(context, response=message.content)

    def _unblocked(self, messages: list[Message]) -> list[Message]:
        """``messages`` less those the content filter blocked (the model never saw them)."""
        blocked = self.blocked_among([m.id for m in messages])
        return [m for m in messages if m.id not in blocked]

    @staticmethod
    def _context(message: Message, system_prompt: str | None, before: list[Message]) -> Context:
        """``system_prompt`` is the conversation's current one; the one recorded with the
        message when it was generated wins (the chat's prompt may have changed since)."""
        params = dict(message.params) if message.params is not None else None
        if params is not None and "system_prompt" in params:
            recorded = params.pop("system_prompt")
            system_prompt = recorded if isinstance(recorded, str) and recorded else None
        turns: list[Turn] = []
        if system_prompt:
            turns.append(Turn("system", system_prompt))
        for m in before:
            if m.role == "assistant" and (not m.content or m.status == "error"):
                continue
            turns.append(Turn(m.role, m.content))
        return Context(message.model, params, system_prompt, tuple(turns))

    # ---------------------------------------------------------------- ratings

    def rate(self, message_id: int, draft: FeedbackDraft) -> FeedbackRecord:
        """Save a thumbs up / down with its reasons, comment and ideal answer. A message has one
        rating: rating it again changes it (and brings a withdrawn one back)."""
        if draft.rating not in (1, -1):
            raise ValueError(f"a rating is 1 or -1, not {draft.rating!r}")
        unknown = [r for r in draft.reasons if r not in REASONS]
        if unknown:
            raise ValueError(f"unknown feedback reasons: {', '.join(unknown)}")
        message = self._store.get_message(message_id)
        if message.role != "assistant":
            raise ValueError(f"message {message_id} is a {message.role} message; rate answers")
        context = self.context_for(message_id)
        ideal = _clean_ideal(draft.ideal_answer, message.content)
        now = time.time()
        with self.database().write() as db:
            db.execute(
                """INSERT INTO feedback (uid, message_id, kind, rating, reasons, comment,
                       ideal_answer, context, created_at, updated_at)
                   VALUES (?, ?, 'rating', ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (message_id) WHERE kind = 'rating' DO UPDATE SET
                       rating = excluded.rating, reasons = excluded.reasons,
                       comment = excluded.comment, ideal_answer = excluded.ideal_answer,
                       context = excluded.context, updated_at = excluded.updated_at,
                       revision = revision + 1, withdrawn_at = NULL""",
                (
                    uuid.uuid4().hex,
                    message_id,
                    draft.rating,
                    _json(list(dict.fromkeys(draft.reasons))),
                    draft.comment,
                    ideal,
                    _json(context.to_json()),
                    now,
                    now,
                ),
            )
        record = self.rating_for(message_id, include_withdrawn=True)
        assert record is not None
        return record

    def rating_for(
        self, message_id: int, *, include_withdrawn: bool = False
    ) -> FeedbackRecord | None:
        """The message's rating (``None`` if it has none, or it was withdrawn)."""
        where = "f.message_id = ? AND f.kind = 'rating'"
        if not include_withdrawn:
            where += " AND f.withdrawn_at IS NULL"
        rows = self.database().query(
            f"SELECT {_FEEDBACK_COLUMNS} FROM {_FEEDBACK_FROM} WHERE {where}", (message_id,)
        )
        return _feedback(rows[0]) if rows else None

    def ratings_for(self, message_ids: Sequence[int]) -> dict[int, int]:
        """``{message_id: rating}`` for the active ratings among ``message_ids`` (the thumbs
        state of the messages on screen, in one query)."""
        if not message_ids:
            return {}
        marks = ", ".join("?" for _ in message_ids)
        rows = self.database().query(
            f"SELECT message_id, rating FROM feedback WHERE kind = 'rating' "
            f"AND withdrawn_at IS NULL AND message_id IN ({marks})",
            tuple(message_ids),
        )
        return {cast(int, m): cast(int, r) for m, r in rows}

    def get_feedback(self, feedback_id: int) -> FeedbackRecord:
        rows = self.database().query(
            f"SELECT {_FEEDBACK_COLUMNS} FROM {_FEEDBACK_FROM} WHERE f.id = ?", (feedback_id,)
        )
        if not rows:
            raise NotFoundError(f"no feedback {feedback_id}")
        return _feedback(rows[0])

    def withdraw(self, feedback_id: int) -> FeedbackRecord:
        """Take feedback back. It leaves exports at once; if it was queued but not sent yet it
        leaves the outbox, and if it was already sent a withdrawal is queued."""
        now = time.time()
        with self.database().write() as db:
            cursor = db.execute(
                "UPDATE feedback SET withdrawn_at = ?, updated_at = ?, revision = revision + 1 "
                "WHERE id = ? AND withdrawn_at IS NULL",
                (now, now, feedback_id),
            )
            if cursor.rowcount != 1:
                self.get_feedback(feedback_id)  # NotFoundError when it does not exist
        record = self.get_feedback(feedback_id)
        self.outbox.record_withdrawn("feedback", record.uid, feedback_id=feedback_id)
        return record

    # ---------------------------------------------------------------- content-filter reports

    def record_moderation(self, message_id: int, result: ModerationResult) -> list[ModerationEvent]:
        """Store what the filter found on a message (every flag, also the allowed ones, so a
        later change of actions can be judged against them)."""
        self._store.get_message(message_id)
        now = time.time()
        with self.database().write() as db:
            for flag in result.flags:
                db.execute(
                    "INSERT INTO moderation_events (message_id, source, filter, category, action, "
                    "score, evidence, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        message_id,
                        result.source,
                        flag.filter,
                        flag.category,
                        flag.action,
                        flag.score,
                        flag.evidence,
                        now,
                    ),
                )
        return self.moderation_events(message_id)

    def moderation_events(self, message_id: int) -> list[ModerationEvent]:
        rows = self.database().query(
            f"SELECT {_EVENT_COLUMNS} FROM moderation_events WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
        return [_event(r) for r in rows]

    def blocked_among(self, message_ids: Sequence[int]) -> set[int]:
        """The messages of ``message_ids`` the content filter blocked: kept in the history
        and on screen, never sent to the model, then or as the context of a later turn."""
        events = self.moderation_for(message_ids)
        return {m for m, found in events.items() if any(e.action == "block" for e in found)}

    def moderation_for(self, message_ids: Sequence[int]) -> dict[int, list[ModerationEvent]]:
        """The events of several messages at once (the banners of the messages on screen)."""
        if not message_ids:
            return {}
        marks = ", ".join("?" for _ in message_ids)
        rows = self.database().query(
            f"SELECT {_EVENT_COLUMNS} FROM moderation_events WHERE message_id IN ({marks}) "
            "ORDER BY id",
            tuple(message_ids),
        )
        found: dict[int, list[ModerationEvent]] = {}
        for row in rows:
            event = _event(row)
            found.setdefault(event.message_id, []).append(event)
        return found

    def moderation_event(self, moderation_event_id: int) -> ModerationEvent:
        rows = self.database().query(
            f"SELECT {_EVENT_COLUMNS} FROM moderation_events WHERE id = ?", (moderation_event_id,)
        )
        if not rows:
            raise NotFoundError(f"no moderation event {moderation_event_id}")
        return _event(rows[0])

    def report_false_positive(self, moderation_event_id: int, comment: str = "") -> FeedbackRecord:
        """ "This was wrongly flagged": the filter's event on a message was a mistake."""
        event = self.moderation_event(moderation_event_id)
        return self._report(
            event.message_id, "false_positive", event.category, comment, moderation_event_id
        )

    def report_false_negative(
        self, message_id: int, category: str, comment: str = ""
    ) -> FeedbackRecord:
        """ "This should have been flagged" as ``category``."""
        if category not in CATEGORY_KEYS:
            raise ValueError(f"unknown content-filter category {category!r}")
        return self._report(message_id, "false_negative", category, comment, None)

    def _report(
        self,
        message_id: int,
        kind: FeedbackKind,
        category: str,
        comment: str,
        event_id: int | None,
    ) -> FeedbackRecord:
        context = self.context_for(message_id)
        now = time.time()
        with self.database().write() as db:
            cursor = db.execute(
                "INSERT INTO feedback (uid, message_id, kind, category, comment, "
                "moderation_event_id, context, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    message_id,
                    kind,
                    category,
                    comment,
                    event_id,
                    _json(context.to_json()),
                    now,
                    now,
                ),
            )
            feedback_id = cast(int, cursor.lastrowid)
        return self.get_feedback(feedback_id)

    def filter_reports(self, message_id: int) -> list[FeedbackRecord]:
        rows = self.database().query(
            f"SELECT {_FEEDBACK_COLUMNS} FROM {_FEEDBACK_FROM} WHERE f.message_id = ? "
            "AND f.kind != 'rating' AND f.withdrawn_at IS NULL ORDER BY f.id",
            (message_id,),
        )
        return [_feedback(r) for r in rows]

    # ---------------------------------------------------------------- comparisons

    def record_comparison(
        self,
        message_ids: Sequence[int],
        ranking: Sequence[int] | None,
        *,
        comment: str = "",
        switch_branch: bool = True,
    ) -> ComparisonRecord:
        """Rank 2 to 4 alternative answers to the same prompt. ``message_ids`` in the order shown;
        ``ranking`` is the same ids best first, or ``None`` for "all bad". The best one becomes
        the branch shown (``switch_branch``). It replaces earlier rankings of two or more of
        these answers."""
        ids = list(message_ids)
        if not 2 <= len(ids) <= 4 or len(set(ids)) != len(ids):
            raise ValueError("a comparison ranks 2 to 4 different answers")
        if ranking is not None and sorted(ranking) != sorted(ids):
            raise ValueError("the ranking must order exactly the answers compared")
        messages = [self._store.get_message(i) for i in ids]
        parents = {(m.conversation_id, m.parent_id) for m in messages}
        if len(parents) != 1 or any(m.role != "assistant" for m in messages):
            raise ValueError("compared messages must be answers to the same prompt")
        conversation_id, parent_id = parents.pop()
        conversation = self._store.get_conversation(conversation_id)
        before = self._store.path_to(parent_id) if parent_id is not None else []
        context = self._context(messages[0], conversation.system_prompt, self._unblocked(before))
        shared = context.to_json()
        shared.pop("model")
        shared.pop("params")
        rank_of = {m: n + 1 for n, m in enumerate(ranking)} if ranking is not None else {}
        chosen = ranking[0] if ranking else None
        # An earlier ranking that judged two or more of these answers is the user's old view
        # of them: it is withdrawn (and a withdrawal sent where it left), or the two would
        # stand side by side in the exports and on the endpoint, contradicting each other.
        # One that shares a single answer (the alternatives of the best answer, ranked in
        # their turn) judged no pair judged here: its preferences stand.
        marks = ", ".join("?" for _ in ids)
        for (earlier,) in self.database().query(
            "SELECT k.id FROM comparisons k JOIN comparison_items i "
            "ON i.comparison_id = k.id WHERE k.withdrawn_at IS NULL "
            f"AND i.message_id IN ({marks}) GROUP BY k.id HAVING count(*) >= 2",
            tuple(ids),
        ):
            self.withdraw_comparison(cast(int, earlier))
        now = time.time()
        with self.database().write() as db:
            cursor = db.execute(
                "INSERT INTO comparisons (uid, conversation_id, parent_id, all_bad, chosen_id, "
                "comment, context, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uuid.uuid4().hex,
                    conversation_id,
                    parent_id,
                    int(ranking is None),
                    chosen,
                    comment,
                    _json(shared),
                    now,
                    now,
                ),
            )
            comparison_id = cast(int, cursor.lastrowid)
            db.executemany(
                "INSERT INTO comparison_items (comparison_id, message_id, position, rank) "
                "VALUES (?, ?, ?, ?)",
                [(comparison_id, m, n, rank_of.get(m)) for n, m in enumerate(ids)],
            )
        if chosen is not None and switch_branch:
            self._store.switch_branch(chosen)
        return self.get_comparison(comparison_id)

    def get_comparison(self, comparison_id: int) -> ComparisonRecord:
        rows = self.database().query(
            "SELECT k.id, k.uid, k.conversation_id, c.uid, k.parent_id, k.all_bad, k.chosen_id, "
            "k.comment, k.context, k.revision, k.created_at, k.updated_at, k.withdrawn_at "
            "FROM comparisons k JOIN conversations c ON c.id = k.conversation_id WHERE k.id = ?",
            (comparison_id,),
        )
        if not rows:
            raise NotFoundError(f"no comparison {comparison_id}")
        row = cast(Sequence[Any], rows[0])
        items = [
            ComparisonItem(
                message_id=r[0],
                message_uid=r[1],
                content=r[2],
                model=r[3],
                params=json.loads(r[4]) if r[4] is not None else None,
                position=r[5],
                rank=r[6],
            )
            for r in cast(
                list[Sequence[Any]],
                self.database().query(
                    "SELECT m.id, m.uid, m.content, m.model, m.params, i.position, i.rank "
                    "FROM comparison_items i JOIN messages m ON m.id = i.message_id "
                    "WHERE i.comparison_id = ? ORDER BY i.position",
                    (comparison_id,),
                ),
            )
        ]
        return ComparisonRecord(
            id=row[0],
            uid=row[1],
            conversation_id=row[2],
            conversation_uid=row[3],
            parent_id=row[4],
            all_bad=bool(row[5]),
            chosen_id=row[6],
            comment=row[7],
            context=Context.from_json(json.loads(row[8])),
            items=tuple(items),
            revision=row[9],
            created_at=_dt(row[10]),
            updated_at=_dt(row[11]),
            withdrawn_at=_maybe_dt(row[12]),
        )

    def withdraw_comparison(self, comparison_id: int) -> ComparisonRecord:
        now = time.time()
        with self.database().write() as db:
            db.execute(
                "UPDATE comparisons SET withdrawn_at = ?, updated_at = ?, revision = revision + 1 "
                "WHERE id = ? AND withdrawn_at IS NULL",
                (now, now, comparison_id),
            )
        record = self.get_comparison(comparison_id)
        self.outbox.record_withdrawn("comparison", record.uid, comparison_id=comparison_id)
        return record

    # ---------------------------------------------------------------- listing (exports)

    def all_feedback(self, *, include_withdrawn: bool = False) -> Iterator[FeedbackRecord]:
        """Every feedback record of conversations not in the trash, oldest first."""
        where = "c.deleted_at IS NULL"
        if not include_withdrawn:
            where += " AND f.withdrawn_at IS NULL"
        rows = self.database().query(
            f"SELECT {_FEEDBACK_COLUMNS} FROM {_FEEDBACK_FROM} WHERE {where} ORDER BY f.id"
        )
        for row in rows:
            yield _feedback(row)

    def all_comparisons(self, *, include_withdrawn: bool = False) -> Iterator[ComparisonRecord]:
        where = "c.deleted_at IS NULL"
        if not include_withdrawn:
            where += " AND k.withdrawn_at IS NULL"
        rows = self.database().query(
            f"SELECT k.id FROM comparisons k JOIN conversations c ON c.id = k.conversation_id "
            f"WHERE {where} ORDER BY k.id"
        )
        for (comparison_id,) in rows:
            yield self.get_comparison(cast(int, comparison_id))

    def listing(self) -> list[FeedbackEntry]:
        """Every feedback record and ranking in force (not withdrawn, chat not in the trash),
        newest change first: what "Your feedback" lists."""
        entries: list[FeedbackEntry] = []
        outbox_state = (
            "(SELECT o.state FROM outbox o WHERE o.{column} = {table}.id ORDER BY o.id DESC "
            "LIMIT 1)"
        )
        for row in self.database().query(
            "SELECT f.id, f.kind, f.rating, f.reasons, f.category, f.comment, f.updated_at, "
            "m.id, c.id, c.title, " + outbox_state.format(column="feedback_id", table="f") + " "
            f"FROM {_FEEDBACK_FROM} "
            "WHERE f.withdrawn_at IS NULL AND c.deleted_at IS NULL"
        ):
            r = cast(Sequence[Any], row)
            kind = cast(FeedbackKind, r[1])
            entries.append(
                FeedbackEntry(
                    record="feedback",
                    record_id=r[0],
                    kind=kind,
                    conversation_id=r[8],
                    conversation_title=r[9],
                    message_id=r[7],
                    summary=_feedback_summary(kind, r[2], json.loads(r[3]), r[4]),
                    comment=r[5],
                    updated_at=_dt(r[6]),
                    sent=r[10],
                )
            )
        for row in self.database().query(
            "SELECT k.id, k.all_bad, k.comment, k.updated_at, c.id, c.title, "
            "(SELECT COUNT(*) FROM comparison_items i WHERE i.comparison_id = k.id), "
            "(SELECT i.message_id FROM comparison_items i WHERE i.comparison_id = k.id "
            " ORDER BY i.rank IS NULL, i.rank, i.position LIMIT 1), "
            + outbox_state.format(column="comparison_id", table="k")
            + " FROM comparisons k JOIN conversations c ON c.id = k.conversation_id "
            "WHERE k.withdrawn_at IS NULL AND c.deleted_at IS NULL"
        ):
            r = cast(Sequence[Any], row)
            if r[7] is None:  # every answer it ranked was deleted: nothing left to show
                continue
            entries.append(
                FeedbackEntry(
                    record="comparison",
                    record_id=r[0],
                    kind="comparison",
                    conversation_id=r[4],
                    conversation_title=r[5],
                    message_id=r[7],
                    summary=f"All {r[6]} answers bad" if r[1] else f"Ranked {r[6]} answers",
                    comment=r[2],
                    updated_at=_dt(r[3]),
                    sent=r[8],
                )
            )
        entries.sort(key=lambda e: e.updated_at, reverse=True)
        return entries

    def sibling_ratings(self) -> dict[tuple[int, int | None], list[FeedbackRecord]]:
        """Active ratings grouped by (conversation, parent message): answers to the same prompt."""
        groups: dict[tuple[int, int | None], list[FeedbackRecord]] = {}
        rows = self.database().query(
            f"SELECT m.conversation_id, m.parent_id, {_FEEDBACK_COLUMNS} FROM {_FEEDBACK_FROM} "
            "WHERE f.kind = 'rating' AND f.withdrawn_at IS NULL AND c.deleted_at IS NULL "
            "ORDER BY f.id"
        )
        for row in rows:
            key = (cast(int, row[0]), cast("int | None", row[1]))
            groups.setdefault(key, []).append(_feedback(row[2:]))
        return groups

    # ---------------------------------------------------------------- submission

    def queue_feedback(
        self, record: FeedbackRecord, payload: Mapping[str, Any], *, review: bool
    ) -> None:
        """Put (or replace) ``record``'s submission in the outbox."""
        self.outbox.put("feedback", record.uid, payload, review=review, feedback_id=record.id)

    def queue_comparison(
        self, record: ComparisonRecord, payload: Mapping[str, Any], *, review: bool
    ) -> None:
        self.outbox.put("comparison", record.uid, payload, review=review, comparison_id=record.id)
