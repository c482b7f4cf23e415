"""EngineHost: one long-lived worker thread that owns the engine.

The engine is plain Python (no Qt): ``generate`` returns an iterator of events and takes a
``threading.Event`` for cancel. This module is the thin adapter in between, in the spirit of
superqt's ``GeneratorWorker``: the iterator runs on the worker thread and every event reaches the
GUI thread as a queued signal. Requests from several tabs queue on the one worker (a model runs
one answer at a time); a request that waits says so, and can be cancelled before it starts.

Model loading and long jobs (installing the starter model) run on the same worker, so that the
engine is only ever touched from one thread.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from desktop.engine.types import (
    ChatEngine,
    ChatMessage,
    ContextTrimmed,
    Finished,
    ModelInfo,
    PromptProgress,
    SamplingParams,
    TextDelta,
    answer_room,
)
from desktop.services.token_counter import TokenCounter

log = logging.getLogger(__name__)

# Text deltas are coalesced on the worker for this long before they cross to the GUI thread:
# at full speed an engine yields thousands of tokens a second and one queued signal per token
# would flood the GUI event loop. 8 ms stays well under one frame.
_COALESCE_S = 0.008

# While the worker runs Python (template, tokenizer, sampling; a fake engine: all of it), the GUI
# thread waits for the GIL up to the switch interval at every slot it runs: CPython's default of
# 5 ms turns a few slots into a visible stall. 1 ms keeps the GUI thread's waits short; it costs
# nothing while only one thread wants the GIL.
_SWITCH_INTERVAL_S = 0.001

Progress = Callable[[str, float], None]
JobFn = Callable[[Progress, threading.Event], object]


class GenerationRequest(QObject):
    """One answer being generated, as seen from the GUI thread.

    ``started`` fires when the worker picks the request up (until then it is waiting in the
    queue), ``reading(done, total)`` while a long prompt is read (before its first token),
    then ``delta``/``trimmed`` as the engine streams, and always exactly one ``finished``
    with the engine's ``Finished`` event.
    """

    started = Signal()
    reading = Signal(int, int)
    delta = Signal(str)
    trimmed = Signal(int)
    finished = Signal(object)
    withdrawn = Signal(int)  # cancelled while waiting: the host ends it (GUI thread)

    def __init__(self, request_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request_id = request_id
        self.cancel_event = threading.Event()
        self.is_started = False
        self.is_finished = False
        self.model = ""  # the model that writes it, once started (the one loaded then)

    def cancel(self) -> None:
        """Ask the engine to stop; it does within one token. One still waiting behind
        another tab's answer ends at once (``finished``, cancelled, through the host):
        Stop must not wait for that other answer to end."""
        self.cancel_event.set()
        if not self.is_started and not self.is_finished:
            self.withdrawn.emit(self.request_id)


class Job(QObject):
    """A long task on the worker (install, import, load). Exactly one of ``succeeded``,
    ``failed`` or ``cancelled`` fires at the end."""

    progress = Signal(str, float)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job_id = job_id
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()


class _Worker(QObject):
    """Lives on the worker thread. Every slot runs there; every signal is queued to the GUI."""

    req_started = Signal(int, str)  # (request, the name of the model that answers it)
    req_delta = Signal(int, str)
    req_trimmed = Signal(int, int)
    req_reading = Signal(int, int, int)  # (request, prompt tokens read, prompt tokens)
    req_finished = Signal(int, object)
    job_progress = Signal(int, str, float)
    job_done = Signal(int, str, object)  # (id, "ok" | "failed" | "cancelled", result or message)
    engine_ready = Signal(object)  # ModelInfo
    engine_failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.engine: ChatEngine | None = None

    @Slot(int, object, object, object)
    def generate(
        self,
        request_id: int,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: threading.Event,
    ) -> None:
        if cancel.is_set():
            self.req_finished.emit(request_id, Finished("cancelled"))
            return
        if self.engine is None:
            self.req_finished.emit(request_id, Finished("error", error="No model is loaded."))
            return
        self.req_started.emit(request_id, self.engine.info.name)
        pending = ""
        last_emit = 0.0
        finished: Finished | None = None
        try:
            for event in self.engine.generate(messages, params, cancel):
                if isinstance(event, TextDelta):
                    pending += event.text
                    now = time.perf_counter()
                    if pending and now - last_emit >= _COALESCE_S:
                        self.req_delta.emit(request_id, pending)
                        pending, last_emit = "", now
                elif isinstance(event, ContextTrimmed):
                    self.req_trimmed.emit(request_id, event.dropped_messages)
                elif isinstance(event, PromptProgress):  # one every ~second
                    self.req_reading.emit(request_id, event.done, event.total)
                elif isinstance(event, Finished):
                    finished = event
                    break
        except Exception as exc:  # the engine promises not to raise; if it does, it is our bug:
            log.exception("engine raised during generate")  # log it and end the answer
            finished = Finished("error", error=f"Internal error: {exc}")
        if pending:
            self.req_delta.emit(request_id, pending)
        if finished is None:
            finished = Finished("error", error="The engine stopped without finishing.")
        self.req_finished.emit(request_id, finished)

    @Slot(object, object, object)
    def prefetch(
        self, messages: Sequence[ChatMessage], params: SamplingParams, cancel: threading.Event
    ) -> None:
        """Read a chat into the engine's cache while its next question is typed (engines
        without ``prefill`` skip it)."""
        prefill = getattr(self.engine, "prefill", None)
        if prefill is None or cancel.is_set():
            return
        try:
            prefill(messages, params, cancel)
        except Exception:  # only a head start: the answer reads the chat itself
            log.exception("reading a chat ahead of its question failed")

    @Slot(int, object, object, bool)
    def run_job(
        self, job_id: int, fn: JobFn, cancel: threading.Event, installs_engine: bool
    ) -> None:
        def progress(stage: str, fraction: float) -> None:
            self.job_progress.emit(job_id, stage, float(fraction))

        try:
            result = fn(progress, cancel)
        except Exception as exc:  # a job's failure is shown to the user as one message
            if cancel.is_set():
                self.job_done.emit(job_id, "cancelled", None)
                return
            log.warning("job %d failed", job_id, exc_info=True)
            message = str(exc) or type(exc).__name__
            if installs_engine:
                self.engine_failed.emit(message)
            self.job_done.emit(job_id, "failed", message)
            return
        if cancel.is_set():
            self.job_done.emit(job_id, "cancelled", None)
            return
        if installs_engine:
            self.engine = result  # type: ignore[assignment]  # the loader returns a ChatEngine
            info = self.engine.info if self.engine is not None else None
            self.engine_ready.emit(info)
            self.job_done.emit(job_id, "ok", info)
            return
        self.job_done.emit(job_id, "ok", result)

    @Slot()
    def release(self) -> None:
        engine, self.engine = self.engine, None
        close = getattr(engine, "close", None)
        if callable(close):
            close()


class EngineHost(QObject):
    """The GUI thread's handle on the engine worker.

    ``model_loaded(ModelInfo)`` / ``model_failed(str)`` report loading, ``busy_changed(bool)``
    whether the worker is working on an answer, ``queue_changed(int)`` how many answers wait.
    """

    model_loaded = Signal(object)
    model_failed = Signal(str)
    queue_changed = Signal(int)

    _generate = Signal(int, object, object, object)
    _prefetch = Signal(object, object, object)
    _run_job = Signal(int, object, object, bool)
    _release = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        sys.setswitchinterval(min(sys.getswitchinterval(), _SWITCH_INTERVAL_S))
        self._ids = itertools.count(1)
        self._requests: dict[int, GenerationRequest] = {}
        self._jobs: dict[int, Job] = {}
        self.info: ModelInfo | None = None
        self.problem: str | None = None  # why the last load failed
        self._counter: TokenCounter | None = None  # the loaded model's, on this thread
        self._loads: set[int] = set()  # load jobs not finished yet
        self._thread = QThread()
        self._thread.setObjectName("parley-engine")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._generate.connect(self._worker.generate)
        self._prefetch.connect(self._worker.prefetch)
        self._prefetch_cancel: threading.Event | None = None  # the read-ahead under way
        self._run_job.connect(self._worker.run_job)
        self._release.connect(self._worker.release)
        self._worker.req_started.connect(self._on_started)
        self._worker.req_delta.connect(self._on_delta)
        self._worker.req_trimmed.connect(self._on_trimmed)
        self._worker.req_reading.connect(self._on_reading)
        self._worker.req_finished.connect(self._on_finished)
        self._worker.job_progress.connect(self._on_job_progress)
        self._worker.job_done.connect(self._on_job_done)
        self._worker.engine_ready.connect(self._on_engine_ready)
        self._worker.engine_failed.connect(self._on_engine_failed)
        self._thread.start()

    # -- requests -------------------------------------------------------------------------
    def submit(self, messages: Sequence[ChatMessage], params: SamplingParams) -> GenerationRequest:
        """Queue one answer. The returned request reports on the GUI thread.

        The worker is told two event-loop turns later: the window first lays out and paints
        what the caller just changed (the user's message, the answer's placeholder). A new
        widget's first layout and paint call into Python many times; with the engine worker
        running Python at the same time, each of those calls waits for the GIL."""
        self._stop_prefetch()  # it ends within one part and its reading stays cached
        request = GenerationRequest(next(self._ids), self)
        request.withdrawn.connect(self._on_withdrawn)
        self._requests[request.request_id] = request
        args = (request.request_id, list(messages), params, request.cancel_event)

        def start() -> None:
            self._generate.emit(*args)

        QTimer.singleShot(0, self, lambda: QTimer.singleShot(0, self, start))
        self.queue_changed.emit(self.waiting_count())
        return request

    def prefetch(self, messages: Sequence[ChatMessage], params: SamplingParams) -> bool:
        """Have the worker read ``messages`` (a chat whose next question is being typed)
        into the engine's cache, so the answer starts sooner. Not while answers are written
        or wait, or while a model loads; a new request or job stops it. Returns whether it
        was asked for."""
        if self.info is None or self._requests or self._loads or self._jobs:
            return False
        self._stop_prefetch()
        cancel = threading.Event()
        self._prefetch_cancel = cancel
        self._prefetch.emit(list(messages), params, cancel)
        return True

    def _stop_prefetch(self) -> None:
        if self._prefetch_cancel is not None:
            self._prefetch_cancel.set()
            self._prefetch_cancel = None

    def answering(self) -> bool:
        """Whether an answer is being written now (a request waits behind it)."""
        return any(r.is_started and not r.is_finished for r in self._requests.values())

    def waiting_count(self) -> int:
        return sum(1 for r in self._requests.values() if not r.is_started)

    def is_busy(self) -> bool:
        return bool(self._requests)

    # -- jobs -----------------------------------------------------------------------------
    def run_job(self, fn: JobFn) -> Job:
        """Run ``fn(progress, cancel)`` on the worker, after any queued answers."""
        return self._start_job(fn, installs_engine=False)

    def load(self, loader: Callable[[], ChatEngine]) -> Job:
        """Load (or replace) the engine on the worker thread. The old engine is released."""

        def load_fn(progress: Progress, cancel: threading.Event) -> object:
            progress("Loading the model", 0.0)
            return loader()

        self._release.emit()
        self.info = None
        self.problem = None
        self._counter = None
        job = self._start_job(load_fn, installs_engine=True)
        self._loads.add(job.job_id)
        return job

    def unavailable(self) -> str | None:
        """Why no answer can be asked for now (no model, or its load failed); None while a
        model is loaded or loading (requests then wait for it on the worker)."""
        if self.info is not None or self._loads:
            return None
        if self.problem:
            return f"No model is loaded: {self.problem}"
        return "No model is loaded: choose or install one in File ▸ Models…"

    def _start_job(self, fn: JobFn, *, installs_engine: bool) -> Job:
        self._stop_prefetch()
        job = Job(next(self._ids), self)
        self._jobs[job.job_id] = job
        self._run_job.emit(job.job_id, fn, job.cancel_event, installs_engine)
        return job

    # -- lifetime -------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything, release the engine and stop the worker thread. Returns whether
        the thread ended within the timeout."""
        self._stop_prefetch()
        for request in list(self._requests.values()):
            request.cancel()
        for job in self._jobs.values():
            job.cancel()
        if not self._thread.isRunning():
            return True
        self._release.emit()
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    # -- worker -> GUI --------------------------------------------------------------------
    def _on_started(self, request_id: int, model: str) -> None:
        request = self._requests.get(request_id)
        if request is not None:
            request.is_started = True
            request.model = model
            self.queue_changed.emit(self.waiting_count())
            request.started.emit()

    def _on_delta(self, request_id: int, text: str) -> None:
        request = self._requests.get(request_id)
        if request is not None:
            request.delta.emit(text)

    def _on_trimmed(self, request_id: int, dropped: int) -> None:
        request = self._requests.get(request_id)
        if request is not None:
            request.trimmed.emit(dropped)

    def _on_reading(self, request_id: int, done: int, total: int) -> None:
        request = self._requests.get(request_id)
        if request is not None:
            request.reading.emit(done, total)

    def _on_withdrawn(self, request_id: int) -> None:
        # the worker skips it when it comes to it (its cancel event is set) and its late
        # "finished" finds no request
        self._on_finished(request_id, Finished("cancelled"))

    def _on_finished(self, request_id: int, finished: Finished) -> None:
        request = self._requests.pop(request_id, None)
        if request is None:
            return
        request.is_finished = True
        self.queue_changed.emit(self.waiting_count())
        request.finished.emit(finished)
        request.deleteLater()

    def _on_job_progress(self, job_id: int, stage: str, fraction: float) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.progress.emit(stage, fraction)

    def _on_job_done(self, job_id: int, outcome: str, payload: Any) -> None:
        self._loads.discard(job_id)
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if outcome == "ok":
            job.succeeded.emit(payload)
        elif outcome == "failed":
            job.failed.emit(str(payload))
        else:
            job.cancelled.emit()
        job.deleteLater()

    def _on_engine_failed(self, message: str) -> None:
        self.problem = message
        self.model_failed.emit(message)

    def measure(self, text: str, max_new_tokens: int) -> tuple[int, int] | None:
        """(tokens of ``text``, tokens a message may have with room for the answer, as the
        engine keeps it), or None when there is no model or no tokenizer to count with."""
        if self.info is None or self._counter is None:
            return None
        tokens = self._counter.count(text)
        if tokens is None:
            return None
        return tokens, self.info.context_length - self._room(max_new_tokens)

    def _room(self, max_new_tokens: int) -> int:
        assert self.info is not None
        return answer_room(self.info.context_length, max_new_tokens) if max_new_tokens else 0

    def too_long(self, text: str, max_new_tokens: int) -> str | None:
        """Why ``text`` cannot be a message to the loaded model (it alone, with room for the
        answer, exceeds the window), or None (it fits, or no count is possible)."""
        info = self.info
        if info is None:
            return None
        room = self._room(max_new_tokens)
        if len(text.encode("utf-8")) <= info.context_length - room:
            return None  # a token is at least a byte: no need to load the tokenizer
        measured = self.measure(text, max_new_tokens)
        if measured is None or measured[0] <= measured[1]:
            return None
        tokens = measured[0]
        return (
            f"This message is {tokens:,} tokens; {info.name} reads at most "
            f"{info.context_length:,}, {room:,} of them kept for the answer. "
            "Shorten it or send it in parts."
        )

    def _on_engine_ready(self, info: ModelInfo) -> None:
        self.info = info
        self.problem = None
        self._counter = TokenCounter(Path(info.path)) if info.path else None
        self.model_loaded.emit(info)
