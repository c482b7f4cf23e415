"""UI speed: cold start, GUI-thread stalls while an answer streams, sidebar and search on a big
history. Targets (issue 3): start <= 1.0 s without the model, longest stall <= 16 ms, sidebar
<= 200 ms and search <= 50 ms with 10,000 conversations / 200,000 messages. Also: opening one
chat of 300 turns.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_ui.py [--conversations N]
        [--messages-per M] [--tokens T] [--code-lines L] [--json out.json]

Cold start is measured twice: the window alone (``build_window``, what the target is about)
and the whole ``run_app`` (feedback service, tray, shortcut, single instance, logging).
The answer is streamed by the fake engine at full speed (no delay per token): the worst case
for the GUI thread. A 2 ms QTimer heartbeat measures how long the event loop was blocked.
The answer starts once the window's warm-up (Markdown, Pygments, on a thread) is done.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_COLD_START = r"""
import time, sys, os
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from desktop.app import build_window
from desktop.config.settings import Settings
from desktop.services.engine_host import EngineHost
from desktop.services.notifications import Notifier
from desktop.store import Store
app = QApplication([])
store = Store.open()
host = EngineHost()
window = build_window(store, host, Notifier(), Settings.load())
window.show()
app.processEvents()
t1 = time.perf_counter()
print(f"{t1 - t0:.4f} {time.time():.4f}")
host.shutdown(); store.close()
"""

# The whole start as a user gets it (``parley``): run_app with the feedback service (content
# filter, keychain), tray, global shortcut, single-instance server and logging, up to the first
# event-loop turn after the window is shown (no model installed: the welcome page).
_RUN_APP = r"""
import time
t0 = time.perf_counter()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop.app import run_app
app = QApplication(["parley"])
def shown():
    print(f"{time.perf_counter() - t0:.4f} {time.time():.4f}", flush=True)
    app.quit()
QTimer.singleShot(1, shown)
run_app(["parley"])
"""

WORDS = ["the", "model", "answers", "with", "words", "code", "tables", "and", "some", "math",
         "like", "x^2", "quickly"]  # fmt: skip


def long_answer(tokens: int) -> str:
    """Markdown of about ``tokens`` words: paragraphs, a code block every few paragraphs."""
    rng = random.Random(0)
    parts, count = [], 0
    while count < tokens:
        paragraph = " ".join(rng.choice(WORDS) for _ in range(60))
        parts.append(paragraph)
        count += 60
        if len(parts) % 4 == 0:
            parts.append("```python\n" + "\n".join(f"x{i} = {i} * 2" for i in range(12)) + "\n```")
            count += 60
    return "\n\n".join(parts)


def cold_start(runs: int, snippet: str = _COLD_START) -> dict[str, float]:
    """Best of ``runs`` fresh processes: ``spawn_to_shown_s`` from starting the interpreter to
    the window shown and one event-loop turn done; ``imports_to_shown_s`` the same from the
    first import; ``process_wall_s`` the whole process, its exit included."""
    wall, inproc, shown = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, PARLEY_DATA_DIR=tmp, PARLEY_CACHE_DIR=tmp)
            spawned = time.time()
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", snippet], cwd=ROOT, env=env, check=True,
                capture_output=True, text=True,
            )  # fmt: skip
            wall.append(time.perf_counter() - t0)
            elapsed, at = out.stdout.strip().splitlines()[0].split()
            inproc.append(float(elapsed))
            shown.append(float(at) - spawned)
    return {
        "spawn_to_shown_s": round(min(shown), 4),
        "imports_to_shown_s": min(inproc),
        "process_wall_s": round(min(wall), 4),
    }


def long_code(lines: int) -> str:
    """One code block of ``lines`` lines (re-rendering it per repaint would be quadratic)."""
    body = "\n".join(f"def f{i}(x):  # line {i}\n    return x * {i}" for i in range(lines // 2))
    return f"Here is the code:\n\n```python\n{body}\n```\n\nThat is all."


def streaming_stall(tokens: int, delay_s: float = 0.0, reply: str | None = None) -> dict[str, Any]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.engine.types import SamplingParams
    from desktop.services.chat_session import ChatDefaults
    from desktop.services.engine_host import EngineHost
    from desktop.store import Store, group_for_sidebar
    from desktop.ui.main_window import MainWindow, ModelActions
    from desktop.ui.message_view import warmed_up
    from tests.fakes import FakeEngine

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    store = Store.open(tmp / "h.sqlite3")
    engine = FakeEngine(replies=[reply or long_answer(tokens)], delay_s=delay_s)
    host = EngineHost()
    defaults = ChatDefaults("", SamplingParams(max_new_tokens=tokens * 2))
    window = MainWindow(store, host, lambda: defaults, ModelActions(load=lambda _p: engine),
                        group_for_sidebar)  # fmt: skip
    window.resize(1100, 800)
    window.show()
    window.load_model(Path("fake"))
    # the answer starts once the model is loaded and the window's warm-up (Markdown, Pygments:
    # on a thread after start) is done; a real model takes longer to load than the warm-up
    while host.info is None or not warmed_up():
        app.processEvents()
    tab = window.current_tab()
    assert tab is not None

    gaps: list[float] = []
    at: list[float] = []  # when each gap ended, ms since the prompt was sent
    clock = QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setInterval(2)

    def beat() -> None:
        gaps.append(clock.restart())
        at.append((time.perf_counter() - t0) * 1000)

    heartbeat.timeout.connect(beat)
    done = QEventLoop()

    def check_done() -> None:
        # finished, the widget has drained its last chunks onto the screen, and its code
        # blocks are filled in and coloured (the view's slice queue is empty)
        widget = tab.view.message_widgets()[-1]
        if tab.session.state == "idle" and not widget._finishing and not tab.view.queue.pending():
            gaps.append(clock.elapsed())  # the stretch after the last beat counts too
            at.append((time.perf_counter() - t0) * 1000)
            done.quit()
        else:
            QTimer.singleShot(1, check_done)

    tab.session.answer_finished.connect(lambda *_a: check_done())
    clock.start()
    heartbeat.start()
    t0 = time.perf_counter()
    tab.composer.setPlainText("Write a lot.")
    tab.send()
    done.exec()
    elapsed = time.perf_counter() - t0
    heartbeat.stop()
    widget = tab.view.message_widgets()[-1]
    chars = len(widget.text)
    window.close()
    host.shutdown()
    store.close()
    if os.environ.get("BENCH_TRACE"):
        print("gaps (ended at ms, gap ms):", [(round(a), g) for a, g in zip(at, gaps, strict=True)])
    worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else 0
    worst_at = round(at[worst] - gaps[worst]) if gaps else None
    gaps.sort()
    return {
        "delay_per_token_ms": delay_s * 1000,
        "tokens": tokens,
        "chars": chars,
        "stream_s": round(elapsed, 3),
        "tok_per_s_through_gui": round(tokens / elapsed),
        "longest_stall_ms": gaps[-1] if gaps else None,
        "p99_gap_ms": gaps[int(len(gaps) * 0.99)] if gaps else None,
        "longest_stall_starts_ms": worst_at,
        "heartbeats": len(gaps),
    }


def big_history(conversations: int, per: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from desktop.store import Store, group_for_sidebar
    from desktop.ui.sidebar import Sidebar

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    store = Store.open(tmp / "big.sqlite3")
    rng = random.Random(1)
    t0 = time.perf_counter()
    with store.transaction():
        for c in range(conversations):
            conv = store.create_conversation(f"Chat {c} about {rng.choice(WORDS)}")
            parent = None
            for m in range(per):
                text = " ".join(rng.choice(WORDS) for _ in range(25))
                if c == conversations // 2 and m == 3:
                    text += " zanzibar"
                role = "user" if m % 2 == 0 else "assistant"
                parent = store.add_message(conv.id, parent, role, text).id
    fill_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    sidebar = Sidebar(store, group_for_sidebar)
    sidebar.resize(280, 800)
    sidebar.show()
    app.processEvents()
    sidebar_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sidebar.refresh()
    app.processEvents()
    refresh_s = time.perf_counter() - t0

    timings = {}
    for query in ("zanzibar", "model answers", "tables"):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            sidebar.search.setText(query)
            sidebar.run_search()
            app.processEvents()
            best = min(best, time.perf_counter() - t0)
        timings[query] = {"s": round(best, 4), "results": sidebar.results.count()}
    sidebar.close()
    store.close()
    return {
        "conversations": conversations,
        "messages": conversations * per,
        "fill_s": round(fill_s, 1),
        "sidebar_open_s": round(sidebar_s, 4),
        "sidebar_refresh_s": round(refresh_s, 4),
        "search": timings,
    }


def long_chat(turns: int) -> dict[str, Any]:
    """Opening one chat of ``turns`` questions and answers (each answer different, with a
    list and a code block, so the render cache does not help), after the window's warm-up."""
    from PySide6.QtWidgets import QApplication

    from desktop.engine.types import SamplingParams
    from desktop.services.chat_session import ChatDefaults
    from desktop.services.engine_host import EngineHost
    from desktop.store import Store, group_for_sidebar
    from desktop.ui.main_window import MainWindow, ModelActions
    from desktop.ui.message_view import warmed_up
    from tests.fakes import FakeEngine

    app = QApplication.instance() or QApplication([])
    store = Store.open(Path(tempfile.mkdtemp()) / "long.sqlite3")
    chat = store.create_conversation("Long")
    parent = None
    for i in range(turns):
        q = store.add_message(chat.id, parent, "user", f"Question {i}: what about {i}?")
        a = store.begin_assistant(chat.id, q.id, "m")
        text = f"About **{i}**:\n\n- {i} + 1 = {i + 1}\n\n```python\nprint({i} * 2)\n```\n"
        parent = store.finish(a.id, "complete", None, text).id
    host = EngineHost()
    defaults = ChatDefaults("", SamplingParams())
    window = MainWindow(store, host, lambda: defaults, ModelActions(load=lambda _p: FakeEngine()),
                        group_for_sidebar)  # fmt: skip
    window.resize(1100, 800)
    window.show()
    while not warmed_up():
        app.processEvents()
    t0 = time.perf_counter()
    tab = window.open_conversation(chat.id)
    app.processEvents()
    open_s = time.perf_counter() - t0
    shown_widgets = len(tab.view.message_widgets())
    t0 = time.perf_counter()
    tab.show_earlier()
    app.processEvents()
    earlier_s = time.perf_counter() - t0
    window.close()
    host.shutdown()
    store.close()
    return {"turns": turns, "open_s": round(open_s, 4), "messages_shown": shown_widgets,
            "show_earlier_s": round(earlier_s, 4)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-per", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=6000)
    parser.add_argument("--code-lines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long-chat", type=int, default=300, help="turns of the long chat")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ["PARLEY_DATA_DIR"] = tempfile.mkdtemp()
    os.environ["PARLEY_CACHE_DIR"] = tempfile.mkdtemp()
    results: dict[str, Any] = {"cold_start": cold_start(args.runs)}
    print("cold start:", results["cold_start"], flush=True)
    results["cold_start_run_app"] = cold_start(args.runs, _RUN_APP)
    print("cold start, whole run_app:", results["cold_start_run_app"], flush=True)
    results["streaming_full_speed"] = streaming_stall(args.tokens)
    print("streaming, full speed:", results["streaming_full_speed"], flush=True)
    results["streaming_1000_tok_s"] = streaming_stall(args.tokens // 2, delay_s=0.001)
    print("streaming, 1 ms/token:", results["streaming_1000_tok_s"], flush=True)
    if args.code_lines:
        code = long_code(args.code_lines)
        tokens = len(code.split())
        results["streaming_long_code_block"] = streaming_stall(tokens, reply=code)
        print("streaming, one long code block:", results["streaming_long_code_block"], flush=True)
    if args.long_chat:
        results["long_chat"] = long_chat(args.long_chat)
        print("long chat:", results["long_chat"], flush=True)
    if args.conversations:
        results["history"] = big_history(args.conversations, args.messages_per)
        print("history:", results["history"], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
