"""Search results in the sidebar: each chat's title once, in bold, with its matching messages
under it ("You: … aurora **borealis** …"), the matched words in bold.

The store returns one hit per title or message, newest first; shown as they came, a chat with
three matching messages repeated its title three times and a snippet's matches were only
marked with « ». Rows keep the hits' order by the first hit of each chat."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QListWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.services.history import SearchHitLike
from desktop.ui.sidebar import ROLE_MESSAGE

ROLE_HTML = Qt.ItemDataRole.UserRole + 2
ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System"}
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class ResultRow:
    """One row: a chat's title (``message_id`` None) or one of its matching messages."""

    conversation_id: int
    message_id: int | None
    text: str  # plain, for screen readers and tooltips
    html: str  # what the row shows


# Markdown's marks in a message's text, left out of its snippet: fences (with their language),
# backticks, bold and italic underscores or stars, and a link's brackets and address (its
# words stay).
_MARKUP = re.compile(r"`{3,}[\w+#.-]*|`|\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]*)\)")


def plain_snippet(
    text: str, highlights: Sequence[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """``text`` without its Markdown marks, and ``highlights`` moved to match."""
    dropped = bytearray(len(text) + 1)
    for match in _MARKUP.finditer(text):
        dropped[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
    for match in _LINK.finditer(text):
        dropped[match.start()] = 1
        end = match.end()
        dropped[match.end(1) : end] = b"\x01" * (end - match.end(1))
    new_index = [0] * (len(text) + 1)
    kept: list[str] = []
    for i, char in enumerate(text):
        new_index[i] = len(kept)
        if not dropped[i]:
            kept.append(char)
    new_index[len(text)] = len(kept)
    moved = [(new_index[a], new_index[b]) for a, b in highlights]
    return "".join(kept), [(a, b) for a, b in moved if b > a]


def marked_html(text: str, highlights: Sequence[tuple[int, int]]) -> str:
    """``text`` escaped for HTML, each highlighted span in bold."""
    out, last = [], 0
    for start, end in highlights:
        out += [escape(text[last:start]), "<b>", escape(text[start:end]), "</b>"]
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


def result_rows(hits: Sequence[SearchHitLike]) -> list[ResultRow]:
    """Group ``hits`` by chat: its title row, then a row per matching message."""
    order: list[int] = []
    titles: dict[int, str] = {}
    messages: dict[int, list[SearchHitLike]] = {}
    for hit in hits:
        cid = hit.conversation_id
        if cid not in titles:
            order.append(cid)
            titles[cid] = hit.conversation_title
            messages[cid] = []
        if hit.message_id is not None:
            messages[cid].append(hit)
    rows: list[ResultRow] = []
    for cid in order:
        title = titles[cid]
        rows.append(ResultRow(cid, None, title, f"<b>{escape(title)}</b>"))
        for hit in messages[cid]:
            who = ROLE_LABELS.get(hit.role or "", hit.role or "")
            snippet, highlights = plain_snippet(hit.snippet, hit.highlights)
            text = f"{who}: {snippet}"
            html = f"{escape(who)}: {marked_html(snippet, highlights)}"
            rows.append(ResultRow(cid, hit.message_id, text, html))
    return rows


class ResultDelegate(QStyledItemDelegate):
    """Paints a row's HTML (``ROLE_HTML``), wrapped to the list's width; message rows are
    indented under their chat's title."""

    def __init__(self, view: QListWidget) -> None:
        super().__init__(view)
        self._view = view

    def _document(self, option: QStyleOptionViewItem, index: Index, width: int) -> QTextDocument:
        doc = QTextDocument()
        doc.setDefaultFont(option.font)
        doc.setDocumentMargin(3)
        doc.setHtml(str(index.data(ROLE_HTML)))
        doc.setTextWidth(max(40, width - self._indent(index, option)))
        return doc

    def _indent(self, index: Index, option: QStyleOptionViewItem) -> int:
        if index.data(ROLE_MESSAGE) in (None, -1):
            return 0
        return option.fontMetrics.horizontalAdvance("M") * 2

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        if not index.data(ROLE_HTML):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget: QWidget | None = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect = opt.rect
        doc = self._document(opt, index, rect.width())
        context = QAbstractTextDocumentLayout.PaintContext()
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(
            QPalette.ColorRole.Text,
            opt.palette.color(role),
        )
        painter.save()
        painter.translate(rect.left() + self._indent(index, opt), rect.top())
        doc.documentLayout().draw(painter, context)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        if not index.data(ROLE_HTML):
            return super().sizeHint(option, index)
        width = self._view.viewport().width()
        doc = self._document(option, index, width)
        return QSize(width, int(doc.size().height()) + 2)
