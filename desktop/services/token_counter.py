"""Count a message's tokens on the GUI thread, before it is sent.

A pasted document longer than the model's window used to be stored and sent, and its answer
failed ("the message is too long for the model's context window"). The engine and its
tokenizer belong to the worker thread (which may be busy writing another answer); this keeps
a tokenizer of its own, read from the loaded model's folder the first time it is needed
(about 0.1 s for the starter model), so the window can say so while the text is still in the
box.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class TokenCounter:
    def __init__(self, model_folder: Path) -> None:
        self._file = model_folder / "tokenizer.json"
        self._tokenizer: Any = None
        self._failed = False

    def count(self, text: str) -> int | None:
        """How many tokens ``text`` is, or None when the model has no tokenizer file we can
        read (an unknown count never stops a message: the engine still checks)."""
        if self._failed:
            return None
        if self._tokenizer is None:
            try:
                from tokenizers import Tokenizer

                self._tokenizer = Tokenizer.from_file(str(self._file))
            except Exception as exc:  # the tokenizers library raises a plain Exception
                log.info("no token counts for %s: %s", self._file, exc)
                self._failed = True
                return None
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
