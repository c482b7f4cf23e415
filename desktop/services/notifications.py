"""One place where errors end up, as napari does it.

PySide6 prints and swallows an exception raised in a slot; a worker thread's exception vanishes
into stderr. ``install_excepthooks`` routes both (``sys.excepthook`` and ``threading.excepthook``)
to a ``Notifier``; the main window shows its messages in the status bar with the details one
click away. The traceback goes to the log, never straight into the user's face.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtCore import QObject, Signal

from desktop.store.errors import DatabaseCorrupt, KnownError

log = logging.getLogger(__name__)
_OVERRIDE_PREFIX = re.compile(r"^Error calling Python override of [\w:]+\(\): ")


class Notifier(QObject):
    """``message(text, details)``: something the user should know; ``details`` may be empty.

    Emitting is thread-safe: a receiver on the GUI thread gets it queued.
    """

    message = Signal(str, str)
    serious = Signal(str)
    """Also emitted (after ``message``) for what must not pass as a line in the status bar
    that the next notice replaces: the history found damaged while the app runs."""

    def info(self, text: str) -> None:
        self.message.emit(text, "")

    def error(self, text: str, details: str = "") -> None:
        self.message.emit(text, details)


ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


class ExceptHooks:
    """Installed hooks; ``uninstall`` restores what was there before."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._old_sys: ExceptHook = sys.excepthook
        self._old_threading = threading.excepthook

    def install(self) -> ExceptHooks:
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._old_sys
        threading.excepthook = self._old_threading

    def _report(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unhandled exception\n%s", details)
        # PySide puts "Error calling Python override of QWidget::showEvent(): " before the
        # message of an exception raised in a Qt override: words for developers only
        summary = _OVERRIDE_PREFIX.sub("", str(exc)) or exc_type.__name__
        if isinstance(exc, KnownError):  # the environment's fault, said in its own words
            self._notifier.error(summary, details)
            if isinstance(exc, DatabaseCorrupt):
                self._notifier.serious.emit(summary)
            return
        self._notifier.error(f"Something went wrong inside Parley: {summary}", details)

    def _sys_hook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._old_sys(exc_type, exc, tb)
            return
        self._report(exc_type, exc, tb)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self._report(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthooks(notifier: Notifier) -> ExceptHooks:
    return ExceptHooks(notifier).install()
