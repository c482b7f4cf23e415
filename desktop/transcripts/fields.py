"""Typed reading of untrusted JSON values, with errors that say where in the file."""

from __future__ import annotations

from typing import Any, NoReturn

from desktop.store.models import JSONObject
from desktop.store.schema import ROLES, STATUSES
from desktop.store.transcripts import TreeMessage
from desktop.transcripts.errors import TranscriptError

MAX_UID = 200
MAX_TITLE = 1000


class Fields:
    """Accessors for one file: each raises :class:`TranscriptError` naming the file, the
    place (e.g. ``conversation 3, message 'abc'``) and what is wrong."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, what: str) -> NoReturn:
        place = f"{self.name}, {where}" if where else self.name
        raise TranscriptError(f"{place}: {what}; nothing was imported")

    def object(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, found {_kind(value)}")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(where, f"expected an array, found {_kind(value)}")
        return value

    def text(self, data: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str):
            self.fail(where, f"'{key}' must be a string, found {_kind(value)}")
        return value

    def optional_text(self, data: dict[str, Any], key: str, where: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(where, f"'{key}' must be a string or null, found {_kind(value)}")
        return value

    def uid(self, data: dict[str, Any], key: str, where: str) -> str:
        value = self.text(data, key, where)
        if not value or len(value) > MAX_UID:
            self.fail(where, f"'{key}' must be 1 to {MAX_UID} characters")
        return value

    def optional_uid(self, data: dict[str, Any], key: str, where: str) -> str | None:
        if data.get(key) is None:
            return None
        return self.uid(data, key, where)

    def number(self, data: dict[str, Any], key: str, where: str, default: float) -> float:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, f"'{key}' must be a number, found {_kind(value)}")
        if not 0 <= value < 1e11:  # Unix seconds up to the year 5138
            self.fail(where, f"'{key}' is not a plausible time ({value})")
        return float(value)

    def flag(self, data: dict[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.fail(where, f"'{key}' must be true or false, found {_kind(value)}")
        return value

    def optional_object(self, data: dict[str, Any], key: str, where: str) -> JSONObject | None:
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            self.fail(where, f"'{key}' must be an object or null, found {_kind(value)}")
        return value

    def role(self, data: dict[str, Any], key: str, where: str) -> Any:
        value = self.text(data, key, where)
        if value not in ROLES:
            self.fail(where, f"'{key}' must be one of {', '.join(ROLES)}, not {value[:20]!r}")
        return value

    def status(self, data: dict[str, Any], key: str, where: str) -> Any:
        value = self.text(data, key, where, "complete")
        if value not in STATUSES:
            self.fail(where, f"'{key}' must be one of {', '.join(STATUSES)}, not {value[:20]!r}")
        return value

    def rating(self, data: dict[str, Any], key: str, where: str, role: str) -> JSONObject | None:
        """A message's rating (see ``TreeMessage.rating``), checked field by field."""
        raw = self.optional_object(data, key, where)
        if raw is None:
            return None
        spot = f"{where}, '{key}'"
        if role != "assistant":
            self.fail(spot, "only answers (assistant messages) can be rated")
        value = raw.get("rating")
        if value not in (1, -1) or isinstance(value, bool):
            self.fail(spot, "'rating' must be 1 or -1")
        reasons = self.array(raw.get("reasons", []), f"{spot}, 'reasons'")
        if len(reasons) > 50 or not all(isinstance(r, str) and len(r) <= 100 for r in reasons):
            self.fail(spot, "'reasons' must be at most 50 short strings")
        created = self.number(raw, "created_at", spot, 0.0)
        return {
            "uid": self.uid(raw, "uid", spot),
            "rating": value,
            "reasons": reasons,
            "comment": self.text(raw, "comment", spot, ""),
            "ideal_answer": self.optional_text(raw, "ideal_answer", spot),
            "context": self.optional_object(raw, "context", spot) or {},
            "created_at": created,
            "updated_at": self.number(raw, "updated_at", spot, created),
        }


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def order_tree(messages: list[TreeMessage], fields: Fields, where: str) -> tuple[TreeMessage, ...]:
    """``messages`` parents first (depth-first, siblings in the given order), checking that
    uids are unique, parents exist and the parent links have no cycle. Iterative."""
    by_uid: dict[str, TreeMessage] = {}
    children: dict[str | None, list[TreeMessage]] = {}
    rating_uids: set[str] = set()
    for message in messages:
        if message.uid in by_uid:
            fields.fail(where, f"message {message.uid!r} appears twice")
        by_uid[message.uid] = message
        if message.rating is not None:
            if message.rating["uid"] in rating_uids:
                fields.fail(where, f"rating {message.rating['uid']!r} appears twice")
            rating_uids.add(message.rating["uid"])
    for message in messages:
        if message.parent_uid is not None and message.parent_uid not in by_uid:
            fields.fail(
                where, f"message {message.uid!r} refers to a missing parent {message.parent_uid!r}"
            )
        children.setdefault(message.parent_uid, []).append(message)
    ordered: list[TreeMessage] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        message = stack.pop()
        ordered.append(message)
        stack.extend(reversed(children.get(message.uid, [])))
    if len(ordered) != len(messages):
        reached = {m.uid for m in ordered}
        stuck = next(m.uid for m in messages if m.uid not in reached)
        fields.fail(where, f"the parent links form a cycle (through message {stuck!r})")
    return tuple(ordered)
