"""The sidebar's headings: Pinned, Today, Yesterday, Previous 7 days, Previous 30 days, then one
per month ("March", or "March 2024" for earlier years), by the user's local calendar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo

from desktop.store.models import ConversationSummary, SidebarGroup

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RELATIVE = (
    ("today", "Today", 0),
    ("yesterday", "Yesterday", 1),
    ("previous_7_days", "Previous 7 days", 7),
    ("previous_30_days", "Previous 30 days", 30),
)


def _midnight(day: date, tz: tzinfo | None) -> float:
    # A naive datetime's timestamp() follows the system's rules, daylight saving included.
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _heading(
    moment: float, starts: list[tuple[float, str, str]], today: date, tz: tzinfo | None
) -> tuple[str, str]:
    for start, key, label in starts:
        if moment >= start:  # a clock that was ahead counts as today
            return key, label
    day = datetime.fromtimestamp(moment, tz).date()
    label = _MONTHS[day.month - 1]
    if day.year != today.year:
        label = f"{label} {day.year}"
    return f"{day.year:04d}-{day.month:02d}", label


def group_for_sidebar(
    conversations: Iterable[ConversationSummary], now: datetime | None = None
) -> list[SidebarGroup]:
    """Group conversations under headings by their last activity, pinned ones first; the
    order within a group is kept (the store lists the most recent first). ``now`` defaults
    to the current local time; an aware ``now`` sets the time zone to group in."""
    now = now or datetime.now()
    tz = now.tzinfo
    today = now.date()
    # A conversation belongs to the first heading whose start it is not older than.
    starts = [
        (_midnight(today - timedelta(days=days), tz), key, label) for key, label, days in _RELATIVE
    ]
    pinned: list[ConversationSummary] = []
    groups: dict[str, tuple[str, list[ConversationSummary]]] = {}
    for conversation in conversations:
        if conversation.pinned:
            pinned.append(conversation)
            continue
        key, label = _heading(conversation.updated_ts, starts, today, tz)
        groups.setdefault(key, (label, []))[1].append(conversation)
    result = [SidebarGroup("pinned", "Pinned", tuple(pinned))] if pinned else []
    ordered = [key for key, _, _ in _RELATIVE if key in groups]
    ordered += sorted((key for key in groups if key not in ordered), reverse=True)
    for key in ordered:
        label, items = groups[key]
        result.append(SidebarGroup(key, label, tuple(items)))
    return result
