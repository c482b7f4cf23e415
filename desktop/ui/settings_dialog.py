"""The settings panel, generated from the settings schema.

One page per schema section; one editor per option, chosen by the option's type. Values apply to
:class:`~desktop.config.settings.Settings` as soon as they are accepted ("live"); a value the schema
refuses is kept out of the settings and the reason is shown under the field. Options that need a
model reload say so next to the field once changed. The file is saved when the dialog closes.

The window opens it as ``SettingsDialog(settings, parent)`` and may pass:

* ``move_history(new_folder)``: moves the history files; it raises (any exception, with a message
  for the user) when it could not, and the old location then stays in use. Without it the
  location is shown but cannot be changed here.
* ``model_names()``: the installed models, offered for the default model.
* ``loaded_values``: the values the running model was loaded with (``model.device`` …), so the
  reload notice also shows for changes made in an earlier visit; default: the values now.
* ``extra_rows``: per section name, ``(label, widget)`` rows added under the section's options
  for what is not a setting but belongs on that page (the model manager, the API token that
  lives in the keychain). A lone button keeps its natural width.

and connects ``clear_history_requested`` (emitted after the user confirmed) to the store.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QKeySequence,
    QShortcut,
    QValidator,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.config.schema import Option, Section, SettingError, Value
from desktop.config.settings import Settings, SettingsChange, SettingsFileError
from desktop.ui.theme import ROLE_ERROR, ROLE_NOTICE, ROLE_PROPERTY, frame_controls

logger = logging.getLogger(__name__)

RELOAD_NOTICE = "Takes effect when the model is reloaded (Reload the model now, on this page)."

MoveHistory = Callable[[Path], None]
ModelNames = Callable[[], Sequence[str]]
ExtraRows = Mapping[str, Sequence[tuple[str, QWidget]]]


def _role_label(role: str) -> QLabel:
    label = QLabel()
    label.setProperty(ROLE_PROPERTY, role)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    label.setVisible(False)
    return label


def _button(text: str) -> QPushButton:
    button = QPushButton(text)
    # Enter in a field must never press a button (it would reset a page or close the dialog).
    button.setAutoDefault(False)
    button.setDefault(False)
    return button


def _focusable(widget: QWidget) -> list[QWidget]:
    """``widget`` for the Tab chain, or the controls inside it in the order they were made."""
    if widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
        return [widget]
    inside = widget.findChildren(QWidget)
    return [w for w in inside if w.focusPolicy() & Qt.FocusPolicy.TabFocus]


def _describe(widget: QWidget, name: str, description: str) -> None:
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)
    widget.setToolTip(description)


class _Field:
    """One option's editor, its inline error and reload notice, bound to the settings."""

    def __init__(self, option: Option, settings: Settings, editor: QWidget) -> None:
        self.option = option
        self.settings = settings
        self.editor = editor
        self.error_label = _role_label(ROLE_ERROR)
        self.notice_label = _role_label(ROLE_NOTICE)
        self.notice_label.setText(RELOAD_NOTICE)
        self.default_note: QLabel | None = None  # a note true only while at the default
        # What the running model was loaded with; a reload option that differs shows the notice.
        self.loaded: Value = settings.get(option.key)
        _describe(editor, option.label, option.description)
        self.container = QWidget()
        layout = QVBoxLayout(self.container)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.row = QHBoxLayout()
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addWidget(editor, 1)
        layout.addLayout(self.row)
        layout.addWidget(self.error_label)
        layout.addWidget(self.notice_label)

    # Subclasses: read the editor's value and show a value in it without emitting edits.
    def editor_value(self) -> Value:
        raise NotImplementedError

    def show_value(self, value: Value) -> None:
        raise NotImplementedError

    def focus_widgets(self) -> list[QWidget]:
        return [self.editor]

    def load(self) -> None:
        """Show the value from the settings (after a reset or a change made elsewhere)."""
        value = self.settings.get(self.option.key)
        if self.editor_value() != value:
            blocked = self.editor.blockSignals(True)
            try:
                self.show_value(value)
            finally:
                self.editor.blockSignals(blocked)
        self.clear_error()
        self.update_notice()

    def apply(self, value: object) -> bool:
        """Hand ``value`` to the settings; on refusal show why (the settings keep their value)."""
        try:
            self.settings.set(self.option.key, value)
        except SettingError as exc:
            self.show_error(exc.reason)
            return False
        self.clear_error()
        self.update_notice()
        return True

    def show_error(self, reason: str) -> None:
        text = f"Not accepted: {self.option.label} {reason}."
        if self.error_label.text() == text and self.error_label.isVisibleTo(self.container):
            return
        self.error_label.setText(text)
        self.error_label.setVisible(True)
        self.editor.setAccessibleDescription(f"{text} {self.option.description}")
        QTimer.singleShot(0, self.container, self._bring_into_view)  # once laid out
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(self.editor, text))

    def _bring_into_view(self) -> None:
        """The reason on screen: under a tall field (a rule list) it fell below the page's
        visible part, and nothing seemed to happen."""
        area = self.container.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        if area is not None and self.error_label.isVisibleTo(area):
            area.ensureWidgetVisible(self.error_label)

    def clear_error(self) -> None:
        if self.error_label.text():
            self.error_label.clear()
            self.error_label.setVisible(False)
            self.editor.setAccessibleDescription(self.option.description)

    @property
    def error(self) -> str:
        """The reason shown under the field, or "" when there is none."""
        return self.error_label.text() if self.error_label.isVisibleTo(self.container) else ""

    def update_notice(self) -> None:
        changed = self.settings.get(self.option.key) != self.loaded
        self.notice_label.setVisible(self.option.needs_reload and changed)
        if self.default_note is not None:
            self.default_note.setVisible(self.settings.is_default(self.option.key))


class _CheckField(_Field):
    def __init__(self, option: Option, settings: Settings) -> None:
        self.check = QCheckBox(option.label)
        frame_controls(self.check)
        super().__init__(option, settings, self.check)
        self.show_value(settings.get(option.key))
        self.check.toggled.connect(self.apply)

    def editor_value(self) -> Value:
        return self.check.isChecked()

    def show_value(self, value: Value) -> None:
        self.check.setChecked(bool(value))


RangeCheck = Callable[["QSpinBox | QDoubleSpinBox", str, QValidator.State], None]


def _fit_width(spin: QSpinBox | QDoubleSpinBox) -> None:
    """One width for every number field, wide enough for the longest value, so they line up;
    recomputed when the text size changes."""
    spin.setMinimumWidth(spin.fontMetrics().horizontalAdvance("0" * 14) + 32)


class _SpinBox(QSpinBox):
    """A spin box that reports typed text it refuses, so the field can say why."""

    def __init__(self, range_check: RangeCheck) -> None:
        super().__init__()
        self._range_check = range_check
        _fit_width(self)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            _fit_width(self)

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        result = super().validate(text, pos)
        self._range_check(self, text, result[0])
        return result


class _DoubleSpinBox(QDoubleSpinBox):
    """A double spin box that reports typed text it refuses, so the field can say why."""

    def __init__(self, range_check: RangeCheck) -> None:
        super().__init__()
        self._range_check = range_check
        _fit_width(self)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            _fit_width(self)

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        result = super().validate(text, pos)
        self._range_check(self, text, result[0])
        return result


class _OnResize(QObject):
    """Calls ``resized()`` whenever ``widget`` changes size."""

    def __init__(self, widget: QWidget, resized: Callable[[], None]) -> None:
        super().__init__(widget)
        self._resized = resized
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize:
            self._resized()
        return False


class _NumberField(_Field):
    def __init__(self, option: Option, settings: Settings) -> None:
        spin: QSpinBox | QDoubleSpinBox
        lo = option.minimum if option.minimum is not None else -(2**31)
        hi = option.maximum if option.maximum is not None else 2**31 - 1
        if option.type == "int":
            int_spin = _SpinBox(self._explain)
            int_spin.setRange(int(lo) + option.min_exclusive, int(hi) - option.max_exclusive)
            int_spin.setSingleStep(max(1, int(option.step)))
            spin = int_spin
        else:
            float_spin = _DoubleSpinBox(self._explain)
            float_spin.setDecimals(option.decimals)
            smallest = 10.0**-option.decimals
            float_spin.setRange(
                lo + (smallest if option.min_exclusive else 0.0),
                hi - (smallest if option.max_exclusive else 0.0),
            )
            float_spin.setSingleStep(option.step)
            spin = float_spin
        if option.special_minimum:
            spin.setSpecialValueText(option.special_minimum)
        if option.unit:
            spin.setSuffix(f" {option.unit}")
        # Apply when typing is finished (Enter, focus out) or on arrow steps, not per keystroke.
        spin.setKeyboardTracking(False)
        spin.setAccelerated(True)
        spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.spin = spin
        super().__init__(option, settings, spin)
        # The reason goes beside the box, not under it: it shows while typing ("9" for a
        # temperature), and a line appearing there moved every field below under the mouse.
        # Where its one line does not fit beside the box (large text, a narrow window) it goes
        # under it, wrapped: beside, it widened the page, which then scrolled sideways and
        # hid the very field it spoke of.
        self.error_label.setWordWrap(False)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.row.addWidget(self.error_label, 1)
        self.row.setStretch(0, 0)
        self.row.setAlignment(spin, Qt.AlignmentFlag.AlignLeft)
        self._beside = True
        self._resizes = _OnResize(self.container, self._place_error)
        self.show_value(settings.get(option.key))
        spin.valueChanged.connect(self.apply)
        spin.lineEdit().textEdited.connect(self._on_text_edited)

    def show_error(self, reason: str) -> None:
        super().show_error(reason)
        self._place_error()

    def _place_error(self) -> None:
        label = self.error_label
        if not label.text():
            return
        room = self.container.width() - self.spin.width() - max(0, self.row.spacing())
        beside = label.fontMetrics().horizontalAdvance(label.text()) <= room
        if beside == self._beside:
            return
        self._beside = beside
        column = self.container.layout()
        assert isinstance(column, QVBoxLayout)
        if beside:
            column.removeWidget(label)
            self.row.addWidget(label, 1)
        else:
            self.row.removeWidget(label)
            column.insertWidget(1, label)
        label.setWordWrap(not beside)
        label.setVisible(True)

    def _explain(self, spin: QSpinBox | QDoubleSpinBox, text: str, state: QValidator.State) -> None:
        """Qt refuses out-of-range text silently; find the schema's reason and show it."""
        if state == QValidator.State.Acceptable:
            return
        core = text.removeprefix(spin.prefix()).removesuffix(spin.suffix()).strip()
        number, ok = spin.locale().toDouble(core)
        if not ok:
            return
        try:
            self.option.validate(number if self.option.type == "float" else round(number))
        except SettingError as exc:
            self.show_error(exc.reason)

    def _on_text_edited(self, _text: str) -> None:
        if self.spin.hasAcceptableInput():
            self.clear_error()

    def editor_value(self) -> Value:
        return self.spin.value()

    def show_value(self, value: Value) -> None:
        assert isinstance(value, int | float)
        if isinstance(self.spin, QSpinBox):
            self.spin.setValue(int(value))
        else:
            self.spin.setValue(float(value))

    def apply(self, value: object) -> bool:
        if not super().apply(value):
            self.load_keep_error()
            return False
        return True

    def load_keep_error(self) -> None:
        blocked = self.spin.blockSignals(True)
        try:
            self.show_value(self.settings.get(self.option.key))
        finally:
            self.spin.blockSignals(blocked)


class _ChoiceField(_Field):
    def __init__(
        self, option: Option, settings: Settings, items: Sequence[tuple[str, str]] | None = None
    ) -> None:
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        for value, label in (
            items if items is not None else [(c.value, c.label) for c in option.choices]
        ):
            self.combo.addItem(label, value)
        super().__init__(option, settings, self.combo)
        self.row.addStretch(1)
        self.show_value(settings.get(option.key))
        self.combo.currentIndexChanged.connect(self._on_index_changed)

    def _on_index_changed(self, index: int) -> None:
        self.apply(self.combo.itemData(index))

    def editor_value(self) -> Value:
        value = self.combo.currentData()
        return value if isinstance(value, str) else ""

    def show_value(self, value: Value) -> None:
        index = self.combo.findData(value)
        if index < 0:
            self.combo.addItem(f"{value} (not installed)", value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)


class _SchemaValidator(QValidator):
    """Acceptable when the schema takes the text; otherwise Intermediate, so the text stays
    editable while the field says why it is not taken."""

    def __init__(self, option: Option, parent: QObject) -> None:
        super().__init__(parent)
        self.option = option

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        try:
            self.option.validate(text)
        except SettingError:
            return (QValidator.State.Intermediate, text, pos)
        return (QValidator.State.Acceptable, text, pos)


class _LineField(_Field):
    def __init__(self, option: Option, settings: Settings) -> None:
        self.line = QLineEdit()
        self.line.setPlaceholderText(option.placeholder)
        self.line.setValidator(_SchemaValidator(option, self.line))
        super().__init__(option, settings, self.line)
        self.show_value(settings.get(option.key))
        self.line.textEdited.connect(self._on_text_edited)
        self.line.editingFinished.connect(self._on_editing_finished)

    def _on_text_edited(self, text: str) -> None:
        try:
            self.option.validate(text)
        except SettingError as exc:
            self.show_error(exc.reason)
        else:
            self.clear_error()

    def _on_editing_finished(self) -> None:
        # Only emitted when the validator accepts the text.
        self.apply(self.line.text())

    def editor_value(self) -> Value:
        return self.line.text()

    def show_value(self, value: Value) -> None:
        self.line.setText(str(value))


class _TextField(_Field):
    def __init__(self, option: Option, settings: Settings) -> None:
        self.text = QPlainTextEdit()
        # Tab moves on to the next control, so the panel stays keyboard-navigable.
        self.text.setTabChangesFocus(True)
        self.text.setMinimumHeight(120)
        super().__init__(option, settings, self.text)
        self.show_value(settings.get(option.key))
        self.text.textChanged.connect(self._on_text_changed)

    def _on_text_changed(self) -> None:
        self.apply(self.text.toPlainText())

    def editor_value(self) -> Value:
        return self.text.toPlainText()

    def show_value(self, value: Value) -> None:
        self.text.setPlainText(str(value))


class _PathField(_Field):
    """The folder is shown read-only; "Change…" picks a new one (and moves files if needed)."""

    def __init__(
        self,
        option: Option,
        settings: Settings,
        dialog: QWidget,
        mover: MoveHistory | None,
        needs_mover: bool,
    ) -> None:
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        super().__init__(option, settings, self.line)
        self.dialog = dialog
        self.mover = mover
        self.needs_mover = needs_mover
        self.button = _button("Change…")
        if needs_mover and mover is None:
            self.button.setEnabled(False)
            _describe(
                self.button,
                f"Change {option.label.lower()}",
                "Moving the history is not available in this window.",
            )
        else:
            _describe(
                self.button,
                f"Change {option.label.lower()}",
                f"Choose a new folder. {option.description}",
            )
        self.button.clicked.connect(self.choose)
        self.row.addWidget(self.button)
        self.show_value(settings.get(option.key))

    def focus_widgets(self) -> list[QWidget]:
        return [self.line, self.button]

    def editor_value(self) -> Value:
        return self.line.text()

    def show_value(self, value: Value) -> None:
        self.line.setText(str(value))
        self.line.setCursorPosition(0)

    def choose(self) -> None:
        old = self.settings.get_str(self.option.key)
        chosen = QFileDialog.getExistingDirectory(
            self.dialog, f"Choose the {self.option.label.lower()}", old
        )
        if chosen:
            self.change_to(chosen)

    def change_to(self, chosen: str) -> bool:
        """Move the files (when this is the history folder) and then store the new folder.
        False when refused or the move failed; the old folder then stays in use."""
        old = self.settings.get_str(self.option.key)
        try:
            new = self.option.validate(chosen)
        except SettingError as exc:
            self.show_error(exc.reason)
            return False
        assert isinstance(new, str)
        if new == old:
            return True
        if self.needs_mover and self.mover is None:
            self.show_error("cannot be changed here")
            return False
        if self.mover is not None:
            try:
                self.mover(Path(new))
            except Exception as exc:
                # The mover belongs to the store and may fail in ways this dialog cannot list
                # (disk full, permissions, database in use). Whatever it was, the user must learn
                # that the files stayed where they were; the traceback goes to the log.
                logger.exception("Moving the history to %s failed", new)
                said = str(exc)  # the store's own message may say where it stays already
                stays = "" if old in said else f"\n\nIt stays in {old}."
                QMessageBox.warning(
                    self.dialog,
                    "History was not moved",
                    f"The history could not be moved to {new}:\n{said}{stays}",
                )
                return False
        if not self.apply(new):
            return False
        if self.mover is not None:
            # the files are there now: said on disk at once, not when the dialog closes (a
            # crash, or `parley` meanwhile, read the old place and found no history)
            try:
                self.settings.save()
            except SettingsFileError as exc:
                QMessageBox.warning(self.dialog, "Settings not saved", str(exc))
            if isinstance(self.dialog, SettingsDialog):  # said, as a failure is
                self.dialog.set_field_note(self.option.key, f"Moved: the history is now in {new}.")
        self.load()
        return True


class SettingsDialog(QDialog):
    """Preferences: a list of sections on the left, the section's options on the right."""

    clear_history_requested = Signal()

    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        move_history: MoveHistory | None = None,
        model_names: ModelNames | None = None,
        loaded_values: Mapping[str, Value] | None = None,
        extra_rows: ExtraRows | None = None,
        history_size: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self._history_size = history_size  # "5,000 chats (…)": what "clear all" deletes
        self._extra_rows = extra_rows or {}
        self._move_history = move_history
        self._model_names = model_names
        self.fields: dict[str, _Field] = {}
        self._notes: dict[str, QLabel] = {}  # set_field_note's lines, by option
        self.pages: dict[str, QWidget] = {}
        self.reset_buttons: dict[str, QPushButton] = {}
        # asks before text the user wrote is thrown away (tests answer it)
        self.confirm: Callable[[str, str, str], bool] = self._ask
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        # room for the same text at any text size (780 x 560 at the default 10 pt), within
        # the screen
        metrics = self.fontMetrics()
        width, height = max(780, 92 * metrics.averageCharWidth()), max(560, 33 * metrics.height())
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 60)
        self.resize(width, height)

        self.section_list = QListWidget()
        _describe(
            self.section_list,
            "Settings sections",
            "Choose a section with the arrow keys; Tab moves to its settings.",
        )
        self.section_list.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.section_list.setSpacing(2)
        self.stack = QStackedWidget()

        focus_chain: list[QWidget] = [self.section_list]
        for section in settings.sections:
            self.section_list.addItem(section.title)
            page, chain = self._build_page(section)
            self.pages[section.name] = page
            self.stack.addWidget(page)
            focus_chain.extend(chain)
        for key, value in (loaded_values or {}).items():
            if key in self.fields:
                self.fields[key].loaded = value
                self.fields[key].update_notice()
        self._fit_sections()
        self.section_list.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.section_list.setCurrentRow(0)
        self.section_list.setFocus()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAutoDefault(False)
        close.setDefault(False)
        _describe(
            close,
            "Close settings",
            "Close the settings; changes are already applied and are saved now.",
        )
        buttons.rejected.connect(self.reject)
        focus_chain.append(close)

        body = QHBoxLayout()
        body.addWidget(self.section_list)
        body.addWidget(self.stack, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(buttons)

        for first, second in itertools.pairwise(focus_chain):
            QWidget.setTabOrder(first, second)
        QShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_PageDown), self, self._next_page)
        QShortcut(QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_PageUp), self, self._previous_page)

        unsubscribe = settings.subscribe(self._on_settings_changed)
        self._unsubscribe: Callable[[], None] | None = unsubscribe
        # If the dialog is deleted without being closed, stop listening all the same; the lambda
        # holds only the unsubscribe function, never the deleted dialog.
        self.destroyed.connect(lambda *_: unsubscribe())

    # --- building --------------------------------------------------------------------------

    def _build_page(self, section: Section) -> tuple[QWidget, list[QWidget]]:
        content = QWidget()
        layout = QVBoxLayout(content)
        title = QLabel(f"<h2>{section.title}</h2>")
        title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(title)
        about = QLabel(section.description)
        about.setWordWrap(True)
        layout.addWidget(about)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        chain: list[QWidget] = []
        for option in self.settings.section_options(section.name):
            field = self._build_field(option)
            self.fields[option.key] = field
            chain.extend(field.focus_widgets())
            if option.type == "bool":
                form.addRow(field.container)
            else:
                label = QLabel(f"{option.label}:")
                label.setBuddy(field.editor)
                label.setToolTip(option.description)
                form.addRow(label, field.container)
        for text, widget in self._extra_rows.get(section.name, ()):
            controls = _focusable(widget)
            chain.extend(controls)
            label = QLabel(f"{text}:" if text else "")  # a button that says it all: no label
            label.setBuddy(controls[0] if controls else widget)
            label.setToolTip(widget.toolTip())
            if isinstance(widget, QPushButton):
                holder = QWidget()
                row = QHBoxLayout(holder)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(widget)
                row.addStretch(1)
                widget = holder
            form.addRow(label, widget)
        layout.addLayout(form)
        layout.addStretch(1)

        actions = QHBoxLayout()
        if section.name == "history":
            clear = _button("Clear all history…")
            _describe(
                clear,
                "Clear all history",
                "Delete every conversation and message. You are asked to confirm first.",
            )
            clear.clicked.connect(self._confirm_clear_history)
            actions.addWidget(clear)
            chain.append(clear)
        actions.addStretch(1)
        reset = _button("Reset section to defaults")
        _describe(
            reset,
            f"Reset {section.title} to defaults",
            f"Put every setting on the {section.title} page back to its default value.",
        )
        reset.clicked.connect(lambda: self.reset_section(section.name))
        actions.addWidget(reset)
        chain.append(reset)
        self.reset_buttons[section.name] = reset
        layout.addLayout(actions)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(content)
        scroll.setAccessibleName(section.title)
        return scroll, chain

    def _build_field(self, option: Option) -> _Field:
        if option.key == "model.default" and self._model_names is not None:
            names = list(self._model_names())
            items = [("", "As set in File ▸ Models…"), *[(name, name) for name in names]]
            return _ChoiceField(option, self.settings, items)
        if option.type == "bool":
            return _CheckField(option, self.settings)
        if option.type in ("int", "float"):
            return _NumberField(option, self.settings)
        if option.type == "choice":
            return _ChoiceField(option, self.settings)
        if option.type == "text":
            return _TextField(option, self.settings)
        if option.type == "path":
            is_history = option.key == "history.location"
            mover = self._move_history if is_history else None
            return _PathField(option, self.settings, self, mover, needs_mover=is_history)
        return _LineField(option, self.settings)

    # --- behaviour -------------------------------------------------------------------------

    def show_section(self, name: str) -> None:
        names = [s.name for s in self.settings.sections]
        self.section_list.setCurrentRow(names.index(name))

    def _next_page(self) -> None:
        count = self.section_list.count()
        self.section_list.setCurrentRow((self.section_list.currentRow() + 1) % count)

    def _previous_page(self) -> None:
        count = self.section_list.count()
        self.section_list.setCurrentRow((self.section_list.currentRow() - 1) % count)

    def model_reloaded(self) -> None:
        """The model was loaded again: what it was loaded with is what the fields hold now,
        so their "takes effect when the model is reloaded" notes go."""
        for field in self.fields.values():
            if field.option.needs_reload:
                field.loaded = self.settings.get(field.option.key)
                field.update_notice()

    def _ask(self, title: str, text: str, yes: str) -> bool:
        """A question with ``yes`` and Cancel (Cancel the default); tests replace it."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        go = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is go

    def reset_section(self, name: str) -> None:
        """Put a page back to its defaults. A folder whose files must move (the history) goes
        through the mover like "Change…" does, and stays put when the move fails. Text that
        took typing (rule lists, a system prompt) goes only once the user agrees."""
        typed = [
            option.label
            for option in self.settings.section_options(name)
            if isinstance(self.fields.get(option.key), _TextField)
            and not self.settings.is_default(option.key)
        ]
        quoted = [f"“{label}”" for label in typed]
        listed = (
            ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
        )
        if typed and not self.confirm(
            "Reset to defaults?",
            f"What you wrote in {listed} is replaced by the default text.",
            "Reset",
        ):
            return
        keys = []
        for option in self.settings.section_options(name):
            field = self.fields.get(option.key)
            if isinstance(field, _PathField) and field.needs_mover:
                default = option.default_value()
                assert isinstance(default, str)
                field.change_to(default)
            else:
                keys.append(option.key)
        self.settings.reset_keys(keys)
        for key in keys:  # also those already at their default: a refused entry goes too
            field = self.fields.get(key)
            if field is not None:
                field.load()

    def _on_settings_changed(self, change: SettingsChange) -> None:
        for key in change.keys:
            field = self.fields.get(key)
            if field is not None:
                field.load()

    def _confirm_clear_history(self) -> None:
        what = self._history_size() if self._history_size is not None else ""
        answer = QMessageBox.question(
            self,
            "Clear all history?",
            f"Delete {what or 'every conversation and message'}? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.clear_history_requested.emit()

    def done(self, result: int) -> None:
        refused = [field for field in self.fields.values() if field.error]
        if refused and self._unsubscribe is not None:
            reasons = "\n".join(f"• {field.error}" for field in refused)
            if not self.confirm(
                "Close without these changes?",
                f"{reasons}\n\nThese settings keep their earlier values.",
                "Close",
            ):
                field = refused[0]
                self.show_section(field.option.section)
                field.editor.setFocus(Qt.FocusReason.OtherFocusReason)
                return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            try:
                self.settings.save()
            except SettingsFileError as exc:
                QMessageBox.warning(self, "Settings not saved", str(exc))
        super().done(result)

    def _fit_sections(self) -> None:
        """The section list as wide as its longest name (again when the text size changes,
        which Appearance does while this is open: "Generatio", cut, otherwise)."""
        list_ = self.section_list
        list_.doItemsLayout()
        width = list_.sizeHintForColumn(0) + 2 * list_.frameWidth() + 24
        list_.setFixedWidth(max(140, width))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "section_list"):
            QTimer.singleShot(0, self, self._fit_sections)  # once the list has its new font

    def set_field_note(self, key: str, text: str, *, while_default: bool = False) -> QLabel | None:
        """A line under one option's field about how it works here (e.g. whether the global
        shortcut could be registered on this desktop); ``while_default``: shown only while
        the option has its default value (e.g. what the model recommends instead of it)."""
        field = self.fields.get(key)
        if field is None:
            return None
        if not while_default and key in self._notes:  # said again: it changed (the shortcut)
            label = self._notes[key]
            label.setText(text)
            label.setAccessibleName(text)
            return label
        label = _role_label(ROLE_NOTICE)
        label.setText(text)
        label.setAccessibleName(text)
        layout = field.container.layout()
        assert layout is not None
        layout.addWidget(label)
        label.setVisible(True)  # after adding: a label made hidden stays hidden when adopted
        if while_default:
            field.default_note = label
            field.update_notice()
        else:
            self._notes[key] = label
        return label
