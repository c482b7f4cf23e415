from __future__ import annotations

import os
import signal

import pytest
from pytestqt.qtbot import QtBot

from desktop.services.quit_signals import QuitOnSignals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_quits_once_on_the_event_loop_and_the_old_handler_comes_back(
    qtbot: QtBot, signum: int
) -> None:
    before = signal.getsignal(signum)
    quits: list[str] = []
    watcher = QuitOnSignals(lambda: quits.append("quit"))
    try:
        os.kill(os.getpid(), signum)
        os.kill(os.getpid(), signum)  # a second Ctrl+C while quitting changes nothing
        qtbot.waitUntil(lambda: quits == ["quit"], timeout=2000)
        qtbot.wait(50)
        assert quits == ["quit"]
        assert watcher.received == [signum, signum]
    finally:
        watcher.uninstall()
    assert signal.getsignal(signum) is before


def test_a_signal_wakes_an_idle_event_loop(qtbot: QtBot) -> None:
    """The case that matters: the GUI thread sits in Qt's event loop running no Python (an
    idle window). Without the wake-up socket the handler would wait for the next event."""
    import threading
    import time

    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    watcher = QuitOnSignals(loop.quit)
    try:
        QTimer.singleShot(3000, loop.quit)  # a C++ slot: runs no Python either
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        start = time.monotonic()
        loop.exec()
        assert time.monotonic() - start < 1.5
        assert watcher.received == [signal.SIGTERM]
    finally:
        watcher.uninstall()
