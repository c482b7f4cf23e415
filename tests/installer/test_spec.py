"""What the PyInstaller build collects, checked without running PyInstaller (the frozen
build itself is tested by `make installer-smoke`)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from installer import spec_data

ROOT = Path(__file__).resolve().parents[2]


def _stage(root: Path) -> Path:
    bundle = root / "smollm2-135m-instruct"
    bundle.mkdir(parents=True)
    for name in ("model.onnx", "model.onnx.data", "tokenizer.json", "parley.json"):
        (bundle / name).write_bytes(b"x")
    (root / "default.json").write_text(json.dumps({"default": bundle.name}), encoding="utf-8")
    (root / ".smollm2.partial-copy").mkdir()  # an interrupted conversion: left out
    (root / "not-a-model").mkdir()
    return bundle


def test_the_staged_model_lands_under_models(tmp_path: Path) -> None:
    bundle = _stage(tmp_path)
    pairs = spec_data.model_datas(tmp_path)
    assert sorted(pairs) == sorted(
        [
            (str(bundle / n), f"models/{bundle.name}")
            for n in ("model.onnx", "model.onnx.data", "parley.json", "tokenizer.json")
        ]
        + [(str(tmp_path / "default.json"), "models")]
    )


def test_a_build_without_a_staged_model_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(spec_data.MissingModelError, match=r"installer/stage_model\.py"):
        spec_data.model_datas(tmp_path / "nothing")
    assert spec_data.model_datas(tmp_path / "nothing", require=False) == []


def test_resources_are_collected_with_the_icon() -> None:
    pairs = spec_data.resource_datas(ROOT)
    names = {Path(source).name: dest for source, dest in pairs}
    assert names["parley.png"] == "resources"
    assert names["parley.ico"] == "resources"
    assert names["parley.svg"] == "resources"


def test_heavy_packages_are_excluded() -> None:
    for name in ("torch", "transformers", "optimum"):
        assert name in spec_data.EXCLUDES
    # ... and nothing the app needs at run time is.
    needed = {"onnxruntime", "tokenizers", "numpy", "jinja2", "PySide6", "PySide6.QtGui"}
    assert needed.isdisjoint(spec_data.EXCLUDES)


def test_the_spec_uses_spec_data_and_onedir() -> None:
    source = (ROOT / "build.spec").read_text(encoding="utf-8")
    tree = ast.parse(source)  # valid Python
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= calls  # COLLECT: onedir
    assert "exclude_binaries=True" in source
    assert '"desktop/__main__.py"' in source
    for used in ("model_datas", "resource_datas", "onnxruntime_binaries", "EXCLUDES"):
        assert f"spec_data.{used}" in source


def test_onnxruntime_provider_libraries_are_collected() -> None:
    pairs = spec_data.onnxruntime_binaries()
    by_name = {Path(source).name.split(".")[0].removeprefix("lib"): dest for source, dest in pairs}
    # The Python binding and the provider bridge every execution provider loads through.
    assert by_name["onnxruntime_pybind11_state"] == "onnxruntime/capi"
    assert by_name["onnxruntime_providers_shared"] == "onnxruntime/capi"
    for source, _ in pairs:
        assert Path(source).is_file()


def test_every_desktop_module_is_a_hidden_import() -> None:
    names = spec_data.hidden_imports()
    for module in ("desktop.selftest", "desktop.cli_transcripts", "desktop.ui.pdf_export"):
        assert module in names
    assert "desktop.transcripts.chatgpt" in names
