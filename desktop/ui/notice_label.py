"""The status bar's notice: one line that ends in "…" where the window is too narrow for it
(a QLabel would cut the sentence mid-word), its whole text in the tooltip and a click away."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QWidget


class NoticeLabel(QLabel):
    """``text()`` is always the whole notice; only the painting is shortened.
    ``clicked`` fires on a click while the notice is shortened (to show all of it)."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override): any width will do
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        if not self.is_elided():
            self.unsetCursor()
            super().paintEvent(event)
            return
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter.drawText(rect, int(self.alignment()), shown)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton and self.is_elided():
            self.clicked.emit()
        super().mousePressEvent(event)
