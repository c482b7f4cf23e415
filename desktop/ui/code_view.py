"""Code blocks of an answer: plain text first, coloured a slice at a time.

A top-level fenced code block is shown in its own ``CodeBlockView`` (a plain-text document, no
wrapping, with a Copy button) instead of inside the message's rich text. While the block is being
written its new lines are appended to the document, so an open block of 2,000 lines costs what
its new lines cost, not a re-render of the whole block per repaint. Once the block is closed,
Pygments lexes it in slices of a few milliseconds (a ``SliceQueue`` shared by the conversation
runs them between other events) and a ``QSyntaxHighlighter`` colours the lines already lexed:
the layout of a plain-text document is incremental, where re-importing highlighted HTML into a
``QTextDocument`` costs ~0.3 ms per line on this machine.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QPainter,
    QPaintEvent,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from desktop.ui.markdown import Palette, load_pygments
from desktop.ui.theme import line_height

if TYPE_CHECKING:  # Pygments loads with the first code block (or ``warm_up``), not at start
    from pygments.lexer import Lexer
    from pygments.token import _TokenType

# work done per event-loop turn by a SliceQueue; the streaming view's turn (TURN_BUDGET_S) runs
# in the same turn, and both with a paint fit a 16 ms frame on a loaded 2-core machine
SLICE_S = 0.002
# A plain-text view lays out every line it is given (~8 µs a line here: the widest line sets
# its horizontal scroll range), so a long block goes in this many lines at a time: the first
# ones at once, the rest in SliceQueue slices.
FILL_LINES = 250
Step = Callable[[float], bool]  # step(deadline) -> True when finished


class SliceQueue(QObject):
    """Runs background steps on the GUI thread, at most ``SLICE_S`` per event-loop turn in
    total, whatever the number of jobs (one per code block being coloured)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: deque[Step] = deque()
        self._paused_until = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(1)  # leave room for input and paint events between slices
        self._timer.timeout.connect(self._run)

    def add(self, step: Step) -> None:
        self._jobs.append(step)
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> int:
        return len(self._jobs)

    def pause(self, seconds: float) -> None:
        """Run no job for ``seconds``: the caller made work for this turn's layout and paint
        (new parts on screen) and the turn should not grow by a slice too."""
        self._paused_until = time.perf_counter() + seconds

    def drain(self) -> None:
        """Run every job to the end now (tests, screenshots)."""
        while self._jobs:
            self._run(budget=1e9)

    def _run(self, budget: float = SLICE_S) -> None:
        now = time.perf_counter()
        if budget == SLICE_S and now < self._paused_until:
            self._timer.start()
            return
        deadline = now + budget
        while self._jobs and time.perf_counter() < deadline:
            step = self._jobs[0]
            owner = getattr(step, "__self__", None)
            if isinstance(owner, QObject) and not Shiboken.isValid(owner):
                # its code block went meanwhile (a version switched, a chat reloaded)
                self._jobs.popleft()
                continue
            try:
                finished = step(deadline)
            except Exception:
                self._jobs.popleft()  # not run again on every turn after (and in front)
                raise
            if finished:
                self._jobs.popleft()
            else:
                self._jobs.rotate(-1)  # round robin: every block makes progress
        if self._jobs:
            self._timer.start()


@lru_cache(maxsize=64)
def lexer_for(lang: str) -> Lexer:
    """A shared lexer (``get_tokens`` keeps its state in the generator, not the lexer)."""
    load_pygments()
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    # stripnl=False: line numbers of the tokens must match the document's blocks
    try:
        return get_lexer_by_name(lang, stripnl=False) if lang else TextLexer(stripnl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


@lru_cache(maxsize=4)
def _formats_of(style: str) -> dict[_TokenType, QTextCharFormat | None]:
    return {}  # filled as token types are met; shared by the code blocks of one style


class PygmentsHighlighter(QSyntaxHighlighter):
    """Colours the lines of a document from Pygments tokens computed in slices."""

    def __init__(self, document: QTextDocument, style: str) -> None:
        from pygments.styles import get_style_by_name

        super().__init__(document)
        self._style = get_style_by_name(style)
        self._formats = _formats_of(style)
        self._lines: list[list[tuple[int, int, QTextCharFormat]]] = []
        self._tokens: Iterator[tuple[_TokenType, str]] | None = None
        self.done = False

    def start(self, code: str, lang: str) -> Step:
        """Begin lexing ``code``; returns the step to run in slices."""
        self._tokens = iter(lexer_for(lang).get_tokens(code))
        self._lines = [[]]
        self._column = 0
        self.done = False
        return self._step

    def _format(self, ttype: _TokenType) -> QTextCharFormat | None:
        if ttype not in self._formats:
            spec = self._style.style_for_token(ttype)
            fmt: QTextCharFormat | None = None
            if spec["color"] or spec["bold"] or spec["italic"]:
                fmt = QTextCharFormat()
                if spec["color"]:
                    fmt.setForeground(QColor(f"#{spec['color']}"))
                if spec["bold"]:
                    fmt.setFontWeight(QFont.Weight.Bold)
                if spec["italic"]:
                    fmt.setFontItalic(True)
            self._formats[ttype] = fmt
        return self._formats[ttype]

    def _step(self, deadline: float) -> bool:
        assert self._tokens is not None
        first = len(self._lines) - 1
        finished = True
        for count, (ttype, value) in enumerate(self._tokens, 1):
            fmt = self._format(ttype)
            parts = value.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._lines.append([])
                    self._column = 0
                if part and fmt is not None:
                    self._lines[-1].append((self._column, len(part), fmt))
                self._column += len(part)
            if count % 4 == 0 and time.perf_counter() >= deadline:
                finished = False
                break
        last = len(self._lines) - (1 if finished else 2)  # the last line may be incomplete
        document = self.document()
        for number in range(first, last + 1):
            block = document.findBlockByNumber(number)
            if block.isValid():
                self.rehighlightBlock(block)
        self.done = finished
        return finished

    def highlightBlock(self, text: str) -> None:  # noqa: N802
        number = self.currentBlock().blockNumber()
        if number < len(self._lines) - (0 if self.done else 1):
            for start, length, fmt in self._lines[number]:
                self.setFormat(start, length, fmt)


class CodeText(QPlainTextEdit):
    """The code itself: read-only, no wrapping (long lines scroll sideways), as tall as its
    lines (the conversation scrolls, not the block)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        # only the family is set: the size follows the window's (the font size setting)
        mono = QFont()
        mono.setFamilies([QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()])
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(mono)
        self.document().setDocumentMargin(4)
        self.document().blockCountChanged.connect(self._fit)
        self.horizontalScrollBar().rangeChanged.connect(self._fit)
        self._fit()

    def changeEvent(self, event: Any) -> None:  # noqa: N802
        super().changeEvent(event)
        self._fit()  # the font size changed: so did the line height

    def _fit(self, *_: object) -> None:
        # no wrapping: one block is one line, so the height needs no layout pass
        lines = self.document().blockCount()
        margin = 2 * self.document().documentMargin()
        height = lines * line_height(self.font()) + margin + 2 * self.frameWidth()
        bar = self.horizontalScrollBar()
        if bar.maximum() > 0:
            height += bar.sizeHint().height()
        if int(height) != self.height():
            self.setFixedHeight(int(height))


class CodeBlockView(QFrame):
    """One fenced code block: a header with the language and a Copy button, then the code.
    ``append`` adds text while the block is being written; ``close_block`` starts colouring."""

    copy_text = Signal(str)

    def __init__(
        self,
        lang: str,
        palette: Palette,
        queue: SliceQueue,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.lang = lang
        self.closed = False
        self._queue = queue
        self._background = QColor(palette.code_bg)
        self._border = QColor(palette.border)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 4)
        layout.setSpacing(0)
        header = QHBoxLayout()
        name = lang or "code"
        self.label = QLabel(name)
        muted = self.label.palette()
        muted.setColor(QPalette.ColorRole.WindowText, QColor(palette.muted))
        self.label.setPalette(muted)
        self.label.setAccessibleName(f"Language: {name}")
        self.label.setToolTip(f"Code block ({name})")
        header.addWidget(self.label)
        header.addStretch(1)
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy code")
        self.copy_button.setAutoRaise(True)
        self.copy_button.setAccessibleName("Copy code")
        self.copy_button.setToolTip("Copy this code to the clipboard")
        self.copy_button.clicked.connect(lambda: self.copy_text.emit(self.code))
        header.addWidget(self.copy_button)
        layout.addLayout(header)
        self.text = CodeText(self)
        self.text.setAccessibleName(f"{name} code")
        self.text.setToolTip("Code (select to copy)")
        colours = self.text.palette()
        colours.setColor(QPalette.ColorRole.Base, QColor(palette.code_bg))
        colours.setColor(QPalette.ColorRole.Text, QColor(palette.text))
        self.text.setPalette(colours)
        layout.addWidget(self.text)
        self.highlighter = PygmentsHighlighter(self.text.document(), palette.pygments_style)
        self._code = ""  # the whole code (what Copy copies)
        self._shown = 0  # how much of it the document holds
        self._filling = False  # a fill job is queued

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        # drawn here rather than by a style sheet: polishing a style sheet costs ~1 ms a block
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self._border)
        painter.setBrush(self._background)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)

    @property
    def code(self) -> str:
        return self._code

    def set_code(self, code: str) -> None:
        """Show ``code``. When the code shown is a prefix of it (a block being written grows
        at its end), only the new text is inserted. Up to FILL_LINES new lines go in now, the
        rest in slices (``code`` is the whole code at once)."""
        if code == self._code:
            return
        if not code.startswith(self._code):
            self.text.setPlainText("")
            self._shown = 0
        self._code = code
        self._put(FILL_LINES)
        if self._shown < len(code) and not self._filling:
            self._filling = True
            self._queue.add(self._fill)

    def _put(self, lines: int) -> None:
        """Insert up to ``lines`` more lines of the code into the document."""
        end = self._shown
        for _ in range(lines):
            end = self._code.find("\n", end) + 1
            if end == 0:
                end = len(self._code)
                break
        if end > self._shown:
            cursor = QTextCursor(self.text.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(self._code[self._shown : end])
            self._shown = end

    def _fill(self, deadline: float) -> bool:
        while self._shown < len(self._code):
            if time.perf_counter() >= deadline:
                return False
            self._put(FILL_LINES // 4)
        self._filling = False
        if self.closed:  # colouring waited for the whole text
            self._queue.add(self.highlighter.start(self.code, self.lang))
        return True

    def close_block(self) -> None:
        """The closing fence arrived (or the answer ended): colour the code, in slices."""
        if self.closed:
            return
        self.closed = True
        if not self._filling:  # else the fill starts the colouring when it is done
            self._queue.add(self.highlighter.start(self.code, self.lang))


def warm_up(palette: Palette) -> None:
    """Import and compile the lexers answers use most and the Pygments style (~80 ms)."""
    from pygments.styles import get_style_by_name

    for lang in ("python", "bash", "javascript", "json", "c", "cpp", "rust", "html"):
        lexer_for(lang)
    get_style_by_name(palette.pygments_style)
