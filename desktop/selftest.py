"""``parley --self-test``: prove that an installed (or frozen) Parley can answer offline.

Loads the user's default model, or the model bundled with the app when the user has none,
answers one prompt greedily and prints the answer and timings. Exit code 0 on success; on
failure one line on stderr and exit code 1. Needs no display and no network; it does not
touch the chat history. Installer smoke tests run it on the built app.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from desktop.config.bundled import bundled_model
from desktop.config.paths import models_dir
from desktop.engine.providers import Device
from desktop.engine.types import GREEDY, Finished, TextDelta

PROMPT = "What is the capital of France? Answer in one word."
MAX_NEW_TOKENS = 24
EXIT_FAILED = 1


class SelfTestError(Exception):
    """The one line a failed self-test prints."""


def process_age() -> float | None:
    """Seconds since this process started (Linux; ``None`` elsewhere): the start-up time,
    interpreter and imports included, when called first thing."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def find_model(name: str | None = None) -> tuple[Path, str]:
    """``(model folder, where from)``: ``name`` (an installed model or a folder), else the
    user's default model, else the bundled one."""
    from desktop.convert.library import ModelLibrary

    if name is not None and Path(name).is_dir():
        return Path(name), "folder"
    library = ModelLibrary()
    chosen = name or library.default_name()
    if chosen is not None:
        return library.get(chosen).path, "installed"
    bundled = bundled_model()
    if bundled is not None:
        return bundled, "bundled"
    raise SelfTestError(
        f"no model: none installed in {models_dir()} and none bundled with the app "
        "(run: parley models install starter)"
    )


def run(
    model: str | None = None,
    device: Device = "auto",
    out: TextIO | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """Run the self-test; returns the exit code."""
    out = out or sys.stdout
    startup = process_age()
    started = clock()
    try:
        lines = _answer(model, device, clock, started, startup)
    except SelfTestError as error:
        print(f"parley: self-test failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    for line in lines:
        print(line, file=out)
    out.flush()
    return 0


def _answer(
    model: str | None,
    device: Device,
    clock: Callable[[], float],
    started: float,
    startup: float | None,
) -> list[str]:
    from desktop.convert.errors import ConversionError
    from desktop.engine.engine import load_engine
    from desktop.engine.session import EngineLoadError
    from desktop.engine.types import ChatMessage

    try:
        path, source = find_model(model)
    except ConversionError as error:
        raise SelfTestError(str(error)) from error
    try:
        engine = load_engine(path, device, 0)
    except (EngineLoadError, ConversionError, OSError, ValueError) as error:
        raise SelfTestError(f"cannot load the model at {path}: {error}") from error
    loaded = clock()
    params = replace(GREEDY, max_new_tokens=MAX_NEW_TOKENS)
    text: list[str] = []
    finished: Finished | None = None
    for event in engine.generate([ChatMessage("user", PROMPT)], params, threading.Event()):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finished):
            finished = event
    done = clock()
    answer = "".join(text).strip()
    if finished is None or finished.reason == "error":
        why = finished.error if finished is not None else "the engine stopped without finishing"
        raise SelfTestError(f"the model could not answer: {why}")
    stats = finished.stats
    if stats.generated_tokens < 1:
        raise SelfTestError(f"the model ({path.name}) generated no tokens")
    if not answer:  # a working model can still answer only whitespace; show it
        answer = repr("".join(text))
    timing = [
        f"model load {loaded - started:.2f} s",
        f"first token {stats.ttft_s * 1000:.0f} ms",
        f"{stats.generated_tokens} tokens at {stats.decode_tok_s:.1f} tok/s",
        f"total {done - started:.2f} s",
    ]
    if startup is not None:
        timing.insert(0, f"start-up {startup:.2f} s")
    return [
        "Parley self-test",
        f"model:   {engine.info.name} ({source}: {path})",
        f"device:  {engine.info.provider}"
        + (f" ({engine.info.fallback_reason})" if engine.info.fallback_reason else ""),
        f"prompt:  {PROMPT}",
        f"answer:  {answer}",
        f"timings: {', '.join(timing)}",
        "self-test passed",
    ]
