from __future__ import annotations

import sys
import threading

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
