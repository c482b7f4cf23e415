"""Tokenize a chat prompt a piece at a time, remembering the pieces.

Every turn of a chat renders and tokenizes the whole conversation again, though only its
last message is new: ~4 ms at 1,500 tokens, ~100 ms at 45,000 (and cutting a chat that is
longer than the window encodes it several times). The tokenizer splits its input at the
special tokens first (``<|im_start|>``, ``<|im_end|>``…) and tokenizes what lies between
them independently, so a prompt is the concatenation of its pieces' tokens, and the pieces
of earlier messages come back unchanged every turn: they are looked up instead.

That holds only for tokenizers whose added tokens are matched as written (not after
normalization, not stripping spaces around them). :class:`PieceEncoder` checks the
tokenizer's added tokens and a sample prompt when it is made, and encodes whole texts when
either check fails.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence

from tokenizers import Tokenizer

# Pieces (messages, mostly) remembered, least recently used forgotten first: their tokens in
# all, ~9 MB of Python ints at most; a chat five times the starter's window fits.
TOKENS_KEPT = 1 << 18
# Around every special token when checking a tokenizer: spaces, new lines, digits, accents,
# an emoji, punctuation (what a tokenizer that strips or merges across them would change).
PROBE = " Hi,  wörld 42!\n\n\t🙂 x "


class PieceEncoder:
    """``encode(text)``: the ids ``tokenizer.encode(text, add_special_tokens=False)`` gives,
    its pieces between special tokens remembered. ``sample``: texts checked at start (a
    rendered chat); ``piecewise`` says whether the pieces are used."""

    def __init__(self, tokenizer: Tokenizer, sample: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._pieces: OrderedDict[str, list[int]] = OrderedDict()
        self._kept = 0  # tokens in self._pieces
        added = tokenizer.get_added_tokens_decoder()
        self._ids = {t.content: token_id for token_id, t in added.items() if t.content}
        plain = all(
            not (token.lstrip or token.rstrip or token.single_word or token.normalized)
            for token in added.values()
        )
        self._split: Callable[[str], list[str]] | None = None
        if plain and self._ids:
            # the longest first: the tokenizer takes the longest token at a position
            alternatives = sorted(self._ids, key=len, reverse=True)
            split = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")").split
            texts = [*sample, *(f"{PROBE}{token}{PROBE}{token}\n{PROBE}" for token in self._ids)]
            if all(self._piecewise(split, text) == self._whole(text) for text in texts):
                self._split = split
        self._pieces.clear()
        self._kept = 0

    @property
    def piecewise(self) -> bool:
        return self._split is not None

    def encode(self, text: str) -> list[int]:
        return self._whole(text) if self._split is None else self._piecewise(self._split, text)

    def _whole(self, text: str) -> list[int]:
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def _piecewise(self, split: Callable[[str], list[str]], text: str) -> list[int]:
        ids: list[int] = []
        for index, piece in enumerate(split(text)):
            if index % 2:  # a special token
                ids.append(self._ids[piece])
            elif piece:
                ids += self._piece(piece)
        return ids

    def _piece(self, piece: str) -> list[int]:
        known = self._pieces.get(piece)
        if known is not None:
            self._pieces.move_to_end(piece)
            return known
        ids = self._whole(piece)
        self._pieces[piece] = ids
        self._kept += len(ids)
        while self._kept > TOKENS_KEPT and len(self._pieces) > 1:
            self._kept -= len(self._pieces.popitem(last=False)[1])
        return ids
