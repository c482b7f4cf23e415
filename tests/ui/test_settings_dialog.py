from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop.config.paths import data_dir
from desktop.config.schema import SECTIONS, Option, Section
from desktop.config.settings import Settings
from desktop.ui.settings_dialog import RELOAD_NOTICE, SettingsDialog

INTERACTIVE = (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QAbstractItemView,
)


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def moves() -> list[Path]:
    return []


@pytest.fixture
def dialog(qtbot: QtBot, settings: Settings, moves: list[Path]) -> SettingsDialog:
    dlg = SettingsDialog(settings, move_history=moves.append)
    dlg.confirm = lambda *_: True  # no modal question in a test; the tests of it set their own
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    return dlg


def controls(dialog: QWidget) -> list[QWidget]:
    """Every control a user can operate (the editor inside a spin box and the popup list of a
    combo box are parts of those, not controls of their own)."""
    found = []
    for widget in dialog.findChildren(QWidget):
        if isinstance(widget, INTERACTIVE) and not part_of_compound(widget, dialog):
            found.append(widget)
    return found


def part_of_compound(widget: QWidget, top: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QAbstractSpinBox | QComboBox):
            return True
        parent = parent.parentWidget()
    return False


def spin(dialog: SettingsDialog, key: str) -> QSpinBox | QDoubleSpinBox:
    editor = dialog.fields[key].editor
    assert isinstance(editor, QSpinBox | QDoubleSpinBox)
    return editor


def type_into(qtbot: QtBot, widget: QWidget, text: str, *, enter: bool = True) -> None:
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    if enter:
        QTest.keyClick(widget, Qt.Key.Key_Return)


def test_one_page_per_section(dialog: SettingsDialog, settings: Settings) -> None:
    titles = [dialog.section_list.item(i).text() for i in range(dialog.section_list.count())]
    assert titles == [s.title for s in SECTIONS]
    assert dialog.stack.count() == len(SECTIONS)
    for option in settings.options:
        page = dialog.pages[option.section]
        assert page.isAncestorOf(dialog.fields[option.key].editor), option.key
    dialog.section_list.setCurrentRow(2)
    assert dialog.stack.currentWidget() is dialog.pages[SECTIONS[2].name]


def test_editor_kinds_follow_the_schema(dialog: SettingsDialog) -> None:
    assert isinstance(dialog.fields["sampling.top_k"].editor, QSpinBox)
    assert isinstance(dialog.fields["sampling.temperature"].editor, QDoubleSpinBox)
    assert isinstance(dialog.fields["model.device"].editor, QComboBox)
    assert isinstance(dialog.fields["chat.default_system_prompt"].editor, QPlainTextEdit)
    assert isinstance(dialog.fields["model.default"].editor, QLineEdit)
    location = dialog.fields["history.location"].editor
    assert isinstance(location, QLineEdit)
    assert location.isReadOnly()
    assert location.text() == str(data_dir())
    assert spin(dialog, "model.threads").specialValueText() == "Automatic"
    assert spin(dialog, "sampling.seed").text() == "Random"


def test_changing_a_spin_box_updates_settings(dialog: SettingsDialog, settings: Settings) -> None:
    spin(dialog, "sampling.temperature").setValue(0.3)
    assert settings.get("sampling.temperature") == pytest.approx(0.3)
    spin(dialog, "sampling.seed").setValue(77)
    assert settings.sampling_kwargs()["seed"] == 77


def test_typing_a_number_updates_settings(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    # Values that a "Reset section" button pressed by Enter would wipe out.
    settings.update({"model.threads": 4, "sampling.temperature": 1.0, "appearance.font_size": 14})
    before = {o.key: settings.get(o.key) for o in settings.options}
    dialog.show_section("generation")
    type_into(qtbot, spin(dialog, "sampling.top_k"), "55")
    after = {o.key: settings.get(o.key) for o in settings.options}
    assert after == {**before, "sampling.top_k": 55}, "Enter must not press a dialog button"
    assert dialog.isVisible()


def test_out_of_range_typing_is_refused_with_the_reason(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    dialog.show_section("generation")
    field = dialog.fields["sampling.temperature"]
    editor = spin(dialog, "sampling.temperature")
    type_into(qtbot, editor, "9", enter=False)
    assert "9" not in editor.text(), "the keystroke is refused in the field"
    assert field.error_label.isVisible()
    assert "must be between 0 and 5" in field.error_label.text()
    assert "must be between 0 and 5" in editor.accessibleDescription()
    assert settings.get("sampling.temperature") == 0.7
    # A good value clears the message.
    type_into(qtbot, editor, "1.5")
    assert settings.get("sampling.temperature") == 1.5
    assert not field.error_label.isVisible()
    assert field.error == ""


def test_an_exclusive_bound_is_refused_with_the_reason(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    dialog.show_section("generation")
    field = dialog.fields["sampling.top_p"]
    type_into(qtbot, spin(dialog, "sampling.top_p"), "0")
    assert field.error_label.isVisible()
    assert "greater than 0" in field.error_label.text()
    assert settings.get("sampling.top_p") == 0.95


def test_a_value_the_settings_refuse_is_not_applied(
    dialog: SettingsDialog, settings: Settings
) -> None:
    field = dialog.fields["sampling.min_p"]
    assert not field.apply(1.0)
    assert "less than 1" in field.error
    assert settings.get("sampling.min_p") == 0.05
    assert spin(dialog, "sampling.min_p").value() == pytest.approx(0.05)


def test_text_field_with_a_validator_refuses_with_the_reason(qtbot: QtBot) -> None:
    def https_only(value: str) -> str | None:
        return None if value.startswith("https://") else "must start with https://"

    options = (
        Option(
            "submit.url",
            "submit",
            "str",
            "https://a.example",
            "Endpoint",
            "Where to send.",
            check=https_only,
        ),
        Option("submit.enabled", "submit", "bool", False, "Send feedback", "Opt in to sending."),
    )
    settings = Settings(options=options, sections=(Section("submit", "Submit", "Sending."),))
    dlg = SettingsDialog(settings)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    line = dlg.fields["submit.url"].editor
    assert isinstance(line, QLineEdit)
    type_into(qtbot, line, "http://b.example")
    assert not line.hasAcceptableInput()
    assert dlg.fields["submit.url"].error_label.isVisible()
    assert "must start with https://" in dlg.fields["submit.url"].error_label.text()
    assert settings.get("submit.url") == "https://a.example"
    type_into(qtbot, line, "https://b.example")
    assert settings.get("submit.url") == "https://b.example"
    assert not dlg.fields["submit.url"].error_label.isVisible()

    check = dlg.fields["submit.enabled"].editor
    assert isinstance(check, QCheckBox)
    assert check.text() == "Send feedback"
    check.setFocus()
    QTest.keyClick(check, Qt.Key.Key_Space)
    assert settings.get("submit.enabled") is True


def test_system_prompt_applies_live_and_tab_leaves_the_field(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    dialog.show_section("chat")
    editor = dialog.fields["chat.default_system_prompt"].editor
    assert isinstance(editor, QPlainTextEdit)
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, "Be brief.")
    assert settings.get("chat.default_system_prompt") == "Be brief."
    QTest.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "Be brief."
    assert QApplication.focusWidget() is not editor


def test_choice_updates_settings(dialog: SettingsDialog, settings: Settings) -> None:
    combo = dialog.fields["context.policy"].editor
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(combo.findData("stop"))
    assert settings.get("context.policy") == "stop"


def test_reload_notice_appears_for_reload_options_only(
    dialog: SettingsDialog, settings: Settings
) -> None:
    device = dialog.fields["model.device"]
    combo = device.editor
    assert isinstance(combo, QComboBox)
    assert not device.notice_label.isVisible()
    combo.setCurrentIndex(combo.findData("cpu"))
    assert device.notice_label.isVisible()
    assert device.notice_label.text() == RELOAD_NOTICE
    combo.setCurrentIndex(combo.findData("auto"))
    assert not device.notice_label.isVisible(), "back to the loaded value: nothing to reload"
    combo.setCurrentIndex(combo.findData("cpu"))
    dialog.model_reloaded()  # "Reload the model now" (or any load) happened
    assert not device.notice_label.isVisible(), "loaded with it now: nothing left to reload"
    spin(dialog, "sampling.top_k").setValue(3)
    dialog.show_section("generation")
    assert not dialog.fields["sampling.top_k"].notice_label.isVisible()


def test_reload_notice_compares_with_what_the_model_was_loaded_with(
    qtbot: QtBot, settings: Settings
) -> None:
    settings.set("model.threads", 8)  # changed in an earlier visit, model not reloaded since
    dlg = SettingsDialog(settings, loaded_values={"model.threads": 0})
    qtbot.addWidget(dlg)
    field = dlg.fields["model.threads"]
    assert field.notice_label.isVisibleTo(dlg)
    spin(dlg, "model.threads").setValue(0)
    assert not field.notice_label.isVisibleTo(dlg)


def test_number_fields_grow_with_the_text_size(qtbot: QtBot, dialog: SettingsDialog) -> None:
    editor = spin(dialog, "sampling.top_k")
    before = editor.minimumWidth()
    font = editor.font()
    font.setPointSize(font.pointSize() * 2)
    dialog.setFont(font)
    assert editor.minimumWidth() > before * 1.5


def test_reset_section(qtbot: QtBot, dialog: SettingsDialog, settings: Settings) -> None:
    spin(dialog, "sampling.temperature").setValue(2.0)
    spin(dialog, "generation.max_new_tokens").setValue(50)
    settings.set("model.threads", 4)
    dialog.show_section("generation")
    qtbot.mouseClick(dialog.reset_buttons["generation"], Qt.MouseButton.LeftButton)
    assert settings.get("sampling.temperature") == 0.7
    assert settings.get("generation.max_new_tokens") == 1024
    assert spin(dialog, "sampling.temperature").value() == pytest.approx(0.7)
    assert spin(dialog, "generation.max_new_tokens").value() == 1024
    assert settings.get("model.threads") == 4, "other sections keep their values"


def test_reset_section_clears_a_refused_entry_too(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    """The refused text never reached the settings, so resetting changed no value there;
    the field and its reason must go back to the default all the same."""
    dialog.show_section("chat")
    field = dialog.fields["quick_ask.hotkey"]
    editor = field.editor
    assert isinstance(editor, QLineEdit)
    type_into(qtbot, editor, "Banana+Q")
    assert field.error.startswith("Not accepted")
    assert settings.get("quick_ask.hotkey") == "Ctrl+Alt+Space"
    qtbot.mouseClick(dialog.reset_buttons["chat"], Qt.MouseButton.LeftButton)
    assert editor.text() == "Ctrl+Alt+Space"
    assert field.error == ""


def test_changes_made_elsewhere_show_in_the_dialog(
    dialog: SettingsDialog, settings: Settings
) -> None:
    settings.set("sampling.top_k", 9)
    assert spin(dialog, "sampling.top_k").value() == 9
    settings.set("appearance.theme", "dark")
    combo = dialog.fields["appearance.theme"].editor
    assert isinstance(combo, QComboBox)
    assert combo.currentData() == "dark"


def test_every_control_has_an_accessible_name_and_tooltip(dialog: SettingsDialog) -> None:
    found = controls(dialog)
    assert len(found) >= len(dialog.fields) + len(dialog.reset_buttons) + 2
    missing = [
        (type(w).__name__, w.accessibleName(), w.toolTip())
        for w in found
        if not w.accessibleName() or not w.toolTip()
    ]
    assert missing == []
    for option in dialog.settings.options:
        editor = dialog.fields[option.key].editor
        assert editor.accessibleName() == option.label
        assert editor.toolTip() == option.description


def test_keyboard_reaches_every_control_of_a_page(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.section_list.setFocus()
    QTest.keyClick(dialog.section_list, Qt.Key.Key_Down)  # arrow keys switch pages
    assert dialog.stack.currentWidget() is dialog.pages["generation"]
    visited: list[QWidget] = []
    for _ in range(20):
        focused = QApplication.focusWidget()
        assert focused is not None
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        now = QApplication.focusWidget()
        assert now is not None
        if now is dialog.section_list:
            break
        visited.append(now)
    expected = [dialog.fields[o.key].editor for o in dialog.settings.section_options("generation")]
    editors = [
        w.parentWidget() if isinstance(w.parentWidget(), QAbstractSpinBox) else w for w in visited
    ]
    assert editors[: len(expected)] == expected, "Tab visits the fields in order"
    assert dialog.reset_buttons["generation"] in editors
    # Ctrl+PgDown moves to the next page.
    QTest.keyClick(dialog, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert dialog.stack.currentWidget() is dialog.pages["chat"]


def test_clear_history_asks_first(
    qtbot: QtBot, dialog: SettingsDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(
        parent: QWidget, title: str, text: str, *args: object
    ) -> QMessageBox.StandardButton:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    emitted: list[bool] = []
    dialog.clear_history_requested.connect(lambda: emitted.append(True))
    dialog.show_section("history")
    (button,) = [b for b in controls(dialog) if b.accessibleName() == "Clear all history"]
    assert isinstance(button, QAbstractButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert emitted == []
    with qtbot.waitSignal(dialog.clear_history_requested, timeout=1000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(asked) == 2
    assert "cannot be undone" in asked[0]
    dialog._history_size = lambda: "3 chats (12 messages)"
    answers.append(QMessageBox.StandardButton.No)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked[-1] == "Delete 3 chats (12 messages)? This cannot be undone."


def test_change_history_location_moves_first(
    qtbot: QtBot,
    dialog: SettingsDialog,
    settings: Settings,
    moves: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "new-home"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(target))
    dialog.show_section("history")
    field = dialog.fields["history.location"]
    (change,) = [w for w in field.focus_widgets() if isinstance(w, QAbstractButton)]
    qtbot.mouseClick(change, Qt.MouseButton.LeftButton)
    assert moves == [target]
    assert settings.get("history.location") == str(target)
    on_disk = Settings.load(settings.path).get("history.location")
    assert on_disk == str(target), "saved at once: a crash or `parley` now finds it there"
    assert isinstance(field.editor, QLineEdit)
    assert field.editor.text() == str(target)
    notes = [w.text() for w in field.container.findChildren(QLabel) if w.isVisibleTo(dialog)]
    assert f"Moved: the history is now in {target}." in notes

    # Reset moves the files back to the default folder, through the same mover.
    qtbot.mouseClick(dialog.reset_buttons["history"], Qt.MouseButton.LeftButton)
    assert moves == [target, data_dir()]
    assert settings.get("history.location") == str(data_dir())


def test_failed_move_keeps_the_old_location(
    qtbot: QtBot, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mover(path: Path) -> None:
        raise OSError(28, "No space left on device")

    warnings: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    dlg = SettingsDialog(settings, move_history=mover)
    qtbot.addWidget(dlg)
    field = dlg.fields["history.location"]
    (change,) = [w for w in field.focus_widgets() if isinstance(w, QAbstractButton)]
    change.click()
    assert settings.get("history.location") == str(data_dir())
    (text,) = warnings
    assert "No space left on device" in text
    assert str(data_dir()) in text


def test_without_a_mover_the_location_cannot_change(qtbot: QtBot, settings: Settings) -> None:
    dlg = SettingsDialog(settings)
    qtbot.addWidget(dlg)
    field = dlg.fields["history.location"]
    (change,) = [w for w in field.focus_widgets() if isinstance(w, QAbstractButton)]
    assert not change.isEnabled()
    assert "not available" in change.toolTip()


def test_installed_models_are_offered(qtbot: QtBot, settings: Settings) -> None:
    settings.set("model.default", "old-model")
    dlg = SettingsDialog(settings, model_names=lambda: ["smollm2-135m", "qwen2-0.5b"])
    qtbot.addWidget(dlg)
    combo = dlg.fields["model.default"].editor
    assert isinstance(combo, QComboBox)
    values = [combo.itemData(i) for i in range(combo.count())]
    assert values == ["", "smollm2-135m", "qwen2-0.5b", "old-model"]
    assert "not installed" in combo.currentText()
    combo.setCurrentIndex(1)
    assert settings.get("model.default") == "smollm2-135m"


def test_closing_saves_and_stops_listening(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    spin(dialog, "sampling.top_k").setValue(12)
    dialog.close()
    saved = json.loads(settings.path.read_text(encoding="utf-8"))
    assert saved["values"]["sampling.top_k"] == 12
    settings.set("sampling.top_k", 13)  # the closed dialog no longer follows
    assert spin(dialog, "sampling.top_k").value() == 12


def test_a_field_note_is_shown_under_its_field(dialog: SettingsDialog) -> None:
    dialog.show_section("chat")
    note = dialog.set_field_note("quick_ask.hotkey", "Not registered here — Wayland.")
    assert note is not None
    assert note.isVisibleTo(dialog)
    assert note.text() == "Not registered here — Wayland."
    assert dialog.set_field_note("no.such.key", "x") is None
    # said again (another shortcut was registered): the same line says the new thing
    again = dialog.set_field_note("quick_ask.hotkey", "Alt+Space opens Quick ask from anywhere.")
    assert again is note
    assert note.text() == "Alt+Space opens Quick ask from anywhere."
    container = dialog.fields["quick_ask.hotkey"].container
    assert [label for label in container.findChildren(QLabel) if "Quick ask" in label.text()] == [
        note
    ]


def test_a_note_about_the_default_goes_while_the_value_is_the_users_own(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    """ "smol recommends 0.2: new chats use that while this stays at its default" is false
    once the user sets their own temperature (new chats then use that)."""
    dialog.show_section("generation")
    note = dialog.set_field_note(
        "sampling.temperature", "smol recommends 0.2: …", while_default=True
    )
    assert note is not None
    assert note.isVisibleTo(dialog)
    spin(dialog, "sampling.temperature").setValue(1.5)
    assert not note.isVisibleTo(dialog)
    qtbot.mouseClick(dialog.reset_buttons["generation"], Qt.MouseButton.LeftButton)
    assert note.isVisibleTo(dialog), "back at the default: the model's value applies again"


def test_extra_rows_sit_on_their_page_in_the_tab_chain(qtbot: QtBot, settings: Settings) -> None:
    clicked: list[bool] = []
    manage = QPushButton("Manage models…")
    manage.clicked.connect(lambda: clicked.append(True))
    pair = QWidget()
    first, second = QLineEdit(pair), QLineEdit(pair)
    dlg = SettingsDialog(
        settings, extra_rows={"model": [("Installed models", manage), ("Pair", pair)]}
    )
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dlg)
    assert dlg.pages["model"].isAncestorOf(manage)
    assert manage.isVisibleTo(dlg)
    dlg.fields[settings.section_options("model")[-1].key].editor.setFocus()
    visited = []
    for _ in range(4):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
    assert visited == [manage, first, second, dlg.reset_buttons["model"]]
    qtbot.mouseClick(manage, Qt.MouseButton.LeftButton)
    assert clicked == [True]


def test_the_section_list_widens_with_the_text_size(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    from desktop.ui.theme import apply_font_size

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    font = app.font()
    try:
        apply_font_size(app, 22)  # what Appearance > Text size does, live
        sections = dialog.section_list

        def fits() -> bool:
            metrics = sections.fontMetrics()
            names = [sections.item(i).text() for i in range(sections.count())]
            return sections.width() >= max(metrics.horizontalAdvance(n) for n in names) + 16

        qtbot.waitUntil(lambda: sections.font().pointSize() == 22, timeout=2000)
        qtbot.waitUntil(fits, timeout=2000)
    finally:
        app.setFont(font)


def test_a_number_refused_while_typed_moves_no_field_below_it(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    dialog.resize(900, 640)
    dialog.show()
    dialog.show_section("generation")
    qtbot.waitExposed(dialog)
    below = spin(dialog, "sampling.min_p")

    def top() -> int:
        return below.mapTo(dialog, below.rect().topLeft()).y()

    where = top()
    field = dialog.fields["sampling.temperature"]
    type_into(qtbot, spin(dialog, "sampling.temperature"), "9", enter=False)
    assert field.error.startswith("Not accepted: Temperature must be between")
    assert top() == where, "the next click lands where the user aimed"


def test_a_refused_number_in_a_narrow_window_wraps_instead_of_widening_the_page(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    from PySide6.QtWidgets import QScrollArea

    dialog.resize(560, 480)
    dialog.show()
    dialog.show_section("generation")
    qtbot.waitExposed(dialog)
    area = dialog.pages["generation"]
    assert isinstance(area, QScrollArea)
    field = dialog.fields["sampling.temperature"]
    type_into(qtbot, spin(dialog, "sampling.temperature"), "9", enter=False)
    assert field.error.startswith("Not accepted")
    qtbot.wait(50)
    assert area.horizontalScrollBar().maximum() == 0, "no sideways scrolling to find the field"
    label = field.error_label
    assert label.mapTo(area.viewport(), label.rect().topRight()).x() <= area.viewport().width()
    assert label.height() >= label.heightForWidth(label.width()), "all of the reason shows"
    # in a wide window it stands beside the box again: no field below moves
    dialog.resize(1100, 480)
    qtbot.waitUntil(lambda: field.row.indexOf(label) >= 0, timeout=2000)
    assert label.isVisible()


def test_a_refused_rule_list_scrolls_its_reason_into_view(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    from PySide6.QtWidgets import QScrollArea

    dialog.resize(700, 420)  # a page taller than the window: it scrolls
    dialog.show()
    dialog.show_section("content_filter")
    qtbot.waitExposed(dialog)
    keys = [k for k in dialog.fields if k.startswith("filter.rules.")]
    field = dialog.fields[keys[-1]]  # the last rule list, at the bottom of the page
    editor = field.editor
    assert isinstance(editor, QPlainTextEdit)
    editor.setPlainText("re:(unclosed")
    field.apply(field.editor_value())
    assert field.error
    area = dialog.pages["content_filter"]
    assert isinstance(area, QScrollArea)

    def on_screen() -> bool:
        place = field.error_label.mapTo(area.viewport(), field.error_label.rect().bottomLeft())
        return 0 <= place.y() <= area.viewport().height()

    qtbot.waitUntil(on_screen, timeout=2000)


def test_closing_with_a_refused_entry_says_what_is_not_kept_and_can_go_back(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    asked: list[str] = []
    answers = [False, True]

    def confirm(_title: str, text: str, _yes: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    dialog.confirm = confirm
    field = dialog.fields["submission.endpoint"]
    dialog.show_section(field.option.section)
    type_into(qtbot, field.editor, "http://example.com/x")
    assert field.error.startswith("Not accepted")
    dialog.show_section("model")
    dialog.reject()  # Close, or Esc
    assert len(asked) == 1
    assert field.error in asked[0]
    assert "keep their earlier values" in asked[0]
    assert dialog.isVisible(), "went back to fix it"
    assert dialog.stack.currentWidget() is dialog.pages[field.option.section]
    dialog.reject()
    assert not dialog.isVisible()
    assert settings.get("submission.endpoint") == ""


def test_reset_asks_before_throwing_away_written_rules(
    qtbot: QtBot, dialog: SettingsDialog, settings: Settings
) -> None:
    key = "filter.rules.hate"
    section = dialog.fields[key].option.section
    settings.set(key, "my own list\nof words")
    answers = [False, True]
    asked: list[str] = []

    def confirm(_title: str, text: str, _yes: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    dialog.confirm = confirm
    dialog.reset_section(section)
    assert settings.get(key) == "my own list\nof words", "kept: the user said Cancel"
    label = dialog.fields[key].option.label
    assert asked[0] == f"What you wrote in “{label}” is replaced by the default text."
    dialog.reset_section(section)
    assert settings.is_default(key)
    settings.set("filter.check_input", False)
    dialog.reset_section(section)  # nothing written to lose: no question
    assert len(asked) == 2
    assert settings.is_default("filter.check_input")
