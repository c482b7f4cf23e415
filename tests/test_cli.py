"""``parley`` end to end, in-process, on a tiny generated model."""

from __future__ import annotations

import errno
import io
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from desktop.cli import main
from desktop.config.paths import data_dir
from desktop.engine.types import ChatMessage
from tests.ggufs import TinySpec, write_tiny_gguf


@pytest.fixture
def installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    gguf = write_tiny_gguf(tmp_path / "Tiny Model.gguf", TinySpec(weight_type="Q8_0"))
    assert main(["models", "import", str(gguf)]) == 0
    capsys.readouterr()
    return "tiny-model"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[list[ChatMessage]]:
    """The messages of every answer the CLI asks the engine for."""
    from desktop import cli

    calls: list[list[ChatMessage]] = []
    load = cli._load

    def recording_load(args: Any) -> Any:
        engine = load(args)
        generate = engine.generate

        def record(messages: list[ChatMessage], *rest: Any) -> Any:
            calls.append(list(messages))
            return generate(messages, *rest)

        engine.generate = record
        return engine

    monkeypatch.setattr(cli, "_load", recording_load)
    return calls


def _chat(monkeypatch: pytest.MonkeyPatch, script: str, *argv: str) -> int:
    """`parley chat` reading ``script`` as what the user types (later options win)."""
    from desktop import cli

    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(script))
    return main(["chat", "--temperature", "0", "--max-tokens", "3", *argv])


def test_models_usage_errors_show_the_models_usage(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, said in [
        (["models", "info"], "'models info' needs a target"),
        (["models", "list", "extra"], "'models list' takes no name (got 'extra')"),
    ]:
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: parley models")
        assert said in err


def test_import_list_info_default_remove(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "* tiny-model" in out  # the first model becomes the default
    assert main(["models", "info", installed]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == installed
    assert info["default"] is True
    assert main(["models", "remove", installed]) == 0
    assert main(["models", "list"]) == 0
    assert "No models installed" in capsys.readouterr().out


def test_removing_the_default_model_says_which_is_default_now_in_the_settings_too(
    installed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.config.settings import Settings

    gguf = write_tiny_gguf(tmp_path / "other.gguf", TinySpec(weight_type="Q8_0"))
    assert main(["models", "import", str(gguf), "--name", "../ZZ other"]) == 0
    assert "(named zz-other: a model's name is" in capsys.readouterr().out
    assert main(["models", "default", "zz-other"]) == 0
    settings = Settings.load()
    settings.update({"model.default": "zz-other"})  # as the window's settings panel writes it
    settings.save()
    capsys.readouterr()
    assert main(["models", "remove", "zz-other"]) == 0
    assert capsys.readouterr().out == f"Removed zz-other; it was the default, {installed} is now\n"
    assert Settings.load().get_str("model.default") == installed
    assert main(["models", "list"]) == 0
    assert f"* {installed}" in capsys.readouterr().out


def test_ask_json(installed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["ask", "hello", "--json", "--temperature", "0", "--max-tokens", "5", "--system", ""]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) >= {"text", "token_ids", "prompt_tokens", "finish_reason", "stats"}
    assert payload["finish_reason"] in ("stop", "length")
    assert 0 < len(payload["token_ids"]) <= 5
    assert payload["prompt_tokens"] > 0
    assert payload["stats"]["provider"] == "CPUExecutionProvider"


def test_ask_says_when_an_answer_was_ended_for_repeating_itself(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny model's greedy answer loops at once; a short span makes the guard see it."""
    from functools import partial

    from desktop.engine import engine as engine_module
    from desktop.engine.repetition import RepetitionGuard

    monkeypatch.setattr(engine_module, "RepetitionGuard", partial(RepetitionGuard, min_span=12))
    argv = ["ask", "the", "--raw", "--temperature", "0", "--max-tokens", "150"]
    assert main(argv) == 0
    assert "it was repeating itself" in capsys.readouterr().err
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["finish_reason"] == "repetition"
    assert 12 <= len(payload["token_ids"]) < 150


def test_ask_raw_streams_text(installed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "the", "--raw", "--temperature", "0", "--max-tokens", "4"]) == 0
    assert capsys.readouterr().out.endswith("\n")


def test_chat_conversation(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _chat(monkeypatch, "hi\nmore\n\n") == 0
    out = capsys.readouterr().out
    assert out.count("parley> ") == 2
    assert " on CPU. " in out.splitlines()[0]  # as the window says it, not CPUExecutionProvider


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "hi"], "no model installed"),
        (["models", "info", "nope"], "no model named 'nope'"),
        (["models", "install", "gpt-5"], "unknown model 'gpt-5'"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_a_model_with_a_file_cut_short_says_how_to_recover(
    installed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.convert.library import ModelLibrary

    data = ModelLibrary().get(installed).path / "model.onnx.data"
    with data.open("r+b") as f:
        f.truncate(data.stat().st_size // 3)
    assert main(["ask", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: the model could not be loaded: model.onnx.data is ")
    assert f"parley models remove {installed}" in err
    assert err.count("\n") == 1


def test_models_list_and_info_name_a_damaged_model(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.convert.library import ModelLibrary

    assert main(["models", "info", installed]) == 0
    assert json.loads(capsys.readouterr().out)["damaged"] is None
    (ModelLibrary().get(installed).path / "model.onnx.data").unlink()
    assert main(["models", "list"]) == 0
    assert "    damaged: model.onnx.data is missing" in capsys.readouterr().out
    assert main(["models", "info", installed]) == 0
    assert json.loads(capsys.readouterr().out)["damaged"] == "model.onnx.data is missing"
    # a model that lost its tokenizer is listed too (not "no models installed" while its
    # files stay on disk): loading it says what is missing, and it can be removed
    (ModelLibrary().get(installed).path / "tokenizer.json").unlink()
    assert main(["models", "list"]) == 0
    assert f"{installed}" in capsys.readouterr().out
    assert main(["models", "remove", installed]) == 0
    assert ModelLibrary().names() == []


def test_install_if_missing_fetches_a_damaged_starter_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make run` does first: a starter whose files were cut short is installed anew
    (it is Parley's own download), a whole one is left alone."""
    from desktop.convert import starter
    from desktop.convert.library import InstalledModel, ModelLibrary

    gguf = write_tiny_gguf(tmp_path / "starter.gguf", TinySpec(weight_type="Q8_0"))
    installs: list[str] = []

    def fake_install(library: ModelLibrary, **_kwargs: object) -> InstalledModel:
        installs.append("download, verify, convert")
        return library.import_path(gguf, starter.STARTER_NAME)

    monkeypatch.setattr(starter, "install_starter", fake_install)
    assert main(["models", "install", "starter", "--if-missing"]) == 0
    data = ModelLibrary().get(starter.STARTER_NAME).path / "model.onnx.data"
    with data.open("r+b") as f:
        f.truncate(data.stat().st_size // 2)
    capsys.readouterr()
    assert main(["models", "install", "starter", "--if-missing"]) == 0
    assert "The installed starter model is damaged (model.onnx.data is incomplete" in (
        capsys.readouterr().out
    )
    assert len(installs) == 2
    assert main(["models", "install", "starter", "--if-missing"]) == 0
    assert len(installs) == 2, "a whole starter is left alone"
    assert main(["ask", "hi", "--max-tokens", "2", "--temperature", "0"]) == 0


def test_importing_garbage_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a model at all")
    assert main(["models", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a GGUF file" in err
    assert "Traceback" not in err


def test_cli_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00truncated")
    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-m", "desktop", "models", "import", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("parley: error: ")


def test_the_models_recommendation_fills_options_nobody_chose(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from desktop import cli
    from desktop.engine.types import ModelInfo

    class Engine:
        info = ModelInfo("m", 64, "CPUExecutionProvider",
                         sampling=(("temperature", 0.2), ("top_k", 5.0)))  # fmt: skip

    args = cli.build_parser().parse_args(["ask", "hi", "--temperature", "0.9"])
    cli._fill_defaults(args)
    cli._apply_recommendation(args, Engine())
    assert args.temperature == 0.9  # given on the command line
    assert args.top_k == 5  # nobody chose it: the model's recommendation
    assert isinstance(args, argparse.Namespace)


def test_chat_commands(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = "hi\n/help\n/continue\n/system Be terse.\n//etc/hosts?\n/bogus\n/exit\nnot read\n"
    assert _chat(monkeypatch, script) == 0
    out = capsys.readouterr().out
    assert "Commands:" in out
    assert "unknown command /bogus" in out
    first, continued, after_system = sent
    assert [m.role for m in first] == ["system", "user"]  # the default system prompt
    # the cut-off answer (3 tokens of a random model) went on as the same assistant turn
    assert [m.role for m in continued] == ["system", "user", "assistant"]
    assert continued[-1].content
    assert after_system == [ChatMessage("system", "Be terse."), ChatMessage("user", "/etc/hosts?")]
    assert out.count("parley> ") == 3


def test_chat_takes_a_message_of_several_lines_between_triple_quotes(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pasted code arrives as one message; an empty line is skipped, not the end of the chat."""

    script = (
        'Fix this:\n"""\ndef f():\n\n    return 1\n"""\n\n"""one line"""\n"""unclosed\nat the end'
    )
    assert _chat(monkeypatch, script, "--max-tokens", "2", "--system", "") == 0
    assert [messages[-1].content for messages in sent] == [
        "Fix this:",
        "def f():\n\n    return 1",
        "one line",
        "unclosed\nat the end",  # the end of the input closes the block
    ]
    out = capsys.readouterr().out
    assert out.count("parley> ") == 4
    assert out.count("... ") == 6


def test_chat_file_puts_a_text_file_into_the_next_message(
    installed: str,
    sent: list[list[ChatMessage]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "notes.md").write_text("# Plan\n\n- ship it\n", encoding="utf-8")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    script = (
        f"/file {tmp_path / 'blob.bin'}\n/file\n/file {tmp_path / 'notes.md'}\n"
        "Summarize it.\nAnd again?\n"
    )
    assert _chat(monkeypatch, script, "--max-tokens", "2", "--system", "") == 0
    out = capsys.readouterr().out
    assert "(blob.bin is not a text file; nothing was attached)" in out
    assert "(/file needs the path of a text file)" in out
    assert "(notes.md: 18 characters, sent with your next message)" in out
    first, second = (messages[-1].content for messages in sent)
    assert first == "`notes.md`:\n```markdown\n# Plan\n\n- ship it\n```\n\nSummarize it."
    assert second == "And again?", "a file goes with one message only"


def test_ask_reads_files_and_standard_input_into_the_prompt(
    installed: str,
    sent: list[list[ChatMessage]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`cat notes | parley ask "Summarize" -f -`, `parley ask - < question.txt`."""
    from desktop import cli

    code = tmp_path / "rev.py"
    code.write_text("def rev(s):\n    return s[::-1]\n", encoding="utf-8")
    fixed = ["--temperature", "0", "--max-tokens", "2", "--system", ""]
    monkeypatch.setattr(cli.sys, "stdin", io.TextIOWrapper(io.BytesIO(b"log line 1\r\nline 2\r\n")))
    assert main(["ask", "What does this show?", "-f", str(code), "-f", "-", *fixed]) == 0
    monkeypatch.setattr(cli.sys, "stdin", io.TextIOWrapper(io.BytesIO(b"  Why is the sky blue?\n")))
    assert main(["ask", "-", *fixed]) == 0
    first, second = (messages[-1].content for messages in sent)
    assert first == (
        "`rev.py`:\n```python\ndef rev(s):\n    return s[::-1]\n```\n\n"
        "```\nlog line 1\nline 2\n```\n\nWhat does this show?"
    )
    assert second == "Why is the sky blue?"
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["ask", "-", "-f", "-"], b"x", "standard input can be read once"),
        (["ask", "-"], b"   \n", "the prompt is empty"),
        (["ask", "-"], b"\x00\x01binary", "the input is not text"),
        (["ask", "hi", "-f", "-"], b"x" * 400_001, "the input is too large to paste"),
        (["ask", "hi", "-f", "missing.txt"], b"", "missing.txt could not be read"),
    ],
)
def test_ask_refuses_input_it_cannot_use_in_one_line(
    installed: str,
    argv: list[str],
    stdin: bytes,
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop import cli

    monkeypatch.setattr(cli.sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: ")
    assert message in err
    assert err.count("\n") == 1


class _Terminal:
    """``parley chat`` in a real terminal (a pty), typed into as a user would."""

    def __init__(self, *argv: str) -> None:
        import os
        import pty
        import subprocess

        self.main_fd, child_fd = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "desktop", "chat", "--max-tokens", "1", *argv],
            stdin=child_fd, stdout=child_fd, stderr=child_fd, close_fds=True,
            env={**os.environ, "TERM": "dumb"},
        )  # fmt: skip
        os.close(child_fd)
        self.seen = b""

    def until(self, marker: bytes, count: int = 1) -> None:
        import os
        import select

        deadline = time.monotonic() + 60
        while self.seen.count(marker) < count:
            assert time.monotonic() < deadline, self.seen.decode(errors="replace")
            ready, _, _ = select.select([self.main_fd], [], [], 1)
            if ready:
                try:
                    self.seen += os.read(self.main_fd, 4096)
                except OSError:  # the child closed the terminal
                    break

    def type(self, keys: bytes) -> None:
        import os

        os.write(self.main_fd, keys)

    def quit(self) -> int:
        """Ctrl-D; the exit code."""
        import os

        try:
            self.type(b"\x04")
            return self.process.wait(timeout=30)
        finally:
            self.process.kill()
            self.process.wait()
            os.close(self.main_fd)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_chat_at_a_terminal_edits_lines_and_recalls_earlier_ones(installed: str) -> None:
    """A real terminal (a pty): Left moves the cursor within the line, Up brings back the
    previous line, as in a shell; a plain readline() would send the escape codes instead."""
    terminal = _Terminal()
    terminal.until(b"you> ")
    terminal.type(b"/hep\x1b[Dl\r")  # typo, Left, the missing letter
    terminal.until(b"Commands:")
    terminal.until(b"you> ", 2)
    terminal.type(b"\x1b[A\r")  # Up: the line before, again
    terminal.until(b"Commands:", 2)
    terminal.until(b"you> ", 3)
    assert terminal.quit() == 0
    assert b"unknown command" not in terminal.seen


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_up_recalls_what_was_typed_in_an_earlier_chat_unless_it_was_not_saved(
    installed: str,
) -> None:
    from desktop.store import Store, default_path
    from desktop.store.recording import INPUT_HISTORY_NAME

    typed = default_path().parent / INPUT_HISTORY_NAME
    secret = _Terminal("--no-save")
    secret.until(b"you> ")
    secret.type(b"/help\r")
    secret.until(b"you> ", 2)
    assert secret.quit() == 0
    assert not typed.exists(), "a chat kept out of the history leaves no trace"
    first = _Terminal()
    first.until(b"you> ")
    first.type(b"/help\r")
    first.until(b"you> ", 2)
    assert first.quit() == 0
    assert typed.read_text(encoding="utf-8").splitlines()[-1] == "/help"
    assert typed.stat().st_mode & 0o077 == 0, "the user's only"
    later = _Terminal()
    later.until(b"you> ")
    later.type(b"\x1b[A\r")  # Up in a new chat: the last line of the one before
    later.until(b"Commands:")
    later.until(b"you> ", 2)  # Ctrl-D at the prompt, not while the help is being written
    assert later.quit() == 0
    with Store.open() as store:
        store.clear_all()  # Settings: Clear all history
    assert not typed.exists(), "clearing the history clears what was typed too"


# -- a hostile user: every mistake is one line and a non-zero exit, never a traceback ------
def _interrupt_the_first_answer(
    monkeypatch: pytest.MonkeyPatch, signum: int | None = None
) -> list[str]:
    """Ctrl-C (a real SIGINT to this process, or ``signum``) right after the first answer's
    first token; returns the texts streamed."""
    import signal
    from collections.abc import Iterator

    from desktop import cli
    from desktop.engine.types import TextDelta

    load = cli._load
    answers: list[int] = []
    texts: list[str] = []

    def loading(args: Any) -> Any:
        engine = load(args)
        generate_ids = engine.generate_ids  # what both generate() and --raw stream through

        def interrupted(*call: Any, **options: Any) -> Iterator[Any]:
            answers.append(1)
            first = len(answers) == 1
            for event in generate_ids(*call, **options):
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                yield event
                if first:
                    first = False
                    signal.raise_signal(signal.SIGINT if signum is None else signum)

        engine.generate_ids = interrupted
        return engine

    monkeypatch.setattr(cli, "_load", loading)
    return texts


@pytest.mark.parametrize("raw", [False, True])
def test_ctrl_c_mid_answer_keeps_the_answer_so_far_and_exits_130(
    installed: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    raw: bool,
) -> None:
    streamed = _interrupt_the_first_answer(monkeypatch)
    argv = ["ask", "hi", "--temperature", "0", "--max-tokens", "20", *(["--raw"] if raw else [])]
    assert main(argv) == 130
    out, err = capsys.readouterr()
    assert streamed
    assert out == "".join(streamed) + "\n", "the answer so far stays on the screen"
    if raw:  # a completion is not kept: nothing to go on with
        assert err == "parley: cancelled\n"
    else:
        assert re.fullmatch(
            r"parley: cancelled; parley chat --resume \d+, then /continue, goes on with it\n", err
        )


def test_ctrl_c_mid_answer_with_json_is_one_json_object(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_the_first_answer(monkeypatch)
    argv = ["ask", "hi", "--json", "--temperature", "0", "--max-tokens", "20"]
    assert main(argv) == 130
    payload = json.loads(capsys.readouterr().out)
    assert payload["finish_reason"] == "cancelled"
    assert len(payload["token_ids"]) == 1


def test_ctrl_c_in_chat_stops_the_answer_and_the_chat_goes_on(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_the_first_answer(monkeypatch)
    assert _chat(monkeypatch, "tell me\nmore\n\n") == 0
    out = capsys.readouterr().out
    assert "[stopped: /continue goes on]" in out
    assert out.count("parley> ") == 2


def test_ctrl_c_at_the_chat_prompt_drops_the_line_and_twice_exits_130(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli

    class Keys:
        """A half-typed line dropped with Ctrl-C, a message, then Ctrl-C twice."""

        def __init__(self) -> None:
            self.keys: list[str | None] = [None, "hello\n", None, None]

        def readline(self) -> str:
            key = self.keys.pop(0)
            if key is None:
                raise KeyboardInterrupt
            return key

    keys = Keys()
    monkeypatch.setattr(cli.sys, "stdin", keys)
    assert main(["chat", "--temperature", "0", "--max-tokens", "3"]) == 130
    assert keys.keys == []
    captured = capsys.readouterr()
    assert captured.out.count("(Ctrl-C again, Ctrl-D or /exit leaves the chat)") == 2
    assert captured.out.count("parley> ") == 1, "the chat went on after the first Ctrl-C"
    assert "Traceback" not in captured.err


def test_a_block_ended_by_ctrl_d_at_a_terminal_is_not_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli

    typed = iter(['"""', "half of a", "message"])

    def terminal_input(_prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None  # Ctrl-D

    lines = cli._Lines(io.StringIO())
    lines.terminal = True
    monkeypatch.setattr("builtins.input", terminal_input)
    assert lines.message() is None
    assert '(not sent: the message had no closing """)' in capsys.readouterr().out


def test_continue_says_when_there_is_no_answer_to_continue(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _chat(monkeypatch, "/continue\n") == 0
    assert "(nothing to continue: no answer yet)" in capsys.readouterr().out
    assert main(["chat", "--resume", "--system", "Be French."]) == 1
    assert "--system cannot change a resumed chat's system prompt" in capsys.readouterr().err


def test_a_reader_that_went_away_ends_the_answer_quietly(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`parley ask ... | head -c1`: exit 141 as a shell reports SIGPIPE, nothing on stderr."""
    import io
    import os
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    pipe = io.TextIOWrapper(os.fdopen(write_end, "wb"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", pipe)
    try:
        assert main(["ask", "hi", "--temperature", "0", "--max-tokens", "5"]) == 141
        pipe.write("what Python flushes at exit goes nowhere, without an error\n")
        pipe.flush()
    finally:
        pipe.close()
    assert capsys.readouterr().err == ""


class _FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "argv",
    [
        ["ask", "hi", "--max-tokens", "3"],
        ["ask", "hi", "--max-tokens", "3", "--json"],
        ["models", "list"],
        ["models", "info", "tiny-model"],
        ["feedback", "outbox"],
    ],
)
def test_output_to_a_full_disk_is_one_line(
    installed: str,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "parley: error: cannot write the output (No space left on device)\n"
    )


def test_closed_standard_streams_are_one_line(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys, "stdin", None)
    assert main(["chat"]) == 1
    assert capsys.readouterr().err == (
        "parley: error: standard input is closed; chat reads your messages from it\n"
    )
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["ask", "hi"]) == 1, "an answer nobody can see is not a success"
    assert capsys.readouterr().err == "parley: error: standard output is closed\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "hi", "--threads", "100000"], "--threads must be between 0 and 256"),
        (["ask", "hi", "--context", "-1"], "--context must be between 512 and 131072"),
        (["ask", "hi", "--max-tokens", "-5"], "--max-tokens must be between 1 and 32768"),
        (["ask", "hi", "--temperature", "nan"], "--temperature must be a finite number (got nan)"),
        (["ask", "hi", "--temperature", "-1"], "--temperature must be between 0 and 5 (got -1.0)"),
        (["ask", "hi", "--top-p", "inf"], "--top-p must be a finite number"),
        (["ask", "hi", "--seed", "-2"], "--seed must be between -1 and"),
        (["chat", "--repetition-penalty", "0"], "--repetition-penalty must be between 0.5 and 3"),
        (["ask", ""], "the prompt is empty"),
        (["ask", " \n "], "the prompt is empty"),
        (["ask", "caf\udce9"], "the prompt is not UTF-8 text"),  # the byte 0xE9 in Latin-1
        (["ask", "hi", "--system", "\udce9t\udce9"], "--system is not UTF-8 text"),
        (["ask", "hi", "--stop", "\udcff"], "--stop is not UTF-8 text"),
        (["ask", "hi", "--model", "no/such/folder"], "--model no/such/folder: no such folder"),
        (["bench", "--rounds", "0"], "--rounds must be at least 1 (got 0)"),
        (["bench", "--threads", "-1"], "--threads must be at least 1 (got -1)"),
    ],
)
def test_bad_options_are_one_line_before_anything_runs(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No model is installed: each mistake is named before a model would be needed (or a
    benchmark would run for minutes)."""
    from desktop import benchmark

    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a, **k: pytest.fail("it ran"))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"parley: error: {message}")
    assert err.count("\n") == 1


def test_a_model_option_that_names_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = tmp_path / "model.onnx"
    weights.write_bytes(b"")
    assert main(["ask", "hi", "--model", str(weights)]) == 1
    assert "is a file; give a model folder or an installed model's name" in (
        capsys.readouterr().err
    )


def test_bench_refuses_an_output_it_could_not_write_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import benchmark

    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a, **k: pytest.fail("it ran"))
    assert main(["bench", "--json", str(tmp_path)]) == 1
    assert "it is a folder (name a file in it)" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["bench", "--json", str(blocker / "out.json")]) == 1
    assert f"cannot write {blocker / 'out.json'}: {blocker} is not a folder" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["ask", "hi", "--json"], "no model installed; run: parley models install starter"),
        (["ask", "", "--json"], "the prompt is empty"),
        (["ask", "hi", "--json", "--top-k", "-3"], "--top-k must be between 0 and 1000"),
    ],
)
def test_ask_json_prints_one_json_object_when_it_fails(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["finish_reason"] == "error"
    assert payload["error"].startswith(error)
    assert payload["text"] == ""
    assert err.startswith(f"parley: error: {error}")


def test_ask_json_stays_ascii_json_on_an_ascii_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["ask", "hi", "--json", "--model", "./wörter/modell"]) == 1
    out.flush()
    assert isinstance(out.buffer, io.BytesIO)
    payload = json.loads(out.buffer.getvalue().decode("ascii"))
    assert payload["error"] == "--model ./wörter/modell: no such folder"


def test_a_seed_of_minus_one_means_a_new_seed_as_in_the_settings(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "hi", "--seed", "-1", "--max-tokens", "2"]) == 0


def test_chat_refuses_a_line_that_is_not_utf8_and_goes_on(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from desktop import cli

    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9\nhi\n\n"), encoding="utf-8")
    monkeypatch.setattr(cli.sys, "stdin", stdin)
    assert main(["chat", "--temperature", "0", "--max-tokens", "2"]) == 0
    out = capsys.readouterr().out
    assert "(that message is not UTF-8 text" in out
    assert "nothing was sent)" in out
    assert out.count("parley> ") == 1


def test_models_info_names_the_folder_not_what_its_manifest_says(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.convert.library import ModelLibrary

    manifest = ModelLibrary().get(installed).path / "parley.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "name": "other", "path": "/elsewhere"}), "utf-8")
    assert main(["models", "info", installed]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["name"], info["path"]) == (installed, str(manifest.parent))


def test_a_damaged_model_is_neither_imported_nor_made_the_default(
    installed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from desktop.convert.library import ModelLibrary

    library = ModelLibrary()
    copy = tmp_path / "copy"
    shutil.copytree(library.get(installed).path, copy)
    (copy / "model.onnx.data").write_bytes(b"cut short")
    assert main(["models", "import", str(copy)]) == 1
    assert "cannot be imported: model.onnx.data is incomplete" in capsys.readouterr().err
    assert library.names() == [installed]
    shutil.copytree(copy, library.root / "damaged")
    assert main(["models", "default", "damaged"]) == 1
    assert "damaged cannot be the default: model.onnx.data is incomplete" in (
        capsys.readouterr().err
    )
    assert library.default_name() == installed


def test_the_default_model_is_one_choice_for_the_terminal_and_the_window(
    installed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The window reads the settings' default model first, `parley ask` read only the
    library's: `parley models default` changed one, the window's model menu the other."""
    import shutil

    from desktop.config.settings import Settings
    from desktop.convert.library import ModelLibrary

    library = ModelLibrary()
    shutil.copytree(library.get(installed).path, library.root / "other")
    manifest = library.root / "other" / "parley.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "name": "other"}))
    settings = Settings.load()
    settings.update({"model.default": installed})  # as the window's model menu leaves it
    settings.save()
    assert main(["models", "default", "other"]) == 0
    assert Settings.load().get_str("model.default") == "other", "what the window starts with"
    assert library.default_name() == "other"
    settings = Settings.load()
    settings.update({"model.default": installed})  # chosen in the window's settings
    settings.save()
    capsys.readouterr()
    assert main(["ask", "hi", "--max-tokens", "1", "--json", "--no-save"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == installed
    library.set_default(installed)
    settings.update({"model.default": "other"})
    settings.save()
    assert main(["ask", "hi", "--max-tokens", "1", "--json", "--no-save"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "other", "the settings' choice"


def test_a_models_folder_that_cannot_be_written_is_one_line(
    installed: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    from desktop.convert.library import ModelLibrary

    def read_only(self: ModelLibrary, name: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self.root / name))

    monkeypatch.setattr(ModelLibrary, "remove", read_only)
    assert main(["models", "remove", installed]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"parley: error: cannot remove {installed}: Permission denied: ")
    assert err.count("\n") == 1
    monkeypatch.undo()
    a_file = tmp_path / "a file"
    a_file.write_text("x")
    monkeypatch.setenv("PARLEY_DATA_DIR", str(a_file))
    gguf = write_tiny_gguf(tmp_path / "other.gguf", TinySpec(weight_type="Q8_0"))
    assert main(["models", "import", str(gguf)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"parley: error: cannot import {gguf}: Not a directory")
    assert err.count("\n") == 1


# -- parley chat keeps its conversations in the app's history ------------------------------
def _saved_chats() -> list[tuple[Any, list[Any]]]:
    """Every conversation of the history (the window's, in the test's data dir), oldest
    first, with its current branch."""
    from desktop.store import Store

    with Store.open() as store:
        ids = sorted(c.id for c in store.list_conversations())
        return [(store.get_conversation(i), store.current_path(i)) for i in ids]


def test_a_chat_is_saved_in_the_history_as_the_window_saves_one(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = "What is   the capital of France, and why is it there of all places?"
    assert _chat(monkeypatch, f"{first}\nmore\n") == 0
    out = capsys.readouterr().out
    [(conversation, path)] = _saved_chats()
    assert conversation.title == "What is the capital of France, and why is it th…"
    assert conversation.system_prompt == sent[0][0].content == "You are a helpful assistant."
    assert [(m.role, m.status) for m in path] == [
        ("user", "complete"),
        ("assistant", "complete"),  # cut off at 3 tokens: complete, and continuable
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert [path[0].content, path[2].content] == [first, "more"]
    for answer in (path[1], path[3]):
        assert answer.content
        assert f"parley> {answer.content}\n" in out, "stored as it was shown"
        assert answer.model == installed
        assert answer.stats["generated_tokens"] == 3
        assert answer.stats["finish_reason"] == "length"
        assert answer.params["system_prompt"] == "You are a helpful assistant."
        assert answer.params["max_new_tokens"] == 3
    assert [m.parent_id for m in path] == [None, path[0].id, path[1].id, path[2].id]
    said = (
        f'(saved in your history as "{conversation.title}"; '
        f"parley chat --resume {conversation.id} goes on with it)"
    )
    assert out.count(said) == 1, "once per conversation"
    assert out.index(said) < out.index("parley> ")


def test_new_starts_another_saved_conversation_and_no_save_saves_nothing(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.store import default_path

    assert _chat(monkeypatch, "one\n/new\ntwo\n", "--no-save") == 0
    assert "saved in your history" not in capsys.readouterr().out
    assert not default_path().exists(), "not even opened"
    assert _chat(monkeypatch, "one\n/new\ntwo\n/system Be terse.\nthree\n") == 0
    assert capsys.readouterr().out.count("(saved in your history as ") == 3
    saved = _saved_chats()
    assert [(c.title, [m.role for m in path]) for c, path in saved] == [
        ("one", ["user", "assistant"]),
        ("two", ["user", "assistant"]),
        ("three", ["user", "assistant"]),
    ]
    assert [c.system_prompt for c, _ in saved] == ["You are a helpful assistant."] * 2 + [
        "Be terse."
    ]
    assert _chat(monkeypatch, "four\n/system\nfive\n", "--no-save") == 0
    assert len(_saved_chats()) == 3


def test_resume_goes_on_with_a_saved_conversation(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _chat(monkeypatch, "hi\n", "--system", "Be terse.") == 0
    [(conversation, before)] = _saved_chats()
    capsys.readouterr()
    assert _chat(monkeypatch, "again\n", "--resume", str(conversation.id)) == 0
    out = capsys.readouterr().out
    assert '(continuing "hi": 2 messages)' in out
    last = f"you> hi\nparley> {before[1].content}\n[cut off by the length limit: /continue goes on]"
    assert last in out, "where it stands"
    assert "saved in your history" not in out, "said once per conversation"
    # the model is told the earlier messages, with the conversation's own system prompt
    assert sent[-1] == [
        ChatMessage("system", "Be terse."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", before[1].content),
        ChatMessage("user", "again"),
    ]
    [(_, path)] = _saved_chats()
    assert [m.id for m in path[:2]] == [m.id for m in before]
    assert [(m.role, m.content) for m in path[2:3]] == [("user", "again")]
    assert path[2].parent_id == before[-1].id, "after the old leaf"
    assert (path[3].role, path[3].status) == ("assistant", "complete")


def test_ctrl_c_saves_the_answer_as_stopped_and_continue_extends_it(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed = _interrupt_the_first_answer(monkeypatch)
    assert _chat(monkeypatch, "tell me\n", "--max-tokens", "20") == 0
    [(conversation, [_, stopped])] = _saved_chats()
    assert stopped.status == "stopped"
    assert stopped.content == "".join(streamed) != ""
    assert stopped.stats["finish_reason"] == "cancelled"
    assert stopped.stats["generated_tokens"] == 1
    # a later chat goes on with it, into the same message, as the window's Continue does
    assert _chat(monkeypatch, "/continue\n", "--resume", str(conversation.id)) == 0
    [(_, [_, continued])] = _saved_chats()
    assert continued.id == stopped.id
    assert continued.content == "".join(streamed)
    assert len(continued.content) > len(stopped.content)
    assert continued.status == "complete"
    assert continued.stats["finish_reason"] == "length"
    assert continued.stats["generated_tokens"] == 1 + 3, "all its tokens"


def test_continue_in_the_same_chat_extends_the_saved_answer(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed = _interrupt_the_first_answer(monkeypatch)
    assert _chat(monkeypatch, "tell me\n/continue\n/continue\n") == 0
    [(_, path)] = _saved_chats()
    assert [m.role for m in path] == ["user", "assistant"]
    assert path[1].content == "".join(streamed)
    assert path[1].stats["generated_tokens"] == 1 + 3 + 3


def test_the_answer_so_far_is_saved_while_it_streams(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli
    from desktop.store import Store

    saved: list[str] = []
    append_partial = Store.append_partial

    def recording(self: Store, message_id: int, text: str) -> None:
        saved.append(text)
        append_partial(self, message_id, text)

    monkeypatch.setattr(Store, "append_partial", recording)
    monkeypatch.setattr(cli, "FLUSH_INTERVAL_S", 0.0)  # at every token
    assert _chat(monkeypatch, "hi\n", "--max-tokens", "6") == 0
    [(_, [_, answer])] = _saved_chats()
    assert len(saved) >= 2
    assert all(answer.content.startswith(text) for text in saved)
    assert saved == sorted(saved, key=len), "the whole text so far each time"


@pytest.mark.skipif(sys.platform == "win32", reason="raises SIGTERM in the test process")
def test_sigterm_mid_answer_stores_the_answer_so_far_before_it_ends(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logout or a closed terminal: the answer is stored as stopped, not left streaming."""
    import signal

    streamed = _interrupt_the_first_answer(monkeypatch, signal.SIGTERM)
    with pytest.raises(SystemExit) as ended:
        _chat(monkeypatch, "tell me\nnever read\n", "--max-tokens", "20")
    assert ended.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "put back"
    [(_, [_, answer])] = _saved_chats()
    assert answer.status == "stopped"
    assert answer.content == "".join(streamed)


def test_an_answer_a_crash_ends_is_not_left_streaming(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from collections.abc import Iterator

    from desktop import cli
    from desktop.engine.types import TextDelta

    load = cli._load

    def crashing(args: Any) -> Any:
        engine = load(args)
        generate = engine.generate

        def crash(*call: Any) -> Iterator[Any]:
            for event in generate(*call):
                yield event
                if isinstance(event, TextDelta) and event.text:
                    raise RuntimeError("a bug")

        engine.generate = crash
        return engine

    monkeypatch.setattr(cli, "_load", crashing)
    assert _chat(monkeypatch, "hi\n") == 1
    [(_, [_, answer])] = _saved_chats()
    assert answer.status == "stopped"
    assert answer.content
    out, err = capsys.readouterr()
    assert f"parley> {answer.content}" in out
    # our bug: one line, no traceback in the user's face; the traceback is in the log
    assert err.startswith("parley: error: an error inside Parley (RuntimeError: a bug); ")
    assert "Traceback" not in err
    log = data_dir() / "logs" / "parley-cli.log"
    assert "RuntimeError: a bug" in log.read_text(encoding="utf-8")
    monkeypatch.setenv("PARLEY_DEBUG", "1")  # a developer sees it raised
    with pytest.raises(RuntimeError, match="a bug"):
        _chat(monkeypatch, "hi\n")


def test_an_answer_left_by_a_killed_chat_is_interrupted_and_continue_goes_on(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.store import Store

    with Store.open() as killed:  # another parley chat, gone without finishing its answer
        chat = killed.create_conversation("tell me")
        question = killed.add_message(chat.id, None, "user", "tell me")
        answer = killed.begin_assistant(chat.id, question.id, installed)
        killed.append_partial(answer.id, "Once")
    assert _chat(monkeypatch, "/continue\n", "--resume", str(chat.id)) == 0
    out = capsys.readouterr().out
    assert "parley> Once\n[interrupted: /continue goes on]" in out
    assert sent[-1][-1] == ChatMessage("assistant", "Once"), "goes on from its text"
    [(_, path)] = _saved_chats()
    assert path[-1].id == answer.id
    assert path[-1].status == "complete"
    assert path[-1].content.startswith("Once")
    assert len(path[-1].content) > len("Once")


def test_a_history_that_cannot_be_opened_costs_nothing_but_saving(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.store import DatabaseLocked, Store

    def locked(*args: Any, **kwargs: Any) -> Store:
        raise DatabaseLocked("The history database h is in use by another program.", Path("h"))

    monkeypatch.setattr(Store, "open", locked)
    assert _chat(monkeypatch, "hi\nmore\n") == 0
    out = capsys.readouterr().out
    assert out.count("(the history cannot be written") == 1
    assert (
        "(the history cannot be written: The history database h is in use by another program; "
        "this chat is not being saved)"
    ) in out
    assert len(sent) == 2
    assert out.count("parley> ") == 2
    assert "saved in your history" not in out


def test_a_history_that_refuses_a_write_costs_nothing_but_saving(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An import in the window holds the history: the first write fails, the chat goes on."""
    from desktop.store import Store

    opened: list[Store] = []
    open_store = Store.open

    def held(*args: Any, **kwargs: Any) -> Store:
        store = open_store(*args, **kwargs)
        store.write_guard = lambda: "The history is busy with an import."
        opened.append(store)
        return store

    monkeypatch.setattr(Store, "open", held)
    assert _chat(monkeypatch, "hi\nmore\n") == 0
    out = capsys.readouterr().out
    assert (
        out.count(
            "(the history cannot be written: The history is busy with an import; "
            "this chat is not being saved)"
        )
        == 1
    )
    assert len(sent) == 2
    assert out.count("parley> ") == 2
    monkeypatch.undo()
    assert _saved_chats() == [], "the conversation comes with its first message, or not at all"


def test_a_full_disk_mid_chat_stops_saving_and_leaves_no_empty_conversation(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.store import DiskFull, Store

    add_message = Store.add_message

    def filling(
        self: Store, conversation_id: int, parent_id: int | None, role: Any, *rest: Any, **kw: Any
    ) -> Any:
        if role == "user" and len(self.list_conversations()) > 1:  # the second one's first
            raise DiskFull("The disk holding the history database h is full.", Path("h"))
        return add_message(self, conversation_id, parent_id, role, *rest, **kw)

    monkeypatch.setattr(Store, "add_message", filling)
    assert _chat(monkeypatch, "one\n/new\ntwo\nthree\n") == 0
    out = capsys.readouterr().out
    assert out.count("(the history cannot be written: The disk holding") == 1
    assert len(sent) == 3, "every message was answered"
    assert [(c.title, [m.role for m in path]) for c, path in _saved_chats()] == [
        ("one", ["user", "assistant"])
    ], "no conversation 'two' without its message"


def test_resume_of_an_unknown_conversation_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _chat(monkeypatch, "hi\n", "--resume", "999") == 1
    assert capsys.readouterr().err == (
        "parley: error: no conversation 999 in your history (see: parley export --list)\n"
    )
    assert _chat(monkeypatch, "hi\n", "--resume") == 1, "nothing written yet"
    assert capsys.readouterr().err == (
        "parley: error: your history has no conversation to go on with yet\n"
    )


def test_resume_without_an_id_goes_on_with_the_chat_written_to_last(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _chat(monkeypatch, "older\n/new\nnewer\n") == 0
    older, newer = _saved_chats()
    assert newer[0].updated_at >= older[0].updated_at
    assert _chat(monkeypatch, "go on\n", "--resume") == 0
    out = capsys.readouterr().out
    assert '(continuing "newer": 2 messages)' in out
    assert "cannot be written" not in out
    assert [m.content for m in sent[-1]][1:2] == ["newer"]
    assert [m.content for m in _saved_chats()[1][1]][-2] == "go on"
    assert len(older[1]) == len(_saved_chats()[0][1]) == 2, "the older chat is left alone"


def _filter(settings: dict[str, object]) -> None:
    from desktop.config.settings import Settings

    stored = Settings.load()
    stored.update(settings)
    stored.save()


def test_the_chat_applies_the_content_filter_as_the_window_does(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blocked message is kept in the history (with what was found, for the window's
    banner) but never reaches the model, in this turn or later ones, nor after --resume."""
    from desktop.feedback.repository import FeedbackStore
    from desktop.store import Store

    threat = "I will kill you tomorrow"
    assert _chat(monkeypatch, f"{threat}\nhello\n", "--system", "") == 0
    out = capsys.readouterr().out
    assert "(your message was flagged: violence — warned)" in out, "the default: warn"
    assert [m.content for m in sent[0]] == [threat]
    _filter({"filter.action.violence": "block"})
    assert _chat(monkeypatch, f"{threat}\nhello\n", "--system", "") == 0
    out = capsys.readouterr().out
    assert "(not sent to the model: flagged: violence — blocked;" in out
    assert [m.content for m in sent[-1]] == ["hello"]
    conversation, path = _saved_chats()[-1]
    assert [(m.role, m.content) for m in path[:2]] == [("user", threat), ("user", "hello")]
    with Store.open() as store:
        (event,) = FeedbackStore(store).moderation_events(path[0].id)
    assert (event.category, event.action) == ("violence", "block")
    calls = len(sent)
    assert _chat(monkeypatch, "and?\n", "--resume", str(conversation.id), "--system", "") == 0
    assert len(sent) == calls + 1
    assert threat not in [m.content for m in sent[-1]]


def test_a_blocked_answer_is_said_and_left_out_of_the_next_turns(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop import cli
    from desktop.engine.types import Finished, TextDelta

    load = cli._load

    def scripted(args: Any) -> Any:
        engine = load(args)
        generate = engine.generate

        def answer(messages: list[ChatMessage], *rest: Any) -> Any:
            generate(messages, *rest)  # recorded in `sent`; its model does not run
            yield TextDelta(1, "Go away, idiot.")
            yield Finished("length")  # cut off: /continue would apply, were it not blocked

        engine.generate = answer
        return engine

    monkeypatch.setattr(cli, "_load", scripted)
    _filter({"filter.action.harassment": "block", "filter.rules.harassment": "go away, idiot"})
    assert _chat(monkeypatch, "one\n/continue\ntwo\n", "--system", "") == 0
    out = capsys.readouterr().out
    # screened as it streams: the blocked words are not printed, then the whole is said
    assert out.count("parley>  […]\n[the answer was flagged: harassment — blocked:") == 2
    assert "Go away" not in out
    assert "(nothing to continue" in out
    assert [m.content for m in sent[-1]] == ["one", "two"], "no answer in the context"
    assert _chat(monkeypatch, "/continue\n", "--resume") == 0
    assert "(nothing to continue" in capsys.readouterr().out
    assert len(sent) == 2
    assert main(["ask", "three", "--system", ""]) == 0
    out, err = capsys.readouterr()
    assert "Go away" not in out, "parley ask screens as it streams too"
    assert "the answer was flagged: harassment — blocked" in err


# -- parley ask keeps its one exchange in the history too ----------------------------------
def test_ask_is_saved_as_a_chat_that_chat_resume_goes_on_with(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["ask", "What is up?", "--temperature", "0", "--max-tokens", "3", "--system", "Hi."]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    [(conversation, path)] = _saved_chats()
    assert (conversation.title, conversation.system_prompt) == ("What is up?", "Hi.")
    assert [(m.role, m.status) for m in path] == [("user", "complete"), ("assistant", "complete")]
    answer = path[1]
    assert out == answer.content + "\n", "the output is the answer alone, as stored"
    assert err == (
        "parley: the answer was cut off at its length limit (3 tokens); "
        f"parley chat --resume {conversation.id}, then /continue, goes on with it\n"
    )
    assert answer.model == installed
    assert answer.stats["finish_reason"] == "length"
    assert answer.params["system_prompt"] == "Hi."
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["conversation_id"] == _saved_chats()[-1][0].id != conversation.id
    assert _chat(monkeypatch, "and then?\n", "--resume", str(conversation.id)) == 0
    assert sent[-1] == [
        ChatMessage("system", "Hi."),
        ChatMessage("user", "What is up?"),
        ChatMessage("assistant", answer.content),
        ChatMessage("user", "and then?"),
    ]


def test_an_answer_cut_off_by_a_full_context_window_is_not_blamed_on_the_length_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from desktop.cli import _say_cut_off

    _say_cut_off(7, 100, 4)
    _say_cut_off(100, 100, None)
    assert capsys.readouterr().err == (
        "parley: the answer was cut off: the model's context window is full\n"
        "parley: the answer was cut off at its length limit (100 tokens)\n"
    )


def test_ask_with_no_save_or_raw_saves_nothing_and_a_failed_load_leaves_no_question(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.store import default_path

    assert main(["ask", "hi", "--max-tokens", "2", "--no-save"]) == 0
    assert main(["ask", "hi", "--max-tokens", "2", "--raw"]) == 0
    assert main(["ask", "hi", "--max-tokens", "2", "--no-save", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["conversation_id"] is None
    assert not default_path().exists(), "not even opened"
    assert main(["ask", "hi", "--model", "no-such-model"]) == 1
    assert "no-such-model" in capsys.readouterr().err
    assert _saved_chats() == []


def test_ctrl_c_in_ask_saves_the_answer_so_far_as_stopped(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    streamed = _interrupt_the_first_answer(monkeypatch)
    assert main(["ask", "hi", "--temperature", "0", "--max-tokens", "20"]) == 130
    capsys.readouterr()
    [(_, path)] = _saved_chats()
    assert (path[1].status, path[1].content) == ("stopped", "".join(streamed))


def test_a_history_that_cannot_be_written_is_said_once_on_stderr_and_ask_answers(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.store import DatabaseLocked, Store

    def locked(*args: Any, **kwargs: Any) -> Store:
        raise DatabaseLocked("The history database h is in use by another program.", Path("h"))

    monkeypatch.setattr(Store, "open", locked)
    assert main(["ask", "hi", "--temperature", "0", "--max-tokens", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["text"]
    assert payload["conversation_id"] is None
    assert err == (
        "(the history cannot be written: The history database h is in use by another "
        "program; this answer is not being saved)\n"
    )


def test_a_prompt_ask_refuses_is_kept_with_what_the_filter_found_as_in_the_window(
    installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.feedback.repository import FeedbackStore
    from desktop.store import Store

    _filter({"filter.action.violence": "block"})
    assert main(["ask", "I will kill you tomorrow", "--max-tokens", "2"]) == 1
    capsys.readouterr()
    [(_, path)] = _saved_chats()
    assert [m.role for m in path] == ["user"], "never answered"
    with Store.open() as store:
        (event,) = FeedbackStore(store).moderation_events(path[0].id)
    assert (event.category, event.action) == ("violence", "block")


def test_ask_applies_the_content_filter_before_the_model_loads(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli

    threat = "I will kill you tomorrow"
    argv = ["ask", threat, "--temperature", "0", "--max-tokens", "2"]
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["moderation"] == {"input": "flagged: violence — warned", "output": ""}
    assert main(argv) == 0
    assert "parley: your prompt was flagged: violence — warned\n" in capsys.readouterr().err
    _filter({"filter.action.violence": "block"})
    loads: list[object] = []
    monkeypatch.setattr(cli, "_load", lambda args: loads.append(args))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: error: the content filter kept this prompt from the model")
    assert err.count("\n") == 1
    assert loads == [], "refused before the model is loaded"
    # --json: the same keys as an answer's, saying where the refused prompt was kept
    assert main([*argv, "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert set(refused) == set(payload)
    assert refused["moderation"] == {"input": "flagged: violence — blocked", "output": ""}
    assert isinstance(refused["conversation_id"], int)


def test_the_chat_follows_the_settings_when_it_outgrows_the_context_window(
    installed: str,
    sent: list[list[ChatMessage]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings ▸ When the chat is too long: 'Leave out the oldest turns' (the default) or
    'Stop and tell me', in the terminal as in the window."""
    long = "word " * 30  # ~150 tokens: one fits the tiny model's 256, two do not
    script = f"{long}\nagain {long}\n"
    argv = ("--max-tokens", "4", "--system", "")
    assert _chat(monkeypatch, script, *argv) == 0
    assert "older messages left out of the context" in capsys.readouterr().out
    _filter({"context.policy": "stop"})
    assert _chat(monkeypatch, script, *argv) == 0
    captured = capsys.readouterr()
    assert "older messages left out" not in captured.out
    assert "this chat no longer fits the model's context window" in captured.err


class _TtyText(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_how_much_of_a_long_chat_is_read_before_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.cli import _stream
    from desktop.engine.types import ContextTrimmed, Finished, PromptProgress, TextDelta

    events = [
        ContextTrimmed(4),
        PromptProgress(256, 1000),
        PromptProgress(512, 1000),
        TextDelta(7, "Hello"),
        Finished("stop"),
    ]
    terminal, out = _TtyText(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    result = _stream(iter(events), out, threading.Event())
    assert out.getvalue() == "Hello"
    said = terminal.getvalue()
    assert said.index("(reading the chat… 25%)") < said.index("(reading the chat… 51%)")
    # written after what the line holds ("parley> "): the cursor saved and put back, never
    # a carriage return, which wiped the prompt
    assert "\r" not in said
    assert said.startswith("\0337(reading the chat… 25%)")
    assert said.endswith("\0338\033[K"), "the progress is wiped before the answer"
    assert (result["text"], result["dropped_messages"]) == ("Hello", 4)

    piped = io.StringIO()  # not a terminal (a pipe, a log): nothing but the answer
    monkeypatch.setattr(sys, "stderr", piped)
    assert _stream(iter(events), io.StringIO(), threading.Event())["text"] == "Hello"
    assert piped.getvalue() == ""


def test_a_resumed_chat_is_read_while_the_first_question_is_typed(
    installed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli

    assert _chat(monkeypatch, "hi\n", "--system", "Be terse.") == 0
    [(conversation, before)] = _saved_chats()
    reads: list[tuple[list[ChatMessage], threading.Event]] = []
    events: list[str] = []
    load = cli._load

    def watching_load(args: Any) -> Any:
        engine = load(args)
        prefill, generate = engine.prefill, engine.generate

        def read(messages: list[ChatMessage], params: Any, cancel: threading.Event) -> int:
            reads.append((list(messages), cancel))
            return int(prefill(messages, params, cancel))

        def answer(messages: list[ChatMessage], *rest: Any) -> Any:
            events.append("answer" if reads[-1][1].is_set() else "answer while reading")
            return generate(messages, *rest)

        engine.prefill, engine.generate = read, answer
        return engine

    monkeypatch.setattr(cli, "_load", watching_load)
    assert _chat(monkeypatch, "again\n", "--resume", str(conversation.id)) == 0
    [(messages, cancel)] = reads
    assert messages == [
        ChatMessage("system", "Be terse."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", before[1].content),
    ]
    assert events == ["answer"], "the reading stops before the engine answers"
    assert cancel.is_set()


def test_ask_reading_a_terminal_says_how_the_text_ends(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import cli

    class Typed(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli.sys, "stdin", Typed("what I typed\n"))
    assert cli._read_stdin() == b"what I typed\n"
    assert "then Ctrl-D on a line of its own" in capsys.readouterr().err
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO("piped\n"))
    assert cli._read_stdin() == b"piped\n"
    assert capsys.readouterr().err == "", "a pipe needs no word"
