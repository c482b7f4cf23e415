"""CUDA: Parley's device-resident decode step, with and without CUDA graph capture, next to
llama.cpp's CUDA build on the same card, in one run (issue 2, section 8).

    python bench/bench_gpu.py --gguf MODEL.gguf [--llama-bench PATH] [--rounds 3]
        [--tokens 128] [--device cuda|cpu] [--json FILE]

Per round, interleaved: Parley with the CUDA graph (``PARLEY_CUDA_GRAPH=1``), Parley without
it, then ``llama-bench -ngl 99`` when its path is given. Parley's numbers come from its own
generation loop (the engine's ``GenerationStats``): decode tok/s over ``--tokens`` greedy
tokens (plain greedy: the on-device ArgMax path) and with sampling (logits copied back),
prefill tok/s of a fresh 42- and ~661-token prompt. The greedy tokens of both Parley modes
must be identical (the graph replays the same kernels).

``--device cpu`` runs the same script without a GPU: a dry run of the plumbing, with the GPU's
float16 graph and device decoder on the CPU provider (the numbers mean nothing there).
Targets on the same card: decode >= 1.2x llama.cpp, prefill >= 2x.
The device steps are in bench/gpu/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnxruntime as ort

from desktop.convert.gguf_to_onnx import convert_gguf
from desktop.engine.decoder import DeviceDecoder
from desktop.engine.device_graph import half_precision
from desktop.engine.engine import Engine, load_engine
from desktop.engine.types import ChatMessage, Finished, GenerationStats, SamplingParams, TextDelta

SHORT_PROMPT_TOKENS = 42
LONG_PROMPT_TOKENS = 661
GREEDY_PLAIN = SamplingParams(temperature=0.0, repetition_penalty=1.0)
SAMPLED = SamplingParams(temperature=0.7, top_p=0.9, seed=7)
FILLER = (
    "The river bends around the old mill, where the miller's children once counted the boats "
    "that passed on their way to the sea, and the wind carried the smell of bread and rain. "
)


def _card() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "no NVIDIA GPU found"


def _prompt_ids(engine: Engine, n: int) -> list[int]:
    """``n`` tokens of text (fewer where the model's window is smaller)."""
    n = min(n, engine.context_length - 2)
    ids = engine.encode_text(FILLER * (n // 20 + 2))
    return ids[:n]


def _run(
    engine: Engine, ids: list[int], params: SamplingParams
) -> tuple[list[int], GenerationStats]:
    engine.decoder.reset()  # a fresh cache: prefill is measured, not reused
    tokens: list[int] = []
    stats: GenerationStats | None = None
    for event in engine.generate_ids(ids, params):
        if isinstance(event, Finished):
            if event.reason == "error":
                raise RuntimeError(event.error)
            stats = event.stats
        elif isinstance(event, TextDelta) and event.token_id >= 0:
            tokens.append(event.token_id)
    assert stats is not None
    return tokens, stats


def bench_parley(bundle: Path, device: str, graph: bool, tokens: int) -> dict[str, Any]:
    os.environ["PARLEY_CUDA_GRAPH"] = "1" if graph else "0"
    engine = load_engine(bundle, device)  # type: ignore[arg-type]
    if device == "cuda" and engine.info.provider != "CUDAExecutionProvider":
        raise SystemExit(f"CUDA did not load: {engine.info.fallback_reason}")
    if device == "cpu":  # the dry run: the GPU's graph and decoder, on the CPU provider
        engine.decoder = _device_decoder_on_cpu(engine, graph)
    engine.warm_up()
    chat = engine.encode_chat([ChatMessage("user", "Write a short story about a lighthouse.")])
    greedy = SamplingParams(**{**GREEDY_PLAIN.__dict__, "max_new_tokens": tokens})
    sampled = SamplingParams(**{**SAMPLED.__dict__, "max_new_tokens": tokens})
    _run(engine, chat, greedy)  # first pass captures the step graph
    ids, g = _run(engine, chat, greedy)
    _, s = _run(engine, chat, sampled)
    one = SamplingParams(**{**GREEDY_PLAIN.__dict__, "max_new_tokens": 1})
    # Each length twice: the first run of a new prompt length pays ~50 ms of ONNX Runtime
    # set-up on CUDA (what a user's next message sees); llama-bench times repeats.
    _, short = _run(engine, _prompt_ids(engine, SHORT_PROMPT_TOKENS), one)
    _, short_again = _run(engine, _prompt_ids(engine, SHORT_PROMPT_TOKENS), one)
    _, long = _run(engine, _prompt_ids(engine, LONG_PROMPT_TOKENS), one)
    _, long_again = _run(engine, _prompt_ids(engine, LONG_PROMPT_TOKENS), one)
    return {
        "provider": engine.info.provider,
        "decoder": type(engine.decoder).__name__,
        "captured": bool(getattr(engine.decoder, "captured", False)),
        "fallback_reason": engine.info.fallback_reason,
        "decode_tok_s": g.decode_tok_s,
        "decode_sampled_tok_s": s.decode_tok_s,
        "ttft_ms": g.ttft_s * 1000,
        "prefill_short_tok_s": short.prefill_tok_s,
        "prefill_long_tok_s": long.prefill_tok_s,
        "prefill_short_repeat_tok_s": short_again.prefill_tok_s,
        "prefill_long_repeat_tok_s": long_again.prefill_tok_s,
        "prefill_long_tokens": long.prompt_tokens,
        "greedy_tokens": ids,
    }


def _device_decoder_on_cpu(engine: Engine, capture: bool) -> DeviceDecoder:
    graph = half_precision(engine.bundle.model_file)
    options = ort.SessionOptions()
    graph.configure(options)
    session = ort.InferenceSession(graph.model, options, providers=["CPUExecutionProvider"])
    return DeviceDecoder(
        session,
        kv_heads=engine.bundle.kv_heads,
        head_dim=engine.bundle.head_dim,
        max_length=engine.context_length,
        vocab_size=engine.bundle.vocab_size,
        device="cpu",
        capture=capture,
        keep_alive=graph,
    )


def bench_llama(binary: Path, gguf: Path, tokens: int) -> dict[str, Any]:
    cmd = [
        str(binary),
        "-m",
        str(gguf),
        "-ngl",
        "99",
        "-p",
        f"{SHORT_PROMPT_TOKENS},{LONG_PROMPT_TOKENS}",
        "-n",
        str(tokens),
        "-r",
        "3",
        "-o",
        "json",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    rows = json.loads(out.stdout)
    result: dict[str, Any] = {}
    for row in rows:
        if row.get("n_gen", 0) > 0:
            result["decode_tok_s"] = row["avg_ts"]
        elif row.get("n_prompt") == SHORT_PROMPT_TOKENS:
            result["prefill_short_tok_s"] = row["avg_ts"]
        elif row.get("n_prompt") == LONG_PROMPT_TOKENS:
            result["prefill_long_tok_s"] = row["avg_ts"]
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--bundle", type=Path, help="a converted bundle (default: convert --gguf)")
    ap.add_argument("--llama-bench", type=Path, help="llama.cpp's llama-bench (CUDA build)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="parley-gpu-"))
    try:
        bundle = args.bundle or convert_gguf(args.gguf, work / "bundle")
        runs: dict[str, list[dict[str, Any]]] = {"graph": [], "no_graph": [], "llama.cpp": []}
        card = _card() if args.device == "cuda" else "cpu (dry run)"
        for r in range(args.rounds):
            for mode, graph in (("graph", True), ("no_graph", False)):
                runs[mode].append(_guarded(bench_parley, bundle, args.device, graph, args.tokens))
            if args.llama_bench:
                runs["llama.cpp"].append(
                    _guarded(bench_llama, args.llama_bench, args.gguf, args.tokens)
                )
            result = _summary(card, runs)  # written every round: a cut-off run still reports
            if args.json:
                args.json.write_text(json.dumps(result, indent=2))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0 if result["graph_tokens_identical"] and not result["errors"] else 1


def _guarded(bench: Any, *args: Any) -> dict[str, Any]:
    """One engine's round; a failure is recorded (and printed) instead of ending the run, so
    the other engines' numbers still come back from a device call that cannot be repeated."""
    try:
        result: dict[str, Any] = bench(*args)
        return result
    except (Exception, SystemExit) as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def _summary(card: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    keys = ("decode_tok_s", "decode_sampled_tok_s", "ttft_ms", "prefill_short_tok_s",
            "prefill_long_tok_s", "prefill_short_repeat_tok_s",
            "prefill_long_repeat_tok_s")  # fmt: skip
    medians = {name: {k: _median(rs, k) for k in keys} for name, rs in runs.items() if rs}
    pairs = [
        (a["greedy_tokens"], b["greedy_tokens"])
        for a, b in zip(runs["graph"], runs["no_graph"], strict=True)
        if "greedy_tokens" in a and "greedy_tokens" in b
    ]
    decoders = [r["decoder"] for r in runs["graph"] + runs["no_graph"] if "decoder" in r]
    notes = {
        r["fallback_reason"] for r in runs["graph"] + runs["no_graph"] if r.get("fallback_reason")
    }
    result: dict[str, Any] = {
        "card": card,
        "decoder": decoders[0] if decoders else None,
        "engines": medians,
        "graph_tokens_identical": bool(pairs) and all(a == b for a, b in pairs),
        "graph_captured": all(r.get("captured") for r in runs["graph"]),
        "fallback_reasons": sorted(notes),
        "errors": sorted(
            {f"{n}: {r['error']}" for n, rs in runs.items() for r in rs if "error" in r}
        ),
        "ratios": {},
    }
    base = medians.get("llama.cpp", {})
    for mode in ("graph", "no_graph"):
        for key in ("decode_tok_s", "prefill_long_tok_s", "prefill_short_tok_s",
                    "prefill_long_repeat_tok_s", "prefill_short_repeat_tok_s"):  # fmt: skip
            ours = medians.get(mode, {}).get(key)
            theirs = base.get(key.replace("_repeat", ""))
            if ours and theirs:
                suffix = "" if mode == "graph" else "_no_graph"
                result["ratios"][f"{key}_vs_llama.cpp{suffix}"] = ours / theirs
    return result


if __name__ == "__main__":
    raise SystemExit(main())
