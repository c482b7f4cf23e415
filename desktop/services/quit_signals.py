"""Ctrl+C in a terminal and SIGTERM (logging out, shutting down, ``kill``) quit Parley the way
File ▸ Quit does: an answer being written is stored as stopped and the window's layout (with
its open chats) is saved.

Python runs its signal handlers only while the interpreter runs, and Qt's idle event loop runs
no Python: Ctrl+C did nothing until the next click, and SIGTERM killed the process outright.
Here the C-level handler writes a byte to a socket (``signal.set_wakeup_fd``); a
``QSocketNotifier`` on the other end wakes the loop, which runs Python, which runs the handler.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

log = logging.getLogger(__name__)

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class QuitOnSignals(QObject):
    """Calls ``quit`` (once, on the GUI thread's next turn) on SIGINT or SIGTERM. Must be made
    on the main thread; ``uninstall`` puts the previous handlers back."""

    def __init__(self, quit: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._quit = quit
        self.received: list[int] = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous: dict[int, Any] = {}
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            log.info("signal %d: quitting", signum)
            QTimer.singleShot(0, self._quit)

    def _drain(self) -> None:
        try:
            while self._reader.recv(64):
                pass
        except OSError:  # BlockingIOError: nothing more to read
            pass

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._reader.close()
        self._writer.close()
