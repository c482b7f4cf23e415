"""Fidelity on held-out text: top-1 agreement and mean KL against the fp32 reference of the
same weights, over more positions than `parley bench`'s fixed 85-token answer.

    python bench/bench_fidelity.py [--gguf PATH] [--bundle DIR] [--no-llama-cpp]

`parley bench` measures fidelity as issue 2 defines it, over one fixed 85-token answer: one
token there is 1.2 points of top-1 agreement. This script teacher-forces three other texts
(a plain paragraph, a chat answer, a chat answer with code; ~285 positions) through Parley and
llama.cpp (llama-cpp-python, logits_all) and compares each position's next-token distribution
with the numpy reference forward pass of the dequantized weights (tests/reference.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop import benchmark as B
from desktop.convert.validate import FIXED_TEXT
from desktop.engine.engine import Engine, load_engine
from desktop.engine.types import ChatMessage
from tests.reference import ReferenceLlama

ROOT = Path(__file__).resolve().parents[1]
CHATS = (
    (
        "How do I make a cup of tea?",
        "Boil fresh water, warm the pot, add one teaspoon of loose leaves per cup, pour the "
        "water over the leaves and let it steep for three to five minutes. Strain, then add "
        "milk or lemon and sugar to taste. Green tea prefers cooler water, around 80 degrees, "
        "and a shorter steep.",
    ),
    (
        "Write a Python function that reverses a string.",
        "Here is a simple function:\n\n```python\ndef reverse(text: str) -> str:\n"
        "    return text[::-1]\n```\n\nSlicing with a step of -1 walks the string from the end "
        "to the start, so `reverse('hello')` returns `'olleh'`.",
    ),
)


def texts(engine: Engine) -> list[list[int]]:
    out = [engine.encode_text(FIXED_TEXT)]
    for question, answer in CHATS:
        prompt = engine.encode_chat([ChatMessage("user", question)])
        out.append(prompt + engine.tokenizer.encode(answer, add_special_tokens=False).ids)
    return out


def parley_rows(engine: Engine, ids: list[int]) -> np.ndarray:
    """Logits after every prefix (row i predicts ids[i + 1]), one token at a time."""
    dec = engine.decoder
    dec.reset()
    rows = [dec.forward(ids[:1], 0).copy()]
    rows += [dec.forward(ids[: i + 1], i).copy() for i in range(1, len(ids))]
    return np.stack(rows)


def pooled(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    agree = kl = n = 0.0
    for ref, cand in pairs:
        f = B.fidelity(ref[:-1], cand[:-1])  # the last row predicts past the text
        agree += f["top1_agreement"] * f["positions"]
        kl += f["mean_kl"] * f["positions"]
        n += f["positions"]
    return {"top1": agree / n, "mean_kl": kl / n, "positions": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--gguf", type=Path, default=ROOT / ".cache/starter/SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    ap.add_argument("--bundle", type=Path, help="default: convert --gguf into the bench cache")
    ap.add_argument("--no-llama-cpp", action="store_true")
    args = ap.parse_args()
    bundle = args.bundle or B.parley_bundle(args.gguf, B.bench_cache(), "fidelity")
    engine = load_engine(bundle, "cpu", 2)
    seqs = texts(engine)
    reference = ReferenceLlama(args.gguf)
    refs = [reference.logits(list(ids)) for ids in seqs]
    results = {
        "parley": pooled([(r, parley_rows(engine, s)) for r, s in zip(refs, seqs, strict=True)])
    }
    if not args.no_llama_cpp:
        try:
            runner = B._LlamaCppRunner(args.gguf, 2, logits_all=True)
        except ImportError as exc:
            print(f"llama.cpp: not installed ({exc})")
        else:
            rows = [runner.logits(list(s), 1) for s in seqs]
            results["llama.cpp"] = pooled(list(zip(refs, rows, strict=True)))
    for name, r in results.items():
        top1, kl, n = 100 * r["top1"], r["mean_kl"], r["positions"]
        print(f"{name:10s} top-1 {top1:.1f}%  mean KL {kl:.4f}  over {n:.0f} positions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
