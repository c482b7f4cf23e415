"""Noticing an answer that repeats itself.

Small models fall into loops: the same table row, sentence or paragraph again and again until
the length limit (the starter model does it with tables). Sampling penalties make it rarer, not
impossible. The engine ends such an answer early, with the reason ``"repetition"``: what was
written stays, and the user may continue it.

A loop is the end of the answer being one block of tokens repeated: for each period ``p`` (in
tokens, up to :data:`MAX_PERIOD`) the guard counts how many tokens in a row equal the one
``p`` before. The answer loops once such a periodic tail spans :data:`MIN_SPAN` tokens and at
least :data:`MIN_REPEATS` periods. Real text that repeats (a table of numbers, a refrain)
changes somewhere within that span; 500 times "hello" on request does not, and ends after
256 tokens with Continue offered.
"""

from __future__ import annotations

MAX_PERIOD = 200
"""The longest repeated block noticed, in tokens (a paragraph)."""
MIN_SPAN = 256
"""Tokens the periodic tail must span."""
MIN_REPEATS = 4
"""Times a long block must be repeated."""


class RepetitionGuard:
    """Fed the generated tokens one at a time; O(MAX_PERIOD) per token (13 µs here, against
    10 ms for the starter model to make the token)."""

    def __init__(
        self,
        max_period: int = MAX_PERIOD,
        min_span: int = MIN_SPAN,
        min_repeats: int = MIN_REPEATS,
    ) -> None:
        self._max_period = max_period
        self._min_span = min_span
        self._min_repeats = min_repeats
        self._tokens: list[int] = []
        self._runs = [0] * (max_period + 1)  # runs[p]: tokens in a row equal to the p-th before

    def push(self, token: int) -> bool:
        """Add the next token; True when the answer now ends in a loop."""
        tokens, runs = self._tokens, self._runs
        tokens.append(token)
        last = len(tokens) - 1
        looping = False
        for p in range(1, min(self._max_period, last) + 1):
            if tokens[last - p] == token:
                runs[p] += 1
                span = runs[p] + p
                if span >= self._min_span and span >= self._min_repeats * p:
                    looping = True
            else:
                runs[p] = 0
        return looping
