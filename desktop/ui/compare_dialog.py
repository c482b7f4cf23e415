"""Rank 2 to 4 alternative answers to the same prompt, best first, or call them all bad.

Ranking works by dragging the answers in the list, or from the keyboard: select an answer and
press a number (1 to n) to put it in that place, or Alt+Up / Alt+Down to move it one place. The
full text of the selected answer shows beside the list.

The window opens it as ``CompareDialog(prompt_text, [(message_id, text), ...], parent=...)``
and connects ``ranked(list[int])`` (ids best first) and ``all_bad()``. Answers the content
filter blocked (``blocked``: id -> its banner) are hidden as in the chat until "Show the text
anyway": they can still be ranked (last, usually) without being read.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.feedback_dialog import describe
from desktop.ui.markdown import copied_code, renderer_for
from desktop.ui.message_view import copy_to_clipboard, palette_for

PREVIEW_CHARS = 90
ID_ROLE = Qt.ItemDataRole.UserRole
TEXT_ROLE = Qt.ItemDataRole.UserRole + 1
PREVIEW_ROLE = Qt.ItemDataRole.UserRole + 2
SHARED_WORDS = 10  # answers that start alike for longer are shown from a little before they part


_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}.*$", re.MULTILINE)
# list markers too: "1. Use itertools" behind the rank "1." read as "1.  1. Use itertools"
_MARKS = re.compile(r"\*\*|__|`|^\s{0,3}#{1,6}\s|^\s*(?:\d{1,3}[.)]|[-*+])\s+", re.MULTILINE)


def _plain(text: str) -> str:
    """The words of a Markdown answer as they read on screen (fences, table rules, emphasis,
    heading and list marks dropped; table cells apart), for the one-line previews."""
    text = _TABLE_RULE.sub("", _FENCE.sub("", text))
    return _MARKS.sub("", text).replace("|", " ")


def _first_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


def previews(texts: Sequence[str]) -> list[str]:
    """A line per answer that tells it apart from the others: answers to one prompt often
    start with the same words (one seed's answer may follow another's for a sentence), so
    each is shown from a few words before it parts from the most similar one, with its
    length."""
    words = [_plain(text).split() for text in texts]
    out = []
    for i, own in enumerate(words):
        shared = 0
        for j, other in enumerate(words):
            if j != i:
                same = next(
                    (k for k, (a, b) in enumerate(zip(own, other, strict=False)) if a != b),
                    min(len(own), len(other)),
                )
                shared = max(shared, same)
        start = shared - 3 if shared >= SHARED_WORDS and shared < len(own) else 0
        line = _first_line(" ".join(own[start:]))
        count = len(own)
        out.append(f"{'…' if start else ''}{line}  ({count} word{'s' if count != 1 else ''})")
    return out


class CompareDialog(QDialog):
    ranked = Signal(list)  # message ids, best first
    all_bad = Signal()

    def __init__(
        self,
        prompt: str,
        alternatives: Sequence[tuple[int, str]],
        parent: QWidget | None = None,
        blocked: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__(parent)
        if not 2 <= len(alternatives) <= 4:
            raise ValueError("compare 2 to 4 answers")
        self.setWindowTitle("Compare answers")
        self.setAccessibleName("Compare answers")
        self.resize(760, 420)
        self.result_ranking: list[int] | None = None
        self.result_all_bad = False
        self.blocked = dict(blocked or {})  # hidden until shown anyway
        n = len(alternatives)

        layout = QVBoxLayout(self)
        asked = QLabel(f"You asked: {_first_line(prompt)}")
        asked.setTextFormat(Qt.TextFormat.PlainText)
        asked.setToolTip(prompt)
        layout.addWidget(asked)
        self.instructions = QLabel(
            f"Put the best answer first: drag the answers, or select one and press 1 to {n} to "
            "give it that place (Alt+Up / Alt+Down move it one place)."
        )
        self.instructions.setWordWrap(True)
        layout.addWidget(self.instructions)

        row = QHBoxLayout()
        self.list = QListWidget()
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setWordWrap(True)
        self.list.setMinimumWidth(300)
        describe(
            self.list,
            "Answers, best first",
            f"Drag to reorder, or press 1 to {n} to move the selected answer to that place.",
        )
        lines = previews([text for _, text in alternatives])
        for (message_id, text), line in zip(alternatives, lines, strict=True):
            item = QListWidgetItem()
            item.setData(ID_ROLE, message_id)
            item.setData(TEXT_ROLE, text)
            banner = self.blocked.get(message_id)
            item.setData(PREVIEW_ROLE, f"⚠ {banner}" if banner else line)
            item.setToolTip(banner or text)
            self.list.addItem(item)
        self.list.installEventFilter(self)
        self.list.model().rowsMoved.connect(self._renumber)
        self.list.currentRowChanged.connect(self._show_current)
        row.addWidget(self.list, 2)

        # rendered as in the chat (code, lists, tables): the answers are ranked as read there
        self.preview = QTextBrowser()
        self.preview.setOpenLinks(False)  # model output never opens anything by itself
        self.preview.setTabChangesFocus(True)
        self.preview.anchorClicked.connect(self._on_link)
        self._code: list[str] = []  # the code blocks of the answer shown, for "Copy code"
        describe(self.preview, "Selected answer", "The full text of the selected answer.")
        side = QVBoxLayout()
        side.addWidget(self.preview, 1)
        self.reveal_button = QPushButton("Show the text anyway")
        self.reveal_button.setAutoDefault(False)
        describe(
            self.reveal_button,
            "Show the text anyway",
            "The content filter blocked this answer; show its text to rank it",
        )
        self.reveal_button.clicked.connect(lambda: self.reveal(self.list.currentRow()))
        self.reveal_button.hide()
        side.addWidget(self.reveal_button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addLayout(side, 3)
        layout.addLayout(row, 1)

        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton(
            "&Save ranking", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.save_button.setDefault(True)
        describe(
            self.save_button,
            "Save ranking",
            "Save this order; the first answer becomes the one shown in the chat.",
        )
        self.bad_button = buttons.addButton("&All bad", QDialogButtonBox.ButtonRole.ActionRole)
        self.bad_button.setAutoDefault(False)
        describe(self.bad_button, "All bad", "None of these answers is acceptable.")
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)
        describe(cancel, "Cancel", "Close without saving a comparison (Esc).")
        self.save_button.clicked.connect(self._save)
        self.bad_button.clicked.connect(self._all_bad)
        cancel.clicked.connect(self.reject)
        layout.addWidget(buttons)

        self._renumber()
        self.list.setCurrentRow(0)
        self.list.setFocus()

    # ---------------------------------------------------------------- ranking

    def ranking(self) -> list[int]:
        """Message ids in the order shown, best first."""
        return [int(self.list.item(row).data(ID_ROLE)) for row in range(self.list.count())]

    def move_to(self, row: int, place: int) -> None:
        """Move the answer at ``row`` to ``place`` (0-based) and keep it selected."""
        place = max(0, min(place, self.list.count() - 1))
        if row == place or not 0 <= row < self.list.count():
            return
        item = self.list.takeItem(row)
        self.list.insertItem(place, item)
        self.list.setCurrentRow(place)
        self._renumber()

    def _renumber(self, *_: object) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            line = str(item.data(PREVIEW_ROLE))
            item.setText(f"{row + 1}.  {line}")
            place = "best" if row == 0 else f"place {row + 1}"
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{place}: {line}")

    def _show_current(self, row: int) -> None:
        item = self.list.item(row) if row >= 0 else None
        if item is None:
            self.reveal_button.hide()
            self.preview.clear()
            self._code = []
            return
        banner = self.blocked.get(int(item.data(ID_ROLE)))
        self.reveal_button.setVisible(bool(banner))
        if banner:
            self._code = []
            self.preview.setHtml(
                f"<p>⚠ {html.escape(banner)}: this answer is hidden, as in the chat.</p>"
            )
            return
        rendered = renderer_for(palette_for(self)).render(str(item.data(TEXT_ROLE)))
        self._code = rendered.code_blocks
        self.preview.setHtml(rendered.html)

    def _on_link(self, url: QUrl) -> None:
        code = copied_code(url.toString(), self._code)
        if code is not None:
            copy_to_clipboard(code)

    def reveal(self, row: int) -> None:
        """Show a blocked answer's text (the user asked to see it)."""
        item = self.list.item(row)
        if item is None:
            return
        self.blocked.pop(int(item.data(ID_ROLE)), None)
        text = str(item.data(TEXT_ROLE))
        item.setToolTip(text)
        item.setData(PREVIEW_ROLE, _first_line(_plain(text)))
        self._renumber()
        self._show_current(row)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.list and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if self._key(event):
                return True
        return super().eventFilter(watched, event)

    def _key(self, event: QKeyEvent) -> bool:
        row = self.list.currentRow()
        key = event.key()
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and not alt:
            place = key - Qt.Key.Key_1
            if place < self.list.count():
                self.move_to(row, place)
                return True
        if alt and key == Qt.Key.Key_Up:
            self.move_to(row, row - 1)
            return True
        if alt and key == Qt.Key.Key_Down:
            self.move_to(row, row + 1)
            return True
        return False

    # ---------------------------------------------------------------- results

    def _save(self) -> None:
        self.result_ranking = self.ranking()
        self.ranked.emit(self.result_ranking)
        self.accept()

    def _all_bad(self) -> None:
        self.result_all_bad = True
        self.all_bad.emit()
        self.accept()
