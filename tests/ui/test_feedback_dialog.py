"""The feedback dialog: chips, comment and ideal answer, keyboard only, with screen-reader
names; changing and withdrawing saved feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton
from pytestqt.qtbot import QtBot

from desktop.feedback.records import (
    NEGATIVE_REASONS,
    POSITIVE_REASONS,
    Context,
    FeedbackDraft,
    FeedbackRecord,
)
from desktop.ui.feedback_dialog import FeedbackDialog
from tests.ui.feedback_helpers import unnamed_controls

ANSWER = "Sydney is the capital of Australia."
SCREENSHOT = Path("/tmp/feedback-dialog.png")


def open_dialog(
    qtbot: QtBot, rating: int = -1, existing: FeedbackRecord | None = None
) -> FeedbackDialog:
    dialog = FeedbackDialog(ANSWER, rating, existing=existing)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    return dialog


def focused() -> object:
    return QApplication.focusWidget()


def test_thumbs_down_offers_the_limitations_as_chips(qtbot: QtBot) -> None:
    dialog = open_dialog(qtbot, -1)
    assert list(dialog.chips) == [r.key for r in NEGATIVE_REASONS]
    assert [c.text() for c in dialog.chips.values()][:3] == [
        "Harmful or unsafe",
        "Made up facts / incorrect",
        "Accepted a false premise",
    ]
    assert dialog.down.isChecked()
    assert not dialog.withdraw_button.isVisible()
    assert unnamed_controls(dialog) == []


def test_the_whole_dialog_works_from_the_keyboard(qtbot: QtBot) -> None:
    dialog = open_dialog(qtbot, -1)
    saved: list[FeedbackDraft] = []
    dialog.saved.connect(saved.append)
    # Focus starts on the first chip; Space toggles it, Tab moves to the next.
    assert focused() is dialog.chips["harmful"]
    QTest.keyClick(focused(), Qt.Key.Key_Tab)
    assert focused() is dialog.chips["made_up_facts"]
    QTest.keyClick(focused(), Qt.Key.Key_Space)
    for _ in range(len(NEGATIVE_REASONS) - 1):
        QTest.keyClick(focused(), Qt.Key.Key_Tab)
    assert focused() is dialog.comment
    QTest.keyClicks(dialog.comment, "Wrong city")
    QTest.keyClick(dialog.comment, Qt.Key.Key_Tab)
    assert focused() is dialog.ideal_toggle
    QTest.keyClick(dialog.ideal_toggle, Qt.Key.Key_Space)
    assert focused() is dialog.ideal
    assert dialog.ideal.toPlainText() == ANSWER  # pre-filled with the model's text
    dialog.ideal.selectAll()
    QTest.keyClicks(dialog.ideal, "Canberra is the capital.")
    QTest.keyClick(dialog.ideal, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert saved == [
        FeedbackDraft(-1, ("made_up_facts",), "Wrong city", "Canberra is the capital.")
    ]
    assert not dialog.isVisible()


def test_switching_to_thumbs_up_offers_positive_reasons(qtbot: QtBot) -> None:
    dialog = open_dialog(qtbot, -1)
    dialog.chips["other"].setChecked(True)
    dialog.up.click()
    assert list(dialog.chips) == [r.key for r in POSITIVE_REASONS]
    assert dialog.heading.text() == "What was good about this answer?"
    assert dialog.draft() == FeedbackDraft(1, (), "", None)
    assert unnamed_controls(dialog) == []
    good = open_dialog(qtbot, 1)
    qtbot.waitUntil(lambda: good.height() > 0)
    dialog.up.click()  # up (5 reasons), down (10), up again: no gaps left by the ten
    dialog.down.click()
    dialog.up.click()
    qtbot.waitUntil(lambda: abs(dialog.height() - good.height()) <= 4, timeout=2000)


def test_saved_feedback_is_shown_and_can_be_changed_or_withdrawn(qtbot: QtBot) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    existing = FeedbackRecord(
        id=1,
        uid="f",
        message_id=2,
        message_uid="m",
        conversation_uid="c",
        kind="rating",
        rating=-1,
        reasons=("too_verbose", "ignored_instructions"),
        comment="Too long.",
        ideal_answer="Canberra.",
        category=None,
        moderation_event_id=None,
        context=Context(None, None, None, ()),
        response=ANSWER,
        revision=1,
        created_at=moment,
        updated_at=moment,
        withdrawn_at=None,
    )
    changed = open_dialog(qtbot, 1, existing)  # Good on an answer rated bad: it changes
    assert changed.up.isChecked()
    assert changed.draft().rating == 1
    assert changed.comment.toPlainText() == "Too long.", "what was written comes along"
    assert changed.selected_reasons() == (), "the bad answer's reasons do not apply"
    changed.close()
    dialog = open_dialog(qtbot, -1, existing)
    assert dialog.down.isChecked()
    assert dialog.selected_reasons() == ("too_verbose", "ignored_instructions")
    assert dialog.comment.toPlainText() == "Too long."
    assert dialog.ideal_toggle.isChecked()
    assert dialog.ideal.toPlainText() == "Canberra."
    assert dialog.withdraw_button.isVisible()
    withdrawn: list[bool] = []
    dialog.withdrawn.connect(lambda: withdrawn.append(True))
    dialog.withdraw_button.click()
    assert withdrawn == [True]


def test_screenshot(qtbot: QtBot) -> None:
    dialog = open_dialog(qtbot, -1)
    dialog.chips["made_up_facts"].setChecked(True)
    dialog.chips["too_verbose"].setChecked(True)
    dialog.comment.setPlainText("Canberra is the capital, not Sydney.")
    dialog.ideal_toggle.setChecked(True)
    dialog.resize(560, 560)
    QApplication.processEvents()
    assert dialog.grab().save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 0
    chips = dialog.findChildren(QPushButton)
    assert all(c.isVisible() for c in dialog.chips.values())
    assert len(chips) >= len(NEGATIVE_REASONS) + 5


def test_a_checked_rating_button_has_room_for_its_whole_text(qtbot: QtBot) -> None:
    """The chosen look must not cut the label ("Thumbs dowr"): its contents rect, as the
    style lays it out when checked, fits the text."""
    from PySide6.QtWidgets import QPushButton, QStyle, QStyleOptionButton, QWidget

    from desktop.ui.feedback_dialog import CHIP_STYLE

    holder = QWidget()
    holder.setStyleSheet(CHIP_STYLE)
    button = QPushButton("Thumbs &down", holder)
    button.setCheckable(True)
    qtbot.addWidget(holder)
    holder.show()
    button.resize(button.sizeHint())
    button.setChecked(True)
    option = QStyleOptionButton()
    button.initStyleOption(option)
    room = button.style().subElementRect(QStyle.SubElement.SE_PushButtonContents, option, button)
    assert room.width() >= button.fontMetrics().horizontalAdvance("Thumbs down")
