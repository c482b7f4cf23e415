"""Pick the next token from a row of logits (numpy; a few microseconds per token when greedy).

Order, as in llama.cpp and transformers: repetition penalty -> temperature -> top-k -> softmax
-> top-p -> min-p -> draw. Temperature 0 is greedy and ignores the rest but the penalty.

Sampling looks only at tokens whose logit lies within ``NEGLIGIBLE * temperature`` of the best:
any other token's probability is below e^-25 (1e-11) of the best one's, so together the up to
1,024 candidates left out weigh less than 1e-8. Partitioning the whole 49k vocabulary took
~140 us per token; the mask and a partition of the few near the top take ~40.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from desktop.engine.types import SamplingParams

F32 = npt.NDArray[np.float32]

PENALTY_WINDOW = 64  # tokens looked back for the repetition penalty (llama.cpp's default)
_CANDIDATES = 1024  # top-k = 0 still considers only the best 1,024 tokens before top-p
NEGLIGIBLE = 25.0  # logits further below the best than this times the temperature


class InvalidLogitsError(ArithmeticError):
    """The model computed NaN or infinity: its weights are damaged (a file overwritten in
    place, a bad disk sector) or the graph overflowed. Said as the user can act on it."""

    def __init__(self) -> None:
        super().__init__(
            "the model computed invalid numbers (NaN): its weights file is probably damaged. "
            "Remove the model and install or import it again"
        )


def pick_greedy(logits: F32) -> int:
    """The logits' argmax (first one on ties). NumPy's argmax lands on the first NaN when
    there is one, and a NaN or infinity wins nothing honest: checking the winner alone
    costs nothing and catches both."""
    best = int(np.argmax(logits))
    if not np.isfinite(logits[best]):
        raise InvalidLogitsError
    return best


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
        seen = np.fromiter(set(history[-PENALTY_WINDOW:]), dtype=np.int64)
        out = logits.copy()
        vals = out[seen]
        out[seen] = np.where(vals > 0, vals / penalty, vals * penalty)
        return out

    def __call__(self, logits: F32, history: Sequence[int] = ()) -> int:
        p = self.params
        logits = self.penalize(logits, history)
        if p.temperature == 0.0:
            return pick_greedy(logits)
        k = p.top_k if 0 < p.top_k < logits.shape[0] else min(_CANDIDATES, logits.shape[0])
        best = float(logits.max())  # NaN when any logit is NaN
        if not np.isfinite(best):
            raise InvalidLogitsError
        idx = np.flatnonzero(logits >= best - NEGLIGIBLE * p.temperature)
        if len(idx) > k:
            idx = idx[np.argpartition(logits[idx], -k)[-k:]]
        z = logits[idx].astype(np.float64) / p.temperature
        order = np.argsort(-z, kind="stable")
        idx, z = idx[order], z[order]
        probs = np.exp(z - z[0])
        cumulative = np.cumsum(probs)
        keep = len(probs)
        if p.top_p < 1.0:
            # smallest prefix whose mass reaches top_p (at least one token)
            target = p.top_p * cumulative[-1]
            keep = min(keep, int(np.searchsorted(cumulative, target) + 1))
        if p.min_p > 0.0:
            keep = min(keep, int(np.count_nonzero(probs >= p.min_p * probs[0])))
        # Draw from the kept prefix: one uniform number against its cumulative weights.
        draw = self.rng.random() * cumulative[keep - 1]
        return int(idx[min(int(np.searchsorted(cumulative[:keep], draw, side="right")), keep - 1)])
