"""Exports: every format round-trips through its validator and says what was recorded."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from desktop.feedback import FeedbackDraft, FeedbackStore, Flag, ModerationResult, export
from desktop.feedback.validate import VALIDATORS, ExportFormatError, validate_chatgpt, validate_dpo
from desktop.store import Store
from tests.feedback.conftest import Chat

PROMPT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Australia?"},
]


@pytest.fixture
def recorded(feedback: FeedbackStore, chat: Chat) -> Chat:
    sydney, canberra, act = chat.alternatives
    feedback.rate(
        sydney.id,
        FeedbackDraft(-1, ("made_up_facts",), "Wrong city.", "Canberra is the capital."),
    )
    feedback.rate(canberra.id, FeedbackDraft(1, ("correct",)))
    feedback.rate(chat.a1.id, FeedbackDraft(1))
    withdrawn = feedback.rate(act.id, FeedbackDraft(-1, ideal_answer="never exported"))
    feedback.withdraw(withdrawn.id)
    # ranked twice: the second ranking replaces the first (which gives no pairs then)
    feedback.record_comparison([sydney.id, canberra.id], None, switch_branch=False)
    feedback.record_comparison([sydney.id, canberra.id, act.id], [act.id, canberra.id, sydney.id])
    flagged = ModerationResult("input", (Flag("hate", "warn", 1.0),))
    event = feedback.record_moderation(chat.q2.id, flagged)[0]
    feedback.report_false_positive(event.id, "Nothing hateful here.")
    feedback.report_false_negative(sydney.id, "harassment")
    return chat


def test_dpo_pairs_from_comparisons_ideal_answers_and_ratings(
    tmp_path: Path, feedback: FeedbackStore, recorded: Chat
) -> None:
    path = tmp_path / "pairs.jsonl"
    count = export(feedback, "dpo", path)
    rows = validate_dpo(path)
    assert len(rows) == count
    pairs = [
        (r["chosen"][0]["content"], r["rejected"][0]["content"], r["meta"]["source"]) for r in rows
    ]
    assert pairs == [
        # The ranking act > canberra > sydney gives every better/worse pair.
        ("Canberra, in the ACT.", "Canberra.", "comparison"),
        ("Canberra, in the ACT.", "Sydney.", "comparison"),
        ("Canberra.", "Sydney.", "comparison"),
        # The ideal answer beats the rated one.
        ("Canberra is the capital.", "Sydney.", "ideal_answer"),
        # canberra (up) and sydney (down) answer the same prompt: already a comparison pair.
    ]
    assert all(r["prompt"] == PROMPT for r in rows)
    assert rows[0]["meta"]["chosen_rank"] == 1


def test_rating_pairs_appear_when_no_comparison_covers_them(
    tmp_path: Path, feedback: FeedbackStore, chat: Chat
) -> None:
    sydney, canberra, _ = chat.alternatives
    feedback.rate(sydney.id, FeedbackDraft(-1))
    feedback.rate(canberra.id, FeedbackDraft(1))
    path = tmp_path / "pairs.jsonl"
    assert export(feedback, "dpo", path) == 1
    (row,) = validate_dpo(path)
    assert (row["chosen"], row["rejected"]) == (
        [{"role": "assistant", "content": "Canberra."}],
        [{"role": "assistant", "content": "Sydney."}],
    )
    assert row["meta"]["source"] == "ratings"


def test_sft_examples_from_ideal_answers(
    tmp_path: Path, feedback: FeedbackStore, recorded: Chat
) -> None:
    path = tmp_path / "sft.jsonl"
    assert export(feedback, "sft", path) == 1
    (row,) = VALIDATORS["sft"](path)
    assert row["messages"] == [
        *PROMPT,
        {"role": "assistant", "content": "Canberra is the capital."},
    ]


def test_ratings_include_filter_reports_and_round_trip(
    tmp_path: Path, feedback: FeedbackStore, recorded: Chat
) -> None:
    path = tmp_path / "ratings.jsonl"
    assert export(feedback, "ratings", path) == 5
    rows = VALIDATORS["ratings"](path)
    stored = {r.uid: r for r in feedback.all_feedback()}
    assert {r["id"] for r in rows} == set(stored)
    for row in rows:
        record = stored[row["id"]]
        assert row["kind"] == record.kind
        assert row["rating"] == record.rating
        assert tuple(row["reasons"]) == record.reasons
        assert row["comment"] == record.comment
        assert row["ideal_answer"] == record.ideal_answer
        assert row["category"] == record.category
        assert row["response"] == record.response
        assert row["model"] == record.context.model
        assert row["params"] == record.context.params
        assert row["message_id"] == record.message_uid
    assert sorted(r["kind"] for r in rows) == [
        "false_negative",
        "false_positive",
        "rating",
        "rating",
        "rating",
    ]


def test_chatgpt_message_feedback_json(
    tmp_path: Path, store: Store, feedback: FeedbackStore, recorded: Chat
) -> None:
    path = tmp_path / "message_feedback.json"
    assert export(feedback, "chatgpt", path) == 3
    entries = validate_chatgpt(path)
    by_message = {e["message_id"]: e for e in entries}
    sydney = store.get_message(recorded.alternatives[0].id)
    entry = by_message[sydney.uid]
    assert entry["rating"] == "thumbsDown"
    assert entry["conversation_id"] == store.get_conversation(recorded.conversation_id).uid
    assert json.loads(entry["content"]) == {
        "tags": ["false"],
        "text": "Wrong city.",
        "ideal_answer": "Canberra is the capital.",
    }
    assert by_message[store.get_message(recorded.a1.id).uid]["rating"] == "thumbsUp"


def test_an_empty_history_exports_empty_valid_files(
    tmp_path: Path, feedback: FeedbackStore
) -> None:
    for fmt, validate in VALIDATORS.items():
        path = tmp_path / f"empty.{fmt}"
        assert export(feedback, fmt, path) == 0  # type: ignore[arg-type]
        assert validate(path) == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"prompt": [], "chosen": [], "rejected": []}', "prompt must be a non-empty list"),
        (
            '{"prompt": [{"role": "user", "content": "q"}], '
            '"chosen": [{"role": "assistant", "content": "a"}], '
            '"rejected": [{"role": "assistant", "content": "a"}]}',
            "chosen and rejected are the same",
        ),
        (
            '{"prompt": [{"role": "assistant", "content": "q"}], '
            '"chosen": [{"role": "assistant", "content": "a"}], '
            '"rejected": [{"role": "assistant", "content": "b"}]}',
            "prompt must end with a user message",
        ),
        (
            '{"prompt": [{"role": "user", "content": "q"}], '
            '"chosen": [{"role": "user", "content": "a"}], '
            '"rejected": [{"role": "assistant", "content": "b"}]}',
            "chosen must be one assistant message",
        ),
        ('{"prompt": [{"role": "user", "content": "q"}]}', "missing chosen, rejected"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "Expecting property name"),
    ],
)
def test_the_dpo_validator_names_the_problem(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = (
        '{"prompt": [{"role": "user", "content": "q"}], '
        '"chosen": [{"role": "assistant", "content": "a"}], '
        '"rejected": [{"role": "assistant", "content": "b"}]}'
    )
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ExportFormatError, match=reason) as caught:
        validate_dpo(path)
    assert caught.value.where == "line 2"


def test_the_chatgpt_validator_wants_json_in_content(tmp_path: Path) -> None:
    path = tmp_path / "message_feedback.json"
    entry = {
        "id": "x",
        "message_id": "m",
        "conversation_id": "c",
        "user_id": "u",
        "rating": "thumbsUp",
        "content": "tags: none",
    }
    path.write_text(json.dumps([entry]), encoding="utf-8")
    with pytest.raises(ExportFormatError, match="entry 0: content must be a JSON document"):
        validate_chatgpt(path)
    entry["content"] = json.dumps({"tags": ["x"]})
    entry["rating"] = "meh"
    path.write_text(json.dumps([entry]), encoding="utf-8")
    with pytest.raises(ExportFormatError, match="rating 'meh'"):
        validate_chatgpt(path)


def test_a_failed_export_leaves_no_partial_file(
    tmp_path: Path, feedback: FeedbackStore, recorded: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text("previous export\n", encoding="utf-8")

    def broken(_feedback: FeedbackStore):  # type: ignore[no-untyped-def]
        yield {"prompt": PROMPT, "chosen": [], "rejected": []}
        raise OSError("disk full")

    monkeypatch.setattr(importlib.import_module("desktop.feedback.export"), "dpo_rows", broken)
    with pytest.raises(OSError, match="disk full"):
        export(feedback, "dpo", path)
    assert path.read_text(encoding="utf-8") == "previous export\n"
    assert list(tmp_path.glob(".pairs.jsonl.*")) == []


def test_an_export_is_created_as_any_file_the_user_makes(
    feedback: FeedbackStore, chat: Chat, tmp_path: Path
) -> None:
    import os
    import stat

    feedback.rate(chat.a1.id, FeedbackDraft(1))
    old = os.umask(0o022)
    try:
        path = tmp_path / "out" / "ratings.jsonl"
        assert export(feedback, "ratings", path) == 1
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "not owner-only, as mkstemp made it"
    assert [p.name for p in path.parent.iterdir()] == ["ratings.jsonl"], "no temporary left"
