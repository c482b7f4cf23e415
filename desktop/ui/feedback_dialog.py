"""The feedback dialog a thumbs up / down opens: reason chips, a comment and an optional ideal
answer (pre-filled with the model's text). Opened again on a rated answer it shows the saved
feedback, which can be changed or withdrawn.

The window opens it as ``FeedbackDialog(response_text, rating, existing=record, parent=...)``
and connects ``saved(FeedbackDraft)`` and ``withdrawn()``; it stores nothing itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.feedback.records import (
    THUMBS_DOWN,
    THUMBS_UP,
    FeedbackDraft,
    FeedbackRecord,
    Reason,
    reasons_for,
)
from desktop.ui.theme import frame_controls

CHIP_COLUMNS = 2
# A chosen chip must look chosen: the highlight colours (their contrast is checked in theme.py).
# The same padding chosen or not (more when checked cut its text: "Thumbs dowr"), and some:
# without it the text of the thumbs touched their borders.
CHIP_STYLE = """
QPushButton {
    padding: 3px 10px;
}
QPushButton:checked {
    background-color: palette(highlight);
    color: palette(highlighted-text);
    border: 1px solid palette(highlight);
    border-radius: 3px;
}
"""
_UP_ID, _DOWN_ID = 1, 2


def describe(widget: QWidget, name: str, tip: str) -> None:
    """Every control gets a screen-reader name and a tooltip."""
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(tip)
    widget.setToolTip(tip)


def plain_button(text: str) -> QPushButton:
    button = QPushButton(text)
    button.setAutoDefault(False)
    return button


class FeedbackDialog(QDialog):
    saved = Signal(object)  # FeedbackDraft
    withdrawn = Signal()

    def __init__(
        self,
        response: str,
        rating: int,
        *,
        existing: FeedbackRecord | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Feedback on this answer")
        self.setAccessibleName("Feedback on this answer")
        self.setMinimumWidth(520)
        self.setStyleSheet(CHIP_STYLE)
        self.response = response
        # The thumb pressed wins over a saved rating (Good on an answer rated bad: the user
        # changes their mind); the saved comment and ideal answer come along.
        self.existing = existing if existing is not None and not existing.withdrawn else None
        self.chips: dict[str, QPushButton] = {}

        layout = QVBoxLayout(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.heading)

        rating_row = QHBoxLayout()
        self.up = plain_button("Thumbs &up")
        self.down = plain_button("Thumbs &down")
        describe(self.up, "Good answer", "Rate this answer as good (thumbs up).")
        describe(self.down, "Bad answer", "Rate this answer as bad (thumbs down).")
        self.rating_group = QButtonGroup(self)
        self.rating_group.setExclusive(True)
        # QButtonGroup reserves -1 ("no id"), so the ids are 1 (up) and 2 (down).
        for button, group_id in ((self.up, _UP_ID), (self.down, _DOWN_ID)):
            button.setCheckable(True)
            self.rating_group.addButton(button, group_id)
            rating_row.addWidget(button)
        rating_row.addStretch(1)
        layout.addLayout(rating_row)

        self.reasons_label = QLabel()
        layout.addWidget(self.reasons_label)
        self.chip_area = QWidget()
        self.chip_grid = QGridLayout(self.chip_area)
        self.chip_grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chip_area)

        comment_label = QLabel("&Comment (optional)")
        self.comment = QPlainTextEdit()
        self.comment.setTabChangesFocus(True)
        self.comment.setMaximumHeight(90)
        describe(self.comment, "Comment", "Anything else about this answer, in your words.")
        comment_label.setBuddy(self.comment)
        layout.addWidget(comment_label)
        layout.addWidget(self.comment)

        self.ideal_toggle = QCheckBox("Write an &ideal answer")
        frame_controls(self.ideal_toggle)
        describe(
            self.ideal_toggle,
            "Write an ideal answer",
            "Edit the model's answer into the one you wanted; it becomes training data.",
        )
        self.ideal = QPlainTextEdit()
        self.ideal.setTabChangesFocus(True)
        self.ideal.setPlainText(response)
        self.ideal.setMinimumHeight(120)
        describe(self.ideal, "Ideal answer", "The answer you wanted, starting from the model's.")
        self.ideal.setVisible(False)
        self.ideal_toggle.toggled.connect(self._show_ideal)
        layout.addWidget(self.ideal_toggle)
        layout.addWidget(self.ideal, 1)

        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("&Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setDefault(True)
        describe(self.save_button, "Save feedback", "Save this feedback (Ctrl+Enter).")
        self.withdraw_button = buttons.addButton(
            "&Withdraw feedback", QDialogButtonBox.ButtonRole.DestructiveRole
        )
        self.withdraw_button.setAutoDefault(False)
        describe(
            self.withdraw_button,
            "Withdraw feedback",
            "Remove the feedback you gave on this answer (also from the outbox).",
        )
        self.withdraw_button.setVisible(self.existing is not None)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)
        describe(cancel, "Cancel", "Close without changing anything (Esc).")
        self.save_button.clicked.connect(self._save)
        self.withdraw_button.clicked.connect(self._withdraw)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self._save)

        self.rating_group.idToggled.connect(self._on_rating_toggled)
        (self.up if rating == THUMBS_UP else self.down).setChecked(True)
        self._build_chips(rating)
        if self.existing is not None:
            self._load(self.existing)
        first = next(iter(self.chips.values()), None)
        (first or self.comment).setFocus()

    # ---------------------------------------------------------------- state

    @property
    def rating(self) -> int:
        return THUMBS_UP if self.up.isChecked() else THUMBS_DOWN

    def _on_rating_toggled(self, group_id: int, checked: bool) -> None:
        if checked:
            rating = THUMBS_UP if group_id == _UP_ID else THUMBS_DOWN
            kept = self.selected_reasons()
            self._build_chips(rating)
            for key in kept:
                if key in self.chips:
                    self.chips[key].setChecked(True)
            # five good reasons after ten bad ones: the dialog shrinks back to what it holds
            # (it kept the taller size, with wide gaps between its parts)
            QTimer.singleShot(0, self, self._fit)

    def _fit(self) -> None:
        layout = self.layout()
        if layout is not None:
            layout.activate()
        self.resize(self.width(), self.sizeHint().height())

    def _build_chips(self, rating: int) -> None:
        for chip in self.chips.values():
            self.chip_grid.removeWidget(chip)
            chip.deleteLater()
        self.chips = {}
        good = rating == THUMBS_UP
        self.heading.setText(
            "What was good about this answer?" if good else "What was wrong with this answer?"
        )
        self.comment.setPlaceholderText(
            "Anything else you liked?" if good else "What would have made it better?"
        )
        self.reasons_label.setText("Reasons (choose any):")
        previous: QWidget = self.down
        for index, reason in enumerate(reasons_for(rating)):
            chip = self._chip(reason)
            self.chip_grid.addWidget(chip, index // CHIP_COLUMNS, index % CHIP_COLUMNS)
            self.chips[reason.key] = chip
            QWidget.setTabOrder(previous, chip)
            previous = chip
        QWidget.setTabOrder(previous, self.comment)

    @staticmethod
    def _chip(reason: Reason) -> QPushButton:
        chip = plain_button(reason.label)
        chip.setCheckable(True)
        chip.setProperty("chip", True)
        describe(chip, reason.label, reason.description)
        return chip

    def _show_ideal(self, shown: bool) -> None:
        self.ideal.setVisible(shown)
        if shown:
            self.ideal.setFocus()

    def _load(self, record: FeedbackRecord) -> None:
        for key in record.reasons:
            if key in self.chips:
                self.chips[key].setChecked(True)
        self.comment.setPlainText(record.comment)
        if record.ideal_answer is not None:
            self.ideal.setPlainText(record.ideal_answer)
            self.ideal_toggle.setChecked(True)
        self.heading.setText(self.heading.text() + " (saved feedback; you can change it)")

    def selected_reasons(self) -> tuple[str, ...]:
        return tuple(key for key, chip in self.chips.items() if chip.isChecked())

    def draft(self) -> FeedbackDraft:
        ideal = self.ideal.toPlainText() if self.ideal_toggle.isChecked() else None
        return FeedbackDraft(
            rating=self.rating,
            reasons=self.selected_reasons(),
            comment=self.comment.toPlainText().strip(),
            ideal_answer=ideal,
        )

    # ---------------------------------------------------------------- actions

    def _save(self) -> None:
        self.saved.emit(self.draft())
        self.accept()

    def _withdraw(self) -> None:
        self.withdrawn.emit()
        self.accept()
