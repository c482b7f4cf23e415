"""Token ids -> text deltas that never split a UTF-8 character nor show a stop string."""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer
from tokenizers.decoders import DecodeStream


class TextStream:
    def __init__(
        self, tokenizer: Tokenizer, stop: Sequence[str] = (), prompt_tail: Sequence[int] = ()
    ) -> None:
        self._tokenizer = tokenizer
        # Seeding with the prompt's last tokens makes the first word's leading space come out
        # as the tokenizer's decoder would write it mid-text.
        self._decode = DecodeStream(list(prompt_tail), skip_special_tokens=True)
        self._stop = [s for s in stop if s]
        self._held = ""  # text that might be the start of a stop string
        self.text = ""  # everything emitted so far
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Feed one token; return the text that can be shown now (may be empty)."""
        if self.stopped:
            return ""
        piece = self._decode.step(self._tokenizer, token_id) or ""
        if not self._stop:
            self.text += piece
            return piece
        pending = self._held + piece
        for s in self._stop:
            at = pending.find(s)
            if at >= 0:
                self.stopped = True
                self._held = ""
                out = pending[:at]
                self.text += out
                return out
        # Hold back the longest tail that is a prefix of some stop string.
        keep = 0
        for s in self._stop:
            for n in range(min(len(s) - 1, len(pending)), 0, -1):
                if pending.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        out = pending[: len(pending) - keep]
        self._held = pending[len(pending) - keep :]
        self.text += out
        return out

    def flush(self) -> str:
        """At the end of generation: release held-back text (no stop string completed)."""
        out, self._held = self._held, ""
        self.text += out
        return out
