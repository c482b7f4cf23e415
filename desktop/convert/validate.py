"""The last step of every import: run the new bundle before it is registered.

- ``smoke_test``: a short greedy generation must produce in-vocabulary tokens with finite logits.
- ``accuracy``: top-1 agreement and KL divergence of the converted model against the same
  model's unquantized weights, position by position over a fixed English text, so the user
  sees what quantization cost. Stored in ``parley.json`` under ``"accuracy"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.convert.errors import ConversionError

F32 = npt.NDArray[np.float32]

# Fixed text of the accuracy report: plain prose with digits and punctuation.
FIXED_TEXT = (
    "The history of the bicycle began in 1817, when Karl Drais rode a wooden running machine "
    "through the streets of Mannheim. Pedals arrived some fifty years later, and by 1890 the "
    "safety bicycle, with two wheels of equal size and a chain drive, had made cycling popular "
    "across Europe and America. Today more than a billion bicycles are in use around the world."
)
MAX_TOKENS = 64
SMOKE_TOKENS = 8


@dataclass(frozen=True)
class Accuracy:
    tokens: int
    top1_agreement: float  # share of positions whose most likely next token is the reference's
    mean_kl: float  # mean KL(reference || converted) in nats
    max_kl: float
    reference: str  # what the yardstick was

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["top1_agreement"] = round(self.top1_agreement, 4)
        d["mean_kl"] = float(f"{self.mean_kl:.3g}")
        d["max_kl"] = float(f"{self.max_kl:.3g}")
        return d


def compare(reference: F32, got: F32, label: str) -> Accuracy:
    """Both [positions, vocab] logits of the same text."""
    ref = reference.astype(np.float64)
    out = got.astype(np.float64)
    lp = ref - ref.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = out - out.max(-1, keepdims=True)
    lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
    kl = (np.exp(lp) * (lp - lq)).sum(-1)
    agree = (ref.argmax(-1) == out.argmax(-1)).mean()
    return Accuracy(len(ref), float(agree), float(kl.mean()), float(kl.max()), label)


class _Runner:
    """The bundle loaded by the engine, stepped one token at a time."""

    def __init__(self, bundle: Path) -> None:
        from desktop.engine.engine import load_engine
        from desktop.engine.session import EngineLoadError

        try:
            self.engine = load_engine(bundle, "cpu", max_context=MAX_TOKENS + SMOKE_TOKENS + 8)
        except EngineLoadError as exc:
            raise ConversionError(f"the converted model does not load: {exc}") from exc

    def text_ids(self) -> list[int]:
        ids = self.engine.encode_text(FIXED_TEXT)[:MAX_TOKENS]
        if len(ids) < 2:
            raise ConversionError("the tokenizer turns the validation text into no tokens")
        return ids

    def step(self, ids: list[int]) -> F32:
        try:
            logits = self.engine.decoder.forward(ids, len(ids) - 1)
        except Exception as exc:  # ONNX Runtime raises its own RuntimeError subclasses
            raise ConversionError(f"the converted model fails to run: {exc}") from exc
        if logits.shape[-1] < 2 or not np.isfinite(logits).all():
            raise ConversionError("the converted model produces non-finite logits")
        return logits


def validate_bundle(
    bundle: Path,
    reference: Callable[[list[int]], F32] | None,
    label: str,
    progress: Callable[[str, float], None],
) -> Accuracy | None:
    """Smoke test the bundle and, with ``reference`` (ids -> [S, vocab] logits of the
    unquantized model), measure its accuracy. Raises ``ConversionError`` on failure."""
    progress("validate", 0.0)
    runner = _Runner(bundle)
    ids = runner.text_ids()
    rows: list[F32] = []
    for i in range(len(ids)):
        rows.append(runner.step(ids[: i + 1]).copy())
        progress("validate", 0.6 * (i + 1) / len(ids))
    # Greedy continuation: tokens come out, logits stay finite.
    seq = list(ids)
    logits = rows[-1]
    vocab = logits.shape[-1]
    for _ in range(SMOKE_TOKENS):
        token = int(np.argmax(logits))
        if not 0 <= token < vocab:
            raise ConversionError(f"the converted model produced token {token} outside its vocab")
        seq.append(token)
        logits = runner.step(seq)
    progress("validate", 0.7)
    if reference is None:
        progress("validate", 1.0)
        return None
    expected = reference(ids)
    progress("validate", 1.0)
    if expected.shape != (len(ids), vocab):
        raise ConversionError(
            f"reference logits have shape {expected.shape}, expected {(len(ids), vocab)}"
        )
    return compare(expected, np.stack(rows), label)
