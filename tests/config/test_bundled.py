"""Finding the model shipped inside a frozen app."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from desktop.config.bundled import bundled_model, bundled_models_dir


def _model(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    return folder


def test_a_development_checkout_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_BUNDLED_MODELS", raising=False)
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert bundled_models_dir() is None
    assert bundled_model() is None


def test_frozen_app_looks_in_meipass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_BUNDLED_MODELS", raising=False)
    internal = tmp_path / "parley" / "_internal"
    _model(internal / "models", "b-model")
    a = _model(internal / "models", "a-model")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "parley" / "parley"))
    assert bundled_models_dir() == internal / "models"
    assert bundled_model() == a  # the first by name without a default.json


def test_default_json_picks_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _model(tmp_path, "a")
    b = _model(tmp_path, "b")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "default.json").write_text(json.dumps({"default": "b"}), encoding="utf-8")
    monkeypatch.setenv("PARLEY_BUNDLED_MODELS", str(tmp_path))
    assert bundled_model() == b
    (tmp_path / "default.json").write_text("[not an object]", encoding="utf-8")
    assert bundled_model() == tmp_path / "a"
