"""``parley feedback export`` and ``parley feedback outbox``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.feedback import FeedbackDraft, FeedbackStore
from desktop.feedback.submission import SubmissionConfig, queue
from desktop.feedback.validate import VALIDATORS
from desktop.store import Store
from tests.feedback.conftest import make_chat


@pytest.fixture
def rated() -> None:
    with Store.open() as store:
        feedback = FeedbackStore(store)
        chat = make_chat(store)
        sydney, canberra, _ = chat.alternatives
        feedback.rate(sydney.id, FeedbackDraft(-1, ("made_up_facts",), "", "Canberra."))
        record = feedback.rate(canberra.id, FeedbackDraft(1))
        queue(feedback, record, SubmissionConfig(True, "https://feedback.example.com/v1"))
        feedback.close()


# dpo: the ideal answer "Canberra." over "Sydney." equals the pair the two ratings give; once.
@pytest.mark.parametrize(
    ("fmt", "count", "noun"),
    [
        ("dpo", 1, "record"),
        ("sft", 1, "record"),
        ("ratings", 2, "records"),
        ("chatgpt", 2, "records"),
    ],
)
def test_export_writes_a_valid_file(
    rated: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    count: int,
    noun: str,
) -> None:
    output = tmp_path / f"out.{fmt}"
    assert main(["feedback", "export", "--format", fmt, "-o", str(output)]) == 0
    assert capsys.readouterr().out == f"Exported {count} {noun} ({fmt}) to {output}\n"
    assert len(VALIDATORS[fmt](output)) == count


def test_export_into_a_missing_folder_is_created(rated: None, tmp_path: Path) -> None:
    output = tmp_path / "new" / "pairs.jsonl"
    assert main(["feedback", "export", "--format", "dpo", "-o", str(output)]) == 0
    first = json.loads(output.read_text(encoding="utf-8").splitlines()[0])
    assert first["chosen"][0]["role"] == "assistant"


def test_an_unwritable_output_is_one_line(
    rated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["feedback", "export", "--format", "dpo", "-o", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: cannot write")
    assert err.count("\n") == 1


def test_an_unknown_format_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["feedback", "export", "--format", "csv", "-o", "x"])
    assert caught.value.code == 2
    assert "invalid choice: 'csv'" in capsys.readouterr().err


def test_outbox_lists_what_waits(rated: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "outbox"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 to review, 0 pending, 0 held, 0 sent"
    assert out[1].startswith("  #1 feedback review, 0 attempts")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_an_output_that_is_not_a_file_is_refused_and_left_alone(
    rated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export renames a new file over its output: over /dev/stdout or a pipe that would
    replace the device itself (as root, /dev/null too)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main(["feedback", "export", "--format", "dpo", "-o", str(fifo)]) == 1
    assert capsys.readouterr().err == (
        f"parley: error: cannot write {fifo}: it is not a regular file (the output is a new file)\n"
    )
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_an_output_that_is_a_folder_is_refused(
    rated: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feedback", "export", "--format", "dpo", "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"parley: error: cannot write {tmp_path}: it is a folder (name a file in it)\n"
    )


def test_an_output_through_a_link_writes_the_file_it_names(rated: None, tmp_path: Path) -> None:
    target = tmp_path / "kept" / "pairs.jsonl"
    target.parent.mkdir()
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.jsonl"
    try:
        link.symlink_to(target)
    except OSError:  # Windows without the right to make links
        pytest.skip("no symbolic links here")
    assert main(["feedback", "export", "--format", "dpo", "-o", str(link)]) == 0
    assert link.is_symlink(), "the link stays a link"
    assert len(VALIDATORS["dpo"](target)) == 1
