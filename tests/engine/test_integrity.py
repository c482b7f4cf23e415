from __future__ import annotations

from pathlib import Path

from desktop.engine.integrity import damaged_files, size_text
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
