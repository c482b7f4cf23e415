"""Your feedback: every rating, content-filter report and ranking in force, in one list.

From here a record is found again (Open in chat goes to the message it is about) and taken
back (Withdraw: a ranking has no other way; a sent record is withdrawn at the endpoint too).
``FeedbackList(service)`` reads through a
:class:`~desktop.services.feedback_service.FeedbackService` and emits ``open_requested``
(conversation id, message id) for the window to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.feedback.records import FeedbackEntry
from desktop.services.feedback_service import FeedbackService
from desktop.ui.feedback_dialog import describe, plain_button
from desktop.ui.outbox_view import STATE_TEXT

COLUMNS = ("When", "Chat", "Feedback", "Submission")
NOT_QUEUED = "Kept on this computer"
EMPTY = (
    "No feedback yet. Rate an answer with Good or Bad, rank alternative answers, or flag "
    "what the content filter got wrong; it is listed here."
)


def when_text(entry: FeedbackEntry) -> str:
    return entry.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")


class FeedbackList(QWidget):
    open_requested = Signal(int, int)  # conversation id, message id

    def __init__(self, service: FeedbackService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.entries: list[FeedbackEntry] = []
        self.confirm: Callable[[str], bool] = self._ask  # tests answer it
        self.setAccessibleName("Your feedback")
        layout = QVBoxLayout(self)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # what was said gets the room; a long chat title wraps in a column of its own width
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(1, self.fontMetrics().averageCharWidth() * 28)
        self.table.setWordWrap(True)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table for the buttons
        describe(
            self.table,
            "Feedback records",
            "Your ratings, content-filter reports and rankings; Enter opens one in its chat.",
        )
        self.table.installEventFilter(self)
        layout.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        self.open_button = plain_button("&Open in chat")
        describe(self.open_button, "Open in chat", "Show the message this feedback is about.")
        self.withdraw_button = plain_button("&Withdraw")
        describe(
            self.withdraw_button,
            "Withdraw",
            "Take the selected feedback back: it leaves your exports, and if it was sent, "
            "your team's endpoint is told.",
        )
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.withdraw_button)
        buttons.addStretch(1)
        self.close_button = plain_button("Close")
        describe(self.close_button, "Close", "Close this list (Esc)")
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

        self.open_button.clicked.connect(self.open_selected)
        self.withdraw_button.clicked.connect(self.withdraw_selected)
        self.close_button.clicked.connect(self.close)
        self.table.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.table.itemSelectionChanged.connect(self._update_buttons)
        service.listing_changed.connect(self.refresh)
        service.outbox_changed.connect(self.refresh)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        self.refresh()  # chats deleted or purged while it was hidden
        super().showEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self.isWindow():  # as a dialog's Esc
            self.close()
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        """In the table, Enter opens the selected record in its chat and Delete withdraws it."""
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            key = cast(QKeyEvent, event).key()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected()
                return True
            if key == Qt.Key.Key_Delete:
                self.withdraw_selected()
                return True
        return super().eventFilter(watched, event)

    # ---------------------------------------------------------------- showing

    def refresh(self) -> None:
        kept = {(e.record, e.record_id) for e in self.selected()}
        self.entries = self.service.listing()
        ratings = sum(e.kind == "rating" for e in self.entries)
        rankings = sum(e.kind == "comparison" for e in self.entries)
        reports = len(self.entries) - ratings - rankings
        self.status.setText(
            f"{ratings} {'rating' if ratings == 1 else 'ratings'}, {reports} content-filter "
            f"{'report' if reports == 1 else 'reports'}, {rankings} "
            f"{'ranking' if rankings == 1 else 'rankings'}."
            if self.entries
            else EMPTY
        )
        self.table.setRowCount(len(self.entries))
        self.table.blockSignals(True)
        self.table.clearSelection()
        for row, entry in enumerate(self.entries):
            summary = entry.summary + (f" — “{entry.comment}”" if entry.comment else "")
            title = entry.conversation_title or "Untitled chat"
            sent = STATE_TEXT[entry.sent] if entry.sent is not None else NOT_QUEUED
            for column, text in enumerate((when_text(entry), title, summary, sent)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
            if (entry.record, entry.record_id) in kept:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.resizeRowsToContents()
        self._update_buttons()

    def selected(self) -> list[FeedbackEntry]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.entries[row] for row in rows if row < len(self.entries)]

    def _update_buttons(self) -> None:
        chosen = self.selected()
        self.open_button.setEnabled(len(chosen) == 1)
        self.withdraw_button.setEnabled(bool(chosen))

    # ---------------------------------------------------------------- acting

    def open_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            self.open_requested.emit(chosen[0].conversation_id, chosen[0].message_id)

    def _ask(self, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Withdraw?",
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def withdraw_selected(self) -> None:
        chosen = self.selected()
        if not chosen:
            return
        rankings = sum(e.record == "comparison" for e in chosen)
        sent = sum(e.sent == "sent" for e in chosen)
        if rankings or sent:  # a ranking cannot be made again; what was sent is told to go
            why = []
            if rankings:
                why.append("a ranking cannot be given again: its answers are not compared anew")
            if sent:
                why.append("your team's endpoint is asked to delete what it was sent")
            n = len(chosen)
            reasons = "; ".join(why)
            question = f"Withdraw {n} {'record' if n == 1 else 'records'}? "
            if not self.confirm(question + reasons[0].upper() + reasons[1:] + "."):
                return
        row = self.table.currentRow()
        for entry in chosen:
            self.service.withdraw_entry(entry)  # each refreshes the list
        if self.entries and not self.selected():
            # the rows withdrawn are gone: the next one is selected, as a list's Delete does
            self.table.selectRow(min(max(row, 0), len(self.entries) - 1))
        self.table.setFocus()
