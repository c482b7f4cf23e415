"""Ranking alternatives: number keys, Alt+arrows, drag, "all bad"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt, QUrl
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication
from pytestqt.qtbot import QtBot

from desktop.ui.compare_dialog import ID_ROLE, CompareDialog, previews
from tests.ui.feedback_helpers import unnamed_controls

ALTERNATIVES = [(11, "Sydney."), (12, "Canberra."), (13, "Canberra, in the ACT.\nSince 1913.")]
SCREENSHOT = Path("/tmp/feedback-compare.png")


@pytest.fixture
def dialog(qtbot: QtBot) -> CompareDialog:
    dlg = CompareDialog("And of Australia?", ALTERNATIVES)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    return dlg


def test_the_list_starts_in_the_order_given_and_names_every_control(dialog: CompareDialog) -> None:
    assert dialog.ranking() == [11, 12, 13]
    assert dialog.list.item(0).text() == "1.  Sydney.  (1 word)"
    assert dialog.list.item(2).text() == "3.  Canberra, in the ACT. Since 1913.  (6 words)"
    assert dialog.preview.toPlainText().strip() == "Sydney."
    assert QApplication.focusWidget() is dialog.list
    assert unnamed_controls(dialog) == []


def test_number_keys_put_the_selected_answer_in_that_place(dialog: CompareDialog) -> None:
    dialog.list.setCurrentRow(2)
    QTest.keyClick(dialog.list, Qt.Key.Key_1)
    assert dialog.ranking() == [13, 11, 12]
    assert dialog.list.currentRow() == 0
    assert dialog.list.item(0).text().startswith("1.  Canberra, in the ACT.")
    assert dialog.preview.toPlainText().strip() == "Canberra, in the ACT. Since 1913."
    QTest.keyClick(dialog.list, Qt.Key.Key_Down)
    QTest.keyClick(dialog.list, Qt.Key.Key_3)  # Sydney last
    assert dialog.ranking() == [13, 12, 11]
    QTest.keyClick(dialog.list, Qt.Key.Key_9)  # no 9th place: nothing happens
    assert dialog.ranking() == [13, 12, 11]


def test_alt_arrows_move_one_place(dialog: CompareDialog) -> None:
    dialog.list.setCurrentRow(1)
    QTest.keyClick(dialog.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert dialog.ranking() == [12, 11, 13]
    QTest.keyClick(dialog.list, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)  # already first
    assert dialog.ranking() == [12, 11, 13]
    QTest.keyClick(dialog.list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    QTest.keyClick(dialog.list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert dialog.ranking() == [11, 13, 12]


def test_dragging_reorders_and_renumbers(dialog: CompareDialog) -> None:
    """An internal-move drop moves the row in the list's model, as the view does on a drag
    (row 2 dropped before row 0)."""
    assert dialog.list.dragDropMode() == QAbstractItemView.DragDropMode.InternalMove
    assert dialog.list.model().moveRows(QModelIndex(), 2, 1, QModelIndex(), 0)
    assert dialog.ranking() == [13, 11, 12]
    assert [dialog.list.item(r).text()[:2] for r in range(3)] == ["1.", "2.", "3."]
    assert int(dialog.list.item(0).data(ID_ROLE)) == 13


def test_save_emits_the_ranking(dialog: CompareDialog) -> None:
    got: list[list[int]] = []
    dialog.ranked.connect(got.append)
    dialog.list.setCurrentRow(1)
    QTest.keyClick(dialog.list, Qt.Key.Key_1)
    QTest.keyClick(dialog.list, Qt.Key.Key_Return)  # Enter presses the default button
    assert got == [[12, 11, 13]]
    assert dialog.result_ranking == [12, 11, 13]
    assert not dialog.isVisible()


def test_all_bad(qtbot: QtBot, dialog: CompareDialog) -> None:
    calls: list[bool] = []
    dialog.all_bad.connect(lambda: calls.append(True))
    QTest.keyClick(dialog.list, Qt.Key.Key_A, Qt.KeyboardModifier.AltModifier)  # the mnemonic
    qtbot.waitUntil(lambda: calls == [True])  # a mnemonic "animates" the click first
    assert dialog.result_all_bad
    assert dialog.result_ranking is None


def test_two_to_four_answers(qtbot: QtBot) -> None:
    with pytest.raises(ValueError, match="2 to 4"):
        CompareDialog("q", ALTERNATIVES[:1])
    with pytest.raises(ValueError, match="2 to 4"):
        CompareDialog("q", [*ALTERNATIVES, (14, "d"), (15, "e")])


def test_screenshot(dialog: CompareDialog) -> None:
    dialog.list.setCurrentRow(2)
    QTest.keyClick(dialog.list, Qt.Key.Key_1)
    QApplication.processEvents()
    assert dialog.grab().save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 0


def test_answers_that_start_alike_are_shown_from_where_they_part() -> None:
    common = "Quantum computing is a field of computer science that leverages the principles of"
    one = f"{common} quantum mechanics to perform calculations faster."
    two = "Quantum computing is a field of science and technology."
    three = f"{common} quantum mechanics to create new technologies."
    lines = previews([one, two, three])
    assert lines[0] == "…quantum mechanics to perform calculations faster.  (19 words)"
    assert lines[2] == "…quantum mechanics to create new technologies.  (19 words)"
    assert lines[1] == f"{two}  (9 words)", "alike for 6 words only: shown from the start"


def test_the_selected_answer_is_shown_as_in_the_chat_with_its_code_to_copy(
    qtbot: QtBot,
) -> None:

    code = "def area(r):\n    return 3.14159 * r * r"
    answer = f"Use **this**:\n\n```python\n{code}\n```\n\n| r | area |\n|---|---|\n| 1 | 3.14 |"
    dlg = CompareDialog("Area of a circle?", [(1, answer), (2, "No idea.")])
    qtbot.addWidget(dlg)
    shown = dlg.preview.toPlainText()
    assert "**" not in shown  # Markdown rendered, not shown raw
    assert "```" not in shown
    assert "return 3.14159 * r * r" in shown
    assert "3.14" in shown.split("area")[-1]  # the table's cells
    dlg.preview.anchorClicked.emit(QUrl("copy-code:0"))
    assert QApplication.clipboard().text() == code


def test_previews_read_as_the_answers_do_on_screen() -> None:
    answer = "## Steps\n\nUse **this**:\n\n```python\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert previews([answer, "No."])[0] == "Steps Use this: x = 1 a b 1 2  (10 words)"
    listed = "1. Use itertools.\n2. Or a loop.\n- a point\n3) last"
    assert previews([listed, "No."])[0] == "Use itertools. Or a loop. a point last  (8 words)"


def test_a_blocked_answer_is_hidden_until_shown_anyway_and_can_be_ranked(qtbot: QtBot) -> None:
    banner = "flagged: violence — blocked"
    dlg = CompareDialog("Hm?", [(1, "I will kill you."), (2, "Let us talk.")], blocked={1: banner})
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.list.item(0).text() == f"1.  ⚠ {banner}"
    assert dlg.list.item(0).toolTip() == banner
    shown = dlg.preview.toPlainText()
    assert "kill" not in shown
    assert "hidden, as in the chat" in shown
    dlg.move_to(0, 1)  # ranked without being read
    assert dlg.ranking() == [2, 1]
    dlg.list.setCurrentRow(0)
    assert not dlg.reveal_button.isVisible()
    dlg.list.setCurrentRow(1)
    assert dlg.reveal_button.isVisible(), "the keyboard's way to the text"
    qtbot.mouseClick(dlg.reveal_button, Qt.MouseButton.LeftButton)
    assert "I will kill you." in dlg.preview.toPlainText()
    assert dlg.list.item(1).text().startswith("2.  I will kill you.")
    assert not dlg.reveal_button.isVisible()
    assert unnamed_controls(dlg) == []
