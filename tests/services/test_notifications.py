from __future__ import annotations

import sys
import threading

import pytest
from pytestqt.qtbot import QtBot

from desktop.services.notifications import Notifier, install_excepthooks


def test_uncaught_errors_from_any_thread_reach_the_notifier(qtbot: QtBot) -> None:
    notifier = Notifier()
    messages: list[tuple[str, str]] = []
    notifier.message.connect(lambda text, details: messages.append((text, details)))
    before = sys.excepthook, threading.excepthook
    hooks = install_excepthooks(notifier)
    try:
        try:
            raise ValueError("bad slot")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)

        def boom() -> None:
            raise RuntimeError("worker died")

        thread = threading.Thread(target=boom)
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(messages) == 2, timeout=2000)
    finally:
        hooks.uninstall()
    assert (sys.excepthook, threading.excepthook) == before
    assert "bad slot" in messages[0][0]
    assert "Traceback" in messages[0][1]
    assert "worker died" in messages[1][0]


def test_a_known_error_is_said_in_its_own_words_not_as_a_bug(qtbot: QtBot) -> None:
    from pathlib import Path

    from desktop.store.errors import DiskFull

    notifier = Notifier()
    messages: list[tuple[str, str]] = []
    notifier.message.connect(lambda text, details: messages.append((text, details)))
    hooks = install_excepthooks(notifier)
    try:
        full = DiskFull("The disk holding the history is full.", Path("h.sqlite3"))
        try:
            raise full
        except DiskFull as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        try:
            raise KeyError("oops")
        except KeyError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        hooks.uninstall()
    assert messages[0][0] == "The disk holding the history is full."
    assert "Traceback" in messages[0][1], "the details stay one click away"
    assert messages[1][0].startswith("Something went wrong inside Parley: ")


@pytest.mark.qt_no_exception_capture  # the app's hook, not pytest-qt's, takes it
def test_a_damaged_history_found_in_a_qt_override_is_said_plainly_and_loudly(
    qtbot: QtBot,
) -> None:
    from pathlib import Path

    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QShowEvent
    from PySide6.QtWidgets import QWidget

    from desktop.store.errors import DatabaseCorrupt

    text = "The history database h.sqlite3 is damaged. A copy was saved as h.corrupt."

    class Reading(QWidget):  # a chat read when first shown, as ChatTab does
        def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
            raise DatabaseCorrupt(text, Path("h.sqlite3"))

    notifier = Notifier()
    messages: list[str] = []
    serious: list[str] = []
    notifier.message.connect(lambda message, _details: messages.append(message))
    notifier.serious.connect(serious.append)
    hooks = install_excepthooks(notifier)
    try:
        widget = Reading()
        qtbot.addWidget(widget)
        widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        # shown by the event loop (a tab shown by Qt): PySide reports the error through
        # sys.excepthook with its own words before the message
        QTimer.singleShot(0, widget.show)
        qtbot.waitUntil(lambda: bool(messages), timeout=2000)
    finally:
        hooks.uninstall()
    assert messages == [text], "not 'Error calling Python override of QWidget::showEvent()'"
    assert serious == [text]
