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
