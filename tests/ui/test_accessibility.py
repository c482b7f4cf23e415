from __future__ import annotations

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QTabBar,
    QTabWidget,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.ui.chat_tab import ChatSettingsDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog
from desktop.ui.welcome import ProgressDialog
from tests.ui.test_main_window import send, tab_of

CONTROLS = (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QTabWidget,
)


def unnamed_controls(root: QWidget) -> list[str]:
    """Controls without an accessible name or a tooltip. Qt's own sub-widgets (the scroll
    arrows of a tab bar, the clear button of a line edit, a spin box's line edit) are skipped:
    they belong to a control that is checked itself."""
    missing = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, CONTROLS):
            continue
        parent = widget.parentWidget()
        if isinstance(parent, QTabBar | QLineEdit | QAbstractSpinBox | QAbstractItemView) or (
            widget.objectName().startswith("qt_")
        ):
            continue
        if not widget.accessibleName() or not widget.toolTip():
            label = widget.text() if isinstance(widget, QAbstractButton) else ""
            missing.append(f"{type(widget).__name__} {label}".strip())
    return missing


def test_every_control_has_an_accessible_name_and_a_tooltip(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "hello")
    window.sidebar.search.setText("hello")
    window.sidebar.run_search()
    assert unnamed_controls(window) == []
    settings = ChatSettingsDialog(tab.session, window)
    assert unnamed_controls(settings) == []
    shortcuts = ShortcutsDialog(window)
    assert unnamed_controls(shortcuts) == []
    assert shortcuts.table.rowCount() == len(SHORTCUTS)
    job = window.host.run_job(lambda progress, cancel: None)
    progress = ProgressDialog("Installing", job, window)
    assert unnamed_controls(progress) == []
    with qtbot.waitSignal(job.succeeded, timeout=5000):
        pass


def test_the_tab_bar_and_each_close_button_say_which_chat_they_are(
    qtbot: QtBot, window: MainWindow
) -> None:
    send(qtbot, tab_of(window), "Plan a trip")
    bar = window.tabs.tabBar()
    assert bar.accessibleName() == "Chat tabs"
    assert bar.toolTip()
    close = bar.tabButton(0, QTabBar.ButtonPosition.RightSide)
    assert close is not None
    title = tab_of(window).session.title()
    assert close.accessibleName() == f"Close {title}", "not Qt's bare 'Close Tab'"
    assert title in close.toolTip()


def test_welcome_page_controls_are_named(qtbot: QtBot, make_window: object) -> None:
    window = make_window(load_model=False)  # type: ignore[operator]
    assert unnamed_controls(window.welcome) == []


def test_tab_moves_from_the_sidebar_to_the_messages_to_the_input(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "hello")
    window.sidebar.search.setFocus()
    seen: list[QWidget] = []
    for _ in range(40):
        window.focusNextChild()
        focus = window.focusWidget()
        if focus is not None:
            seen.append(focus)
        if focus is tab.composer:
            break
    assert window.sidebar.listing in seen
    assert any(w in seen for w in tab.view.message_widgets())
    assert seen[-1] is tab.composer
    after: list[QWidget | None] = []
    for _ in range(3):
        window.focusNextChild()
        after.append(window.focusWidget())
    assert after == [tab.send_button, tab.settings_button, tab.attach_button]


def _set_own_settings(dialog: ChatSettingsDialog, key: str, value: float, prompt: str) -> None:
    """Give the chat its own ``key`` and system prompt in its settings dialog, and accept."""
    check, box = dialog.boxes[key]
    check.setChecked(True)
    box.setValue(value)
    dialog.custom_prompt.setChecked(True)
    dialog.prompt.setPlainText(prompt)
    dialog.accept()


def test_chat_settings_refuse_bad_values_with_the_reason(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    dialog = ChatSettingsDialog(tab.session, window)
    qtbot.addWidget(dialog)
    _set_own_settings(dialog, "top_k", 7, "Answer in French.")
    assert dialog.result() == dialog.DialogCode.Accepted
    assert tab.session.sampling_params().top_k == 7
    assert tab.session.system_prompt() == "Answer in French."
    # the fields refuse what the engine would refuse: both ends of every range are valid
    for key, (_check, box) in dialog.boxes.items():
        for value in (box.minimum(), box.maximum()):
            tab.session.set_chat_settings(None, {key: value})
    with pytest.raises(ValueError, match="top_p"):
        tab.session.set_chat_settings(None, {"top_p": 0.0})


def test_chat_settings_name_and_show_values_as_the_settings_do(
    qtbot: QtBot, window: MainWindow
) -> None:
    from desktop.config.schema import OPTIONS, options_by_key

    options = options_by_key(OPTIONS)
    dialog = ChatSettingsDialog(tab_of(window).session, window)
    qtbot.addWidget(dialog)
    check, box = dialog.boxes["top_p"]
    assert check.text() == options["sampling.top_p"].label == "Top-p"
    assert box.decimals() == options["sampling.top_p"].decimals
    _check, seed = dialog.boxes["seed"]
    seed.setValue(seed.minimum())
    assert seed.text() == "Random", "a random seed, as the settings call it (it showed 0)"
    _check, top_k = dialog.boxes["top_k"]
    assert top_k.specialValueText() == "Off"
    seed_check, _ = dialog.boxes["seed"]
    seed_check.setChecked(True)
    assert dialog.values()[1] == {"seed": None}


def test_the_settings_button_shows_when_a_chat_has_its_own_settings(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    button = tab.settings_button
    assert (button.text(), button.font().bold()) == ("Chat settings…", False)
    regular_width = button.minimumWidth()
    dialog = tab.open_chat_settings()
    _set_own_settings(dialog, "temperature", 0.2, "Answer like a pirate.")
    assert (button.text(), button.font().bold()) == ("Chat settings…", True)
    assert button.minimumWidth() == regular_width >= button.sizeHint().width(), (
        "as wide in bold: the input beside it keeps its width"
    )
    said = "This chat's own settings: system prompt “Answer like a pirate.”; temperature 0.2."
    assert button.toolTip() == said
    assert button.accessibleDescription() == said, "a screen reader hears it too"
    app_font = QApplication.font()
    try:
        bigger = QFont(app_font)
        bigger.setPointSizeF(app_font.pointSizeF() + 4)
        QApplication.setFont(bigger)  # the font size setting
        QApplication.processEvents()
        assert button.font().pointSizeF() == bigger.pointSizeF(), "the size still follows"
        assert button.font().bold()
        assert button.minimumWidth() >= button.sizeHint().width() > regular_width
    finally:
        QApplication.setFont(app_font)
    tab.session.set_chat_settings(None, {})
    tab.reload()
    assert (button.text(), button.font().bold()) == ("Chat settings…", False)


def test_the_shortcut_list_is_wide_enough_to_read_every_line(qtbot: QtBot) -> None:
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    table = dialog.table
    metrics = table.fontMetrics()
    for column in (0, 1):
        widest = max(metrics.horizontalAdvance(row[column]) for row in SHORTCUTS)
        assert table.columnWidth(column) >= widest, "no line cut short with an ellipsis"
    assert table.viewport().width() >= table.columnWidth(0) + table.columnWidth(1) - 2


def test_the_shortcut_list_names_the_send_keys_the_setting_chose(
    qtbot: QtBot, window: MainWindow
) -> None:
    def first_rows() -> list[tuple[str, str]]:
        dialog = window.findChildren(ShortcutsDialog)[-1]
        table = dialog.table
        rows = [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(2)]
        dialog.close()
        dialog.deleteLater()
        return rows

    window.show_shortcuts()
    assert first_rows() == [
        ("Enter", "Send the message"),
        ("Shift+Enter", "New line in the message"),
    ]
    window.set_send_on_enter(False)  # Settings > Input > Send key: Ctrl+Enter
    window.show_shortcuts()
    assert first_rows() == [
        ("Ctrl+Enter", "Send the message"),
        ("Enter / Shift+Enter", "New line in the message"),
    ]
