"""The conversation: one widget per message in a scroll area.

Finished messages are rendered once (``render_cached``: the same text and palette give the same
HTML). A streaming message is split in two: the finished blocks, re-rendered only when another
block completes, and the unfinished tail, re-rendered on a 40 ms throttle. Re-rendering the whole
message on every token is quadratic and stalls the GUI on long answers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.markdown import (
    COPY_SCHEME,
    DARK,
    LIGHT,
    Palette,
    Rendered,
    renderer_for,
    split_stable,
)

REPAINT_MS = 40
CHUNK_CHARS = 1500  # at most this much Markdown is rendered per event-loop turn
ROLE_NAMES = {"user": "You", "assistant": "Assistant", "system": "System"}
STATUS_TEXT = {
    "streaming": "writing…",
    "waiting": "waiting for the model…",
    "stopped": "stopped",
    "error": "failed",
    "interrupted": "interrupted",
}


def palette_for(widget: QWidget | None = None) -> Palette:
    """The Markdown palette matching the current Qt palette (dark when the window is dark)."""
    qpal = widget.palette() if widget is not None else QApplication.palette()
    return DARK if qpal.color(QPalette.ColorRole.Window).lightness() < 128 else LIGHT


@lru_cache(maxsize=1024)
def render_cached(text: str, palette: Palette) -> Rendered:
    return renderer_for(palette).render(text)


def accessible(widget: QWidget, name: str, tip: str | None = None) -> None:
    """Every control gets an accessible name and a tooltip (screen readers, hover help)."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip or name)


class RichText(QTextBrowser):
    """Read-only rich text that is as tall as its content (the scroll area scrolls, not it).
    Links ``copy-code:N`` copy code block N; others are reported by ``link_activated``."""

    link_activated = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.anchorClicked.connect(self.link_activated)
        self.code_blocks: list[str] = []
        self._fit()

    def set_rendered(self, html: str, code_blocks: list[str]) -> None:
        self.code_blocks = code_blocks
        self.setHtml(html)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        width = self.viewport().width()
        if width != self.document().textWidth():  # an equal width would still re-lay out all
            self.document().setTextWidth(width)
        self._fit()

    def _fit(self, *_: object) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(max(height, 4))


class MessageWidget(QFrame):
    """One message: header (who, the <n/m> version switcher, status), body, actions.
    Alt+Left / Alt+Right switch versions when the message has the focus."""

    copy_text = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    continue_requested = Signal(int)
    switch_requested = Signal(int, int)

    def __init__(
        self,
        message_id: int,
        role: str,
        content: str,
        status: str,
        position: tuple[int, int],
        stats: Mapping[str, Any] | None,
        palette: Palette,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.role = role
        self.status = status
        self.text = content
        self.position = position
        self._palette = palette
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if role == "user":
            self.setAutoFillBackground(True)
            self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        speaker = ROLE_NAMES.get(role, role.title())
        self.setAccessibleName(f"{speaker} message")
        self.setToolTip("")  # the body carries the text; the frame itself is a container

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)

        header = QHBoxLayout()
        self.who = QLabel(f"<b>{speaker}</b>")
        accessible(self.who, f"{speaker}", f"Written by: {speaker}")
        header.addWidget(self.who)
        self.prev_button = self._tool(
            "\u2039", "Previous version", "Show the previous version (Alt+Left)"
        )
        self.prev_button.clicked.connect(lambda: self.switch_requested.emit(self.message_id, -1))
        self.position_label = QLabel()
        accessible(self.position_label, "Version", "Which version of this turn is shown")
        self.next_button = self._tool("\u203a", "Next version", "Show the next version (Alt+Right)")
        self.next_button.clicked.connect(lambda: self.switch_requested.emit(self.message_id, 1))
        for w in (self.prev_button, self.position_label, self.next_button):
            header.addWidget(w)
        header.addStretch(1)
        self.status_label = QLabel()
        accessible(self.status_label, "Message status")
        header.addWidget(self.status_label)
        layout.addLayout(header)

        self.body = RichText(self)
        accessible(self.body, f"{speaker} message text", "Message text (select to copy)")
        self.body.link_activated.connect(self._on_link)
        layout.addWidget(self.body)
        # A streamed answer is shown as one RichText per finished chunk (rendered once, laid
        # out once) plus the tail; appending to one document would re-lay out all of it.
        self.chunks: list[RichText] = []
        self._chunk_layout = QVBoxLayout()
        self._chunk_layout.setSpacing(6)
        self._chunk_layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._chunk_layout)
        self.tail = RichText(self)
        accessible(self.tail, "Text being written", "The part of the answer being written")
        self.tail.link_activated.connect(self._on_link)
        self.tail.hide()
        layout.addWidget(self.tail)

        actions = QHBoxLayout()
        actions.setSpacing(2)
        self.copy_button = self._tool("Copy", "Copy message", "Copy this message as Markdown")
        self.copy_button.clicked.connect(lambda: self.copy_text.emit(self.text))
        actions.addWidget(self.copy_button)
        self.edit_button = self._tool(
            "Edit", "Edit message", "Edit and resend; the old version is kept"
        )
        self.edit_button.clicked.connect(lambda: self.edit_requested.emit(self.message_id))
        self.regen_button = self._tool(
            "Regenerate", "Regenerate answer", "Answer again; the old answer is kept as a version"
        )
        self.regen_button.clicked.connect(lambda: self.regenerate_requested.emit(self.message_id))
        self.continue_button = self._tool(
            "Continue",
            "Continue interrupted answer",
            "This answer was cut off when Parley closed: answer again (the partial text is kept "
            "as an earlier version)",
        )
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.message_id))
        for w in (self.edit_button, self.regen_button, self.continue_button):
            actions.addWidget(w)
        actions.addStretch(1)
        self.stats_label = QLabel()
        accessible(self.stats_label, "Answer statistics")
        actions.addWidget(self.stats_label)
        layout.addLayout(actions)

        # streaming state
        self._stable_len = 0
        self._stable_code: list[str] = []
        self._finishing = False
        self._final_stats: Mapping[str, Any] | None = None
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(REPAINT_MS)
        self._repaint_timer.timeout.connect(self._repaint_stream)
        self.render_count = 0  # how many times the whole text was rendered (for tests/bench)

        self._apply_state(stats)
        if status == "streaming":
            self._repaint_stream()
        else:
            self._render_full()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.AltModifier and event.key() in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
        ):
            step = -1 if event.key() == Qt.Key.Key_Left else 1
            self.switch_requested.emit(self.message_id, step)
            return
        super().keyPressEvent(event)

    def _tool(self, text: str, name: str, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setAutoRaise(True)
        accessible(button, name, tip)
        return button

    # -- state ----------------------------------------------------------------------------
    def _apply_state(self, stats: Mapping[str, Any] | None) -> None:
        index, count = self.position
        many = count > 1
        for w in (self.prev_button, self.position_label, self.next_button):
            w.setVisible(many)
        self.position_label.setText(f"{index}/{count}")
        self.position_label.setAccessibleName(f"Version {index} of {count}")
        self.prev_button.setEnabled(index > 1)
        self.next_button.setEnabled(index < count)
        busy = self.status in ("streaming", "waiting")
        self.status_label.setText(STATUS_TEXT.get(self.status, ""))
        self.edit_button.setVisible(self.role == "user")
        self.regen_button.setVisible(self.role == "assistant" and not busy)
        self.continue_button.setVisible(self.role == "assistant" and self.status == "interrupted")
        self.copy_button.setVisible(not busy)
        error = (stats or {}).get("error")
        if self.status == "error" and error:
            self.status_label.setText(f"failed: {error}")
        tok_s = (stats or {}).get("decode_tok_s")
        tokens = (stats or {}).get("generated_tokens")
        if self.role == "assistant" and tok_s and tokens and not busy:
            self.stats_label.setText(f"{tokens} tokens · {tok_s:.0f} tok/s")
        else:
            self.stats_label.setText("")

    def set_waiting(self, waiting: bool) -> None:
        if self.status in ("streaming", "waiting"):
            self.status = "waiting" if waiting else "streaming"
            self._apply_state(None)

    # -- rendering ------------------------------------------------------------------------
    def plain_text(self) -> str:
        """The text as shown (for tests and accessibility checks)."""
        parts = [c.toPlainText() for c in self.chunks]
        for view in (self.body, self.tail):
            if view.isVisibleTo(self):
                parts.append(view.toPlainText())
        return "\n".join(p.strip() for p in parts if p.strip())

    def code_blocks(self) -> list[str]:
        views = [self.body, *self.chunks, self.tail]
        return max((v.code_blocks for v in views), key=len)

    def _render_full(self) -> None:
        rendered = render_cached(self.text, self._palette) if self.role != "user" else None
        if rendered is None:
            # what the user typed is shown as typed: no Markdown surprises in their own words
            self.body.code_blocks = []
            self.body.setPlainText(self.text)
        else:
            self.body.set_rendered(rendered.html, rendered.code_blocks)
        for chunk in self.chunks:
            chunk.deleteLater()
        self.chunks.clear()
        self.body.show()
        self.tail.hide()
        self.render_count += 1

    def append(self, text: str) -> None:
        """New streamed text: repaint at most every REPAINT_MS."""
        self.text += text
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _repaint_stream(self) -> None:
        """Append finished blocks (at most CHUNK_CHARS per call, so a burst of text never
        blocks the GUI for long) and re-render the unfinished tail."""
        stable = split_stable(self.text)
        if self._finishing:
            stable = len(self.text)  # the end: the tail is final too
        if stable > self._stable_len:
            end = stable
            if end - self._stable_len > CHUNK_CHARS:
                cut = split_stable(self.text[: self._stable_len + CHUNK_CHARS])
                end = cut if cut > self._stable_len else stable  # one huge block: whole
            if self.text[self._stable_len : end].strip():
                self._append_stable(end)
            self._stable_len = end
        if self._stable_len < stable:
            self._repaint_timer.start(0)  # more to drain: continue after other events
            return
        if self._finishing:
            self._finishing = False
            self.tail.hide()
            self.body.setVisible(not self.chunks)
            self._apply_state(self._final_stats)
            return
        tail_text = self.text[stable:]
        tail = renderer_for(self._palette).render(tail_text, len(self._stable_code))
        self.tail.set_rendered(tail.html, self._stable_code + tail.code_blocks)
        self.tail.setVisible(bool(tail_text.strip()))
        self.body.setVisible(not self.chunks and not self.tail.isVisible())
        self._repaint_timer.setInterval(REPAINT_MS)

    def _append_stable(self, end: int) -> None:
        chunk = renderer_for(self._palette).render(
            self.text[self._stable_len : end], len(self._stable_code)
        )
        self._stable_code.extend(chunk.code_blocks)
        view = RichText(self)
        speaker = ROLE_NAMES.get(self.role, self.role)
        accessible(view, f"{speaker} message text", "Message text (select to copy)")
        view.link_activated.connect(self._on_link)
        view.set_rendered(chunk.html, list(self._stable_code))
        self._chunk_layout.addWidget(view)
        self.chunks.append(view)

    def finish(self, status: str, stats: Mapping[str, Any] | None, text: str | None = None) -> None:
        """The answer ended. A streamed answer only renders what is not on screen yet, in
        slices: rendering the whole answer again would stall the GUI on long answers."""
        self.status = status
        if text is not None and text != self.text and not text.startswith(self.text):
            self._repaint_timer.stop()
            self.text = text
            self._render_full()
            self._apply_state(stats)
            return
        if text is not None:
            self.text = text
        self._finishing = True
        self._final_stats = stats
        self._repaint_timer.stop()
        self._repaint_stream()

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            source = self.sender()
            blocks = source.code_blocks if isinstance(source, RichText) else []
            index = int(url.path() or -1)
            if 0 <= index < len(blocks):
                self.copy_text.emit(blocks[index])


class TrimMarker(QLabel):
    def __init__(self, dropped: int, parent: QWidget | None = None) -> None:
        noun = "message was" if dropped == 1 else "messages were"
        super().__init__(
            f"⋯ {dropped} older {noun} left out of the model's context (the window is full) ⋯",
            parent,
        )
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        accessible(
            self,
            f"Context marker: {dropped} older {noun} left out",
            "Messages above this line no longer fit the model's context window",
        )


class ConversationView(QScrollArea):
    """A column of MessageWidgets that follows the end while the user is at the bottom."""

    copy_text = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    continue_requested = Signal(int)
    switch_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        accessible(self, "Conversation", "The messages of this chat")
        self._content = QWidget()
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(8, 8, 8, 8)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.widgets: dict[int, MessageWidget] = {}
        self._order: list[QWidget] = []
        self._keys: dict[int, tuple[object, ...]] = {}
        self._stick = True
        self._palette: Palette | None = None
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._remember_stick)
        bar.rangeChanged.connect(self._follow)

    def palette_md(self) -> Palette:
        return self._palette or palette_for(self)

    def set_markdown_palette(self, palette: Palette) -> None:
        self._palette = palette
        self._keys.clear()  # re-create every widget in the new colours on the next set_entries

    def set_entries(
        self,
        entries: list[Any],
        trim: tuple[int, int] | None = None,
        live_id: int | None = None,
    ) -> None:
        """Show ``entries`` (ThreadEntry-like: ``.message``, ``.siblings``). Widgets whose
        message did not change are kept, and so is the one of the answer being streamed
        (``live_id``: it holds text the store has not seen yet); ``trim`` = (index, dropped)
        puts the context marker before entry ``index``."""
        palette = self.palette_md()
        keep: dict[int, MessageWidget] = {}
        order: list[QWidget] = []
        keys: dict[int, tuple[object, ...]] = {}
        for i, entry in enumerate(entries):
            m = entry.message
            position = (entry.siblings.index + 1, len(entry.siblings.ids))
            stats = dict(m.stats) if m.stats else None
            key = (m.content, m.status, position, repr(stats))
            if trim is not None and i == trim[0]:
                order.append(TrimMarker(trim[1], self._content))
            widget = self.widgets.get(m.id)
            if widget is None or (m.id != live_id and self._keys.get(m.id) != key):
                widget = MessageWidget(
                    m.id, m.role, m.content, m.status, position, stats, palette, self._content
                )
                self._connect(widget)
            keep[m.id] = widget
            keys[m.id] = key
            order.append(widget)
        for old in self._order:
            if old not in order:
                old.hide()
                old.deleteLater()
        while self._layout.count() > 1:
            self._layout.takeAt(0)
        for i, w in enumerate(order):
            self._layout.insertWidget(i, w)
            w.show()
        self.widgets, self._order, self._keys = keep, order, keys
        self._update_tab_order()

    def _connect(self, widget: MessageWidget) -> None:
        widget.copy_text.connect(self.copy_text)
        widget.edit_requested.connect(self.edit_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.continue_requested.connect(self.continue_requested)
        widget.switch_requested.connect(self.switch_requested)

    def _update_tab_order(self) -> None:
        widgets = [w for w in self._order if isinstance(w, MessageWidget)]
        for a, b in itertools.pairwise(widgets):
            QWidget.setTabOrder(a, b)

    def message_widgets(self) -> list[MessageWidget]:
        return [w for w in self._order if isinstance(w, MessageWidget)]

    def scroll_to_end(self) -> None:
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _remember_stick(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - 8

    def _follow(self, _min: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)


def copy_to_clipboard(text: str) -> None:
    QGuiApplication.clipboard().setText(text)
