"""Benchmark scripts kept working here, at tiny sizes (the timings are the benchmarks' own):
``bench/bench_gpu.py`` in its CPU dry run on a tiny model, so that a session lent a GPU spends
its few minutes measuring, not debugging the script; ``bench/bench_import.py``'s synthetic
ChatGPT export, checked against what the importer makes of it."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType

from bench import bench_import
from desktop.store import Store
from desktop.transcripts import import_file
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


# -- bench/bench_import.py: the export it generates and its report (the timing is the bench's) --
_EVERY_KIND = bench_import.Mix(image=0.3, search=0.3, python=0.2, reasoning=0.2, regenerate=0.3,
                               edit=0.2, copy=0.3, untitled=0.3, turns=(1, 2, 3))  # fmt: skip


def test_a_tiny_generated_export_imports_as_its_shape_says(tmp_path: Path) -> None:
    export = tmp_path / "conversations.json"
    shape = bench_import.write_export(export, 200_000, seed=3, mix=_EVERY_KIND)
    # Everything the importer leaves out or replaces is there, and copies sharing node ids.
    for kind in ("copies", "hidden", "tool_steps", "reasoning", "images", "branches"):
        assert getattr(shape, kind) > 0, kind
    assert shape.nodes > shape.messages + shape.hidden + shape.tool_steps + shape.reasoning
    data = json.loads(export.read_text(encoding="utf-8"))
    assert len(data) == shape.conversations
    node_ids = [key for c in data for key in c["mapping"]]
    assert len(node_ids) == shape.nodes
    assert len(set(node_ids)) < len(node_ids), "copied conversations share node ids"

    with Store.open(tmp_path / "history.sqlite3") as store:
        report = import_file(store, export)
        assert (report.added, report.messages) == (shape.conversations, shape.messages)
        assert len(store.list_conversations()) == shape.conversations
    with closing(sqlite3.connect(tmp_path / "history.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (shape.messages,)
    said = "\n".join(report.warnings)
    assert f"{shape.images:,} images" in said
    assert f"Left out {shape.tool_steps:,} tool steps" in said
    assert f"Left out {shape.reasoning:,} reasoning steps" in said


def test_the_generated_export_depends_on_the_seed_only(tmp_path: Path) -> None:
    a, b, c = (tmp_path / name for name in ("a.json", "b.json", "c.json"))
    bench_import.write_export(a, 20_000, seed=1)
    bench_import.write_export(b, 20_000, seed=1)
    bench_import.write_export(c, 20_000, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert a.stat().st_size >= 20_000


def test_import_rounds_are_summarized_as_medians_with_their_range() -> None:
    rounds = [
        {"wall_s": 9.0, "peak_rss_mb": 50.0, "messages_per_s": 1000.0},
        {"error": "worker exited with 1"},
        {"wall_s": 7.0, "peak_rss_mb": 52.0, "messages_per_s": 3000.0},
        {"wall_s": 8.0, "peak_rss_mb": 51.0, "messages_per_s": 2000.0},
    ]
    summary = bench_import.summarize(rounds)
    assert summary["wall_s"] == {"median": 8.0, "min": 7.0, "max": 9.0}
    assert summary["messages_per_s"]["median"] == 2000.0
    assert "history_mb" not in summary
    shape = bench_import.Shape(conversations=2, messages=10)
    good = {"conversations": 2, "messages": 10}
    short = {"conversations": 2, "messages": 9}
    assert bench_import.mismatches([good], shape) == []
    problems = bench_import.mismatches([good, short, {"error": "boom"}], shape)
    assert problems == [
        "round 2: imported 2 conversations and 9 messages, the export holds 2 and 10",
        "round 3: boom",
    ]


def test_bench_import_runs_end_to_end_on_a_tiny_export(tmp_path: Path) -> None:
    out = tmp_path / "import.json"
    code = bench_import.main(["--mb", "0.05", "--rounds", "1", "--zip", "--json", str(out)])
    result = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0
    assert result["problems"] == []
    assert set(result["variants"]) == {"json", "zip"}
    shape = result["export"]["shape"]
    for variant in result["variants"].values():
        (measured,) = variant["rounds"]
        assert measured["messages"] == shape["messages"] > 0
        assert measured["peak_rss_mb"] >= measured["rss_before_mb"] > 0
        assert measured["history_mb"] > 0
        assert measured["wall_s"] >= measured["adding_s"] > 0
    table = bench_import.markdown(result)
    assert "| json |" in table
    assert "| zip |" in table
    cached = sorted(p.suffix for p in (tmp_path / "parley-cache" / "bench" / "import").iterdir())
    assert cached == [".json", ".json", ".zip"]  # the export, its shape, its zip
