"""One chat tab: the conversation view, the input box and the per-chat settings."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QResizeEvent, QShowEvent, QTextCursor
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QStyleOptionButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.attachments import MAX_CHARS, AttachmentError, read_attachment
from desktop.engine.types import GenerationStats
from desktop.services.chat_session import DISCARDED, ChatSession
from desktop.store.recording import can_continue
from desktop.ui.empty_chat import EmptyChat
from desktop.ui.message_view import (
    ConversationView,
    MessageWidget,
    accessible,
    copy_to_clipboard,
    shown_stats,
)
from desktop.ui.theme import ROLE_ERROR, ROLE_PROPERTY, frame_controls, line_height

# The feedback controls and dialogs import the feedback package (content filter, keyring, HTTP):
# they load when a tab first uses them, not when the window opens.
if TYPE_CHECKING:
    from desktop.feedback.content_filter import StreamScreen
    from desktop.feedback.records import FeedbackDraft
    from desktop.services.feedback_service import FeedbackService
    from desktop.ui.compare_dialog import CompareDialog
    from desktop.ui.feedback_dialog import FeedbackDialog

ALTERNATIVES = 2  # new answers written for a comparison (compared with the one shown: 3)


class Composer(QPlainTextEdit):
    """Multi-line input. Enter sends (Shift+Enter: new line), Up in an empty box edits the
    last prompt, Esc stops the answer or leaves editing. With ``send_on_enter`` off,
    Ctrl+Enter sends and Enter makes a new line."""

    send_requested = Signal()
    edit_last_requested = Signal()
    escape_pressed = Signal()
    notice = Signal(str)  # e.g. why a dropped file was not pasted
    models_dropped = Signal(list)  # GGUF files or model folders: imported, not pasted

    MIN_LINES = 2
    MAX_LINES = 12
    MEASURED_CHARS = 4_000  # longer text (a pasted file) takes the full height unmeasured

    PLACEHOLDER = "Message Parley…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._send_on_enter = True
        self.setTabChangesFocus(True)
        accessible(
            self,
            "Message input",
            "Type your message; Enter sends, Shift+Enter new line; drop text files to paste them",
        )
        # Two lines when empty, growing with what is typed up to MAX_LINES, then it scrolls:
        # the conversation keeps the room an empty box does not need.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.textChanged.connect(self.fit_height)
        self.fit_height()
        self._fit_placeholder()

    @property
    def send_on_enter(self) -> bool:
        """Enter sends (Shift+Enter: new line); off: Ctrl+Enter sends, Enter is a new line."""
        return self._send_on_enter

    @send_on_enter.setter
    def send_on_enter(self, on: bool) -> None:
        self._send_on_enter = on
        self._fit_placeholder()
        self.viewport().update()  # the hint on screen, not only at the next repaint
        keys = "Enter sends, Shift+Enter new line" if on else "Ctrl+Enter sends, Enter new line"
        self.setAccessibleDescription(f"Type your message; {keys}; drop text files to paste them")
        self.setToolTip(self.accessibleDescription())

    def _fit_placeholder(self) -> None:
        """The hint in the empty box, with the keys that send when they fit its two lines (a
        split view's box is narrow: the cut-off third line showed half its letters)."""
        keys = "Enter sends, Shift+Enter for a new line"
        if not self._send_on_enter:
            keys = "Ctrl+Enter sends, Enter for a new line"
        full = f"{self.PLACEHOLDER} ({keys})"
        fits = self._lines_for(full) <= self.MIN_LINES
        self.setPlaceholderText(full if fits else self.PLACEHOLDER)

    def lines_for_text(self) -> int:
        text = self.toPlainText()
        if len(text) > self.MEASURED_CHARS or text.count("\n") >= self.MAX_LINES:
            return self.MAX_LINES
        return self._lines_for(text)

    def _lines_for(self, text: str) -> int:
        width = max(1, self.viewport().width() - 2 * int(self.document().documentMargin()))
        flags = int(Qt.TextFlag.TextWordWrap) | int(Qt.TextFlag.TextExpandTabs)
        height = self.fontMetrics().boundingRect(0, 0, width, 1 << 24, flags, text or " ").height()
        return max(1, -(-height // line_height(self.font())))

    def fit_height(self) -> None:
        lines = min(self.MAX_LINES, max(self.MIN_LINES, self.lines_for_text()))
        frame = self.frameWidth() * 2 + int(self.document().documentMargin()) * 2
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        height = lines * line_height(self.font()) + max(frame, margins) + 2
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # wrapping changed
            self.fit_height()
            self._fit_placeholder()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fit_height()
            self._fit_placeholder()

    # -- files dropped or pasted: their text, in a fenced block under their name ----------
    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt override)
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt override)
        files = [Path(u.toLocalFile()) for u in source.urls() if u.isLocalFile()]
        if not files:
            super().insertFromMimeData(source)
            return
        from desktop.convert.library import is_model_source

        models = [f for f in files if is_model_source(f)]
        if models:
            self.models_dropped.emit(models)
        if texts := [f for f in files if f not in models]:
            self.insert_files(texts)

    def insert_files(self, files: list[Path]) -> None:
        """Each text file as a block at the cursor; what cannot go in is said in one notice."""
        blocks, problems = [], []
        room = MAX_CHARS - len(self.toPlainText())
        for path in files:
            try:
                attachment = read_attachment(path, room)
            except AttachmentError as exc:
                problems.append(str(exc))
                continue
            room -= len(attachment.text)
            blocks.append(attachment.as_markdown())
        if blocks:
            cursor = self.textCursor()
            before = self.toPlainText()[: cursor.position()]
            lead = "\n" if before and not before.endswith("\n") else ""
            cursor.insertText(lead + "\n".join(blocks))
            self.setTextCursor(cursor)
        if problems:
            self.notice.emit("; ".join(problems) + ".")

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
            shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            if (self.send_on_enter and not shift and not ctrl) or (not self.send_on_enter and ctrl):
                self.send_requested.emit()
                return
            self.insertPlainText("\n")
            return
        if key == Qt.Key.Key_Up and not self.toPlainText():
            self.edit_last_requested.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.escape_pressed.emit()
            return
        super().keyPressEvent(event)


class ChatSettingsDialog(QDialog):
    """Per-chat system prompt and sampling overrides (each override has a checkbox: off means
    "use the default from the settings")."""

    # the settings' options these override: the same names, bounds, steps and decimals
    FIELDS: tuple[tuple[str, str], ...] = (
        ("temperature", "sampling.temperature"),
        ("top_p", "sampling.top_p"),
        ("top_k", "sampling.top_k"),
        ("min_p", "sampling.min_p"),
        ("repetition_penalty", "sampling.repetition_penalty"),
        ("max_new_tokens", "generation.max_new_tokens"),
        ("seed", "sampling.seed"),
    )

    @classmethod
    def labels(cls) -> dict[str, str]:
        """Each override's name as the settings say it, in lower case ("top-p")."""
        from desktop.config.schema import OPTIONS, options_by_key

        options = options_by_key(OPTIONS)
        return {key: options[setting].label.lower() for key, setting in cls.FIELDS}

    def __init__(self, session: ChatSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chat settings")
        self.setMinimumWidth(440)  # room to write a system prompt
        accessible(self, "Chat settings", "System prompt and sampling for this chat only")
        self._session = session
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.custom_prompt = QCheckBox("Own system prompt")
        frame_controls(self.custom_prompt)
        accessible(self.custom_prompt, "Use an own system prompt", "Off: the default prompt")
        self.prompt = QPlainTextEdit(session.system_prompt())
        accessible(self.prompt, "System prompt", "Instructions the model sees before the chat")
        has_own = session.has_own_system_prompt()
        self.custom_prompt.setChecked(has_own)
        self.prompt.setEnabled(has_own)
        self.custom_prompt.toggled.connect(self.prompt.setEnabled)
        form.addRow(self.custom_prompt)
        form.addRow(self.prompt)
        hint = QLabel("Ticked: this chat's own value. Not ticked: the default from Settings.")
        hint.setWordWrap(True)
        form.addRow(hint)
        params = session.sampling_params()
        overrides = session.overrides()
        self.boxes: dict[str, tuple[QCheckBox, QDoubleSpinBox | QSpinBox]] = {}
        from desktop.config.schema import OPTIONS, options_by_key

        options = options_by_key(OPTIONS)
        for key, setting in self.FIELDS:
            option = options[setting]
            label = option.label
            lo, hi = option.minimum or 0, option.maximum or 0
            unit = 10**-option.decimals if option.type == "float" else 1
            if option.min_exclusive:  # (0, 1]: the nearest value the field can show
                lo += unit
            if option.max_exclusive:
                hi -= unit
            check = QCheckBox(label)
            frame_controls(check)
            accessible(check, f"Override {label.lower()}", f"Off: the default {label.lower()}")
            box: QDoubleSpinBox | QSpinBox
            if option.type == "float":
                box = QDoubleSpinBox()
                box.setDecimals(option.decimals)
                box.setRange(lo, hi)
                box.setSingleStep(option.step)
            else:
                box = QSpinBox()
                box.setRange(int(lo), int(hi))
                box.setSingleStep(int(option.step))
            if option.special_minimum:  # "Random" seed, "Off" top-k, as in the settings
                box.setSpecialValueText(option.special_minimum)
            accessible(box, label, f"{label} for this chat ({lo:g} to {hi:g})")
            value = getattr(params, key)
            if isinstance(box, QSpinBox):
                box.setValue(int(value) if value is not None else int(lo))
            else:
                box.setValue(float(value) if value is not None else lo)
            if option.unit:  # "tokens", as in Settings
                box.setSuffix(f" {option.unit}")
            check.setChecked(key in overrides)
            box.setEnabled(key in overrides)
            check.toggled.connect(box.setEnabled)
            form.addRow(check, box)  # the boxes in one column, whatever their names' lengths
            self.boxes[key] = (check, box)
        layout.addLayout(form)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        accessible(self.error_label, "Validation message")
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        for button in buttons.buttons():
            accessible(button, button.text().replace("&", ""))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> tuple[str | None, dict[str, Any]]:
        prompt = self.prompt.toPlainText() if self.custom_prompt.isChecked() else None
        overrides: dict[str, Any] = {
            key: box.value() for key, (check, box) in self.boxes.items() if check.isChecked()
        }
        if overrides.get("seed") == -1:  # "Random", as the settings' seed says it
            overrides["seed"] = None
        return prompt, overrides

    def accept(self) -> None:
        prompt, overrides = self.values()
        try:
            self._session.set_chat_settings(prompt, overrides)
        except ValueError as exc:
            self.error_label.setText(str(exc))  # refused in place, with the reason
            return
        super().accept()


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
COUNT_FROM_BYTES = 2000  # below this a message's size is of no concern
COUNT_DELAY_MS = 300  # counted once typing (or a paste) settles
TEMPLATE_TOKENS = 5  # a chat template's marks around each message ("<|im_start|>user\n"…)


class ChatTab(QWidget):
    """Signals: ``state_changed(str)`` (idle/waiting/streaming), ``title_changed(str)``,
    ``answer_stats(object)`` (GenerationStats of a finished answer)."""

    state_changed = Signal(str)
    title_changed = Signal(str)
    answer_stats = Signal(object)
    notify = Signal(str)
    branch_requested = Signal(int)  # an answer to go on from in a new chat
    model_requested = Signal(str)  # "Regenerate with": the model to load first

    def __init__(
        self,
        session: ChatSession,
        parent: QWidget | None = None,
        feedback: FeedbackService | None = None,
        *,
        deferred: bool = False,
    ) -> None:
        """``deferred``: fill the view when the tab is first shown (chats reopened at start
        in tabs behind the current one cost nothing until they are looked at)."""
        super().__init__(parent)
        self.session = session
        self.feedback = feedback
        self.feedback_dialog: FeedbackDialog | None = None
        self.compare_dialog: CompareDialog | None = None
        self._alternatives: dict[str, Any] | None = None
        self._editing: int | None = None
        self._draft = ""  # the unsent message put aside while an earlier one is edited
        self._trim: tuple[int, int] | None = None
        # the context counted from the text last: ((last message id, its length), tokens)
        self._estimate: tuple[tuple[int, int], int | None] | None = None
        self._first_shown: int | None = None  # id of the first message shown (long chats)
        self.unread = False  # an answer finished while another tab was shown
        # opened with a click in the list and not written in since: the next chat opened
        # from the list takes its place (as a preview tab in an editor), so that looking
        # through chats does not pile up tabs; typing or an answer keeps it
        self.preview = False
        accessible(self, "Chat", "One conversation")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.view = ConversationView(self)
        layout.addWidget(self.view, 1)
        self.empty = EmptyChat(self)  # in the view's place while the chat has no messages
        self.empty.hide()
        layout.addWidget(self.empty, 1)

        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(8, 4, 8, 8)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        accessible(self.banner, "Input status", "What the input box is doing")
        self.banner.hide()
        bottom_layout.addWidget(self.banner)
        row = QHBoxLayout()
        self.composer = Composer(bottom)
        row.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        self.send_button = QPushButton("Send")
        accessible(self.send_button, "Send message", "Send the message (Enter)")
        self.stop_button = QPushButton("Stop")
        accessible(self.stop_button, "Stop answer", "Stop the answer being written (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.hide()  # takes Send's place while an answer is written
        self.settings_button = QPushButton("Chat settings…")
        accessible(
            self.settings_button, "Chat settings", "System prompt and sampling for this chat"
        )
        for b in (self.send_button, self.stop_button, self.settings_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row.addLayout(buttons)
        row.setAlignment(buttons, Qt.AlignmentFlag.AlignTop)
        bottom_layout.addLayout(row)
        # A long text (a pasted document) shows its size in tokens against what fits.
        self.count_label = QLabel()
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        accessible(self.count_label, "Message size", "The message's tokens and what fits")
        self.count_label.hide()
        under = QHBoxLayout()
        self.attach_button = QToolButton()
        self.attach_button.setText("Attach files…")
        self.attach_button.setAutoRaise(True)
        accessible(
            self.attach_button,
            "Attach files",
            "Put text files (code, notes, logs) into the message; dropping them works too",
        )
        under.addWidget(self.attach_button)
        under.addStretch(1)
        under.addWidget(self.count_label)
        bottom_layout.addLayout(under)
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_DELAY_MS)
        self._count_timer.timeout.connect(self._show_count)
        self.composer.textChanged.connect(self._count_timer.start)
        # Typing a question: the engine reads the chat meanwhile (once per state of the chat).
        self._prefetched: tuple[int | None, int | None] | None = None
        # the answer being written and its content-filter screen (see _screen)
        self._screening: tuple[int, StreamScreen] | None = None
        self.composer.textChanged.connect(self._read_ahead)
        layout.addWidget(bottom)

        self.composer.send_requested.connect(self.send)
        self.composer.edit_last_requested.connect(self.edit_last)
        self.composer.escape_pressed.connect(self.escape)
        self.composer.notice.connect(self.notify)
        self.view.earlier_requested.connect(self.show_earlier)
        self.empty.example_chosen.connect(self._start_from)
        self.send_button.clicked.connect(self.send)
        self.stop_button.clicked.connect(session.stop)
        self.settings_button.clicked.connect(self.open_chat_settings)
        self.attach_button.clicked.connect(self.choose_files)

        self.view.copy_text.connect(self._copy)
        self.view.edit_requested.connect(self.begin_edit)
        self.view.regenerate_requested.connect(self.session.regenerate)
        self.view.regenerate_with_requested.connect(self.regenerate_with)
        self.view.continue_requested.connect(self.session.continue_answer)
        self.view.answer_requested.connect(self.session.answer)
        self.view.switch_requested.connect(self.session.switch)
        self.view.branch_requested.connect(self.branch_requested)

        session.path_changed.connect(self.reload)
        session.state_changed.connect(self._on_state)
        session.delta.connect(self._on_delta)
        session.trimmed.connect(self._on_trimmed)
        session.reading.connect(self._on_reading)
        session.answer_finished.connect(self._on_finished)
        session.title_changed.connect(self.title_changed)
        session.error.connect(self.notify)
        session.refused.connect(self._on_refused)
        if feedback is not None:
            self.view.decorate = self._decorate
            session.input_filter = self._filter_input
            session.blocked_among = feedback.blocked_among
            session.answer_finished.connect(self._moderate_output)
            session.answer_finished.connect(self._next_alternative)
            feedback.feedback_changed.connect(self._on_feedback_changed)
            self.view.thumbs_requested.connect(self.open_feedback)
            self.view.alternatives_requested.connect(self.generate_alternatives)
        self._deferred = deferred
        if not deferred:
            self.reload()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        if self._deferred:
            self.reload()
        super().showEvent(event)

    # -- actions ----------------------------------------------------------------------------
    def send(self) -> None:
        text = self.composer.toPlainText()
        if not text.strip():
            return
        if self._editing is not None:
            ok = self.session.edit(self._editing, text)
        else:
            ok = self.session.send(text)
        if ok:
            self._end_edit()
            self.view.scroll_to_end()
            self.composer.setFocus()  # sent with the button: Esc (stop) and typing on go here

    def begin_edit(self, message_id: int) -> None:
        message = next((m for m in self.session.path() if m.id == message_id), None)
        if message is None or message.role != "user" or self.session.state != "idle":
            return
        if self._editing is None:
            self._draft = self.composer.toPlainText()  # back in the box when the edit ends
        self._editing = message_id
        self.composer.setPlainText(message.content)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.banner.setText(
            "Editing a message: Enter sends it as a new version (the old one is kept), Esc cancels."
        )
        self.banner.show()
        self.composer.setFocus()

    def edit_last(self) -> None:
        last = next((m for m in reversed(self.session.path()) if m.role == "user"), None)
        if last is not None:
            self.begin_edit(last.id)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        """Esc stops the answer wherever the keys are in this chat (a message, its buttons
        after Regenerate or Continue), not only in the input."""
        if (
            event.key() == Qt.Key.Key_Escape
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
            and self.session.state != "idle"
        ):
            self.session.stop()
            event.accept()
            return
        super().keyPressEvent(event)

    def escape(self) -> None:
        if self.session.state != "idle":
            self.session.stop()
        elif self._editing is not None:
            self._end_edit()

    def _end_edit(self) -> None:
        """Back to a new message: the box holds what was being typed before the edit."""
        if self._editing is not None:
            self.composer.setPlainText(self._draft)
            self.composer.moveCursor(QTextCursor.MoveOperation.End)
        else:
            self.composer.clear()
        self._editing, self._draft = None, ""
        self.refresh_banner()

    @property
    def editing(self) -> bool:
        """The input holds an edit of an earlier message (not a new one)."""
        return self._editing is not None

    @property
    def draft(self) -> str:
        """The new message typed and not sent (put aside while an earlier one is edited)."""
        return self._draft if self._editing is not None else self.composer.toPlainText()

    def _show_count(self) -> None:
        """Tokens of a long message against what fits (short ones are not counted)."""
        text = self.composer.toPlainText()
        measured = (
            self.session.measure(text) if len(text.encode("utf-8")) >= COUNT_FROM_BYTES else None
        )
        if measured is None:
            self.count_label.hide()
            return
        tokens, room = measured
        over = tokens > room
        self.count_label.setText(
            f"{tokens:,} tokens: {tokens - room:,} more than fit ({room:,})"
            if over
            else f"{tokens:,} of {room:,} tokens"
        )
        self.count_label.setProperty(ROLE_PROPERTY, ROLE_ERROR if over else "")
        self.count_label.style().unpolish(self.count_label)
        self.count_label.style().polish(self.count_label)
        self.count_label.show()

    def _start_from(self, example: str) -> None:
        self.composer.setPlainText(example)
        self.composer.moveCursor(QTextCursor.MoveOperation.End)
        self.composer.setFocus()

    def choose_files(self) -> None:
        # every file is offered: text has too many names (Makefile, .env, ...) to list, and
        # what is not text is refused with the reason
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach text files")
        if paths:
            self.composer.insert_files([Path(p) for p in paths])
            self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def _fit_settings_button(self) -> None:
        """As wide as it is in bold: the input beside it keeps its width when the chat gets
        settings of its own (and the button turns bold)."""
        button = self.settings_button
        bold = QFont(button.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        option = QStyleOptionButton()
        option.initFrom(button)
        option.text = button.text()
        # measured as QPushButton.sizeHint measures its text
        text = metrics.size(Qt.TextFlag.TextShowMnemonic, button.text())
        size = button.style().sizeFromContents(
            QStyle.ContentsType.CT_PushButton, option, text, button
        )
        button.setMinimumWidth(size.width())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the text size: the button's width too
            self._fit_settings_button()

    def open_chat_settings(self) -> ChatSettingsDialog:
        dialog = ChatSettingsDialog(self.session, self)
        dialog.accepted.connect(self.show_chat_settings)
        dialog.open()
        return dialog

    def show_chat_settings(self) -> None:
        """The settings button says when this chat has its own system prompt or sampling
        (they change every answer, and are otherwise out of sight)."""
        own: list[str] = []
        if self.session.has_own_system_prompt():
            prompt = self.session.system_prompt()
            shown = prompt if len(prompt) <= 60 else prompt[:59] + "…"
            own.append(f"system prompt “{shown}”" if prompt else "no system prompt")
        labels = ChatSettingsDialog.labels()
        own += [f"{labels.get(k, k)} {v}" for k, v in self.session.overrides().items()]
        # In bold when changed, as Qt Designer shows a property set away from its default
        # (a mark in the text, "Chat settings ●…", read as a typo).
        # Only the weight is set: size and family still follow the font size setting.
        font = QFont()
        font.setBold(bool(own))
        self.settings_button.setFont(font)
        self._fit_settings_button()
        described = (
            "This chat's own settings: " + "; ".join(own) + "."
            if own
            else "System prompt and sampling for this chat"
        )
        self.settings_button.setToolTip(described)
        self.settings_button.setAccessibleDescription(described)

    def _copy(self, text: str) -> None:
        copy_to_clipboard(text)
        self.notify.emit("Copied to the clipboard.")

    def _answers(self) -> list[MessageWidget]:
        """The answers shown that are written (not being written), last one last."""
        return [
            w for w in self.view.message_widgets()
            if w.role == "assistant" and w.status not in ("streaming", "waiting") and w.text.strip()
        ]  # fmt: skip

    def copy_last_answer(self) -> bool:
        answers = self._answers()
        if not answers:
            self.notify.emit("There is no answer to copy yet.")
            return False
        self._copy(answers[-1].text)
        return True

    def copy_last_code(self) -> bool:
        for answer in reversed(self._answers()):
            if blocks := answer.code_blocks():
                copy_to_clipboard(blocks[-1])
                self.notify.emit("Copied the code block to the clipboard.")
                return True
        self.notify.emit("No answer in this chat has a code block.")
        return False

    # -- session -> view ------------------------------------------------------------------
    def refresh(self) -> None:
        """Show what the history holds now (another program went on with this chat); a tab
        not filled yet stays so, it reads the history when first shown."""
        if not self._deferred:
            self.reload()

    def defer_reload(self) -> None:
        """Read the history and build the messages again when this tab is next shown."""
        self._deferred = True

    def reload(self) -> None:
        self._deferred = False
        self.show_chat_settings()
        self._show_entries(self.session.streaming_id)
        self._refresh_ratings()
        self._order_focus()
        if self.session.streaming_id is not None:
            widget = self.view.widgets.get(self.session.streaming_id)
            if widget is not None:
                widget.set_waiting(self.session.state == "waiting")

    def _show_entries(self, live_id: int | None) -> None:
        """The branch shown, from the first message shown on (long chats), with the context
        marker and "Continue" on the last answer where it applies."""
        entries = self.session.entries()
        hidden = self._hidden_count(entries)
        trim = self._trim_position(entries)
        if trim is not None:  # a marker above the messages shown goes on top of them
            trim = (max(0, trim[0] - hidden), trim[1])
        self.view.set_entries(entries[hidden:], trim, live_id, earlier=hidden)
        self.view.setVisible(bool(entries))
        self.empty.setVisible(not entries)
        widgets = self.view.message_widgets()
        for widget in widgets:  # new ones too (a branch shown while an answer is written)
            widget.set_chat_busy(self.session.state != "idle")
        for widget in widgets[:-1]:
            widget.set_continuable(False)
            widget.set_answerable(False)
        if widgets:
            last = entries[-1].message
            blocked = self._was_blocked(last.id)
            widgets[-1].set_continuable(can_continue(last) and not blocked)
            widgets[-1].set_answerable(last.role == "user" and not blocked)

    def _was_blocked(self, message_id: int) -> bool:
        """Whether the content filter kept ``message_id`` from the model (no "Answer" then:
        editing it is the way to send it)."""
        if self.feedback is None:
            return False
        return message_id in self.feedback.blocked_among([message_id])

    SHOWN = 30  # messages a long chat shows at first; "Show earlier messages" adds as many

    def _hidden_count(self, entries: list[Any]) -> int:
        """How many of ``entries`` stay above the ones shown: the first shown message stays
        the first (new turns add below it) unless it is no longer on the branch shown."""
        ids = [e.message.id for e in entries]
        if self._first_shown in ids:
            return ids.index(self._first_shown)
        hidden = max(0, len(entries) - self.SHOWN)
        self._first_shown = ids[hidden] if entries else None
        return hidden

    def show_earlier(self) -> None:
        entries = self.session.entries()
        hidden = self._hidden_count(entries)
        if hidden == 0:
            return
        widgets = self.view.message_widgets()
        if widgets:
            self.view.keep_in_place(widgets[0])
        self._first_shown = entries[max(0, hidden - self.SHOWN)].message.id
        self.reload()

    def reveal(self, message_id: int) -> None:
        """Show ``message_id`` (a search hit), loading earlier messages if it is above them,
        and scroll to it."""
        entries = self.session.entries()
        ids = [e.message.id for e in entries]
        if message_id not in ids:
            return
        if ids.index(message_id) < self._hidden_count(entries):
            self._first_shown = message_id
        self.reload()
        widget = self.view.widgets.get(message_id)
        if widget is not None:
            self.view.scroll_to(widget)

    def context_used(self) -> int | None:
        """Tokens of context the chat's last answer used (prompt and answer), if known."""
        return self.context_figures(None)[1]

    def context_figures(
        self, count: Callable[[str], int | None] | None, model: str = ""
    ) -> tuple[float | None, int | None, int | None]:
        """For the status bar, from one reading of the branch shown: the tokens per second
        of its last answer, the context that answer used, and, where no answer says (one
        imported, or with the answer still to come), about how much the chat would take
        counted from its text (``count``: a message's tokens; kept until the chat shown
        changes). None where not known. ``model``: the one in use; an answer another model
        wrote counted in that model's tokens, so the chat is counted anew."""
        path = self.session.path()
        last = next((m for m in reversed(path) if m.role == "assistant"), None)
        stats = (last.stats or {}) if last is not None else {}
        if last is not None and model and last.model and last.model != model:
            stats = {"decode_tok_s": stats.get("decode_tok_s")}
        speed = stats.get("decode_tok_s")
        used = stats.get("prompt_tokens", 0) + stats.get("generated_tokens", 0)
        return (
            float(speed) if isinstance(speed, int | float) and speed > 0 else None,
            used if isinstance(used, int) and used > 0 else None,
            self._estimate_of(path, count) if count is not None and not used else None,
        )

    def _estimate_of(self, path: list[Any], count: Callable[[str], int | None]) -> int | None:
        if not path:
            return None
        key = (path[-1].id, len(path[-1].content))
        if self._estimate is not None and self._estimate[0] == key:
            return self._estimate[1]
        total: int | None = 0
        for message in path:
            tokens = count(message.content)
            if tokens is None:
                total = None
                break
            total = (total or 0) + tokens + TEMPLATE_TOKENS
        self._estimate = (key, total)
        return total

    def _trim_position(self, entries: list[Any]) -> tuple[int, int] | None:
        """Where the context marker goes: (index of the first message still sent, dropped),
        for the last answer of the branch shown (the one being written, or as its stats
        say): an earlier answer's cut, or another branch's, says nothing about it."""
        ids = [e.message.id for e in entries]
        last = next((i for i in reversed(range(len(entries)))
                     if entries[i].message.role == "assistant"), None)  # fmt: skip
        if last is None:
            return None
        if self._trim is not None and self._trim[0] == ids[last]:
            dropped = self._trim[1]  # reported while it is written
        else:
            value = (entries[last].message.stats or {}).get("context_trimmed")
            dropped = value if isinstance(value, int) else 0
        if dropped <= 0:
            return None
        # the first `dropped` messages sent for that answer were left out
        return (min(dropped, last), dropped)

    def _order_focus(self) -> None:
        """Tab goes through the messages first, then the input and its buttons (the messages
        are created after the input, so Qt's default order would be the other way round)."""
        widgets = self.view.message_widgets()
        if not widgets:
            return
        chain: list[QWidget] = (
            [self.view.earlier_button] if self.view.earlier_button.isVisibleTo(self) else []
        )
        for w in widgets:
            banner = w.banner.findChildren(QAbstractButton) if w.banner is not None else []
            chain += [w, w.prev_button, w.next_button, *banner, w.reveal_button,
                      *w.focus_chain(), w.copy_button, w.edit_button, w.answer_button,
                      w.regen_button, w.continue_button, w.branch_button,
                      w.alternatives_button, w.thumbs_up, w.thumbs_down]  # fmt: skip
            chain += w.extra_actions
        chain += [self.composer, self.send_button, self.stop_button, self.settings_button,
                  self.attach_button]  # fmt: skip
        for a, b in itertools.pairwise(chain):
            QWidget.setTabOrder(a, b)

    def _on_state(self, state: str) -> None:
        busy = state != "idle"
        self.stop_button.setEnabled(busy)
        self.send_button.setEnabled(not busy)
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        widget = (
            self.view.widgets.get(self.session.streaming_id)
            if self.session.streaming_id is not None
            else None
        )
        if widget is not None:
            widget.set_waiting(state == "waiting")
        for shown in self.view.message_widgets():
            shown.set_chat_busy(busy)
        self.refresh_banner()
        self.state_changed.emit(state)

    def _on_refused(self, reason: str) -> None:
        """Nothing was asked (no model): say why above the box, until the next answer starts;
        what they typed stays in the box."""
        self.banner.setText(f"Not sent. {reason}")
        self.banner.show()

    def clear_refusal(self, reason: str) -> None:
        """``reason`` no longer holds (e.g. an import ended): its "Not sent" line goes."""
        if self.banner.text() == f"Not sent. {reason}":
            self.refresh_banner()

    def refresh_banner(self) -> None:
        if self._editing is not None:
            return
        if self.session.behind_another():
            self.banner.setText("Waiting: the model is answering in another tab.")
            self.banner.show()
        else:
            self.banner.hide()

    def _on_delta(self, message_id: int, text: str) -> None:
        widget = self.view.widgets.get(message_id)
        if widget is not None:
            widget.append(text)
            if self.feedback is not None:
                self._screen(message_id, widget, text)

    def _screen(self, message_id: int, widget: MessageWidget, text: str) -> None:
        """An answer the content filter would block stops as soon as it is seen to, hidden:
        not written out in full and blocked only once finished (the finished answer is then
        moderated and shows its banner, as any other). Each delta is looked at before it is
        painted: at most 125 a second (they are coalesced), 0.3 ms each."""
        assert self.feedback is not None
        if widget.body_hidden:
            return
        if self._screening is None or self._screening[0] != message_id:
            self._screening = (message_id, self.feedback.stream_screen())
        if self._screening[1].blocks(text):
            widget.set_body_hidden(True)
            self.session.stop()

    def _read_ahead(self) -> None:
        """The first key of a question in a chat with history: have the engine read the chat
        now, while the rest is typed (a long chat took seconds to a minute after Send)."""
        if self.session.state != "idle" or self.session.conversation_id is None:
            return
        widgets = self.view.message_widgets()  # on screen already: no reading per key
        key = (self.session.conversation_id, widgets[-1].message_id if widgets else None)
        if key == self._prefetched or key[1] is None or not self.composer.toPlainText().strip():
            return
        if self.session.prefetch():  # not while a model loads: the next key tries again
            self._prefetched = key

    def _on_reading(self, message_id: int, done: int, total: int) -> None:
        widget = self.view.widgets.get(message_id)
        if widget is not None:
            widget.show_reading(done, total)

    def _on_trimmed(self, message_id: int, dropped: int) -> None:
        self._trim = (message_id, dropped)
        self.reload()

    def _on_finished(self, message_id: int, status: str, stats: GenerationStats) -> None:
        widget = self.view.widgets.get(message_id)
        if status == DISCARDED:  # stopped before a word: the question is last again
            self._show_entries(None)
            self._order_focus()
            return
        if widget is not None:
            message = self.session.message(message_id)
            widget.finish(status, shown_stats(message), message.content)
        self._show_entries(message_id)
        self._refresh_ratings()
        self._order_focus()
        self.answer_stats.emit(stats)

    # -- feedback: ratings, content filter, comparisons -------------------------------------
    def _decorate(self, widget: MessageWidget) -> None:
        """Feedback controls on a message: thumbs and alternatives (answers), "should have
        been flagged" (every message) and the content filter's banner."""
        service = self.feedback
        if service is None:
            return
        from desktop.ui.moderation_banner import MissedFlagButton, ModerationBanner

        missed = MissedFlagButton()
        missed.idle_text = "Flag…"  # short: it is on every message (the full name is for readers)
        missed.setAutoRaise(True)
        mid = widget.message_id
        missed.show_reported(service.missed_categories(mid))  # as stored: it outlives the view
        missed.reported.connect(lambda category: service.report_false_negative(mid, category))
        missed.withdrawn.connect(lambda category: service.withdraw_false_negative(mid, category))
        widget.enable_feedback([missed])
        events = service.moderation_events(mid)
        shown = [e for e in events if e.action != "allow"]
        if shown:
            banner = ModerationBanner(shown)
            banner.mark_reported(service.wrongly_flagged_events(mid))  # as stored, too
            banner.wrongly_flagged.connect(service.report_false_positive)
            banner.report_withdrawn.connect(service.withdraw_false_positive)
            widget.set_banner(banner)
        else:
            widget.set_banner(None)
        hide = any(e.action == "block" and e.source == "output" for e in events)
        widget.set_body_hidden(hide)

    def _refresh_ratings(self) -> None:
        if self.feedback is None or not self.view.widgets:
            return
        ratings = self.feedback.ratings_for(list(self.view.widgets))
        for mid, widget in self.view.widgets.items():
            widget.set_rating(ratings.get(mid, 0))

    def _on_feedback_changed(self, message_id: int) -> None:
        if message_id in self.view.widgets:
            self._refresh_ratings()

    def _filter_input(self, message_id: int, text: str) -> bool:
        assert self.feedback is not None
        result = self.feedback.moderate(message_id, text, "input")
        if result.blocked:
            self.notify.emit(
                f"Your message was not sent to the model ({result.summary()}). It is kept in "
                "the chat; if this is wrong, say so on its banner."
            )
        elif result.flagged:
            self.notify.emit(f"Your message was {result.summary()}.")
        return result.blocked

    def _moderate_output(self, message_id: int, status: str, _stats: object) -> None:
        if self.feedback is None or status in ("error", DISCARDED):
            return
        text = self.session.message(message_id).content
        if not text.strip():
            return
        result = self.feedback.moderate(message_id, text, "output")
        widget = self.view.widgets.get(message_id)
        if result.blocked and widget is not None:
            widget.set_continuable(False)  # not fed back to the model to go on from
        if result.flagged and widget is not None:
            self._decorate(widget)
            self._order_focus()
            self.notify.emit(f"The answer was {result.summary()}.")

    def open_feedback(self, message_id: int, rating: int) -> FeedbackDialog | None:
        service = self.feedback
        widget = self.view.widgets.get(message_id)
        if service is None or widget is None:
            return None
        from desktop.ui.feedback_dialog import FeedbackDialog

        dialog = FeedbackDialog(
            widget.text, rating, existing=service.rating_for(message_id), parent=self
        )
        dialog.saved.connect(lambda draft: self._rate(message_id, draft))
        dialog.withdrawn.connect(lambda: self._withdraw_rating(message_id))
        dialog.finished.connect(lambda _result: self._back_from_feedback(message_id))
        self.feedback_dialog = dialog
        dialog.open()
        return dialog

    def _back_from_feedback(self, message_id: int) -> None:
        """The keys go back to the message rated (its rating buttons), not wherever Qt puts
        them once the buttons it had come from were redrawn (the search field)."""
        widget = self.view.widgets.get(message_id)
        if widget is not None and widget.thumbs_up.isVisible():
            widget.thumbs_up.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def _rate(self, message_id: int, draft: FeedbackDraft) -> None:
        assert self.feedback is not None
        record = self.feedback.rate(message_id, draft)
        state = next(
            (i.state for i in self.feedback.outbox_items() if i.record_uid == record.uid), None
        )
        where = {
            "review": " (it waits for your review in Feedback ▸ Outbox before it is sent)",
            "pending": " (and queued to send)",
        }.get(state or "", "")
        self.notify.emit(f"Thank you: your feedback is saved on this computer{where}.")

    def _withdraw_rating(self, message_id: int) -> None:
        assert self.feedback is not None
        self.feedback.withdraw_rating(message_id)
        self.notify.emit("Your feedback on this answer is withdrawn.")

    def regenerate_with(self, assistant_id: int, model: str) -> bool:
        """Answer again with ``model``: the window loads it (for every chat from now, as the
        status bar's switch does) and the new answer waits for it on the engine's worker."""
        if self.session.state != "idle":
            self.notify.emit("Wait for the answer being written to finish first.")
            return False
        self.model_requested.emit(model)
        return self.session.regenerate(assistant_id)

    def generate_alternatives(self, assistant_id: int) -> bool:
        """Write ALTERNATIVES more answers to the same prompt (other seeds, one after the other
        on the engine worker), then ask the user to rank them."""
        if self.feedback is None or self.session.state != "idle" or self._alternatives:
            self.notify.emit("Wait for the answer being written to finish first.")
            return False
        path = self.session.path()
        ids = [m.id for m in path]
        if assistant_id not in ids:
            return False
        index = ids.index(assistant_id)
        prompt = next((m.content for m in reversed(path[:index]) if m.role == "user"), "")
        # an answer cut off before its first word (or failed) is no answer to rank
        base = assistant_id if path[index].content.strip() else None
        self._alternatives = {
            "ids": [] if base is None else [base],
            "left": ALTERNATIVES,
            "prompt": prompt,
            "base": base,
        }
        self.notify.emit(f"Writing {ALTERNATIVES} alternative answers to compare…")
        if not self.session.regenerate(assistant_id, seed=random.randrange(2**31)):
            self._alternatives = None
            return False
        return True

    def _next_alternative(self, message_id: int, status: str, _stats: object) -> None:
        run = self._alternatives
        if run is None:
            return
        stats = (self.session.message(message_id).stats or {}) if status != DISCARDED else {}
        # an answer ended for repeating itself is written as far as it goes: rank it too
        written = status == "complete" or stats.get("finish_reason") == "repetition"
        if not written:
            self._alternatives = None
            base = run["base"]
            if base is not None and self.session.show(base):
                self.notify.emit(
                    "Alternatives stopped; your answer is shown again (those written stay as "
                    "its versions)."
                )
            else:
                self.notify.emit("Alternatives stopped; nothing to compare.")
            return
        run["ids"].append(message_id)
        run["left"] -= 1
        if run["left"] > 0:
            seed = random.randrange(2**31)
            # after the other handlers of this answer ran (the view is up to date)
            QTimer.singleShot(0, lambda: self.session.regenerate(message_id, seed=seed))
            return
        self._alternatives = None
        QTimer.singleShot(0, lambda: self.open_compare(run["prompt"], run["ids"], run["base"]))

    def open_compare(
        self, prompt: str, ids: list[int], base: int | None = None
    ) -> CompareDialog | None:
        """Rank the answers ``ids``; ``base``: the one the user asked alternatives for
        (shown again if the ranking is cancelled)."""
        service = self.feedback
        if service is None:
            return None
        answers = [(mid, self.session.message(mid).content) for mid in ids]
        from desktop.feedback.records import banner_text
        from desktop.ui.compare_dialog import CompareDialog

        blocked = {m: banner_text(service.moderation_events(m)) for m in service.blocked_among(ids)}
        dialog = CompareDialog(prompt, answers, parent=self, blocked=blocked)

        def ranked(ranking: list[int]) -> None:
            service.record_comparison(ids, ranking)
            self.notify.emit("Ranking saved; the best answer is shown.")
            self.reload()

        def all_bad() -> None:
            service.record_comparison(ids, None)
            # none is better: the answer the user asked alternatives for stays the one shown
            if base is not None and self.session.show(base):
                self.notify.emit("Saved: all these answers are bad. Your answer is shown again.")
            else:
                self.notify.emit("Saved: all these answers are bad.")
            self.reload()

        def cancelled() -> None:
            # the answer the user asked alternatives for, not the last one written
            if base is None:
                self.notify.emit("Not ranked; the alternatives stay as versions of the answer.")
            elif self.session.show(base):
                self.notify.emit(
                    "Not ranked. Your answer is shown again; the alternatives stay as its other "
                    "versions."
                )

        dialog.ranked.connect(ranked)
        dialog.all_bad.connect(all_bad)
        dialog.rejected.connect(cancelled)
        # back to writing in this chat (the keys went to whatever Qt picked: the search field)
        dialog.finished.connect(lambda _result: self.composer.setFocus())
        self.compare_dialog = dialog
        dialog.open()
        return dialog
