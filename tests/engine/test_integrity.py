from __future__ import annotations

import shutil
from pathlib import Path

from desktop.engine.integrity import damaged_files, model_damage, size_text
from tests.ggufs import TinySpec
from tests.models import TinyModels


def test_sizes_read_as_a_user_reads_them() -> None:
    assert size_text(741_300) == "741 kB"
    assert size_text(1_483_000) == "1.5 MB"
    assert size_text(117_589_760) == "118 MB"


def test_a_whole_model_has_no_damaged_file(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    assert damaged_files(bundle / "model.onnx") is None


def test_a_missing_graph_is_named(tmp_path: Path) -> None:
    assert damaged_files(tmp_path / "model.onnx") == "model.onnx is missing"


def test_a_tokenizer_cut_short_is_named(tiny_models: TinyModels, tmp_path: Path) -> None:
    """It showed as a whole model, could be made the default, and failed only when asked."""
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    assert model_damage(copy) is None
    tokenizer = copy / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:1000])
    assert model_damage(copy) == "tokenizer.json is damaged (it is not a readable tokenizer)"
