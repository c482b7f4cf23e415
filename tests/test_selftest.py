"""``parley --self-test`` on a tiny generated model: installed, bundled, or missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.convert.library import ModelLibrary
from desktop.selftest import PROMPT, process_age
from tests.models import TinyModels


def test_passes_with_the_installed_model(
    tiny_models: TinyModels, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf, _ = tiny_models.get()
    ModelLibrary().import_gguf(gguf, "tiny")

    assert main(["--self-test"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Parley self-test"
    assert out[1].startswith("model:   tiny (installed: ")
    assert f"prompt:  {PROMPT}" in out
    answer = next(line for line in out if line.startswith("answer:  "))
    assert len(answer) > len("answer:  ")
    timings = next(line for line in out if line.startswith("timings: "))
    assert "model load" in timings
    assert "tok/s" in timings
    assert "start-up" in timings
    assert out[-1] == "self-test passed"


def test_uses_the_bundled_model_when_none_is_installed(
    tiny_models: TinyModels,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, bundle = tiny_models.get()
    bundled = tmp_path / "app" / "models"
    shutil.copytree(bundle, bundled / "starter")
    monkeypatch.setenv("PARLEY_BUNDLED_MODELS", str(bundled))

    assert main(["--self-test"]) == 0
    assert f"(bundled: {bundled / 'starter'})" in capsys.readouterr().out
    # `parley ask` falls back to it too.
    assert main(["ask", "hi", "--max-tokens", "2", "--temperature", "0"]) == 0


def test_fails_in_one_line_without_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--self-test"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("parley: self-test failed: no model")
    assert captured.err.count("\n") == 1


def test_fails_in_one_line_with_a_broken_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "tokenizer.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("PARLEY_BUNDLED_MODELS", str(broken.parent))
    assert main(["--self-test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("parley: self-test failed: cannot load the model at ")
    assert err.count("\n") == 1


def test_process_age_is_plausible() -> None:
    age = process_age()
    if Path("/proc/self/stat").exists():
        assert age is not None
        assert 0 < age < 24 * 3600
    else:
        assert age is None


def test_parley_entry_point_runs_the_self_test_not_the_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from desktop.main import main as entry

    assert entry(["--self-test"]) == 1  # no model here: the one-line failure, no window
    assert capsys.readouterr().err.startswith("parley: self-test failed: no model")


def test_the_window_falls_back_to_the_bundled_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop import app
    from desktop.config.settings import Settings

    settings = Settings(tmp_path / "settings.json")
    assert app.default_model(settings) is None
    bundled = tmp_path / "bundled"
    (bundled / "starter").mkdir(parents=True)
    (bundled / "starter" / "tokenizer.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("PARLEY_BUNDLED_MODELS", str(bundled))
    assert app.default_model(settings) == bundled / "starter"
