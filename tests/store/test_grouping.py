"""Sidebar headings by the user's local date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from desktop.store import ConversationSummary, Store, group_for_sidebar

PLUS_TWO = timezone(timedelta(hours=2))
# 01:00 on 15 March in UTC+2, which is still 14 March in UTC.
NOW = datetime(2026, 3, 15, 1, 0, tzinfo=PLUS_TWO)


def _summary(ident: int, updated: datetime, pinned: bool = False) -> ConversationSummary:
    return ConversationSummary(ident, f"c{ident}", updated.timestamp(), pinned, None)


def _layout(groups: list) -> list[tuple[str, str, list[int]]]:  # type: ignore[type-arg]
    return [(g.key, g.label, [c.id for c in g.conversations]) for g in groups]


def test_headings_follow_the_local_calendar() -> None:
    local = NOW.tzinfo
    conversations = [
        _summary(1, datetime(2026, 3, 15, 0, 30, tzinfo=local)),  # 14 March in UTC
        _summary(2, datetime(2026, 3, 14, 23, 30, tzinfo=local)),
        _summary(3, datetime(2026, 3, 10, 12, 0, tzinfo=local)),
        _summary(4, datetime(2026, 3, 1, 12, 0, tzinfo=local)),
        _summary(5, datetime(2026, 2, 20, 12, 0, tzinfo=local)),
        _summary(6, datetime(2026, 1, 20, 12, 0, tzinfo=local)),
        _summary(7, datetime(2025, 12, 24, 12, 0, tzinfo=local)),
        _summary(8, datetime(2025, 12, 1, 12, 0, tzinfo=local)),
    ]
    assert _layout(group_for_sidebar(conversations, NOW)) == [
        ("today", "Today", [1]),
        ("yesterday", "Yesterday", [2]),
        ("previous_7_days", "Previous 7 days", [3]),
        ("previous_30_days", "Previous 30 days", [4, 5]),
        ("2026-01", "January", [6]),
        ("2025-12", "December 2025", [7, 8]),
    ]


def test_pinned_come_first_and_a_clock_ahead_counts_as_today() -> None:
    conversations = [
        _summary(1, NOW - timedelta(days=400), pinned=True),
        _summary(2, NOW + timedelta(days=3)),
        _summary(3, NOW - timedelta(days=2)),
    ]
    assert _layout(group_for_sidebar(conversations, NOW)) == [
        ("pinned", "Pinned", [1]),
        ("today", "Today", [2]),
        ("previous_7_days", "Previous 7 days", [3]),
    ]


def test_grouping_a_store_listing(store: Store) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b", created_at=datetime(2020, 5, 1, tzinfo=UTC))
    store.set_pinned(b.id, True)
    groups = group_for_sidebar(store.list_conversations())
    assert [(g.key, [c.id for c in g.conversations]) for g in groups] == [
        ("pinned", [b.id]),
        ("today", [a.id]),
    ]
    assert group_for_sidebar([]) == []
