"""Content-filter widgets for a message.

:class:`ModerationBanner` sits above a flagged message: "flagged: harassment — warned", with
"This was wrongly flagged" (one choice per flagged category when there are several).
:class:`MissedFlagButton` goes on every message: "This should have been flagged", with the
category picked from its menu. Both only emit signals; the window records the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from desktop.feedback.records import CATEGORIES, ModerationEvent, banner_text, category_label
from desktop.ui.feedback_dialog import describe
from desktop.ui.theme import ROLE_NOTICE, ROLE_PROPERTY

REPORTED_TEXT = "Reported as wrongly flagged. Thank you."
TAKE_BACK = "Click again to take the report back."


class ModerationBanner(QFrame):
    """``wrongly_flagged(event_id)``: reported as a false positive; ``report_withdrawn
    (event_id)``: that report taken back (feedback can be withdrawn, as a rating can)."""

    wrongly_flagged = Signal(int)  # the moderation event's id
    report_withdrawn = Signal(int)

    def __init__(self, events: Sequence[ModerationEvent], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = [e for e in events if e.action != "allow"]
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("moderation", self.events[0].action if self.events else "allow")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        said = "⚠ " + banner_text(self.events)
        if any(e.action == "block" and e.source == "input" for e in self.events):
            said += " (not sent to the model: edit it to send something else)"
        self.label = QLabel(said)
        self.label.setProperty(ROLE_PROPERTY, ROLE_NOTICE)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)  # a narrow pane wraps it rather than cut it
        evidence = "; ".join(
            f"{category_label(e.category)}: “{e.evidence}” ({e.filter})"
            if e.evidence
            else f"{category_label(e.category)} ({e.filter}, score {e.score:.2f})"
            for e in self.events
        )
        self.label.setToolTip(f"What the content filter found: {evidence}")
        self.label.setAccessibleName(banner_text(self.events))
        layout.addWidget(self.label, 1)

        self.reported: set[int] = set()  # the events reported as wrongly flagged
        self.report = QToolButton()
        self._actions: dict[int, QAction] = {}
        categories = list(dict.fromkeys(e.category for e in self.events))
        if len(categories) > 1:
            menu = QMenu(self.report)
            for event in self.events:
                action = menu.addAction(f"Not {category_label(event.category).lower()}")
                action.setCheckable(True)
                action.triggered.connect(lambda on, e=event.id: self._toggle(e, on))
                self._actions[event.id] = action
            self.report.setMenu(menu)
            self.report.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        elif self.events:
            self.report.setCheckable(True)
            self.report.clicked.connect(lambda on: self._toggle(self.events[0].id, on))
        self._show()
        layout.addWidget(self.report)
        self._layout = layout
        # In a narrow pane (split view, large text) the report button goes under the words:
        # side by side they set a width the pane did not have, and the message was cut.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, self.sizePolicy().verticalPolicy())
        self.setVisible(bool(self.events))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        margins = self._layout.contentsMargins()
        side_by_side = (
            margins.left() + margins.right() + self._layout.spacing()
            + self.label.fontMetrics().horizontalAdvance(self.label.text())
            + self.report.sizeHint().width()
        )  # fmt: skip
        direction = (
            QBoxLayout.Direction.LeftToRight
            if event.size().width() >= side_by_side
            else QBoxLayout.Direction.TopToBottom
        )
        if self._layout.direction() != direction:
            self._layout.setDirection(direction)
            self._layout.setAlignment(
                self.report,
                Qt.AlignmentFlag.AlignLeft if direction == QBoxLayout.Direction.TopToBottom
                else Qt.AlignmentFlag(0),
            )  # fmt: skip

    def _toggle(self, event_id: int, on: bool) -> None:
        if on == (event_id in self.reported):
            return
        (self.wrongly_flagged if on else self.report_withdrawn).emit(event_id)
        self.mark_reported([*self.reported, event_id] if on else self.reported - {event_id})

    def mark_reported(self, event_ids: Iterable[int] | None = None) -> None:
        """Show which events are reported as wrongly flagged (stored ones too, when the
        message is shown again); ``None``: all of them."""
        ids = {e.id for e in self.events} if event_ids is None else set(event_ids)
        self.reported = ids & {e.id for e in self.events}
        self._show()

    def _show(self) -> None:
        for event_id, action in self._actions.items():
            action.setChecked(event_id in self.reported)
        if not self._actions:
            self.report.setChecked(bool(self.reported))
        if self.reported:
            text = REPORTED_TEXT
            tip = TAKE_BACK if not self._actions else "Choose it again to take the report back."
        else:
            text = "This was wrongly flagged"
            tip = "Tell the content filter it made a mistake here (a false positive)."
        self.report.setText(text)
        describe(self.report, text, tip)


class MissedFlagButton(QToolButton):
    """ "This should have been flagged" with a menu of categories: ``reported(category)``;
    a category chosen again is taken back: ``withdrawn(category)``."""

    reported = Signal(str)  # the category key
    withdrawn = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.idle_text = "Should have been flagged…"
        """What the button says while nothing is reported (the chat's is shorter)."""
        describe(
            self,
            "This should have been flagged",
            "Tell the content filter it missed something here, and what (a false negative). "
            "Choose a category again to take its report back.",
        )
        menu = QMenu(self)
        self._actions: dict[str, QAction] = {}
        for category in CATEGORIES:
            action = menu.addAction(category.label)
            action.setToolTip(category.description)
            action.setCheckable(True)
            action.triggered.connect(lambda on, key=category.key: self._toggle(key, on))
            self._actions[category.key] = action
        self.setMenu(menu)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        # The text says it opens a menu ("…"); the style's arrow drawn over its last letters
        # in a corner said it again, badly (see theme.py).
        self.setProperty("menuInText", True)
        self.reported_categories: list[str] = []
        self.show_reported([])

    def show_reported(self, categories: list[str]) -> None:
        """The categories reported (stored ones too): ticked in the menu and said on the
        button."""
        self.reported_categories = list(dict.fromkeys(categories))
        for key, action in self._actions.items():
            action.setChecked(key in self.reported_categories)
        if self.reported_categories:
            names = ", ".join(category_label(c).lower() for c in self.reported_categories)
            self.setText(f"Reported: {names}")
        else:
            self.setText(self.idle_text)

    def _toggle(self, category: str, on: bool) -> None:
        if on == (category in self.reported_categories):
            return
        if on:
            self.reported.emit(category)
            self.show_reported([*self.reported_categories, category])
        else:
            self.withdrawn.emit(category)
            self.show_reported([c for c in self.reported_categories if c != category])
