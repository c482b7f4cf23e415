"""``parley`` end to end, in-process, on a tiny generated model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.cli import main
from tests.ggufs import TinySpec, write_tiny_gguf


@pytest.fixture
def installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    gguf = write_tiny_gguf(tmp_path / "Tiny Model.gguf", TinySpec(weight_type="Q8_0"))
    assert main(["models", "import", str(gguf)]) == 0
    capsys.readouterr()
    return "tiny-model"


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


def test_ask_raw_streams_text(installed: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "the", "--raw", "--temperature", "0", "--max-tokens", "4"]) == 0
    assert capsys.readouterr().out.endswith("\n")


def test_chat_conversation(
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from desktop import cli

    monkeypatch.setattr(cli.sys, "stdin", io.StringIO("hi\nmore\n\n"))
    assert main(["chat", "--temperature", "0", "--max-tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("parley> ") == 2


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
    installed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    from typing import Any

    from desktop import cli
    from desktop.engine.types import ChatMessage

    sent: list[list[ChatMessage]] = []
    load = cli._load

    def recording_load(args: Any) -> Any:
        engine = load(args)
        generate = engine.generate

        def record(messages: list[ChatMessage], *rest: Any) -> Any:
            sent.append(list(messages))
            return generate(messages, *rest)

        engine.generate = record
        return engine

    monkeypatch.setattr(cli, "_load", recording_load)
    script = "hi\n/help\n/continue\n/system Be terse.\n//etc/hosts?\n/bogus\n/exit\nnot read\n"
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(script))
    assert main(["chat", "--temperature", "0", "--max-tokens", "3"]) == 0
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
