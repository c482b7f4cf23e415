"""Content-filter widgets for a message.

:class:`ModerationBanner` sits above a flagged message: "flagged: harassment — warned", with
"This was wrongly flagged" (one choice per flagged category when there are several).
:class:`MissedFlagButton` goes on every message: "This should have been flagged", with the
category picked from its menu. Both only emit signals; the window records the reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QToolButton, QWidget

from desktop.feedback.records import CATEGORIES, ModerationEvent, banner_text, category_label
from desktop.ui.feedback_dialog import describe
from desktop.ui.theme import ROLE_NOTICE, ROLE_PROPERTY

REPORTED_TEXT = "Reported as wrongly flagged. Thank you."


class ModerationBanner(QFrame):
    wrongly_flagged = Signal(int)  # the moderation event's id

    def __init__(self, events: Sequence[ModerationEvent], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = [e for e in events if e.action != "allow"]
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setProperty("moderation", self.events[0].action if self.events else "allow")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel("⚠ " + banner_text(self.events))
        self.label.setProperty(ROLE_PROPERTY, ROLE_NOTICE)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        evidence = "; ".join(
            f"{category_label(e.category)}: “{e.evidence}” ({e.filter})"
            if e.evidence
            else f"{category_label(e.category)} ({e.filter}, score {e.score:.2f})"
            for e in self.events
        )
        self.label.setToolTip(f"What the content filter found: {evidence}")
        self.label.setAccessibleName(banner_text(self.events))
        layout.addWidget(self.label, 1)

        self.report = QToolButton()
        self.report.setText("This was wrongly flagged")
        describe(
            self.report,
            "This was wrongly flagged",
            "Tell the content filter it made a mistake here (a false positive).",
        )
        categories = list(dict.fromkeys(e.category for e in self.events))
        if len(categories) > 1:
            menu = QMenu(self.report)
            for event in self.events:
                action = menu.addAction(f"Not {category_label(event.category).lower()}")
                action.triggered.connect(lambda _=False, e=event.id: self._report(e))
            self.report.setMenu(menu)
            self.report.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        elif self.events:
            self.report.clicked.connect(lambda: self._report(self.events[0].id))
        layout.addWidget(self.report)
        self.setVisible(bool(self.events))

    def _report(self, event_id: int) -> None:
        self.wrongly_flagged.emit(event_id)
        self.mark_reported()

    def mark_reported(self) -> None:
        """Show that the report was taken (also for a message reported earlier)."""
        self.report.setEnabled(False)
        self.report.setText(REPORTED_TEXT)
        self.report.setAccessibleName(REPORTED_TEXT)


class MissedFlagButton(QToolButton):
    """ "This should have been flagged" with a menu of categories."""

    reported = Signal(str)  # the category key

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText("Should have been flagged…")
        describe(
            self,
            "This should have been flagged",
            "Tell the content filter it missed something here, and what (a false negative).",
        )
        menu = QMenu(self)
        self._actions: dict[str, QAction] = {}
        for category in CATEGORIES:
            action = menu.addAction(category.label)
            action.setToolTip(category.description)
            action.triggered.connect(lambda _=False, key=category.key: self._report(key))
            self._actions[category.key] = action
        self.setMenu(menu)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.reported_categories: list[str] = []

    def show_reported(self, categories: list[str]) -> None:
        """The categories reported before (stored): said on the button, and not offered
        again (one report per category)."""
        self.reported_categories = list(dict.fromkeys(categories))
        for key, action in self._actions.items():
            action.setEnabled(key not in self.reported_categories)
        if self.reported_categories:
            names = ", ".join(category_label(c).lower() for c in self.reported_categories)
            self.setText(f"Reported: {names}")

    def _report(self, category: str) -> None:
        if category in self.reported_categories:
            return
        self.reported.emit(category)
        self.show_reported([*self.reported_categories, category])
