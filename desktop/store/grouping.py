"""The sidebar's headings: Pinned, Today, Yesterday, Previous 7 days, Previous 30 days, then one
per month ("March", or "March 2024" for earlier years), in the user's local time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

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


def _bucket(day: date, today: date) -> tuple[str, str]:
    age = (today - day).days
    if age <= 0:  # today, or a clock that was ahead
        return "today", "Today"
    if age == 1:
        return "yesterday", "Yesterday"
    if age <= 7:
        return "previous_7_days", "Previous 7 days"
    if age <= 30:
        return "previous_30_days", "Previous 30 days"
    label = _MONTHS[day.month - 1]
    if day.year != today.year:
        label = f"{label} {day.year}"
    return f"{day.year:04d}-{day.month:02d}", label


def group_for_sidebar(
    conversations: Iterable[ConversationSummary], now: datetime | None = None
) -> list[SidebarGroup]:
    """Group conversations under date headings by their last activity, pinned ones first.
    Order within a group is kept as given (the store lists most recent first).
    ``now`` defaults to the current local time; an aware ``now`` picks the time zone."""
    now = (now or datetime.now()).astimezone()
    today = now.date()
    tz = now.tzinfo
    pinned: list[ConversationSummary] = []
    groups: dict[str, tuple[str, list[ConversationSummary]]] = {}
    for conversation in conversations:
        if conversation.pinned:
            pinned.append(conversation)
            continue
        key, label = _bucket(conversation.updated_at.astimezone(tz).date(), today)
        groups.setdefault(key, (label, []))[1].append(conversation)
    result = [SidebarGroup("pinned", "Pinned", tuple(pinned))] if pinned else []
    # Dated keys sort newest first after the relative ones; relative ones in their own order.
    relative = ["today", "yesterday", "previous_7_days", "previous_30_days"]
    for key in relative:
        if key in groups:
            label, items = groups.pop(key)
            result.append(SidebarGroup(key, label, tuple(items)))
    for key in sorted(groups, reverse=True):
        label, items = groups[key]
        result.append(SidebarGroup(key, label, tuple(items)))
    return result
