"""A long chat: how long Parley takes to turn it into a prompt, and to answer in it.

    python bench/bench_long_chat.py [--model FOLDER] [--turns 20 60 200] [--repeat 3]
                                    [--read-ahead-turns 9]

Each chat has a system prompt and ``turns`` exchanges of ~90-token questions and answers,
then a new question. Measured, on the engine's own code (no model run): one encoding of
the whole chat (`Engine.encode_chat`), and fitting it into the window (`fit_context` with
the budget `Engine.generate` uses), which drops the oldest exchanges until the prompt fits.
Medians of ``repeat`` runs. Without --model it uses the starter bundle of `parley bench`'s
cache.

Then, running the model: the first token of a question in a chat of ``read-ahead-turns``
exchanges on a fresh cache, read after Send as before, against read while the question was
typed (`Engine.prefill`, which the window starts at the question's first key), and how long
that reading takes (the typing it has to fit in).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop import benchmark as b
from desktop.engine.engine import Engine, load_engine
from desktop.engine.prompt import fit_context
from desktop.engine.types import ChatMessage, SamplingParams, TextDelta

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


def read_ahead(engine: Engine, turns: int, repeat: int) -> None:
    history = chat(turns)[:-1]
    question = [*history, ChatMessage("user", "And what about the bridges, in a few words?")]
    params = SamplingParams(temperature=0.0, max_new_tokens=1)

    def first_token() -> float:
        started = time.perf_counter()
        for event in engine.generate(question, params):
            if isinstance(event, TextDelta):
                break
        return time.perf_counter() - started

    fresh, ahead, reading = [], [], []
    for _ in range(repeat):  # interleaved: the machine drifts
        engine.decoder.reset()
        fresh.append(first_token())
        engine.decoder.reset()
        started = time.perf_counter()
        tokens = engine.prefill(history, params)
        reading.append(time.perf_counter() - started)
        ahead.append(first_token())
    print(f"\nA question in a chat of {tokens} tokens, fresh cache, medians of {repeat}:")
    print("| first token, chat read after Send | first token, read while typing | the reading |")
    print("|---|---|---|")
    print(
        f"| {statistics.median(fresh):.2f} s | {statistics.median(ahead) * 1000:.0f} ms "
        f"| {statistics.median(reading):.2f} s |"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--turns", type=int, nargs="+", default=[20, 60, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--read-ahead-turns", type=int, default=9)
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
    engine.warm_up()
    read_ahead(engine, args.read_ahead_turns, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
