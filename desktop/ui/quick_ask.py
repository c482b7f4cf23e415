"""Quick ask: a small always-on-top window with one input line; the answer streams below it.

Every question is an ordinary conversation in the history (a ``ChatSession`` like a tab's), so
"Open in window" simply opens that conversation as a chat tab. Esc hides the window; opening it
again after an answer starts a new conversation.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QCursor, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.services.chat_session import DISCARDED, ChatSession
from desktop.ui.markdown import copied_code, renderer_for
from desktop.ui.message_view import (
    accessible,
    copy_to_clipboard,
    open_link,
    palette_for,
    show_link_target,
)


class QuickAskWindow(QWidget):
    """Signals: ``open_in_window(int)`` (the conversation to continue as a tab)."""

    open_in_window = Signal(int)

    def __init__(
        self, make_session: Callable[[], ChatSession], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("Parley — Quick ask")
        accessible(self, "Quick ask", "Ask Parley one question; Esc hides this window")
        self.resize(560, 300)
        self._make_session = make_session
        self._unseen = False  # an answer finished while the window was hidden
        # Always on top, it covered the buttons of a dialog the main window opened (an
        # export's Save): it steps aside for one (its answer goes on; the next Quick ask
        # shows it)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._step_aside)
        # the content filter on answers: (message id, text) -> the banner text when blocked
        self.output_check: Callable[[int, str], str | None] | None = None
        self.session: ChatSession | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Ask Parley… (Enter asks, Esc hides)")
        accessible(self.input, "Question", "Type a question; Enter asks; Up: an earlier one")
        self.input.installEventFilter(self)  # Up / Down: the questions asked before
        self._asked: list[str] = []
        self._recall = 0  # how far back Up went (0: the line being typed)
        layout.addWidget(self.input)
        self.question = QLabel()
        self.question.setTextFormat(Qt.TextFormat.PlainText)
        self.question.setWordWrap(True)
        accessible(self.question, "Question asked", "The question being answered")
        self.question.hide()
        layout.addWidget(self.question)
        self.answer = QTextBrowser()
        self.answer.setOpenLinks(False)
        self.answer.anchorClicked.connect(self._on_link)
        self.answer.highlighted.connect(show_link_target)
        accessible(self.answer, "Answer", "The answer, as it is written")
        layout.addWidget(self.answer, 1)
        row = QHBoxLayout()
        self.status = QLabel()
        accessible(self.status, "Quick-ask status")
        row.addWidget(self.status, 1)
        self.stop_button = QPushButton("Stop")
        accessible(self.stop_button, "Stop answer", "Stop the answer being written")
        self.stop_button.setEnabled(False)
        # shown only while an answer is written: three grey buttons read as three live ones
        self.stop_button.hide()
        self.copy_button = QPushButton("Copy")
        accessible(self.copy_button, "Copy answer", "Copy the answer (Ctrl+Shift+C)")
        self.copy_button.setEnabled(False)
        self.open_button = QPushButton("Open in window")
        accessible(self.open_button, "Open in window", "Continue this conversation as a chat tab")
        self.open_button.setEnabled(False)
        row.addWidget(self.stop_button)
        row.addWidget(self.copy_button)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        self._copied = ""  # the finished answer as written (Markdown), for Copy
        self._code: list[str] = []  # its code blocks, for their "Copy code" links
        self.input.returnPressed.connect(self.ask)
        self.stop_button.clicked.connect(self.stop)
        self.copy_button.clicked.connect(self.copy_answer)
        QShortcut(QKeySequence("Ctrl+Shift+C"), self, self.copy_answer)
        self.open_button.clicked.connect(self._open_in_window)

    # -- showing ------------------------------------------------------------------------
    def present(self) -> None:
        """Show, raised and focused; a finished quick ask makes room for a new one."""
        seen = not self._unseen
        self._unseen = False
        if (
            self.session is not None
            and self.session.state == "idle"
            and not self.isVisible()
            and seen  # an answer that finished behind Esc is shown first, not dropped
        ):
            self._forget_session()
            self.answer.clear()
            self.question.hide()
            self.status.clear()
            self.open_button.setEnabled(False)
            self._set_copied("")
        if not self.isVisible():
            self.place()
        self.show()
        self.raise_()
        self.activateWindow()
        self.input.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
        self.input.selectAll()

    def place(self) -> None:
        """Centred on the screen under the pointer, in its upper third (where a launcher
        opens), rather than wherever the window manager puts a new window."""
        screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        x = area.x() + (area.width() - self.width()) // 2
        y = area.y() + max(0, (area.height() - self.height()) // 4)
        self.move(x, y)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if (
            watched is self.input
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down)
        ):
            self.recall(1 if event.key() == Qt.Key.Key_Up else -1)
            return True
        return super().eventFilter(watched, event)

    def recall(self, step: int) -> None:
        """Up (``step`` 1) puts the question asked before the one shown in the line, as a
        shell's history does; Down goes forward again, to an empty line at the end."""
        position = max(0, min(len(self._asked), self._recall + step))
        if position == self._recall:
            return
        self._recall = position
        self.input.setText(self._asked[-position] if position else "")

    def _step_aside(self, _old: QWidget | None, _new: QWidget | None) -> None:
        modal = QApplication.activeModalWidget()
        if (
            self.isVisible()
            and modal is not None
            and modal is not self
            and not self.isAncestorOf(modal)
        ):
            self.hide()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.hide()  # the answer goes on; it is in the history either way
        event.ignore()

    # -- asking -------------------------------------------------------------------------
    def ask(self) -> bool:
        text = self.input.text().strip()
        if not text:
            return False
        session = self.session
        if session is None:
            session = self._make_session()
            session.setParent(self)
            session.delta.connect(self._on_delta)
            session.state_changed.connect(self._on_state)
            session.answer_finished.connect(self._on_finished)
            session.input_blocked.connect(self._on_blocked)
            session.error.connect(self.status.setText)
            session.refused.connect(self.status.setText)  # no model: the question stays
            self.session = session
        if session.state != "idle":
            self.status.setText("Wait for this answer, or press Stop.")
            return False
        follow_up = session.conversation_id is not None
        if not session.send(text):
            return False
        if not self._asked or self._asked[-1] != text:
            self._asked.append(text)
        self._recall = 0
        self.input.clear()
        self.answer.clear()
        self._set_copied("")
        if follow_up:  # the model reads the earlier questions too: say so
            self.question.setText(
                f"You asked, in the chat “{session.title()}”: {text}  (Esc, then a new quick "
                "ask, starts a new chat)"
            )
        else:
            self.question.setText(f"You asked: {text}")
        self.question.show()
        return True

    def stop(self) -> None:
        if self.session is not None:
            self.session.stop()

    def _on_delta(self, _message_id: int, text: str) -> None:
        cursor = self.answer.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        self.answer.setTextCursor(cursor)
        self.answer.ensureCursorVisible()

    def _on_state(self, state: str) -> None:
        self.stop_button.setEnabled(state != "idle")
        self.stop_button.setVisible(state != "idle")
        has_chat = self.session is not None and self.session.conversation_id is not None
        self.open_button.setEnabled(state == "idle" and has_chat)
        self.status.setText(
            {"waiting": "Waiting for the model…", "streaming": "Answering…"}.get(state, "")
        )

    def _on_finished(self, message_id: int, status: str, _stats: object) -> None:
        if not self.isVisible():
            self._unseen = True  # hidden while it was written: the next Quick ask shows it
        if self.session is None:
            return
        if status == DISCARDED:  # stopped before a word: there is no answer to show
            self.status.setText("Stopped before it began.")
            return
        text = self.session.message(message_id).content
        blocked = self.output_check(message_id, text) if self.output_check else None
        if blocked:
            self.answer.setPlainText(f"⚠ {blocked}. Open it in the window to see it anyway.")
            return
        # the whole answer once, formatted as in the chat (code, tables, math, links)
        rendered = renderer_for(palette_for(self)).render(text)
        self._code = rendered.code_blocks
        self.answer.setHtml(rendered.html.strip())
        self._set_copied(text)
        self.status.setText({"stopped": "Stopped.", "error": "The answer failed."}.get(status, ""))

    def _on_link(self, url: QUrl) -> None:
        """A code block's "Copy code", or a web link (opened in the browser)."""
        code = copied_code(url.toString(), self._code)
        if code is not None:
            copy_to_clipboard(code)
            self.status.setText("Code copied.")
        else:
            open_link(url)

    def _set_copied(self, text: str) -> None:
        self._copied = text
        self.copy_button.setEnabled(bool(text.strip()))

    def copy_answer(self) -> bool:
        """The finished answer, as the model wrote it (Markdown), to the clipboard."""
        if not self._copied.strip():
            return False
        copy_to_clipboard(self._copied)
        self.status.setText("Answer copied.")
        return True

    def _on_blocked(self, _message_id: int) -> None:
        self.open_button.setEnabled(True)
        self.status.setText("The content filter kept this question from the model.")

    def answer_text(self) -> str:
        return self.answer.toPlainText()

    def _open_in_window(self) -> None:
        if self.session is None or self.session.conversation_id is None:
            return
        conversation_id = self.session.conversation_id
        if self.session.state == "idle":
            self._forget_session()
        self.hide()
        self.open_in_window.emit(conversation_id)

    def _forget_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session.deleteLater()
            self.session = None
