"""Validators for the export formats (see :mod:`desktop.feedback.export`).

Each reads a file and returns its records, or raises :class:`ExportFormatError` naming the line
(or array entry) and what is wrong. They check what a consumer relies on, independently of the
exporter: a trainer reading the DPO file, a tool reading ``message_feedback.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop.feedback.records import CATEGORY_KEYS, REASONS

ROLES = ("system", "user", "assistant", "tool")


class ExportFormatError(ValueError):
    def __init__(self, path: Path, where: str, reason: str) -> None:
        super().__init__(f"{path}: {where}: {reason}")
        self.where = where
        self.reason = reason


Record = dict[str, Any]


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise ValueError(reason)


def _keys(
    row: Mapping[str, Any], required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> None:
    missing = required - row.keys()
    _require(not missing, f"missing {', '.join(sorted(missing))}")
    extra = row.keys() - required - optional
    _require(not extra, f"unexpected {', '.join(sorted(extra))}")


def _chat(value: Any, name: str, *, last_role: str | None = None) -> None:
    _require(isinstance(value, list) and len(value) > 0, f"{name} must be a non-empty list")
    for n, message in enumerate(value):
        _require(isinstance(message, dict), f"{name}[{n}] must be an object")
        _keys(message, {"role", "content"})
        _require(message["role"] in ROLES, f"{name}[{n}].role {message['role']!r} is unknown")
        _require(isinstance(message["content"], str), f"{name}[{n}].content must be text")
    if last_role is not None:
        _require(value[-1]["role"] == last_role, f"{name} must end with a {last_role} message")


def _timestamp(value: Any, name: str) -> None:
    _require(isinstance(value, str), f"{name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 time") from None
    _require(moment.tzinfo is not None, f"{name} must include the time zone")


def check_dpo(row: Record) -> None:
    _keys(row, {"prompt", "chosen", "rejected"}, {"meta"})
    _chat(row["prompt"], "prompt", last_role="user")
    for side in ("chosen", "rejected"):
        _chat(row[side], side)
        _require(
            len(row[side]) == 1 and row[side][0]["role"] == "assistant",
            f"{side} must be one assistant message",
        )
    _require(row["chosen"] != row["rejected"], "chosen and rejected are the same")
    _require(isinstance(row.get("meta", {}), dict), "meta must be an object")


def check_sft(row: Record) -> None:
    _keys(row, {"messages"}, {"meta"})
    _chat(row["messages"], "messages", last_role="assistant")
    _require(any(m["role"] == "user" for m in row["messages"]), "messages has no user message")


def check_rating(row: Record) -> None:
    _keys(
        row,
        {
            "id",
            "kind",
            "rating",
            "reasons",
            "comment",
            "ideal_answer",
            "category",
            "prompt",
            "response",
            "model",
            "params",
            "conversation_id",
            "message_id",
            "revision",
            "created_at",
            "updated_at",
        },
    )
    _require(row["kind"] in ("rating", "false_positive", "false_negative"), f"kind {row['kind']!r}")
    if row["kind"] == "rating":
        _require(row["rating"] in (1, -1), "rating must be 1 or -1")
    else:
        _require(row["rating"] is None, "a filter report has no rating")
        _require(row["category"] in CATEGORY_KEYS, f"category {row['category']!r} is unknown")
    _require(
        isinstance(row["reasons"], list) and all(r in REASONS for r in row["reasons"]),
        "reasons must be known reason keys",
    )
    for name in ("id", "comment", "conversation_id", "message_id"):
        _require(isinstance(row[name], str), f"{name} must be text")
    # null: a report on the user's own message, the last turn of the prompt (never a rating)
    _require(
        isinstance(row["response"], str) or (row["response"] is None and row["kind"] != "rating"),
        "response must be text (null only for a report on the user's message)",
    )
    _require(row["ideal_answer"] is None or isinstance(row["ideal_answer"], str), "ideal_answer")
    _require(isinstance(row["prompt"], list), "prompt must be a list")
    if row["prompt"]:
        _chat(row["prompt"], "prompt")
    _require(row["params"] is None or isinstance(row["params"], dict), "params must be an object")
    _require(isinstance(row["revision"], int) and row["revision"] >= 1, "revision must be >= 1")
    _timestamp(row["created_at"], "created_at")
    _timestamp(row["updated_at"], "updated_at")


def check_chatgpt_entry(row: Record) -> None:
    _keys(
        row,
        {"id", "message_id", "conversation_id", "user_id", "rating", "content"},
        {"create_time", "update_time", "workspace_id", "storage_protocol"},
    )
    _require(row["rating"] in ("thumbsUp", "thumbsDown"), f"rating {row['rating']!r}")
    for name in ("id", "message_id", "conversation_id", "user_id", "content"):
        _require(isinstance(row[name], str), f"{name} must be text")
    try:
        content = json.loads(row["content"])
    except json.JSONDecodeError:
        raise ValueError("content must be a JSON document in a string") from None
    _require(isinstance(content, dict), "content must hold a JSON object")
    tags = content.get("tags", [])
    _require(isinstance(tags, list) and all(isinstance(t, str) for t in tags), "content.tags")
    _require(isinstance(content.get("text", ""), str), "content.text must be text")


def read_jsonl(path: Path, check: Callable[[Record], None]) -> list[Record]:
    rows: list[Record] = []
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            where = f"line {number}"
            if not line.endswith("\n"):
                raise ExportFormatError(path, where, "the file does not end with a newline")
            try:
                row = json.loads(line)
                _require(isinstance(row, dict), "must be a JSON object")
                check(row)
            except (json.JSONDecodeError, ValueError) as error:
                raise ExportFormatError(path, where, str(error)) from None
            rows.append(row)
    return rows


def validate_dpo(path: Path) -> list[Record]:
    return read_jsonl(path, check_dpo)


def validate_sft(path: Path) -> list[Record]:
    return read_jsonl(path, check_sft)


def validate_ratings(path: Path) -> list[Record]:
    return read_jsonl(path, check_rating)


def validate_chatgpt(path: Path) -> list[Record]:
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ExportFormatError(path, "document", f"not JSON ({error})") from None
    if not isinstance(entries, list):
        raise ExportFormatError(path, "document", "must be a JSON array")
    for n, entry in enumerate(entries):
        try:
            _require(isinstance(entry, dict), "must be an object")
            check_chatgpt_entry(entry)
        except ValueError as error:
            raise ExportFormatError(path, f"entry {n}", str(error)) from None
    return list(entries)


VALIDATORS: Mapping[str, Callable[[Path], list[Record]]] = {
    "dpo": validate_dpo,
    "sft": validate_sft,
    "ratings": validate_ratings,
    "chatgpt": validate_chatgpt,
}
