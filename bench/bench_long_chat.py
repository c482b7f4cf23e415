"""A chat longer than the model's window: how long Parley takes to turn it into a prompt.

    python bench/bench_long_chat.py [--model FOLDER] [--turns 20 60 200] [--repeat 3]

Each chat has a system prompt and ``turns`` exchanges of ~90-token questions and answers,
then a new question. Measured, on the engine's own code (no model run): one encoding of
the whole chat (`Engine.encode_chat`), and fitting it into the window (`fit_context` with
the budget `Engine.generate` uses), which drops the oldest exchanges until the prompt fits.
Medians of ``repeat`` runs. Without --model it uses the starter bundle of `parley bench`'s
cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop import benchmark as b
from desktop.engine.engine import load_engine
from desktop.engine.prompt import fit_context
from desktop.engine.types import ChatMessage

PARAGRAPH = "The history of the city goes back many centuries, with markets, rivers and bridges. "


def chat(turns: int) -> list[ChatMessage]:
    messages = [ChatMessage("system", "You are a helpful assistant.")]
    for i in range(turns):
        messages.append(ChatMessage("user", f"Tell me part {i}: " + PARAGRAPH * 6))
        messages.append(ChatMessage("assistant", PARAGRAPH * 6))
    messages.append(ChatMessage("user", "And now?"))
    return messages


def median_ms(fn: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--turns", type=int, nargs="+", default=[20, 60, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = args.model
    if model is None:
        cache = b.bench_cache()
        model = b.parley_bundle(b.starter_gguf(cache), cache, "starter")
    engine = load_engine(model, "cpu", 2, None)
    budget = engine.context_length - 1  # what generate() leaves for a one-token answer
    print(f"model {model.name}, window {engine.context_length} tokens")
    print("| turns | tokens | encode ms | fit ms | messages dropped |")
    print("|---|---|---|---|---|")
    for turns in args.turns:
        messages = chat(turns)
        tokens = len(engine.encode_chat(messages))
        encode = median_ms(lambda m=messages: engine.encode_chat(m), args.repeat)
        fit = median_ms(lambda m=messages: fit_context(m, engine.encode_chat, budget), args.repeat)
        dropped = fit_context(messages, engine.encode_chat, budget).dropped_messages
        print(f"| {turns} | {tokens} | {encode} | {fit} | {dropped} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
