"""The tray icon: Quick ask…, New chat, Show/Hide window, the current model, Quit.

Only built where ``QSystemTrayIcon.isSystemTrayAvailable()``; elsewhere the window says so once
and every feature stays in the window (File menu, ``parley --quick-ask``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from desktop.engine.types import ModelInfo


def app_icon() -> QIcon:
    """A drawn icon (a speech bubble with a P), so the app needs no image files."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor("#2f6fdf"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(QRectF(0, 0, size, size * 0.85), size * 0.2, size * 0.2)
        painter.setPen(QColor("white"))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(max(8, int(size * 0.6)))
        painter.setFont(font)
        painter.drawText(QRectF(0, 0, size, size * 0.85), Qt.AlignmentFlag.AlignCenter, "P")
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def present_window(window: QWidget) -> None:
    """In front, as it was left: out of the tray or the task bar, still maximized or full
    screen if it was (``showNormal`` would restore it to its small size)."""
    if window.isMinimized():
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


def tray_available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


class Tray(QObject):
    def __init__(
        self,
        window: QWidget,
        quick_ask: Callable[[], object],
        new_chat: Callable[[], object],
        quit_app: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window = window
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.icon.setToolTip("Parley")
        self.menu = QMenu(window)
        self.quick_action = self._add("Quick ask…", quick_ask)
        self._new_chat = new_chat
        self.new_action = self._add("New chat", self._on_new_chat)
        self.toggle_action = self._add("Show/Hide window", self.toggle_window)
        self.menu.addSeparator()
        self.model_action = QAction("Model: none loaded", self)
        self.model_action.setEnabled(False)
        self.menu.addAction(self.model_action)
        self.menu.addSeparator()
        self.quit_action = self._add("Quit", quit_app)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self._quick_ask = quick_ask

    def _add(self, text: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        self.menu.addAction(action)
        return action

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def set_model(self, info: ModelInfo) -> None:
        self.model_action.setText(f"Model: {info.name}")
        self.icon.setToolTip(f"Parley — {info.name}")

    def show_window(self) -> None:
        present_window(self.window)

    def toggle_window(self) -> None:
        if self.window.isVisible() and not self.window.isMinimized():
            self.window.hide()
        else:
            self.show_window()

    def _on_new_chat(self) -> None:
        self.show_window()
        self._new_chat()

    def message(self, title: str, text: str) -> None:
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 8000)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_window()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self._quick_ask()
