"""What a submission sends: one JSON object per record, built from the stored record.

The same function builds what the preview shows and what is sent, so the user sees exactly the
bytes that leave the machine. ``context`` decides which conversation turns go along:

``conversation``  the system prompt and every turn before the rated answer
``turn``          only the last user message before it
"""

from __future__ import annotations

from typing import Any, Literal

from desktop.feedback.outbox import PAYLOAD_SCHEMA
from desktop.feedback.records import (
    REASONS,
    ComparisonRecord,
    Context,
    FeedbackRecord,
    Turn,
    category_label,
)

ContextMode = Literal["conversation", "turn"]
CONTEXT_MODES: tuple[ContextMode, ...] = ("conversation", "turn")


def prompt_turns(context: Context, mode: ContextMode) -> list[Turn]:
    turns = list(context.prompt)
    if mode == "turn":
        users = [t for t in turns if t.role == "user"]
        return users[-1:]
    return turns


def feedback_payload(record: FeedbackRecord, mode: ContextMode) -> dict[str, Any]:
    return {
        "schema": PAYLOAD_SCHEMA,
        "type": "feedback",
        "uid": record.uid,
        "revision": record.revision,
        "kind": record.kind,
        "rating": record.rating,
        "reasons": list(record.reasons),
        "comment": record.comment,
        "ideal_answer": record.ideal_answer,
        "category": record.category,
        "model": record.context.model,
        "params": record.context.params,
        "prompt": [t.to_json() for t in prompt_turns(record.context, mode)],
        "response": record.response,
        "conversation_uid": record.conversation_uid,
        "message_uid": record.message_uid,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def comparison_payload(record: ComparisonRecord, mode: ContextMode) -> dict[str, Any]:
    return {
        "schema": PAYLOAD_SCHEMA,
        "type": "comparison",
        "uid": record.uid,
        "revision": record.revision,
        "all_bad": record.all_bad,
        "comment": record.comment,
        "prompt": [t.to_json() for t in prompt_turns(record.context, mode)],
        "alternatives": [
            {
                "message_uid": item.message_uid,
                "content": item.content,
                "model": item.model,
                "params": item.params,
                "rank": item.rank,
            }
            for item in record.items
        ],
        "conversation_uid": record.conversation_uid,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def report_text(payload: dict[str, Any]) -> str:
    """A content-filter report in words: which way the filter erred, and on what."""
    category = category_label(str(payload.get("category") or ""))
    if payload.get("kind") == "false_positive":
        return f"wrongly flagged as {category}"
    return f"should have been flagged as {category}"


def describe_payload(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The payload as (label, text) lines for the preview: which turns, which answer, what
    rating. Every text field of the payload is listed; nothing is summarised away."""
    lines: list[tuple[str, str]] = []
    kind = payload.get("type")
    if kind == "withdrawal":
        return [("Withdraw", f"{payload.get('record_type')} {payload.get('uid')}")]
    for turn in payload.get("prompt", []):
        lines.append((str(turn.get("role", "")).capitalize(), str(turn.get("content", ""))))
    if kind == "feedback":
        if payload.get("response") is not None:  # a report on the user's message has none
            lines.append(("Answer", str(payload["response"])))
        if payload.get("rating") is not None:
            lines.append(("Rating", "thumbs up" if payload["rating"] == 1 else "thumbs down"))
        else:
            lines.append(("Report", report_text(payload)))
        if payload.get("reasons"):
            labels = [REASONS[r].label if r in REASONS else str(r) for r in payload["reasons"]]
            lines.append(("Reasons", ", ".join(labels)))
        if payload.get("comment"):
            lines.append(("Comment", str(payload["comment"])))
        if payload.get("ideal_answer"):
            lines.append(("Ideal answer", str(payload["ideal_answer"])))
        if payload.get("response") is not None or payload.get("model"):
            lines.append(("Model", str(payload.get("model") or "unknown")))
    elif kind == "comparison":
        for n, alt in enumerate(payload.get("alternatives", []), 1):
            rank = alt.get("rank")
            label = f"Answer {n}" + (f" (rank {rank})" if rank is not None else " (bad)")
            lines.append((label, str(alt.get("content", ""))))
        if payload.get("comment"):
            lines.append(("Comment", str(payload["comment"])))
    return lines
