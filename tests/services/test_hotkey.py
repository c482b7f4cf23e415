"""The global quick-ask shortcut: parsed from the setting, grabbed natively on X11 (checked on a
real X server, Xvfb, pressed with xdotool), refused with the fallback everywhere else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.services.hotkey import FALLBACK, GlobalHotkey, parse

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import subprocess, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop.services.hotkey import GlobalHotkey
app = QApplication([])
hotkey = GlobalHotkey()
print("register:", hotkey.register("Ctrl+Alt+Space"), flush=True)
other = GlobalHotkey()
print("second:", other.register("Ctrl+Alt+Space"), flush=True)
hits = []
hotkey.activated.connect(lambda: (hits.append(1), app.quit()))
QTimer.singleShot(300, lambda: subprocess.run(["xdotool", "key", "ctrl+alt+space"], check=True))
QTimer.singleShot(5000, app.quit)
app.exec()
print("activated:", len(hits), flush=True)
hotkey.close()
other.close()
"""


def test_the_setting_is_parsed_into_x11_modifiers_and_a_keysym() -> None:
    assert parse("Ctrl+Alt+Space") == (4 | 8, "space")
    assert parse("Meta+Shift+P") == (64 | 1, "p")
    assert parse("Ctrl+F12") == (4, "F12")
    with pytest.raises(ValueError, match="Hyper"):
        parse("Hyper+X")


def test_where_it_cannot_be_registered_the_reason_names_the_fallback(qapp: object) -> None:
    hotkey = GlobalHotkey()  # the tests run on Qt's offscreen platform: no global keys
    try:
        problem = hotkey.register("Ctrl+Alt+Space")
        assert problem is not None
        assert FALLBACK in problem
        assert "parley --quick-ask" in problem
        assert hotkey.register("") is None  # no shortcut wanted: nothing to say
    finally:
        hotkey.close()


@pytest.fixture
def xvfb() -> Iterator[str]:
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing or sys.platform != "linux":
        pytest.skip(f"needs {', '.join(missing) or 'Linux'} to check the X11 grab")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def test_on_x11_the_key_is_grabbed_and_pressing_it_fires(xvfb: str, tmp_path: Path) -> None:
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert done.returncode == 0, done.stderr
    assert lines["register"] == "None"
    # a second X client cannot take the same combination: it is told why and what to do
    assert "another application already uses this key combination" in lines["second"]
    assert "parley --quick-ask" in lines["second"]
    assert lines["activated"] == "1"


class FakeUser32:
    """user32's RegisterHotKey/UnregisterHotKey, recording calls; ``taken`` fails the
    registration as Windows does when another program holds the combination."""

    def __init__(self, taken: bool = False) -> None:
        self.taken = taken
        self.registered: dict[int, tuple[int, int]] = {}

    def RegisterHotKey(self, hwnd: object, ident: int, flags: int, vk: int) -> int:  # noqa: N802
        assert hwnd is None  # the GUI thread's queue, no window
        if self.taken:
            return 0
        self.registered[ident] = (flags, vk)
        return 1

    def UnregisterHotKey(self, hwnd: object, ident: int) -> int:  # noqa: N802
        return 1 if self.registered.pop(ident, None) else 0


def _wm_hotkey(ident: int, message: int = 0x0312) -> object:

    from desktop.services.hotkey import _MSG

    return _MSG(None, message, ident, 0)


def test_the_setting_is_parsed_into_windows_modifiers_and_a_virtual_key() -> None:
    from desktop.services.hotkey import parse_windows

    norepeat = 0x4000
    assert parse_windows("Ctrl+Alt+Space") == (norepeat | 0x2 | 0x1, 0x20)
    assert parse_windows("Meta+Shift+P") == (norepeat | 0x8 | 0x4, ord("P"))
    assert parse_windows("Ctrl+F12") == (norepeat | 0x2, 0x7B)
    assert parse_windows("Alt+7") == (norepeat | 0x1, 0x37)
    with pytest.raises(ValueError, match="Hyper"):
        parse_windows("Hyper+X")
    with pytest.raises(ValueError, match="cannot be registered"):
        parse_windows("Ctrl+Pause")


def test_windows_registers_the_hotkey_and_wm_hotkey_activates_it(qapp: object) -> None:
    import ctypes

    from PySide6.QtCore import QByteArray

    user32 = FakeUser32()
    hotkey = GlobalHotkey(platform="win32", user32=user32)
    hits: list[int] = []
    hotkey.activated.connect(lambda: hits.append(1))
    try:
        assert hotkey.register("Ctrl+Alt+Space") is None
        assert hotkey.shortcut == "Ctrl+Alt+Space"
        ((ident, (flags, vk)),) = user32.registered.items()
        assert vk == 0x20
        assert flags & 0x3 == 0x3
        native = hotkey._windows
        assert native is not None
        msg = _wm_hotkey(ident)
        other = _wm_hotkey(ident, message=0x0100)  # WM_KEYDOWN: not ours
        kind = QByteArray(b"windows_generic_MSG")
        assert native.nativeEventFilter(kind, ctypes.addressof(other)) == (False, 0)
        assert hits == []
        assert native.nativeEventFilter(kind, ctypes.addressof(msg)) == (True, 0)
        assert hits == [1]
        # Changing the shortcut releases the old one first.
        assert hotkey.register("Ctrl+Shift+K") is None
        assert list(user32.registered.values()) == [(0x4000 | 0x2 | 0x4, ord("K"))]
        assert hotkey.register("") is None
        assert user32.registered == {}
    finally:
        hotkey.close()


def test_windows_says_when_another_program_holds_the_combination(qapp: object) -> None:
    hotkey = GlobalHotkey(platform="win32", user32=FakeUser32(taken=True))
    try:
        problem = hotkey.register("Ctrl+Alt+Space")
        assert problem is not None
        assert "another application already uses" in problem
        assert FALLBACK in problem
        assert hotkey.shortcut == ""
    finally:
        hotkey.close()
