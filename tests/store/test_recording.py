"""How a chat is recorded, the rules the window and `parley chat` share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from desktop.store.recording import TITLE_LENGTH, can_continue, put_back, status_of, title_from


@dataclass(frozen=True)
class Answer:
    role: str = "assistant"
    content: str = "Some text"
    status: str = "complete"
    stats: Mapping[str, Any] | None = None


def test_a_title_is_the_first_message_on_one_line_cut_with_an_ellipsis() -> None:
    assert title_from("  What is\n\tthe capital?  ") == "What is the capital?"
    long = title_from("word " * 30)
    assert len(long) == TITLE_LENGTH
    assert long.endswith("…")
    assert title_from("   ") == ""


def test_a_title_leaves_out_attached_files_and_code_blocks() -> None:
    from desktop.attachments import attachment_from_bytes

    notes = attachment_from_bytes("notes.md", b"# Plans\n```\ninner fence\n```\nmore\n")
    piped = attachment_from_bytes("", b"log line 1\nlog line 2\n")  # standard input
    assert title_from(f"{notes.as_markdown()}\nSummarize this") == "Summarize this"
    assert title_from(f"{piped.as_markdown()}\nWhat failed?") == "What failed?"
    assert title_from("Why does\n```py\nprint(1/0)\n```\nfail?") == "Why does fail?"
    assert title_from(notes.as_markdown()) == "notes.md", "nothing but a file: its name"
    code = "```py\nprint(1/0)\n```"
    assert title_from(code) == "```py print(1/0) ```", "nothing but code: as it is"
    assert title_from("an ``` unclosed fence") == "an ``` unclosed fence"


@pytest.mark.parametrize(
    ("reason", "status"),
    [("stop", "complete"), ("length", "complete"), ("cancelled", "stopped"),
     ("repetition", "stopped"), ("error", "error"), ("something new", "error")],
)  # fmt: skip
def test_the_stored_status_of_each_way_an_answer_ends(reason: str, status: str) -> None:
    assert status_of(reason) == status


def test_continue_applies_to_answers_with_text_that_did_not_end_by_themselves() -> None:
    assert can_continue(Answer(status="stopped"))
    assert can_continue(Answer(status="interrupted"))
    assert can_continue(Answer(stats={"finish_reason": "length"}))
    assert not can_continue(Answer(stats={"finish_reason": "stop"}))
    assert not can_continue(Answer(status="error"))
    assert not can_continue(Answer(status="stopped", content=""))
    assert not can_continue(Answer(role="user", status="stopped"))


def test_an_answer_put_back_keeps_its_status_and_interrupted_becomes_stopped() -> None:
    assert [put_back(s) for s in ("complete", "error", "stopped", "interrupted")] == [
        "complete", "error", "stopped", "stopped",
    ]  # fmt: skip
