"""Pick the next token from a row of logits (numpy; a few microseconds per token when greedy).

Order, as in llama.cpp and transformers: repetition penalty -> temperature -> top-k -> softmax
-> top-p -> min-p -> draw. Temperature 0 is greedy and ignores the rest but the penalty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from desktop.engine.types import SamplingParams

F32 = npt.NDArray[np.float32]

PENALTY_WINDOW = 64  # tokens looked back for the repetition penalty (llama.cpp's default)
_CANDIDATES = 1024  # top-k = 0 still considers only the best 1,024 tokens before top-p


class Sampler:
    def __init__(self, params: SamplingParams) -> None:
        params.validate()
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    @property
    def plain_greedy(self) -> bool:
        """Greedy with no penalty: the token is the logits' argmax (first one on ties)."""
        return self.params.temperature == 0.0 and self.params.repetition_penalty == 1.0

    def penalize(self, logits: F32, history: Sequence[int]) -> F32:
        """Divide positive and multiply negative logits of recently seen tokens (CTRL paper)."""
        penalty = self.params.repetition_penalty
        if penalty == 1.0 or not history:
            return logits
        seen = np.unique(np.asarray(history[-PENALTY_WINDOW:], dtype=np.int64))
        out = logits.copy()
        vals = out[seen]
        out[seen] = np.where(vals > 0, vals / penalty, vals * penalty)
        return out

    def __call__(self, logits: F32, history: Sequence[int] = ()) -> int:
        p = self.params
        logits = self.penalize(logits, history)
        if p.temperature == 0.0:
            return int(np.argmax(logits))
        k = p.top_k if 0 < p.top_k < logits.shape[0] else min(_CANDIDATES, logits.shape[0])
        idx = np.argpartition(logits, -k)[-k:] if k < logits.shape[0] else np.arange(len(logits))
        z = logits[idx].astype(np.float64) / p.temperature
        order = np.argsort(-z)
        idx, z = idx[order], z[order]
        probs = np.exp(z - z[0])
        probs /= probs.sum()
        keep = len(probs)
        if p.top_p < 1.0:
            # smallest prefix whose mass reaches top_p (at least one token)
            keep = min(keep, int(np.searchsorted(np.cumsum(probs), p.top_p) + 1))
        if p.min_p > 0.0:
            keep = min(keep, int(np.count_nonzero(probs >= p.min_p * probs[0])))
        probs = probs[:keep] / probs[:keep].sum()
        return int(idx[self.rng.choice(keep, p=probs)])
