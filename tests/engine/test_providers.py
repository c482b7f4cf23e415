from __future__ import annotations

from pathlib import Path

import pytest

from desktop.engine import session as session_mod
from desktop.engine.providers import CPU, CUDA, DML, explain_fallback, plan_providers
from desktop.engine.session import create_session
from tests.ggufs import TinySpec
from tests.models import TinyModels


def test_auto_prefers_cuda_then_cpu_on_linux() -> None:
    plan = plan_providers("auto", [CUDA, CPU], "linux")
    assert plan.candidates == (CUDA, CPU)
    assert plan.skipped == ()


def test_auto_uses_directml_on_windows() -> None:
    assert plan_providers("auto", [DML, CPU], "win32").candidates == (DML, CPU)


def test_auto_ignores_directml_elsewhere() -> None:
    assert plan_providers("auto", [DML, CPU], "linux").candidates == (CPU,)


def test_auto_with_a_cpu_build_is_silent() -> None:
    plan = plan_providers("auto", [CPU], "linux")
    assert plan.candidates == (CPU,)
    assert plan.skipped == ()


def test_asking_for_cuda_without_it_says_how_to_get_it() -> None:
    plan = plan_providers("cuda", [CPU], "linux")
    assert plan.candidates == (CPU,)
    assert "parley-desktop[cuda]" in plan.skipped[0]


def test_asking_for_directml_off_windows_says_why() -> None:
    plan = plan_providers("directml", [DML, CPU], "linux")
    assert plan.candidates == (CPU,)
    assert "Windows" in plan.skipped[0]


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown device"):
        plan_providers("tpu", [CPU])  # type: ignore[arg-type]


def test_missing_cuda_library_is_named_in_the_reason() -> None:
    msg = explain_fallback(CUDA, CPU, "libcublasLt.so.12: cannot open shared object file")
    assert msg.startswith("CUDA unavailable, running on CPU")
    assert "libcublasLt" in msg


def test_session_reports_what_really_runs(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    result = create_session(bundle / "model.onnx", "cpu")
    assert result.provider == CPU == result.session.get_providers()[0]
    assert result.fallback_reason is None


def test_cuda_listed_but_unusable_falls_back_with_a_reason(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA build lists CUDA even where its libraries are missing; the session then runs
    on the CPU. The user must see that, and why."""
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    monkeypatch.setattr(session_mod.ort, "get_available_providers", lambda: [CUDA, CPU])
    real = session_mod.ort.InferenceSession

    def fake_session(path: str, opts: object, providers: list[object]) -> object:
        if any(p == CUDA or (isinstance(p, tuple) and p[0] == CUDA) for p in providers):
            import os

            os.write(2, b"[E:onnxruntime] Failed to load libcudart.so.12: cannot open\n")
        return real(path, opts, providers=[CPU])

    monkeypatch.setattr(session_mod.ort, "InferenceSession", fake_session)
    result = create_session(Path(bundle / "model.onnx"), "auto")
    assert result.provider == CPU
    assert result.fallback_reason is not None
    assert "CUDA" in result.fallback_reason
    assert "libcudart" in result.fallback_reason


def test_directml_sessions_run_without_memory_patterns() -> None:
    """DirectML returns an error for sessions with memory patterns or parallel execution."""
    from desktop.engine.session import session_options

    dml = session_options(DML, 2)
    assert dml.enable_mem_pattern is False
    assert dml.execution_mode == session_mod.ort.ExecutionMode.ORT_SEQUENTIAL
    assert dml.intra_op_num_threads == 2
    assert session_options(CPU, 0).enable_mem_pattern is True
