"""The wrapping row of a message's buttons."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QPushButton
from pytestqt.qtbot import QtBot

from desktop.ui.flow_layout import FlowBox


def test_a_button_shown_later_wraps_onto_a_line_the_box_makes_room_for(qtbot: QtBot) -> None:
    """An answer's buttons change when it finishes (Flag… appears) without the row changing
    width: the box must grow to its second line then too, or that button is cut off."""
    box = FlowBox()
    qtbot.addWidget(box)
    buttons = [QPushButton(f"Button {i}") for i in range(4)]
    for b in buttons:
        box.flow.addWidget(b)
    buttons[-1].hide()
    width = sum(b.sizeHint().width() for b in buttons[:3]) + 3 * box.flow.spacing()
    box.resize(width, 10)
    box.show()
    qtbot.waitUntil(lambda: box.minimumHeight() == buttons[0].sizeHint().height())
    one_line = box.minimumHeight()
    buttons[-1].show()
    QApplication.processEvents()
    qtbot.waitUntil(lambda: box.minimumHeight() > one_line, timeout=2000)
    assert box.minimumHeight() == 2 * one_line + box.flow.spacing()
    assert buttons[-1].y() > buttons[0].y(), "the new button is on the second line"
    buttons[-1].hide()
    qtbot.waitUntil(lambda: box.minimumHeight() == one_line, timeout=2000)
