"""A global shortcut for quick ask, registered natively where the platform allows it.

- X11: the key is grabbed on the root window through libX11 (ctypes, no extra package) on a
  connection of our own, read with a QSocketNotifier on the GUI thread.
- Windows: ``RegisterHotKey`` (user32, ctypes) for the GUI thread; its ``WM_HOTKEY`` thread
  messages reach a native event filter on the application.
- Wayland: applications may not grab keys; ``register`` says so.
- macOS: not implemented yet; ``register`` says so.

Everywhere the fallback is the same: bind ``parley --quick-ask`` in the desktop's own shortcut
settings (a running Parley opens Quick ask at once, see desktop.services.single_instance).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from typing import Any

from PySide6.QtCore import (
    QAbstractNativeEventFilter,
    QByteArray,
    QCoreApplication,
    QObject,
    QSocketNotifier,
    Signal,
)
from PySide6.QtGui import QGuiApplication

log = logging.getLogger(__name__)

FALLBACK = "bind `parley --quick-ask` to it in your desktop's keyboard-shortcut settings instead"

# X11 modifier masks (X.h)
_SHIFT, _LOCK, _CONTROL, _MOD1, _MOD2, _MOD4 = 1, 2, 4, 8, 16, 64
_MODS = {"ctrl": _CONTROL, "control": _CONTROL, "alt": _MOD1, "option": _MOD1, "shift": _SHIFT,
         "meta": _MOD4, "super": _MOD4, "cmd": _MOD4}  # fmt: skip
_KEYSYMS = {"space": "space", "enter": "Return", "return": "Return", "tab": "Tab",
            "esc": "Escape", "escape": "Escape", "backspace": "BackSpace"}  # fmt: skip
_KEY_PRESS = 2
_GRAB_MODE_ASYNC = 1


def _split(text: str, modifiers: dict[str, int]) -> tuple[int, str]:
    """``Ctrl+Alt+Space`` -> (the modifiers' flags OR-ed from ``modifiers``, the key as
    written). Raises ValueError."""
    *mods, key = [p.strip() for p in text.split("+")]
    mask = 0
    for mod in mods:
        if mod.lower() not in modifiers:
            raise ValueError(f"unknown modifier {mod!r}")
        mask |= modifiers[mod.lower()]
    if not key:
        raise ValueError("no key")
    return mask, key


def parse(text: str) -> tuple[int, str]:
    """``Ctrl+Alt+Space`` -> (X11 modifier mask, keysym name). Raises ValueError."""
    mask, key = _split(text, _MODS)
    lowered = key.lower()
    if lowered in _KEYSYMS:
        return mask, _KEYSYMS[lowered]
    if len(key) == 1:
        return mask, key.lower()
    return mask, key  # F1..F12 and other keysym names as written


class _X11:
    """The grab on a private Xlib connection."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("X11")
        if name is None:
            raise OSError("libX11 is not installed")
        x = ctypes.CDLL(name)
        x.XOpenDisplay.restype = ctypes.c_void_p
        x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x.XDefaultRootWindow.restype = ctypes.c_ulong
        x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        x.XStringToKeysym.restype = ctypes.c_ulong
        x.XStringToKeysym.argtypes = [ctypes.c_char_p]
        x.XKeysymToKeycode.restype = ctypes.c_ubyte
        x.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        x.XGrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong,
                               ctypes.c_int, ctypes.c_int, ctypes.c_int]  # fmt: skip
        x.XUngrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong]
        x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x.XPending.argtypes = [ctypes.c_void_p]
        x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        x.XConnectionNumber.argtypes = [ctypes.c_void_p]
        x.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.x = x
        self.errors: list[int] = []
        handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

        def on_error(_display: Any, _event: Any) -> int:
            self.errors.append(1)
            return 0  # the default handler would end the process (e.g. BadAccess)

        self._handler = handler_type(on_error)  # kept alive as long as the connection
        self._handler_type = handler_type
        x.XSetErrorHandler.argtypes = [handler_type]
        x.XSetErrorHandler.restype = handler_type
        self.display = x.XOpenDisplay(None)
        if not self.display:
            raise OSError("cannot open the X display")
        self.root = x.XDefaultRootWindow(self.display)
        self.grabs: list[tuple[int, int]] = []

    def grab(self, mask: int, keysym: str) -> str | None:
        sym = self.x.XStringToKeysym(keysym.encode())
        code = self.x.XKeysymToKeycode(self.display, sym) if sym else 0
        if not code:
            return f"the key {keysym!r} is not on this keyboard"
        self.errors.clear()
        # Xlib's error handler is process-wide: ours only while the grab is checked
        previous = self.x.XSetErrorHandler(self._handler)
        try:
            for extra in (0, _LOCK, _MOD2, _LOCK | _MOD2):  # also with Caps / Num Lock on
                self.x.XGrabKey(self.display, code, mask | extra, self.root, 0,
                                _GRAB_MODE_ASYNC, _GRAB_MODE_ASYNC)  # fmt: skip
                self.grabs.append((code, mask | extra))
            self.x.XSync(self.display, 0)
        finally:
            self.x.XSetErrorHandler(previous)
        if self.errors:
            self.ungrab()
            return "another application already uses this key combination"
        return None

    def ungrab(self) -> None:
        for code, mods in self.grabs:
            self.x.XUngrabKey(self.display, code, mods, self.root)
        self.grabs.clear()
        self.x.XSync(self.display, 0)

    def fileno(self) -> int:
        return int(self.x.XConnectionNumber(self.display))

    def key_presses(self) -> int:
        event = (ctypes.c_long * 24)()
        presses = 0
        while self.x.XPending(self.display):
            self.x.XNextEvent(self.display, ctypes.byref(event))
            if ctypes.cast(event, ctypes.POINTER(ctypes.c_int))[0] == _KEY_PRESS:
                presses += 1
        return presses

    def close(self) -> None:
        self.ungrab()
        self.x.XCloseDisplay(self.display)


# Windows (WinUser.h)
_WM_HOTKEY = 0x0312
_MOD_ALT, _MOD_CONTROL, _MOD_SHIFT, _MOD_WIN, _MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
_WIN_MODS = {"ctrl": _MOD_CONTROL, "control": _MOD_CONTROL, "alt": _MOD_ALT, "option": _MOD_ALT,
             "shift": _MOD_SHIFT, "meta": _MOD_WIN, "super": _MOD_WIN, "cmd": _MOD_WIN}  # fmt: skip
_VK = {"space": 0x20, "enter": 0x0D, "return": 0x0D, "tab": 0x09, "esc": 0x1B,
       "escape": 0x1B, "backspace": 0x08}  # fmt: skip
_HOTKEY_ID = 0x5041  # 'PA': any id in 0x0000..0xBFFF is the application's own


def parse_windows(text: str) -> tuple[int, int]:
    """``Ctrl+Alt+Space`` -> (MOD_* flags with MOD_NOREPEAT, virtual-key code)."""
    mask, key = _split(text, _WIN_MODS)
    flags = mask | _MOD_NOREPEAT
    lowered = key.lower()
    if lowered in _VK:
        return flags, _VK[lowered]
    if len(key) == 1 and key.isascii() and key.isalnum():
        return flags, ord(key.upper())  # VK_A..VK_Z, VK_0..VK_9 are the ASCII codes
    if lowered[:1] == "f" and lowered[1:].isdigit() and 1 <= int(lowered[1:]) <= 24:
        return flags, 0x70 + int(lowered[1:]) - 1  # VK_F1..VK_F24
    raise ValueError(f"the key {key!r} cannot be registered on Windows")


class _MSG(ctypes.Structure):
    """The start of Win32's MSG: what the filter reads."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint),
        ("wParam", ctypes.c_size_t),
        ("lParam", ctypes.c_ssize_t),
    ]


class _WindowsHotkey(QAbstractNativeEventFilter):
    """One ``RegisterHotKey`` for the GUI thread (no window: the message is posted to the
    thread's queue, and Qt's dispatcher hands every message to the native filters)."""

    def __init__(self, user32: Any, on_press: Any) -> None:
        super().__init__()
        self.user32 = user32
        self.on_press = on_press
        self.registered = False

    def register(self, flags: int, vk: int) -> str | None:
        self.unregister()
        if not self.user32.RegisterHotKey(None, _HOTKEY_ID, flags, vk):
            return "another application already uses this key combination"
        self.registered = True
        return None

    def unregister(self) -> None:
        if self.registered:
            self.user32.UnregisterHotKey(None, _HOTKEY_ID)
            self.registered = False

    def nativeEventFilter(  # noqa: N802 - Qt's name
        self, event_type: QByteArray | bytes | bytearray | memoryview, message: int
    ) -> object:
        kind = event_type.data() if isinstance(event_type, QByteArray) else bytes(event_type)
        if kind == b"windows_generic_MSG" and message:
            msg = _MSG.from_address(int(message))
            if msg.message == _WM_HOTKEY and msg.wParam == _HOTKEY_ID:
                self.on_press()
                return True, 0
        return False, 0


def _user32() -> Any:
    dll = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
    dll.RegisterHotKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_uint]
    dll.UnregisterHotKey.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return dll


def unsupported_reason() -> str | None:
    """Why no global shortcut can be registered here (None: X11 or Windows, it can)."""
    if sys.platform == "win32":
        return None
    if sys.platform == "darwin":
        return "global shortcuts are not registered on macOS yet"
    platform = QGuiApplication.platformName()
    if platform == "wayland" or (platform != "xcb" and os.environ.get("WAYLAND_DISPLAY")):
        return "Wayland does not let applications register global shortcuts"
    if platform != "xcb":
        return f"the '{platform}' display has no global shortcuts"
    return None


class GlobalHotkey(QObject):
    """``activated`` fires when the registered key combination is pressed anywhere.

    ``platform`` and ``user32`` exist for the tests (Windows' backend driven on Linux)."""

    activated = Signal()

    def __init__(
        self, parent: QObject | None = None, *, platform: str | None = None, user32: Any = None
    ) -> None:
        super().__init__(parent)
        self._platform = platform or sys.platform
        self._user32 = user32
        self._x11: _X11 | None = None
        self._notifier: QSocketNotifier | None = None
        self._windows: _WindowsHotkey | None = None
        self.shortcut = ""

    def register(self, text: str) -> str | None:
        """Grab ``text`` (e.g. ``Ctrl+Alt+Space``; empty: none). Returns None when it works,
        else the reason (for the user), which ends with what to do instead."""
        self.unregister()
        if not text.strip():
            return None
        if self._platform == "win32":
            return self._register_windows(text)
        reason = unsupported_reason()
        if reason is not None:
            return f"{reason}: {FALLBACK}"
        try:
            mask, keysym = parse(text)
        except ValueError as exc:
            return f"{text}: {exc}"
        try:
            if self._x11 is None:
                self._x11 = _X11()
                self._notifier = QSocketNotifier(
                    self._x11.fileno(), QSocketNotifier.Type.Read, self
                )
                self._notifier.activated.connect(self._read)
        except OSError as exc:
            return f"{exc}: {FALLBACK}"
        problem = self._x11.grab(mask, keysym)
        if problem is not None:
            return f"{text}: {problem}; choose another or {FALLBACK}"
        self.shortcut = text
        return None

    def _register_windows(self, text: str) -> str | None:
        try:
            flags, vk = parse_windows(text)
        except ValueError as exc:
            return f"{text}: {exc}"
        if self._windows is None:
            try:
                user32 = self._user32 if self._user32 is not None else _user32()
            except (OSError, AttributeError) as exc:
                return f"user32 is unavailable ({exc}): {FALLBACK}"
            self._windows = _WindowsHotkey(user32, self.activated.emit)
            app = QCoreApplication.instance()
            if app is not None:
                app.installNativeEventFilter(self._windows)
        problem = self._windows.register(flags, vk)
        if problem is not None:
            return f"{text}: {problem}; choose another or {FALLBACK}"
        self.shortcut = text
        return None

    def _read(self) -> None:
        if self._x11 is not None and self._x11.key_presses():
            self.activated.emit()

    def unregister(self) -> None:
        if self._x11 is not None:
            self._x11.ungrab()
        if self._windows is not None:
            self._windows.unregister()
        self.shortcut = ""

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._x11 is not None:
            self._x11.close()
            self._x11 = None
        if self._windows is not None:
            self._windows.unregister()
            app = QCoreApplication.instance()
            if app is not None:
                app.removeNativeEventFilter(self._windows)
            self._windows = None
