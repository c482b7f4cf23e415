"""Which execution provider runs the model, and why.

``onnxruntime.get_available_providers()`` lists what the installed package was built with, not
what works: the CUDA flavour lists ``CUDAExecutionProvider`` on machines without CUDA libraries
and then silently runs on the CPU. The truth is ``session.get_providers()`` after creation; any
difference from what was asked for becomes a ``fallback_reason`` the user can read.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Device = Literal["auto", "cuda", "directml", "cpu"]
DEVICES: tuple[Device, ...] = ("auto", "cuda", "directml", "cpu")

CUDA = "CUDAExecutionProvider"
DML = "DmlExecutionProvider"
CPU = "CPUExecutionProvider"

_NAMES = {CUDA: "CUDA", DML: "DirectML", CPU: "CPU"}


def display_name(provider: str) -> str:
    return _NAMES.get(provider, provider.removesuffix("ExecutionProvider"))


@dataclass(frozen=True)
class ProviderPlan:
    """Providers to try, in order. ``skipped`` says why a preferred one is not in the list."""

    candidates: tuple[str, ...]
    skipped: tuple[str, ...] = ()


def plan_providers(
    device: Device, available: Sequence[str], platform: str = sys.platform
) -> ProviderPlan:
    """Pure decision: what to try for ``device`` given the package's provider list."""
    if device not in DEVICES:
        raise ValueError(f"unknown device '{device}' (choose from {', '.join(DEVICES)})")
    wanted: list[str] = {
        "auto": [CUDA, DML, CPU],
        "cuda": [CUDA, CPU],
        "directml": [DML, CPU],
        "cpu": [CPU],
    }[device]
    candidates: list[str] = []
    skipped: list[str] = []
    for p in wanted:
        if p == DML and platform != "win32":
            if device == "directml":
                skipped.append("DirectML runs on Windows only")
            continue
        if p != CPU and p not in available:
            if device != "auto":
                skipped.append(
                    f"{display_name(p)} is not in this ONNX Runtime build "
                    f"(install parley-desktop[{'cuda' if p == CUDA else 'directml'}])"
                )
            continue
        candidates.append(p)
    return ProviderPlan(tuple(candidates), tuple(skipped))


def provider_options(provider: str, *, cuda_graph: bool = False) -> dict[str, Any]:
    if provider == CUDA and cuda_graph:
        return {"enable_cuda_graph": "1"}
    return {}


def explain_fallback(requested: str, used: str, error: str | None) -> str:
    """One line for the status bar: why ``used`` runs instead of ``requested``."""
    why = error.strip().splitlines()[0] if error else "the provider did not initialise"
    if "libcudart" in why or "libcublas" in why or "cudnn" in why.lower():
        why = f"CUDA libraries not found ({why})"
    return f"{display_name(requested)} unavailable, running on {display_name(used)}: {why}"
