"""The outbox: what waits to be submitted and why, the API token, and the preview that shows
exactly what will be sent before it is sent.

``OutboxView(service)`` takes a :class:`~desktop.services.feedback_service.FeedbackService`;
it reads the outbox through it and asks it to send after the user approved or retried items.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.feedback.payloads import describe_payload, report_text
from desktop.feedback.records import OutboxItem
from desktop.services.feedback_service import FeedbackService
from desktop.ui.feedback_dialog import describe, plain_button
from desktop.ui.token_editor import TokenEditor

STATE_TEXT = {
    "review": "Waiting for your review",
    "pending": "Waiting to be sent",
    "held": "Held",
    "sent": "Sent",
}
COLUMNS = ("Record", "State", "Attempts", "Next try", "Why")


def _summary(item: OutboxItem) -> str:
    payload = item.payload
    if item.kind == "withdrawal":
        return f"Withdrawal of {payload.get('record_type', 'a record')}"
    if item.kind == "comparison":
        return f"Ranking of {len(payload.get('alternatives', []))} answers"
    if payload.get("rating") is not None:
        return "Thumbs up" if payload["rating"] == 1 else "Thumbs down"
    return f"Report: {report_text(payload)}"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


class SubmissionPreview(QDialog):
    """Exactly what will be sent: every turn and field in words, and the raw JSON."""

    def __init__(self, items: Sequence[OutboxItem], endpoint: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("What will be sent")
        self.setAccessibleName("What will be sent")
        self.resize(640, 520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"{len(items)} {'record' if len(items) == 1 else 'records'} will be sent to "
            f"{endpoint}. This is everything they contain:"
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(intro)
        tabs = QTabWidget()
        describe(tabs, "Preview", "The records in words and as the exact JSON sent.")
        readable = QPlainTextEdit()
        readable.setReadOnly(True)
        describe(
            readable, "Records in words", "Each record with the conversation turns it carries."
        )
        parts = []
        for n, item in enumerate(items, 1):
            lines = [f"— Record {n}: {_summary(item)} —"]
            lines += [f"{label}: {text}" for label, text in describe_payload(item.payload)]
            parts.append("\n".join(lines))
        readable.setPlainText("\n\n".join(parts))
        raw = QPlainTextEdit()
        raw.setReadOnly(True)
        describe(raw, "Exact JSON", "The bytes that will be sent, one JSON object per record.")
        raw.setPlainText(
            "\n\n".join(json.dumps(i.payload, ensure_ascii=False, indent=2) for i in items)
        )
        tabs.addTab(readable, "In words")
        tabs.addTab(raw, "Exact JSON")
        layout.addWidget(tabs, 1)
        buttons = QDialogButtonBox()
        self.send_button = buttons.addButton("&Send", QDialogButtonBox.ButtonRole.AcceptRole)
        describe(self.send_button, "Send", "Approve these records; they are sent now.")
        cancel = buttons.addButton("&Not now", QDialogButtonBox.ButtonRole.RejectRole)
        describe(cancel, "Not now", "Keep them in the outbox without sending.")
        self.send_button.clicked.connect(self.accept)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.readable = readable
        self.raw = raw


class OutboxView(QWidget):
    def __init__(self, service: FeedbackService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.setAccessibleName("Outbox")
        layout = QVBoxLayout(self)

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)

        self.token_editor = TokenEditor(service)
        self.token = self.token_editor.token
        self.save_token = self.token_editor.save_token
        self.forget_token = self.token_editor.forget_token
        self.token_notice = self.token_editor.token_notice
        layout.addWidget(self.token_editor)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )
        self.table.setWordWrap(True)
        describe(self.table, "Outbox items", "Records waiting to be submitted, and why they wait.")
        layout.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        self.review_button = plain_button("&Review and send…")
        describe(
            self.review_button,
            "Review and send",
            "See exactly what the selected records (or all waiting ones) contain, then send.",
        )
        self.retry_button = plain_button("Retry &now")
        describe(self.retry_button, "Retry now", "Try the selected held or waiting records now.")
        self.remove_button = plain_button("Do&n't send")
        describe(
            self.remove_button,
            "Don't send",
            "Take the selected records out of the outbox; the feedback stays on this computer.",
        )
        self.add_kept_button = plain_button("&Add earlier feedback")
        describe(
            self.add_kept_button,
            "Add earlier feedback",
            "Queue the feedback given before submission was on (or taken out with Don't "
            "send); it waits for your review like the rest.",
        )
        for button in (
            self.review_button,
            self.retry_button,
            self.remove_button,
            self.add_kept_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.close_button = plain_button("Close")
        describe(self.close_button, "Close", "Close the outbox (Esc); sending goes on")
        self.close_button.clicked.connect(self.close)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)

        self.review_button.clicked.connect(self.review)
        self.retry_button.clicked.connect(self._retry)
        self.remove_button.clicked.connect(self._remove)
        self.add_kept_button.clicked.connect(self.service.queue_kept)
        service.outbox_changed.connect(self.refresh)
        self.refresh()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self.isWindow():  # as a dialog's Esc
            self.close()
            return
        super().keyPressEvent(event)

    # ---------------------------------------------------------------- showing

    def refresh(self) -> None:
        self.items = self.service.outbox_items()
        config = self.service.config()
        counts = self.service.outbox_counts()
        if not config.enabled:
            head = "Submission is off; feedback stays on this computer."
        elif not config.endpoint:
            head = "Submission is on, but no endpoint address is set (Settings → Feedback)."
        else:
            head = f"Sending to {config.endpoint}."
        waiting = self.service.waiting_reason()
        self.status.setText(
            f"{head} {counts['review']} to review, {counts['pending']} waiting, "
            f"{counts['held']} held, {counts['sent']} sent."
            + (f" {waiting}" if waiting and config.active else "")
        )
        kept = self.service.kept_here() if config.active else 0
        self.add_kept_button.setVisible(kept > 0)  # shown only while there is some
        self.add_kept_button.setText(f"&Add earlier feedback ({kept})")
        self.table.setRowCount(len(self.items))
        for row, item in enumerate(self.items):
            next_try = ""
            if item.state == "pending":  # a time gone by means: as soon as it can (a token)
                due = item.next_attempt_at <= datetime.now(tz=item.next_attempt_at.tzinfo)
                next_try = "when it can" if due else _when(item.next_attempt_at)
            cells = (
                _summary(item),
                STATE_TEXT[item.state],
                str(item.attempts),
                next_try,
                item.last_error
                or ("Approve it with Review and send." if item.state == "review" else ""),
            )
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                cell.setData(Qt.ItemDataRole.UserRole, item.id)
                self.table.setItem(row, column, cell)
        self.table.resizeColumnsToContents()
        self.review_button.setEnabled(counts["review"] > 0)
        for button in (self.retry_button, self.remove_button):  # nothing to act on yet
            button.setEnabled(bool(self.items))

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self.items[row].id for row in rows]

    # ---------------------------------------------------------------- actions

    def review(self) -> bool:
        """Show the selected (or all) items waiting for review; send them if approved."""
        chosen = set(self.selected_ids())
        items = [i for i in self.items if i.state == "review" and (not chosen or i.id in chosen)]
        if not items:
            return False
        preview = SubmissionPreview(items, self.service.config().endpoint or "(no endpoint)", self)
        self.preview = preview
        if preview.exec() != QDialog.DialogCode.Accepted:
            return False
        self.service.approve([i.id for i in items])
        return True

    def _retry(self) -> None:
        self.service.retry_now(self.selected_ids() or [i.id for i in self.items])

    def _remove(self) -> None:
        self.service.remove_from_outbox(self.selected_ids())
