"""The moderation banner and the "should have been flagged" button."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from desktop.feedback.records import CATEGORIES, ModerationEvent
from desktop.ui.moderation_banner import REPORTED_TEXT, MissedFlagButton, ModerationBanner
from tests.ui.feedback_helpers import unnamed_controls

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def event(
    event_id: int, category: str, action: str = "warn", evidence: str = ""
) -> ModerationEvent:
    return ModerationEvent(event_id, 5, "output", "rules", category, action, 1.0, evidence, NOW)  # type: ignore[arg-type]


def test_the_banner_says_what_was_flagged_and_reports_a_false_positive(qtbot: QtBot) -> None:
    banner = ModerationBanner([event(7, "harassment", evidence="you idiot")])
    qtbot.addWidget(banner)
    banner.show()
    assert banner.label.text() == "⚠ flagged: harassment — warned"
    assert "“you idiot”" in banner.label.toolTip()
    assert unnamed_controls(banner) == []
    with qtbot.waitSignal(banner.wrongly_flagged) as caught:
        banner.report.click()
    assert caught.args == [7]
    assert banner.report.text() == REPORTED_TEXT
    assert banner.report.accessibleName() == REPORTED_TEXT
    with qtbot.waitSignal(banner.report_withdrawn) as taken_back:
        banner.report.click()
    assert taken_back.args == [7]
    assert banner.report.text() == "This was wrongly flagged"
    banner.mark_reported([7])  # a report stored earlier, shown again
    assert banner.report.isChecked()
    assert banner.report.text() == REPORTED_TEXT


def test_several_categories_get_one_report_each(qtbot: QtBot) -> None:
    banner = ModerationBanner(
        [event(1, "hate", "block"), event(2, "violence"), event(3, "sexual", "allow")]
    )
    qtbot.addWidget(banner)
    assert banner.label.text() == "⚠ flagged: hate, violence — blocked"
    menu = banner.report.menu()
    assert menu is not None
    assert [a.text() for a in menu.actions()] == ["Not hate", "Not violence"]
    with qtbot.waitSignal(banner.wrongly_flagged) as caught:
        menu.actions()[1].trigger()
    assert caught.args == [2]
    assert [a.isChecked() for a in menu.actions()] == [False, True]
    with qtbot.waitSignal(banner.report_withdrawn) as taken_back:
        menu.actions()[1].trigger()
    assert taken_back.args == [2]
    assert banner.report.text() == "This was wrongly flagged"


def test_an_allowed_only_result_shows_no_banner(qtbot: QtBot) -> None:
    message = QWidget()  # the message widget that hosts the banner
    layout = QVBoxLayout(message)
    banner = ModerationBanner([event(1, "sexual", "allow")])
    layout.addWidget(banner)
    qtbot.addWidget(message)
    message.show()
    QApplication.processEvents()
    assert message.isVisible()
    assert not banner.isVisible()


def test_missed_flag_offers_every_category(qtbot: QtBot) -> None:
    button = MissedFlagButton()
    qtbot.addWidget(button)
    assert button.accessibleName() == "This should have been flagged"
    assert button.toolTip()
    menu = button.menu()
    assert menu is not None
    assert [a.text() for a in menu.actions()] == [c.label for c in CATEGORIES]
    assert button.text() == "Should have been flagged…"
    with qtbot.waitSignal(button.reported) as caught:
        menu.actions()[4].trigger()
    assert caught.args == ["hate"]
    assert button.text() == "Reported: hate"
    assert menu.actions()[4].isChecked()
    with qtbot.waitSignal(button.withdrawn) as taken_back:
        menu.actions()[4].trigger()
    assert taken_back.args == ["hate"]
    assert button.text() == "Should have been flagged…"


def test_a_blocked_message_of_yours_says_it_was_not_sent(qtbot: QtBot) -> None:
    blocked = ModerationEvent(1, 5, "input", "rules", "illegal_activity", "block", 1.0, "", NOW)
    banner = ModerationBanner([blocked])
    qtbot.addWidget(banner)
    assert banner.label.text() == (
        "⚠ flagged: illegal activity — blocked "
        "(not sent to the model: edit it to send something else)"
    )
    assert banner.label.wordWrap(), "a narrow pane wraps it"


def test_in_a_narrow_pane_the_report_goes_under_the_words_instead_of_cutting_the_message(
    qtbot: QtBot,
) -> None:
    from PySide6.QtWidgets import QBoxLayout

    pane = QWidget()  # a message in split view at a large text size
    column = QVBoxLayout(pane)
    banner = ModerationBanner([event(7, "illegal_activity", "block")])
    column.addWidget(banner)
    qtbot.addWidget(pane)
    pane.resize(900, 200)
    pane.show()
    qtbot.waitUntil(lambda: banner.width() > 800)
    layout = banner.layout()
    assert isinstance(layout, QBoxLayout)
    assert layout.direction() == QBoxLayout.Direction.LeftToRight, "one line where it fits"
    narrow = banner.label.fontMetrics().horizontalAdvance(banner.label.text()) // 2
    assert pane.minimumSizeHint().width() < narrow, "the banner sets no width of its own"
    pane.resize(narrow, 300)
    qtbot.waitUntil(lambda: layout.direction() == QBoxLayout.Direction.TopToBottom)
    assert banner.report.geometry().right() <= banner.width()
    assert banner.report.geometry().top() > banner.label.geometry().top()
