"""Exports of the feedback data, for training and for other tools.

``dpo``      preference pairs, JSONL, one pair per line, in the conversational format DPO and
             reward-model trainers read (TRL's ``prompt`` / ``chosen`` / ``rejected``)::

                 {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
                  "chosen": [{"role": "assistant", "content": ...}],
                  "rejected": [{"role": "assistant", "content": ...}],
                  "meta": {"source": "comparison", "record": "<uid>", ...}}

             Pairs come from comparisons (every better/worse pair of a ranking), from ideal
             answers (the ideal answer over the model's), and from answers to the same prompt
             rated up and down.
``sft``      supervised examples from ideal answers, JSONL: ``{"messages": [..., assistant]}``
``ratings``  every rating and content-filter report, JSONL, with its context
``chatgpt``  ``message_feedback.json`` as ChatGPT's data export writes it: a JSON array of
             ``{"id", "message_id", "conversation_id", "user_id", "rating": "thumbsUp" |
             "thumbsDown", "content": "<JSON string with tags and text>", ...}``

Withdrawn records and conversations in the trash are left out.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from desktop.feedback.records import REASONS, THUMBS_UP, FeedbackRecord, Turn
from desktop.feedback.repository import FeedbackStore

ExportFormat = Literal["dpo", "sft", "ratings", "chatgpt"]
FORMATS: tuple[ExportFormat, ...] = ("dpo", "sft", "ratings", "chatgpt")
LOCAL_USER_ID = "user-local"


def _messages(turns: Iterable[Turn]) -> list[dict[str, str]]:
    return [t.to_json() for t in turns]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def dpo_rows(feedback: FeedbackStore) -> Iterator[dict[str, Any]]:
    seen: set[tuple[str, str, str]] = set()

    def pair(
        prompt: list[dict[str, str]], chosen: str, rejected: str, meta: dict[str, Any]
    ) -> dict[str, Any] | None:
        key = (json.dumps(prompt, sort_keys=True), chosen, rejected)
        if chosen == rejected or key in seen:
            return None
        seen.add(key)
        return {
            "prompt": prompt,
            "chosen": _assistant(chosen),
            "rejected": _assistant(rejected),
            "meta": meta,
        }

    for comparison in feedback.all_comparisons():
        if comparison.all_bad:
            continue
        prompt = _messages(comparison.context.prompt)
        ranked = comparison.ranked()
        for better, worse in itertools.combinations(ranked, 2):
            row = pair(
                prompt,
                better.content,
                worse.content,
                {
                    "source": "comparison",
                    "record": comparison.uid,
                    "conversation": comparison.conversation_uid,
                    "chosen_rank": better.rank,
                    "rejected_rank": worse.rank,
                    "chosen_model": better.model,
                    "rejected_model": worse.model,
                },
            )
            if row is not None:
                yield row
    for record in feedback.all_feedback():
        if record.kind != "rating" or record.ideal_answer is None or record.response is None:
            continue
        row = pair(
            _messages(record.context.prompt),
            record.ideal_answer,
            record.response,
            {
                "source": "ideal_answer",
                "record": record.uid,
                "conversation": record.conversation_uid,
                "rejected_model": record.context.model,
                "rejected_params": record.context.params,
            },
        )
        if row is not None:
            yield row
    for group in feedback.sibling_ratings().values():
        ups = [r for r in group if r.rating == THUMBS_UP]
        downs = [r for r in group if r.rating != THUMBS_UP]
        for up, down in itertools.product(ups, downs):
            if up.response is None or down.response is None:
                continue  # ratings are on answers: never
            row = pair(
                _messages(up.context.prompt),
                up.response,
                down.response,
                {
                    "source": "ratings",
                    "record": f"{up.uid}>{down.uid}",
                    "conversation": up.conversation_uid,
                    "chosen_model": up.context.model,
                    "rejected_model": down.context.model,
                },
            )
            if row is not None:
                yield row


def sft_rows(feedback: FeedbackStore) -> Iterator[dict[str, Any]]:
    for record in feedback.all_feedback():
        if record.kind == "rating" and record.ideal_answer is not None:
            yield {
                "messages": [
                    *_messages(record.context.prompt),
                    {"role": "assistant", "content": record.ideal_answer},
                ],
                "meta": {"record": record.uid, "conversation": record.conversation_uid},
            }


def rating_row(record: FeedbackRecord) -> dict[str, Any]:
    return {
        "id": record.uid,
        "kind": record.kind,
        "rating": record.rating,
        "reasons": list(record.reasons),
        "comment": record.comment,
        "ideal_answer": record.ideal_answer,
        "category": record.category,
        "prompt": _messages(record.context.prompt),
        "response": record.response,
        "model": record.context.model,
        "params": record.context.params,
        "conversation_id": record.conversation_uid,
        "message_id": record.message_uid,
        "revision": record.revision,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def rating_rows(feedback: FeedbackStore) -> Iterator[dict[str, Any]]:
    for record in feedback.all_feedback():
        yield rating_row(record)


def chatgpt_feedback(feedback: FeedbackStore) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for record in feedback.all_feedback():
        if record.kind != "rating":
            continue
        content: dict[str, Any] = {"tags": [REASONS[r].tag for r in record.reasons if r in REASONS]}
        if record.comment:
            content["text"] = record.comment
        if record.ideal_answer is not None:
            content["ideal_answer"] = record.ideal_answer
        entries.append(
            {
                "id": record.uid,
                "message_id": record.message_uid,
                "conversation_id": record.conversation_uid,
                "user_id": LOCAL_USER_ID,
                "rating": "thumbsUp" if record.rating == THUMBS_UP else "thumbsDown",
                "content": json.dumps(content, ensure_ascii=False),
                "create_time": record.created_at.isoformat(),
                "update_time": record.updated_at.isoformat(),
                "workspace_id": None,
                "storage_protocol": "local",
            }
        )
    return entries


def _atomic_write(path: Path, chunks: Iterable[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # created as any file the user makes (0666 less the umask), like the transcripts' exports:
    # mkstemp's owner-only files surprised whoever shared them with a team
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def export(feedback: FeedbackStore, fmt: ExportFormat, path: Path) -> int:
    """Write the export to ``path`` (atomically: a failed export leaves no half file).
    Returns the number of records (lines, or array entries) written."""
    count = 0

    def jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
        nonlocal count
        for row in rows:
            count += 1
            yield json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"

    if fmt == "dpo":
        _atomic_write(path, jsonl(dpo_rows(feedback)))
    elif fmt == "sft":
        _atomic_write(path, jsonl(sft_rows(feedback)))
    elif fmt == "ratings":
        _atomic_write(path, jsonl(rating_rows(feedback)))
    elif fmt == "chatgpt":
        entries = chatgpt_feedback(feedback)
        count = len(entries)
        _atomic_write(path, [json.dumps(entries, ensure_ascii=False, indent=2), "\n"])
    else:
        raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")
    return count
