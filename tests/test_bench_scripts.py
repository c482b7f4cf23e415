"""The benchmark scripts that run where this machine cannot (a GPU) are kept working here:
``bench/bench_gpu.py`` in its CPU dry run on a tiny model, so that a session lent a GPU spends
its few minutes measuring, not debugging the script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.ggufs import TinySpec
from tests.models import TinyModels

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_gpu_dry_run_on_the_cpu(tiny_models: TinyModels, tmp_path: Path) -> None:
    gguf, bundle = tiny_models.get(TinySpec(weight_type="Q4_1", tied=False))
    out = tmp_path / "gpu.json"
    bench_gpu = _script("bench_gpu")
    args = f"--gguf {gguf} --bundle {bundle} --device cpu --rounds 1 --tokens 6 --json {out}"
    code = bench_gpu.main(args.split())
    result = json.loads(out.read_text())
    assert code == 0
    assert result["graph_tokens_identical"] is True
    assert result["card"] == "cpu (dry run)"
    assert set(result["engines"]) == {"graph", "no_graph"}
    for mode in ("graph", "no_graph"):
        numbers = result["engines"][mode]
        assert numbers["prefill_long_tok_s"] > 0
        assert numbers["ttft_ms"] > 0
    assert result["ratios"] == {}  # no llama-bench given
