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
