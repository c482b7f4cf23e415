"""Terminal output shared by the ``parley`` commands (no Qt, no domain imports): the
progress bar, and where a command may write its output file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO


class OutputError(ValueError):
    """An output path a command cannot write: one line for the user, exit code 1."""


def output_path(path: Path, *, folder_ok: bool = False) -> Path:
    """Where a command writes its output ``path``, checked before any work is done. A folder
    is refused (unless ``folder_ok``: the output goes into it), and so are a device or pipe
    (outputs are new files renamed over their target, which would replace /dev/stdout
    itself) and a place under a file. A link gives the file it names, which gets the output
    (as ``>`` would) while the link stays."""
    if path.is_dir():
        if folder_ok:
            return path
        raise OutputError(f"cannot write {path}: it is a folder (name a file in it)")
    if path.exists() and not path.is_file():
        kind = (
            "a regular file or a folder"
            if folder_ok
            else "a regular file (the output is a new file)"
        )
        raise OutputError(f"cannot write {path}: it is not {kind}")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    return path.resolve() if path.is_symlink() else path


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
