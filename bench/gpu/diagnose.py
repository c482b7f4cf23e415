"""What bounds the CUDA decode step (issue 2, section 8): one device call, several variants.

    python bench/gpu/diagnose.py --bundle DIR [--device cuda|cpu] [--json FILE]

The first GPU run (bench/RESULTS.md, section GPU) decoded at about half llama.cpp's speed,
with a captured step that computed wrong logits. Per variant of the float16 graph this
measures, in one process:

- ``step_tok_s``: a bare loop of the device decoder's greedy step (no engine, no tokenizer);
- accuracy: logits of every position of a fixed 64-token answer (teacher-forced) against the
  float32 graph on ONNX Runtime's CPU provider: top-1 agreement and mean KL (``steps_only``:
  the prompt fed one token at a time, captured steps only);
- ``greedy_match``: how many greedy tokens equal the float32 greedy answer before they part;
- ``prefill_ms``: fresh prompts of 42, 43, 42, 661, 662 and 661 tokens.

Suites (``--suite``): ``speed``: ``exact`` (the Q4_1 offsets as two MatMuls and an Add per
linear layer, ``half_precision(fold_offsets=False)``) against ``folded`` (float16 zero points,
what ships), captured and not, plus the engine's own loop; ``fpa``: the same with
``ORT_FPA_INTB_GEMM=1`` (ONNX Runtime's fused weight-only kernels; one setting per process);
``capture``: accuracy of the captured step; ``prefill``: ONNX Runtime's profile of prompt runs
of new and repeated lengths. (The variants that found the capture bug, a step passing the
real ``total_sequence_length``, are in this file at commit 744873f.)

``--device cpu`` is a dry run of the plumbing on the CPU provider (numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import onnxruntime as ort

from desktop.engine.bundle import open_bundle
from desktop.engine.decoder import DeviceDecoder
from desktop.engine.device_graph import half_precision
from desktop.engine.engine import Engine, load_engine
from desktop.engine.session import session_options
from desktop.engine.types import ChatMessage, Finished, SamplingParams

QUICK = os.environ.get("PARLEY_DIAG_QUICK") == "1"  # a CPU dry run in minutes
ANSWER_TOKENS = 8 if QUICK else 64
STEP_TOKENS = 8 if QUICK else 200
PREFILL_LENGTHS = (42, 43, 42, 661, 662, 661)
FILLER = (
    "The river bends around the old mill, where the miller's children once counted the boats "
    "that passed on their way to the sea, and the wind carried the smell of bread and rain. "
)


def make_decoder(
    bundle: Any,
    device: str,
    capture: bool,
    max_len: int,
    *,
    fold: bool = True,
    mem_pattern: bool = True,
    profile: str | None = None,
) -> DeviceDecoder:
    graph = half_precision(bundle.model_file, fold_offsets=fold)
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    options = session_options(provider, 0)
    options.enable_mem_pattern = mem_pattern
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    graph.configure(options)
    providers: list[Any] = ["CPUExecutionProvider"]
    if device == "cuda":
        cuda_options = {"enable_cuda_graph": "1"} if capture else {}
        providers = [("CUDAExecutionProvider", cuda_options), "CPUExecutionProvider"]
    session = ort.InferenceSession(graph.model, options, providers=providers)
    if session.get_providers()[0] != provider:
        raise RuntimeError(f"{provider} did not load")
    return DeviceDecoder(
        session,
        kv_heads=bundle.kv_heads,
        head_dim=bundle.head_dim,
        max_length=max_len,
        vocab_size=bundle.vocab_size,
        device=device,
        capture=capture and device == "cuda",
        keep_alive=graph,
    )


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    out: np.ndarray = e / e.sum()
    return out


def teacher_logits(decoder: Any, prompt: list[int], answer: list[int]) -> list[np.ndarray]:
    decoder.reset()
    rows = [np.array(decoder.forward(prompt, 0), np.float32)]
    ids = list(prompt)
    for token in answer[:-1]:
        ids.append(token)
        rows.append(np.array(decoder.forward(ids, len(ids) - 1), np.float32))
    return rows


def teacher_logits_steps(decoder: Any, prompt: list[int], answer: list[int]) -> list[np.ndarray]:
    """As ``teacher_logits`` but the prompt too goes in one token at a time: only captured
    steps run (no uncaptured prompt run between replays)."""
    decoder.reset()
    ids: list[int] = []
    for token in prompt:
        ids.append(token)
        row = np.array(decoder.forward(ids, len(ids) - 1), np.float32)
    rows = [row]
    for token in answer[:-1]:
        ids.append(token)
        rows.append(np.array(decoder.forward(ids, len(ids) - 1), np.float32))
    return rows


def greedy(decoder: Any, prompt: list[int], n: int) -> list[int]:
    decoder.reset()
    ids = list(prompt)
    step = getattr(decoder, "forward_argmax", None)
    out: list[int] = []
    start = 0
    for _ in range(n):
        token = step(ids, start) if step else int(np.argmax(decoder.forward(ids, start)))
        out.append(token)
        start = len(ids)
        ids.append(token)
    return out


def _agreement(reference: list[np.ndarray], rows: list[np.ndarray]) -> tuple[float, list[float]]:
    kl = []
    top1 = 0
    for ref, got in zip(reference, rows, strict=True):
        p, q = _softmax(ref.astype(np.float64)), _softmax(got.astype(np.float64))
        kl.append(float(np.sum(p * (np.log(p + 1e-30) - np.log(q + 1e-30)))))
        top1 += int(np.argmax(ref) == np.argmax(got))
    return top1 / len(reference), kl


def measure(
    decoder: DeviceDecoder,
    prompt: list[int],
    answer: list[int],
    reference: list[np.ndarray],
    filler: list[int],
) -> dict[str, Any]:
    greedy(decoder, prompt, 16)  # warm-up and capture
    tokens = greedy(decoder, prompt, ANSWER_TOKENS)
    match = next((i for i, (a, b) in enumerate(zip(tokens, answer, strict=True)) if a != b), -1)
    # bare step loop
    decoder.reset()
    ids = list(prompt)
    token = decoder.forward_argmax(ids, 0)
    for _ in range(10):
        ids.append(token)
        token = decoder.forward_argmax(ids, len(ids) - 1)
    t0 = time.perf_counter()
    for _ in range(STEP_TOKENS):
        ids.append(token)
        token = decoder.forward_argmax(ids, len(ids) - 1)
    step_s = time.perf_counter() - t0
    top1, kl = _agreement(reference, teacher_logits(decoder, prompt, answer))
    steps_top1, steps_kl = _agreement(reference, teacher_logits_steps(decoder, prompt, answer))
    prefill = []
    for n in PREFILL_LENGTHS:
        decoder.reset()
        t0 = time.perf_counter()
        decoder.forward_argmax(filler[:n], 0)
        prefill.append(round((time.perf_counter() - t0) * 1000, 2))
    return {
        "step_tok_s": STEP_TOKENS / step_s,
        "top1": top1,
        "mean_kl": float(np.mean(kl)),
        "max_kl": float(np.max(kl)),
        "steps_only_top1": steps_top1,
        "steps_only_mean_kl": float(np.mean(steps_kl)),
        "greedy_match": ANSWER_TOKENS if match < 0 else match,
        "prefill_ms": prefill,
    }


def prefill_profile(decoder: DeviceDecoder, filler: list[int]) -> dict[str, Any]:
    """ONNX Runtime's own profile of prompt runs of a new and a repeated length: which nodes
    take the time that a first prompt of each length costs."""
    for n in (42, 43, 42, 661, 661):
        decoder.reset()
        decoder.forward_argmax(filler[:n], 0)
    path = decoder.session.end_profiling()
    events = json.loads(Path(path).read_text())
    runs = [e for e in events if e.get("name") == "model_run"]
    out: dict[str, Any] = {"runs_ms": [round(e["dur"] / 1000, 2) for e in runs]}
    per_run: list[dict[str, float]] = []
    for run in runs[-5:]:
        lo, hi = run["ts"], run["ts"] + run["dur"]
        by_op: dict[str, float] = {}
        for e in events:
            if (
                e.get("cat") == "Node"
                and lo <= e["ts"] <= hi
                and e["name"].endswith("_kernel_time")
            ):
                op = e.get("args", {}).get("op_name", "?")
                by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1000
        per_run.append(
            {k: round(v, 2) for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])[:6]}
        )
    out["last5_runs_ms_by_op"] = per_run
    out["profile_events"] = len(events)
    return out


def engine_loop(bundle_dir: Path, device: str, prompt: list[int]) -> dict[str, Any]:
    engine: Engine = load_engine(bundle_dir, device)  # type: ignore[arg-type]
    engine.warm_up()
    params = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=128)
    out: dict[str, Any] = {"decoder": type(engine.decoder).__name__}
    for _ in range(2):
        for event in engine.generate_ids(prompt, params):
            if isinstance(event, Finished):
                out["decode_tok_s"] = event.stats.decode_tok_s
                out["generated"] = event.stats.generated_tokens
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--suite", choices=("speed", "fpa", "capture", "prefill"), default="capture")
    args = ap.parse_args(argv)
    # Read by the CUDA kernels when a session is created; one setting per process, set first.
    os.environ["ORT_FPA_INTB_GEMM"] = "1" if args.suite == "fpa" else "0"
    ort.preload_dlls() if args.device == "cuda" and hasattr(ort, "preload_dlls") else None

    cpu = load_engine(args.bundle, "cpu")
    bundle = open_bundle(args.bundle)
    max_len = cpu.context_length
    prompt = cpu.encode_chat([ChatMessage("user", "Write a short story about a lighthouse.")])
    answer = greedy(cpu.decoder, prompt, ANSWER_TOKENS)
    reference = teacher_logits(cpu.decoder, prompt, answer)
    filler = cpu.encode_text(FILLER * 40)
    work = Path(tempfile.mkdtemp(prefix="parley-diag-"))
    result: dict[str, Any] = {"device": args.device, "variants": {}}
    exact: dict[str, Any] = {"fold": False}
    suites: dict[str, list[tuple[str, bool, dict[str, Any]]]] = {
        "speed": [
            ("exact", True, exact),
            ("folded", True, {}),
            ("exact nograph", False, exact),
            ("folded nograph", False, {}),
        ],
        "fpa": [
            ("exact+fpa", True, exact),
            ("folded+fpa", True, {}),
            ("folded+fpa nograph", False, {}),
        ],
        "capture": [
            ("folded", True, {}),
            ("folded nograph", False, {}),
            ("folded no-mem-pattern", True, {"mem_pattern": False}),
        ],
        "prefill": [("folded", True, {})],
    }
    plan = suites[args.suite]
    if args.suite == "prefill":
        decoder = make_decoder(bundle, args.device, True, max_len, profile=str(work / "ort"))
        result["prefill_profile"] = prefill_profile(decoder, filler)
        print(json.dumps(result["prefill_profile"]), file=sys.stderr, flush=True)
    for name, capture, extra in plan:
        try:
            t0 = time.perf_counter()
            decoder = make_decoder(bundle, args.device, capture, max_len, **extra)
            load_s = time.perf_counter() - t0
            row = measure(decoder, prompt, answer, reference, filler)
            row["load_s"] = round(load_s, 2)
            del decoder
        except Exception as exc:
            traceback.print_exc()
            row = {"error": f"{type(exc).__name__}: {exc}"}
        result["variants"][name] = row
        print(name, json.dumps(row), file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    try:
        if args.suite == "speed":
            result["engine_loop"] = engine_loop(args.bundle, args.device, prompt)
    except Exception as exc:
        traceback.print_exc()
        result["engine_loop"] = {"error": f"{type(exc).__name__}: {exc}"}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
