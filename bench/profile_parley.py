"""Where Parley's time goes: load breakdown, per-op decode/prefill times from ONNX Runtime's
profiler, per-token overhead outside the kernels, memory after each stage.

    .venv/bin/python bench/profile_parley.py [--model BUNDLE] [--threads 2] [--steps 64]

Without --model it profiles the starter bundle that `parley bench` prepared in its cache.
Numbers drift with the machine's load; the shares (which op, how much outside kernels) are
what this is for.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop import benchmark as b
from desktop.engine.bundle import open_bundle
from desktop.engine.decoder import SharedKVDecoder


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def session_options(threads: int, profile_prefix: str | None = None) -> ort.SessionOptions:
    opts = ort.SessionOptions()  # the same settings as desktop.engine.session
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return opts


def load_breakdown(model: Path, threads: int) -> dict[str, float]:
    from tokenizers import Tokenizer

    out: dict[str, float] = {}
    t = time.perf_counter()
    bundle = open_bundle(model)
    out["open_bundle_s"] = time.perf_counter() - t
    t = time.perf_counter()
    Tokenizer.from_file(str(bundle.path / "tokenizer.json"))
    out["tokenizer_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ort.InferenceSession(
        str(bundle.model_file), session_options(threads), providers=["CPUExecutionProvider"]
    )
    out["session_all_optimizations_s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        opt_path = Path(tmp) / "optimized.onnx"
        opts = session_options(threads)
        opts.optimized_model_filepath = str(opt_path)
        opts.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", "optimized.onnx.data"
        )
        opts.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
        )
        ort.InferenceSession(str(bundle.model_file), opts, providers=["CPUExecutionProvider"])
        for level, name in ((ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "disabled"),):
            opts = session_options(threads)
            opts.graph_optimization_level = level
            t = time.perf_counter()
            ort.InferenceSession(str(opt_path), opts, providers=["CPUExecutionProvider"])
            out[f"session_preoptimized_{name}_s"] = time.perf_counter() - t
    return out


def summarise_profile(path: Path, runs: range) -> dict[str, Any]:
    events = json.loads(path.read_text())
    run_durs: list[float] = []
    per_op: dict[str, float] = defaultdict(float)
    op_count: Counter[str] = Counter()
    nodes_per_run: Counter[int] = Counter()
    run_index = -1
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            run_index += 1
            if run_index in runs:
                run_durs.append(ev["dur"])
    # Node events come before their model_run event; assign them by time windows.
    windows = [
        (ev["ts"], ev["ts"] + ev["dur"])
        for ev in events
        if ev.get("cat") == "Session" and ev.get("name") == "model_run"
    ]
    selected = [windows[i] for i in runs if i < len(windows)]
    kernel_total = 0.0
    for ev in events:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        ts = ev["ts"]
        for i, (a, z) in enumerate(selected):
            if a <= ts <= z:
                per_op[ev["args"].get("op_name", "?")] += ev["dur"]
                op_count[ev["args"].get("op_name", "?")] += 1
                kernel_total += ev["dur"]
                nodes_per_run[i] += 1
                break
    n = max(len(selected), 1)
    return {
        "runs": len(selected),
        "model_run_us": sum(run_durs) / n,
        "kernels_us": kernel_total / n,
        "nodes_per_run": max(nodes_per_run.values()) if nodes_per_run else 0,
        "per_op_us": {k: v / n for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])},
        "per_op_count": {k: v // n for k, v in op_count.items()},
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--context", type=int, default=0, help="decode after this many cached tokens")
    args = p.parse_args()
    model = args.model
    if model is None:
        cache = b.bench_cache()
        model = b.parley_bundle(b.starter_gguf(cache), cache, "starter")
    job = b.make_job(model, 128)
    print(f"model {model}\nload breakdown: {json.dumps(load_breakdown(model, args.threads))}")

    bundle = open_bundle(model)
    base = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        sess = ort.InferenceSession(
            str(bundle.model_file),
            session_options(args.threads, str(Path(tmp) / "prof")),
            providers=["CPUExecutionProvider"],
        )
        after_session = rss_mb()
        dec = SharedKVDecoder(
            sess,
            kv_heads=bundle.kv_heads,
            head_dim=bundle.head_dim,
            max_length=min(bundle.context_length, 8192),
            vocab_size=bundle.vocab_size,
        )
        ids = (
            list(job["prompt_ids"])
            if not args.context
            else list(job["followup_next"])[: args.context]
        )
        t = time.perf_counter()
        logits = dec.forward(ids, 0)  # run 0: cold prefill
        cold = time.perf_counter() - t
        dec.reset()
        t = time.perf_counter()
        logits = dec.forward(ids, 0)  # run 1: warm prefill
        warm = time.perf_counter() - t
        after_prefill = rss_mb()
        step_times = []
        for _ in range(args.steps):  # runs 2 .. steps+1
            ids.append(int(np.argmax(logits)))
            t = time.perf_counter()
            logits = dec.forward(ids, len(ids) - 1)
            step_times.append(time.perf_counter() - t)
        prof = Path(sess.end_profiling())
        prefill = summarise_profile(prof, range(1, 2))
        decode = summarise_profile(prof, range(2, 2 + args.steps))
    wall_us = float(np.median(step_times)) * 1e6
    data_mb = os.path.getsize(bundle.model_file.with_suffix(".onnx.data")) / 2**20
    n_prefill = len(job["prompt_ids"]) if not args.context else args.context
    print(
        f"\nRSS MB: before session {base:.0f}, after session {after_session:.0f}, "
        f"after prefill {after_prefill:.0f}, after decode {rss_mb():.0f}; "
        f"model.onnx.data {data_mb:.0f} MB"
    )
    print(
        f"prefill {n_prefill} tokens: "
        f"cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms; "
        f"ORT run {prefill['model_run_us'] / 1000:.1f} ms, "
        f"kernels {prefill['kernels_us'] / 1000:.1f} ms"
    )
    print(
        f"decode step (median wall) {wall_us:.0f} us = {1e6 / wall_us:.0f} tok/s; "
        f"ORT model_run {decode['model_run_us']:.0f} us, kernels {decode['kernels_us']:.0f} us, "
        f"nodes/run {decode['nodes_per_run']}; "
        f"outside ORT {wall_us - decode['model_run_us']:.0f} us, "
        f"ORT overhead outside kernels {decode['model_run_us'] - decode['kernels_us']:.0f} us"
    )
    for title, data in (("decode", decode), ("prefill", prefill)):
        total = data["kernels_us"] or 1.0
        print(f"\n{title}: per-op time per run (nodes, us, share of kernel time)")
        for op, us in list(data["per_op_us"].items())[:12]:
            count = data["per_op_count"].get(op, 0)
            print(f"  {op:34s} {count:4d} {us:9.0f}  {us / total * 100:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
