"""Importing ChatGPT's data export: time, peak memory and history size for a synthetic
``conversations.json`` shaped like a real one.

    .venv/bin/python bench/bench_import.py [--mb 30] [--rounds 3] [--zip] [--seed 1]
        [--json FILE]

1. **The export** is generated once (deterministic for a size and seed) into the bench cache,
   ``$PARLEY_CACHE_DIR/bench/import/``: conversations of 1 to 30 turns with what ChatGPT's
   export holds besides the chat on screen — a hidden system message and custom
   instructions, regenerated answers and edited questions (branches), web searches (the call
   and the pages read: left out on import), Python runs (code and output: kept), reasoning
   (left out), images (a placeholder), heavy metadata, non-ASCII text — and about 1% of
   conversations copied from an earlier one with the same node ids and a few turns of their
   own (a chat branched into a new one). What the importer should keep is counted while
   writing and stored next to the file (``.shape.json``): every round is checked against it.
   ``--zip`` also writes the same file inside a zip, as ChatGPT's "Export data" sends it.
2. **Rounds**: in each round the export (then the zip, with ``--zip``) is imported into a new
   empty history in a temporary folder, each in a fresh process (``--worker``), so that its
   peak RSS (``VmHWM``) belongs to that import alone. Reported per import: wall time of
   ``import_file`` (and of its two readings, "checking" and "adding"), peak RSS and RSS
   before the import (the interpreter and Parley's modules), messages/s, MB/s of JSON read
   (the uncompressed size for the zip), the history's size on disk after closing it, and the
   machine's 1-minute load average. Medians over rounds, with the range.

MB here is 2^20 bytes, as in the importer's limit (1 GB).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import inspect
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.config.paths import cache_dir
from desktop.store import Store
from desktop.transcripts import MAX_BYTES, import_file

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
WORKER_TIMEOUT_S = 3600
VARIANTS = ("json", "zip")


# -- the synthetic export (pure; tested at a tiny size) ----------------------------------------
@dataclass(frozen=True)
class Mix:
    """How often each kind of thing appears: per conversation (``context``, ``copy``,
    ``untitled``), per question (``image``, ``edit``) or per answer (the rest)."""

    context: float = 0.5
    """Custom instructions after the hidden system message (hidden too)."""
    image: float = 0.10
    """A question with an image (imported as ``[image]``)."""
    search: float = 0.12
    """An answer after a web search: the call and the pages read are left out."""
    python: float = 0.08
    """An answer after running Python: the code and its output are kept."""
    reasoning: float = 0.08
    """An answer after the model's reasoning, which is left out."""
    regenerate: float = 0.12
    """A second answer to the same question: a branch."""
    edit: float = 0.06
    """An edited question with its own answer: a branch."""
    copy: float = 0.01
    """A conversation copied from an earlier one (the same node ids), with turns of its own."""
    untitled: float = 0.05
    turns: tuple[int, ...] = (1, 1, 2, 3, 4, 6, 8, 12, 20, 30)
    """Turns of a conversation, drawn uniformly from these."""


@dataclass
class Shape:
    """What an export holds, counted while it is written: what the importer keeps
    (``conversations``, ``messages``) and what it leaves out or replaces."""

    conversations: int = 0
    copies: int = 0
    """Conversations copied from another, sharing its node ids."""
    nodes: int = 0
    """Nodes of the mappings, the empty roots included."""
    messages: int = 0
    """Messages ChatGPT shows, which the importer keeps."""
    hidden: int = 0
    """System messages and custom instructions (left out, not counted by the importer)."""
    tool_steps: int = 0
    """Search calls and the results they returned (left out and counted)."""
    reasoning: int = 0
    images: int = 0
    branches: int = 0
    """Regenerated answers and edited questions."""

    def add(self, other: Shape) -> None:
        for name in _SHAPE_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_SHAPE_FIELDS = tuple(f.name for f in dataclasses.fields(Shape))


class ExportWriter:
    """Writes ChatGPT-shaped conversations, one at a time, from one seeded generator. What
    decides the file's bytes (this class, ``_Chat``, ``Mix`` and their helpers) is hashed
    into the cached file's name: :func:`generator_key`."""

    VOCABULARY = (
        "the of and to in is that for it as with was on be by this are or from at an not "
        "function value return python data model error result using can will query table "
        "résumé naïve café Grüße Zürich 東京 データ 😀 ✓ — “quoted” λ ∑ def class list"
    )
    WORDS = tuple(VOCABULARY.split())
    KEPT = 50

    def __init__(self, seed: int, mix: Mix) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.kept: list[dict[str, Any]] = []
        """Conversations a later one may be copied from (with their shapes)."""
        self.seen = 0

    # Text ------------------------------------------------------------------------------------
    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(self.WORDS, k=n))

    def paragraphs(self, low: int, high: int) -> str:
        """About ``low`` to ``high`` characters of paragraphs, sometimes with a code block."""
        rng = self.rng
        text = "\n\n".join(self.words(rng.randint(15, 90)) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            text += f"\n\n```python\ndef f(x):\n    return x * 2  # {self.words(5)}\n```"
        while len(text) < low:
            text += "\n\n" + self.words(60)
        return text[:high]

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # Conversations ---------------------------------------------------------------------------
    def conversation(self) -> tuple[dict[str, Any], Shape]:
        """The next conversation of the file and its shape."""
        rng, mix = self.rng, self.mix
        if self.kept and rng.random() < mix.copy:
            return self._copy(rng.choice(self.kept))
        created = 1_680_000_000.0 + rng.uniform(0, 60_000_000)
        chat = _Chat(self, {}, created)
        chat.shape.conversations = 1
        root = chat.node(None, None)
        last = chat.node(root, chat.message("system", _text(""), hidden=True))
        if rng.random() < mix.context:
            context = {
                "content_type": "user_editable_context",
                "user_profile": self.words(20),
                "user_instructions": self.words(30),
            }
            last = chat.node(last, chat.message("user", context, hidden=True))
        for _ in range(rng.choice(mix.turns)):
            last = chat.turn(last)
        data: dict[str, Any] = {
            "title": self.words(4) if rng.random() >= mix.untitled else None,
            "create_time": created,
            "update_time": chat.clock,
            "mapping": chat.mapping,
            "moderation_results": [],
            "current_node": last,
            "plugin_ids": None,
            "conversation_id": self.uid(),
            "conversation_template_id": None,
            "gizmo_id": None,
            "is_archived": False,
            "safe_urls": [],
            "default_model_slug": "auto",
            "disabled_tool_ids": [],
            "memory_scope": "global_enabled",
        }
        data["id"] = data["conversation_id"]
        self.keep({"data": data, "shape": dataclasses.replace(chat.shape)})
        return data, chat.shape

    def keep(self, conversation: dict[str, Any]) -> None:
        """Keeps a uniform sample of :data:`KEPT` conversations seen so far (reservoir
        sampling): the sources of later copies."""
        self.seen += 1
        if len(self.kept) < self.KEPT:
            self.kept.append(conversation)
        elif (slot := self.rng.randrange(self.seen)) < self.KEPT:
            self.kept[slot] = conversation

    def _copy(self, source: dict[str, Any]) -> tuple[dict[str, Any], Shape]:
        """A chat branched into a new one: the source's nodes under the same ids, a new
        conversation id, then a turn or two of its own."""
        data: dict[str, Any] = json.loads(json.dumps(source["data"]))
        shape = dataclasses.replace(source["shape"], copies=1)
        chat = _Chat(self, data["mapping"], data["update_time"], shape)
        last = data["current_node"]
        for _ in range(self.rng.randint(1, 2)):
            last = chat.turn(last)
        data["current_node"] = last
        data["conversation_id"] = data["id"] = self.uid()
        data["create_time"] = data["update_time"] + self.rng.uniform(60, 86_400)
        data["update_time"] = chat.clock + self.rng.uniform(60, 86_400)
        data["title"] = f"Branch · {data['title'] or 'untitled'}"
        return data, chat.shape

    def write(self, out: TextIO, size: int) -> Shape:
        """Conversations into ``out`` as a JSON array until it holds ``size`` bytes of them."""
        shape = Shape()
        written = 0
        out.write("[")
        while written < size:
            data, one = self.conversation()
            text = json.dumps(data, ensure_ascii=False)
            out.write(",\n" if shape.conversations else "\n")
            out.write(text)
            written += len(text.encode())
            shape.add(one)
        out.write("\n]\n")
        return shape


class _Chat:
    """One conversation's mapping being built, with its shape."""

    def __init__(
        self,
        writer: ExportWriter,
        mapping: dict[str, Any],
        clock: float,
        shape: Shape | None = None,
    ) -> None:
        self.w = writer
        self.mapping = mapping
        self.clock = clock
        self.shape = shape or Shape()

    def node(self, parent: str | None, message: dict[str, Any] | None) -> str:
        key = self.w.uid()
        if message is not None:
            message["id"] = key
        self.mapping[key] = {"id": key, "message": message, "parent": parent, "children": []}
        if parent is not None:
            self.mapping[parent]["children"].append(key)
        self.shape.nodes += 1
        return key

    def message(
        self,
        role: str,
        content: dict[str, Any],
        *,
        recipient: str = "all",
        name: str | None = None,
        hidden: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message as ChatGPT exports it, with its usual metadata."""
        rng = self.w.rng
        self.clock += rng.uniform(2, 90)
        meta: dict[str, Any] = {"request_id": self.w.uid(), **(metadata or {})}
        if hidden:
            meta["is_visually_hidden_from_conversation"] = True
            self.shape.hidden += 1
        if role == "assistant":
            meta |= {
                "citations": [],
                "content_references": [],
                "message_type": "next",
                "model_slug": meta.get("model_slug", "gpt-4o"),
                "default_model_slug": "auto",
                "finish_details": {"type": "stop", "stop_tokens": [200002]},
                "is_complete": True,
            }
        elif role == "user":
            meta |= {"selected_github_repos": [], "serialization_metadata": {}}
        return {
            "author": {"role": role, "name": name, "metadata": {}},
            "create_time": None if hidden else self.clock,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": True if role == "assistant" and recipient == "all" else None,
            "weight": 0.0 if hidden else 1.0,
            "metadata": meta,
            "recipient": recipient,
            "channel": None,
        }

    def shown(self, parent: str, message: dict[str, Any]) -> str:
        """A node that ChatGPT shows and the importer keeps."""
        self.shape.messages += 1
        return self.node(parent, message)

    def turn(self, parent: str) -> str:
        """A question and its answer (perhaps regenerated, perhaps edited); the shown answer."""
        rng, mix = self.w.rng, self.w.mix
        question = self.question(parent)
        shown = self.answer(question)
        if rng.random() < mix.regenerate:
            self.answer(question)
            self.shape.branches += 1
        if rng.random() < mix.edit:
            self.answer(self.question(parent))
            self.shape.branches += 1
        return shown

    def question(self, parent: str) -> str:
        w = self.w
        if w.rng.random() < w.mix.image:
            self.shape.images += 1
            image = {
                "content_type": "image_asset_pointer",
                "asset_pointer": f"file-service://file-{w.uid()[:8]}",
                "size_bytes": w.rng.randint(50_000, 900_000),
                "width": 1024,
                "height": 768,
                "metadata": {"dalle": None, "sanitized": True},
            }
            content = {"content_type": "multimodal_text", "parts": [image, w.words(12)]}
            return self.shown(parent, self.message("user", content))
        return self.shown(parent, self.message("user", _text(w.paragraphs(30, 900))))

    def answer(self, parent: str) -> str:
        """The model's answer to ``parent``, perhaps after a tool or reasoning."""
        w = self.w
        roll = w.rng.random()
        mix = w.mix
        if roll < mix.search:
            return self.searched(parent)
        roll -= mix.search
        if roll < mix.python:
            code = "import math\nprint(math.pi * 2)\n" + "x = 1\n" * w.rng.randint(1, 30)
            call = self.message("assistant", _code(code), recipient="python")
            output = {"content_type": "execution_output", "text": "6.283185307179586"}
            result = self.message("tool", output, name="python", metadata=_PYTHON_RESULT)
            parent = self.shown(self.shown(parent, call), result)
            return self.shown(parent, self.message("assistant", _text(w.paragraphs(200, 1500))))
        roll -= mix.python
        if roll < mix.reasoning:
            thoughts = {
                "content_type": "thoughts",
                "thoughts": [{"summary": w.words(5), "content": w.words(80)}],
            }
            parent = self.node(parent, self.message("assistant", thoughts))
            self.shape.reasoning += 1
            text = _text(w.paragraphs(300, 3500))
            meta = {"model_slug": "o3"}
            return self.shown(parent, self.message("assistant", text, metadata=meta))
        return self.shown(parent, self.message("assistant", _text(w.paragraphs(300, 4000))))

    def searched(self, parent: str) -> str:
        """A web search: the call and the results (both left out), then an answer whose
        citation markers the importer strips."""
        w = self.w
        query = json.dumps({"search_query": [{"q": w.words(4)}]}, ensure_ascii=False)
        call = self.node(parent, self.message("assistant", _code(query), recipient="web.run"))
        entries = [
            {
                "type": "search_result",
                "url": f"https://example.org/{w.uid()[:8]}",
                "title": w.words(6),
                "snippet": w.words(30),
            }
            for _ in range(4)
        ]
        groups = {"search_result_groups": [{"domain": "example.org", "entries": entries}]}
        found = self.message("tool", _text(""), name="web.run", metadata=groups)
        results = self.node(call, found)
        self.shape.tool_steps += 2
        text = w.paragraphs(300, 2500) + " \ue200cite\ue202turn0search0\ue201"
        return self.shown(results, self.message("assistant", _text(text)))


_PYTHON_RESULT = {"aggregate_result": {"status": "success", "messages": [], "run_id": "r"}}


def _text(text: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [text]}


def _code(code: str) -> dict[str, Any]:
    return {"content_type": "code", "language": "unknown", "text": code}


def write_export(path: Path, size: int, seed: int, mix: Mix | None = None) -> Shape:
    """A synthetic ``conversations.json`` of about ``size`` bytes at ``path``."""
    with path.open("w", encoding="utf-8") as out:
        return ExportWriter(seed, mix or Mix()).write(out, size)


def generator_key() -> str:
    """Changes whenever the code that decides the export's bytes does."""
    source = "".join(inspect.getsource(part) for part in (Mix, ExportWriter, _Chat, _text, _code))
    source += repr(_PYTHON_RESULT)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Export:
    json: Path
    shape: Shape
    zip: Path | None = None


def cached_export(cache: Path, mb: float, seed: int, with_zip: bool) -> Export:
    """The export of ``mb`` MB for ``seed`` (and its zip), generated once into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"conversations-{mb:g}mb-seed{seed}-{generator_key()}"
    path, shape_file = cache / f"{stem}.json", cache / f"{stem}.shape.json"
    if not (path.exists() and shape_file.exists()):
        _log(f"writing a {mb:g} MB export to {path}")
        started = time.perf_counter()
        partial = path.with_suffix(".part")
        shape = write_export(partial, int(mb * MB), seed)
        partial.replace(path)
        shape_file.write_text(json.dumps(dataclasses.asdict(shape)), encoding="utf-8")
        _log(f"  {shape.conversations:,} conversations in {time.perf_counter() - started:.0f} s")
    shape = Shape(**json.loads(shape_file.read_text(encoding="utf-8")))
    archive = None
    if with_zip:
        archive = cache / f"{stem}.zip"
        if not archive.exists():
            _log(f"zipping it to {archive}")
            partial = archive.with_suffix(".part")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(path, "conversations.json")
            partial.replace(archive)
    return Export(path, shape, archive)


# -- one import, in its own process ---------------------------------------------------------------
def _status_mb(field_name: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, in MB. ``VmHWM`` starts anew
    with the process; ``ru_maxrss`` is the fallback where ``/proc`` is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(export: Path, history: Path) -> dict[str, Any]:
    """Import ``export`` into a new history at ``history``; the numbers of that import."""
    rss_before = _status_mb("VmRSS")
    store = Store.open(history)
    stages: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        stages.setdefault(stage, time.perf_counter())

    started = time.perf_counter()
    report = import_file(store, export, progress=progress)
    ended = time.perf_counter()
    store.close()
    adding = stages.get("adding", ended)
    return {
        "wall_s": round(ended - started, 3),
        "checking_s": round(adding - started, 3),
        "adding_s": round(ended - adding, 3),
        "conversations": report.added,
        "messages": report.messages,
        "warnings": list(report.warnings),
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_status_mb("VmHWM"), 1),
    }


def run_import(export: Path, json_bytes: int) -> dict[str, Any]:
    """One import of ``export`` in a fresh process into a new history, with the derived
    rates, the history's size on disk and the load average."""
    with tempfile.TemporaryDirectory(prefix="parley-bench-import-") as tmp:
        history = Path(tmp) / "history.sqlite3"
        cmd = [sys.executable, __file__, "--worker", str(export), "--history", str(history)]
        load_before = os.getloadavg()[0]
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=WORKER_TIMEOUT_S
        )
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            return {"error": lines[-1] if lines else f"worker exited with {proc.returncode}"}
        result: dict[str, Any] = json.loads(proc.stdout)
        result["history_mb"] = round(sum(f.stat().st_size for f in Path(tmp).iterdir()) / MB, 1)
    result["loadavg_1m"] = round(max(load_before, os.getloadavg()[0]), 2)
    result["messages_per_s"] = round(result["messages"] / result["wall_s"])
    result["mb_per_s"] = round(json_bytes / MB / result["wall_s"], 2)
    return result


# -- statistics and the table (pure; tested) ------------------------------------------------------
MEASURES = (
    "wall_s",
    "checking_s",
    "adding_s",
    "peak_rss_mb",
    "rss_before_mb",
    "messages_per_s",
    "mb_per_s",
    "history_mb",
    "loadavg_1m",
)


def summarize(rounds: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per measure the median, min and max over the rounds that did not fail."""
    ok = [r for r in rounds if "error" not in r]
    summary: dict[str, dict[str, float]] = {}
    for name in MEASURES:
        values = [float(r[name]) for r in ok if name in r]
        if values:
            summary[name] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
            }
    return summary


def _spread(stats: dict[str, float], digits: int) -> str:
    median, low, high = (f"{stats[k]:,.{digits}f}" for k in ("median", "min", "max"))
    return median if low == high else f"{median} ({low}-{high})"


def markdown(results: dict[str, Any]) -> str:
    """The README's table: one row per variant, medians with the range over rounds."""
    shape = results["export"]["shape"]
    lines = [
        f"{results['export']['mb']:g} MB export: {shape['conversations']:,} conversations, "
        f"{shape['messages']:,} messages; {results['rounds']} round(s), medians (range)",
        "",
        "| import | wall s | checking / adding s | peak RSS MB | RSS before MB | messages/s "
        "| MB/s | history MB | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, data in results["variants"].items():
        s = data["summary"]
        if not s:
            lines.append(f"| {variant} | failed: {data['rounds'][0].get('error', '?')} |")
            continue
        stages = f"{s['checking_s']['median']:.1f} / {s['adding_s']['median']:.1f}"
        lines.append(
            f"| {variant} | {_spread(s['wall_s'], 1)} | {stages} "
            f"| {_spread(s['peak_rss_mb'], 0)} | {s['rss_before_mb']['median']:.0f} "
            f"| {_spread(s['messages_per_s'], 0)} | {_spread(s['mb_per_s'], 2)} "
            f"| {s['history_mb']['median']:.1f} | {_spread(s['loadavg_1m'], 1)} |"
        )
    return "\n".join(lines)


def mismatches(rounds: Sequence[dict[str, Any]], shape: Shape) -> list[str]:
    """Rounds that failed or imported other counts than the export holds."""
    problems = []
    for number, r in enumerate(rounds, 1):
        if "error" in r:
            problems.append(f"round {number}: {r['error']}")
        elif (r["conversations"], r["messages"]) != (shape.conversations, shape.messages):
            problems.append(
                f"round {number}: imported {r['conversations']} conversations and "
                f"{r['messages']} messages, the export holds {shape.conversations} and "
                f"{shape.messages}"
            )
    return problems


# -- main ------------------------------------------------------------------------------------------
def _log(msg: str) -> None:
    print(f"[bench_import {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=30.0, help="size of the export (MB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--zip", action="store_true", help="also import it inside a zip")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.history)))
        return 0
    if not 0 < args.mb * MB <= MAX_BYTES or args.rounds < 1:
        parser.error(f"--mb must be above 0 and at most {MAX_BYTES // MB}, --rounds at least 1")

    export = cached_export(cache_dir() / "bench" / "import", args.mb, args.seed, args.zip)
    json_bytes = export.json.stat().st_size
    files = {"json": export.json, "zip": export.zip}
    variants = [v for v in VARIANTS if files[v] is not None]
    rounds: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for number in range(1, args.rounds + 1):
        for variant in variants:
            path = files[variant]
            assert path is not None
            result = run_import(path, json_bytes)
            rounds[variant].append(result)
            said = result.get("error") or (
                f"{result['wall_s']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB, "
                f"load {result['loadavg_1m']}"
            )
            _log(f"round {number}, {variant}: {said}")

    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "export": {
            "mb": args.mb,
            "seed": args.seed,
            "json_bytes": json_bytes,
            "zip_bytes": export.zip.stat().st_size if export.zip else None,
            "shape": dataclasses.asdict(export.shape),
        },
        "variants": {v: {"summary": summarize(rounds[v]), "rounds": rounds[v]} for v in variants},
    }
    problems = [f"{v} {p}" for v in variants for p in mismatches(rounds[v], export.shape)]
    results["problems"] = problems
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown(results))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
