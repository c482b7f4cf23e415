"""A one-line label that ends in "…" where it is too narrow for its text (a QLabel would cut
the sentence mid-word): the status bar's notice, an answer's statistics in a narrow pane.
Its whole text stays in ``text()`` (screen readers, tooltips)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QWidget


class ElidedLabel(QLabel):
    """``text()`` is always the whole text; only the painting is shortened. ``clickable``:
    while shortened it shows a pointing hand and ``clicked`` fires on a click (to show all
    of it); otherwise it is a plain label."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None, *, clickable: bool = False) -> None:
        super().__init__(parent)
        self.clickable = clickable
        self.setTextFormat(Qt.TextFormat.PlainText)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override): any width will do
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        elided = self.is_elided()
        if self.clickable:
            if elided:
                self.setCursor(Qt.CursorShape.PointingHandCursor)
            else:
                self.unsetCursor()
        if not elided:
            super().paintEvent(event)
            return
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, rect.width()
        )
        painter.drawText(rect, int(self.alignment()), shown)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self.clickable and event.button() == Qt.MouseButton.LeftButton and self.is_elided():
            self.clicked.emit()
        super().mousePressEvent(event)
