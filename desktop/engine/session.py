"""Create an ONNX Runtime session on the best provider that really works."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from desktop.engine.device_graph import DeviceGraph, DeviceGraphError
from desktop.engine.providers import (
    CPU,
    CUDA,
    DML,
    Device,
    explain_fallback,
    plan_providers,
    provider_options,
)


class EngineLoadError(RuntimeError):
    """The model cannot be loaded; the message is one line for the user. ``damaged``: a file
    of the model is missing or cut short (reinstalling it helps; other settings do not)."""

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


@dataclass(frozen=True)
class SessionResult:
    session: ort.InferenceSession
    provider: str
    fallback_reason: str | None
    device_graph: DeviceGraph | None = None  # set when the float16 GPU graph runs
    captured: bool = False  # its decode step is replayed as a CUDA graph


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect what ONNX Runtime's native logger writes to fd 2 (provider load failures are
    reported only there)."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:
        yield lines
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())


def first_line(exc: BaseException) -> str:
    """An exception as one line for the user (ONNX Runtime's messages run to many)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _first_error(lines: list[str]) -> str | None:
    for line in lines:
        if "Failed" in line or "Error" in line or "error" in line:
            return line.split("]")[-1].strip() or line
    return None


def session_options(provider: str, threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 2
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if provider == DML:
        # DirectML refuses sessions with memory patterns or parallel execution enabled.
        opts.enable_mem_pattern = False
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return opts


def _preload_cuda_libraries() -> None:
    """onnxruntime-gpu's ``[cuda,cudnn]`` extras install CUDA and cuDNN as pip packages, which
    the provider finds only after ``preload_dlls()`` (ONNX Runtime >= 1.21) has loaded them.
    Libraries that are missing here are reported by the session's own load failure."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        with _captured_stderr():
            preload()
    except Exception:  # best effort: creating the session reports the real error
        return


def cuda_graph_enabled() -> bool:
    """CUDA graph capture of the decode step; ``PARLEY_CUDA_GRAPH=0`` turns it off (to tell a
    capture problem from a kernel problem)."""
    return os.environ.get("PARLEY_CUDA_GRAPH", "1") != "0"


def create_session(
    model_file: Path,
    device: Device = "auto",
    threads: int = 0,
    *,
    device_graph: Callable[[], DeviceGraph] | None = None,
) -> SessionResult:
    """A session on the first provider of ``device``'s plan that really runs the model.

    ``device_graph`` derives the graph a GPU needs (``half_precision``); where it is given,
    the CUDA attempt loads that graph with the decode step captured as a CUDA graph, and a
    CUDA session that silently ran on the CPU is dropped for the float32 graph."""
    plan = plan_providers(device, ort.get_available_providers())
    preferred = plan.candidates[0]
    errors: list[str] = list(plan.skipped)
    if CUDA in plan.candidates:
        _preload_cuda_libraries()
    for provider in plan.candidates:
        derived: DeviceGraph | None = None
        if provider == CUDA and device_graph is not None:
            try:
                derived = device_graph()
            except DeviceGraphError as exc:
                errors.append(explain_fallback(provider, CPU, str(exc)))
                continue
        # With the GPU graph: first with the decode step captured, then without (a capture
        # ONNX Runtime refuses must not cost the GPU).
        captures = [True, False] if derived is not None and cuda_graph_enabled() else [False]
        session: ort.InferenceSession | None = None
        refused: str | None = None  # why capture failed, said only if CUDA then works
        for capture in captures:
            opts = session_options(provider, threads)
            source: str | bytes = str(model_file)
            if derived is not None:
                derived.configure(opts)
                source = derived.model
            providers: list[str | tuple[str, dict[str, str]]] = [CPU]
            if provider != CPU:
                providers = [(provider, provider_options(provider, cuda_graph=capture)), CPU]
            try:
                with _captured_stderr() as log:
                    session = ort.InferenceSession(source, opts, providers=providers)
                break
            except Exception as exc:  # ORT raises its own exception types for bad models/EPs
                message = first_line(exc)
                if provider == CPU:
                    from desktop.engine.integrity import damaged_files

                    damage = damaged_files(model_file)
                    raise EngineLoadError(damage or message, damaged=bool(damage)) from exc
                if capture:
                    refused = f"CUDA graph capture unavailable: {message}"
                else:
                    errors.append(explain_fallback(provider, CPU, message))
        if session is None:
            continue
        if refused is not None:
            errors.append(refused)
        used = session.get_providers()[0]
        if used != provider:
            errors.append(explain_fallback(provider, used, _first_error(log)))
            if derived is not None:
                continue  # the float16 graph is for the GPU; load the float32 one instead
        reason = None
        if used != preferred or errors:
            reason = "; ".join(errors) if errors else None
        return SessionResult(session, used, reason, derived, captured=capture)
    raise EngineLoadError("no execution provider could load the model")
