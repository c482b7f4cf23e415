"""The commands' progress bar: one line redrawn on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import io
import sys

import pytest

from desktop.terminal import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_per_stage() -> None:
    out = Terminal()
    bar = ProgressBar(out)
    for i in range(101):
        bar("download", i / 100)
    bar("convert", 1.0)
    bar.done()
    lines = out.getvalue().split("\n")
    assert lines[0].split("\r")[-1] == "download  [#########################] 100%"
    assert lines[1] == "\rconvert   [#########################] 100%"
    percents = {int(i / 100 * 100) for i in range(101)}
    assert out.getvalue().count("\r") == len(percents) + 1  # a redraw per percent shown


def test_elsewhere_only_quarters_are_written() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    for i in range(101):
        bar("adding", i / 100)
    assert [line.split("]")[1].strip() for line in out.getvalue().splitlines()] == [
        "0%", "25%", "50%", "75%", "100%"
    ]  # fmt: skip


def test_the_default_stream_is_stderr_when_the_bar_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    later = Terminal()
    monkeypatch.setattr(sys, "stderr", later)
    ProgressBar()("checking", 0.5)
    assert "checking  [############.............]  50%" in later.getvalue()
