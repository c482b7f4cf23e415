"""Fixtures: tiny generated models, converted by the real converter, cached per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.convert.gguf_to_onnx import convert_gguf
from tests.ggufs import TinySpec, write_tiny_gguf


class TinyModels:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[tuple[TinySpec, bool], tuple[Path, Path]] = {}

    def get(self, spec: TinySpec | None = None, *, int8: bool = False) -> tuple[Path, Path]:
        """(gguf path, bundle folder). Exact activations by default: parity tests compare
        against the fp32 reference at float tolerance."""
        spec = spec or TinySpec()
        key = (spec, int8)
        if key not in self._made:
            name = f"{spec.arch}-{spec.weight_type}-{spec.n_heads}x{spec.n_kv_heads}-{spec.seed}"
            name += f"-{'int8' if int8 else 'exact'}-{len(self._made)}"  # unique per spec
            gguf = write_tiny_gguf(self.root / f"{name}.gguf", spec)
            bundle = convert_gguf(gguf, self.root / name, int8_activations=int8)
            self._made[key] = (gguf, bundle)
        return self._made[key]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))
