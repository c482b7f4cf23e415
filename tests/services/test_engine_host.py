from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.engine.types import ChatMessage, Finished, ModelInfo, SamplingParams
from desktop.services.engine_host import EngineHost, GenerationRequest
from tests.fakes import FakeEngine

PROMPT = [ChatMessage("user", "hi")]


@pytest.fixture
def host() -> Iterator[EngineHost]:
    h = EngineHost()
    yield h
    assert h.shutdown()


def load(qtbot: QtBot, host: EngineHost, engine: FakeEngine) -> ModelInfo:
    with qtbot.waitSignal(host.model_loaded, timeout=5000) as blocker:
        host.load(lambda: engine)
    info = blocker.args[0]
    assert isinstance(info, ModelInfo)
    return info


def collect(request: GenerationRequest) -> list[str]:
    chunks: list[str] = []
    request.delta.connect(chunks.append)
    return chunks


def test_streams_on_the_worker_thread_and_finishes(qtbot: QtBot, host: EngineHost) -> None:
    seen_threads: list[threading.Thread] = []

    def reply(messages: object) -> str:
        seen_threads.append(threading.current_thread())
        return "one two three four"

    info = load(qtbot, host, FakeEngine(replies=[reply]))
    assert info.name == "FakeLM-1M"
    request = host.submit(PROMPT, SamplingParams())
    chunks = collect(request)
    with qtbot.waitSignal(request.finished, timeout=5000) as blocker:
        pass
    finished = blocker.args[0]
    assert isinstance(finished, Finished)
    assert finished.reason == "stop"
    assert "".join(chunks) == "one two three four"
    assert seen_threads
    assert seen_threads[0] is not threading.main_thread()


def test_cancel_is_honoured_within_one_token(qtbot: QtBot, host: EngineHost) -> None:
    load(qtbot, host, FakeEngine(replies=[" word" * 1000], delay_s=0.01))
    request = host.submit(PROMPT, SamplingParams(max_new_tokens=1000))
    chunks = collect(request)
    qtbot.waitUntil(lambda: len("".join(chunks).split()) >= 3, timeout=5000)
    with qtbot.waitSignal(request.finished, timeout=2000) as blocker:
        request.cancel()
        at_cancel = len("".join(chunks).split())
    assert blocker.args[0].reason == "cancelled"
    # at most the token being sampled plus one coalesced batch arrives after the cancel
    assert len("".join(chunks).split()) <= at_cancel + 3


def test_requests_queue_and_the_second_one_waits(qtbot: QtBot, host: EngineHost) -> None:
    gate = threading.Event()
    load(qtbot, host, FakeEngine(replies=["first answer", "second answer"], gate=gate))
    first = host.submit(PROMPT, SamplingParams())
    second = host.submit(PROMPT, SamplingParams())
    qtbot.waitUntil(lambda: first.is_started, timeout=5000)
    assert not second.is_started
    assert host.waiting_count() == 1
    order: list[str] = []
    first.finished.connect(lambda _f: order.append("first"))
    second.finished.connect(lambda _f: order.append("second"))
    gate.set()
    qtbot.waitUntil(lambda: order == ["first", "second"], timeout=5000)
    assert host.waiting_count() == 0


def test_a_request_cancelled_while_waiting_ends_at_once_and_never_starts(
    qtbot: QtBot, host: EngineHost
) -> None:
    gate = threading.Event()
    engine = FakeEngine(replies=["a"], gate=gate)
    load(qtbot, host, engine)
    first = host.submit(PROMPT, SamplingParams())
    second = host.submit(PROMPT, SamplingParams())
    qtbot.waitUntil(lambda: first.is_started, timeout=5000)
    ended: list[str] = []
    second.finished.connect(lambda f: ended.append(f.reason))
    second.cancel()  # Stop in the tab that waits
    assert ended == ["cancelled"], "not only once the other tab's answer is over"
    assert host.waiting_count() == 0
    assert not first.is_finished
    with qtbot.waitSignal(first.finished, timeout=5000):
        gate.set()
    qtbot.wait(50)
    assert ended == ["cancelled"], "exactly one finished"
    assert not second.is_started
    assert len(engine.calls) == 1


def test_without_a_model_the_answer_ends_with_a_message(qtbot: QtBot, host: EngineHost) -> None:
    request = host.submit(PROMPT, SamplingParams())
    with qtbot.waitSignal(request.finished, timeout=5000) as blocker:
        pass
    assert blocker.args[0].reason == "error"
    assert "No model" in blocker.args[0].error


def test_a_failing_loader_reports_a_message(qtbot: QtBot, host: EngineHost) -> None:
    def broken() -> FakeEngine:
        raise OSError("model.onnx is missing")

    with qtbot.waitSignal(host.model_failed, timeout=5000) as blocker:
        host.load(broken)
    assert blocker.args == ["model.onnx is missing"]
    assert host.info is None
    qtbot.waitUntil(lambda: host.unavailable() is not None, timeout=5000)
    assert host.unavailable() == "No model is loaded: model.onnx is missing"


def test_a_model_is_unavailable_only_when_none_is_loaded_or_loading(
    qtbot: QtBot, host: EngineHost
) -> None:
    assert host.unavailable() == "No model is loaded: choose or install one in File ▸ Models…"
    release = threading.Event()

    def slow() -> FakeEngine:
        release.wait(5)
        return FakeEngine(replies=["hi"])

    host.load(slow)
    assert host.unavailable() is None, "requests wait for a model being loaded"
    with qtbot.waitSignal(host.model_loaded, timeout=5000):
        release.set()
    assert host.unavailable() is None


def test_jobs_report_progress_and_can_be_cancelled(qtbot: QtBot, host: EngineHost) -> None:
    def job(progress, cancel: threading.Event) -> str:  # type: ignore[no-untyped-def]
        progress("download", 0.5)
        cancel.wait(5)
        raise RuntimeError("aborted")

    running = host.run_job(job)
    stages: list[tuple[str, float]] = []
    running.progress.connect(lambda s, f: stages.append((s, f)))
    qtbot.waitUntil(lambda: bool(stages), timeout=5000)
    with qtbot.waitSignal(running.cancelled, timeout=5000):
        running.cancel()
    assert stages == [("download", 0.5)]


def test_engine_errors_end_the_answer(qtbot: QtBot, host: EngineHost) -> None:
    load(qtbot, host, FakeEngine(fail_with="out of memory"))
    request = host.submit(PROMPT, SamplingParams())
    with qtbot.waitSignal(request.finished, timeout=5000) as blocker:
        pass
    assert blocker.args[0].reason == "error"
    assert blocker.args[0].error == "out of memory"


class _ReadingEngine(FakeEngine):
    """Reads a chat ahead of its question until told to stop."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[ChatMessage]] = []
        self.read_started = threading.Event()
        self.stopped_by_request = threading.Event()

    def prefill(
        self, messages: list[ChatMessage], params: SamplingParams, cancel: threading.Event
    ) -> int:
        self.reads.append(list(messages))
        self.read_started.set()
        if cancel.wait(5):
            self.stopped_by_request.set()
        return 0


def test_a_chat_is_read_ahead_until_a_request_comes(qtbot: QtBot, host: EngineHost) -> None:
    assert not host.prefetch(PROMPT, SamplingParams()), "no model yet"
    engine = _ReadingEngine()
    load(qtbot, host, engine)
    qtbot.waitUntil(lambda: host.prefetch(PROMPT, SamplingParams()), timeout=5000)  # loaded
    qtbot.waitUntil(engine.read_started.is_set, timeout=5000)
    assert engine.reads == [PROMPT]
    request = host.submit(PROMPT, SamplingParams())  # Send: the reading stops at once
    with qtbot.waitSignal(request.finished, timeout=5000) as blocker:
        pass
    assert blocker.args[0].reason == "stop", blocker.args[0].error
    assert engine.stopped_by_request.is_set()

    busy = host.submit(PROMPT, SamplingParams())
    assert not host.prefetch(PROMPT, SamplingParams()), "not while an answer waits"
    with qtbot.waitSignal(busy.finished, timeout=5000):
        pass


def test_an_engine_that_cannot_read_ahead_is_left_alone(qtbot: QtBot, host: EngineHost) -> None:
    load(qtbot, host, FakeEngine())
    qtbot.waitUntil(lambda: host.prefetch(PROMPT, SamplingParams()), timeout=5000)  # skipped
    request = host.submit(PROMPT, SamplingParams())
    with qtbot.waitSignal(request.finished, timeout=5000) as blocker:
        pass
    assert blocker.args[0].reason == "stop"
