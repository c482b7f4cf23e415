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
