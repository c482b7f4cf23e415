"""Create an ONNX Runtime session on the best provider that really works."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from desktop.engine.providers import (
    CPU,
    Device,
    explain_fallback,
    plan_providers,
    provider_options,
)


class EngineLoadError(RuntimeError):
    """The model cannot be loaded; the message is one line for the user."""


@dataclass(frozen=True)
class SessionResult:
    session: ort.InferenceSession
    provider: str
    fallback_reason: str | None


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


def _first_error(lines: list[str]) -> str | None:
    for line in lines:
        if "Failed" in line or "Error" in line or "error" in line:
            return line.split("]")[-1].strip() or line
    return None


def create_session(
    model_file: Path, device: Device = "auto", threads: int = 0, *, cuda_graph: bool = False
) -> SessionResult:
    plan = plan_providers(device, ort.get_available_providers())
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 2
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    preferred = plan.candidates[0]
    errors: list[str] = list(plan.skipped)
    for provider in plan.candidates:
        providers: list[str | tuple[str, dict[str, str]]] = [
            (provider, provider_options(provider, cuda_graph=cuda_graph))
            if provider != CPU
            else CPU
        ]
        if provider != CPU:
            providers.append(CPU)
        try:
            with _captured_stderr() as log:
                session = ort.InferenceSession(str(model_file), opts, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for bad models and EPs
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if provider == CPU:
                raise EngineLoadError(f"the model could not be loaded: {message}") from exc
            errors.append(explain_fallback(provider, CPU, message))
            continue
        used = session.get_providers()[0]
        if used != provider:
            errors.append(explain_fallback(provider, used, _first_error(log)))
        reason = None
        if used != preferred or errors:
            reason = "; ".join(errors) if errors else None
        return SessionResult(session, used, reason)
    raise EngineLoadError("no execution provider could load the model")
