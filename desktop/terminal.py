"""Terminal output shared by the ``parley`` commands (no Qt, no domain imports)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """``stage  [#####.....]  42%`` on one stderr line (plain lines when not a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr  # the stderr of the moment
        self.tty = self.stream.isatty()
        self._stage = ""
        self._last = -1

    def __call__(self, stage: str, fraction: float) -> None:
        pct = int(fraction * 100)
        if stage != self._stage:
            if self._stage and self.tty:
                self.stream.write("\n")
            self._stage, self._last = stage, -1
        if pct == self._last or (not self.tty and pct not in (0, 100) and pct % 25):
            return
        self._last = pct
        bar = "#" * (pct // 4) + "." * (25 - pct // 4)
        line = f"{stage:<9} [{bar}] {pct:3d}%"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._stage:
            self.stream.write("\n")
