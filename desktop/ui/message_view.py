"""The conversation: one widget per message in a scroll area.

A message is a column of parts: rich text for its Markdown runs and a ``CodeBlockView`` for each
top-level code block (plain text, coloured in slices after it closes). Finished messages are
rendered once (``render_cached``: the same text and palette give the same parts).

A streaming message is the parts of its finished blocks, each rendered once when it completes,
plus the unfinished tail, re-rendered on a 40 ms throttle. The work per event-loop turn is
bounded (``TURN_BUDGET_S``): a burst of text is drained over several turns, and an open code
block only gets its new lines appended. Re-rendering the whole message on every token is
quadratic and stalls the GUI on long answers.
"""

from __future__ import annotations

import gc
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from PySide6.QtCore import (
    QDateTime,
    QEvent,
    QLocale,
    QObject,
    QPoint,
    QRectF,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QCursor,
    QDesktopServices,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.providers import display_name
from desktop.ui.code_view import CodeBlockView, SliceQueue
from desktop.ui.code_view import warm_up as code_warm_up
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.flow_layout import FlowBox
from desktop.ui.markdown import (
    COPY_SCHEME,
    DARK,
    LIGHT,
    Palette,
    Segment,
    copied_code,
    fence_code,
    open_fence,
    renderer_for,
    split_stable,
)
from desktop.ui.markdown import warm_up as markdown_warm_up

REPAINT_MS = 40
SPARE_MS = 100  # after a change, the view makes the widgets of the next turn this much later
LATEST_AFTER = 0.5  # "Latest" shows once the end is this many viewport heights below
LATEST_MARGIN = 12  # px between the "Latest" button and the bottom of the viewport
FOCUS_FRAME_PX = 2  # the frame round the message that has the keyboard
FOCUS_SCROLL_MARGIN = 8  # px above a message reached with Tab
# A message's buttons that keep the keyboard when the message is rebuilt under them (a
# version switched with the arrows: pressing again goes on switching).
KEPT_FOCUS = (
    "prev_button", "next_button", "copy_button", "edit_button", "answer_button",
    "regen_button", "continue_button", "branch_button", "alternatives_button", "thumbs_up",
    "thumbs_down", "reveal_button",
)  # fmt: skip
# where a version arrow that can go no further hands the keyboard
OTHER_ARROW = {"prev_button": "next_button", "next_button": "prev_button"}
CHUNK_CHARS = 600  # finished Markdown is rendered in pieces of about this size...
TURN_BUDGET_S = 0.003  # ...as many as fit in this much time per event-loop turn
FINISH_NOW_CHARS = 2000  # an answer that ends with less than this still to show: shown at once
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


@dataclass(frozen=True)
class Part:
    """One rendered part of a message: rich text (``html``) or a code block (``code``)."""

    html: str | None = None
    code: str | None = None
    lang: str = ""
    closed: bool = True
    code_blocks: tuple[str, ...] = ()  # every code block of the part, in order


def render_parts(text: str, palette: Palette, first_code_index: int = 0) -> list[Part]:
    renderer = renderer_for(palette)
    parts: list[Part] = []
    index = first_code_index
    for seg in renderer.segments(text):
        if seg.dangling:
            continue
        if seg.code is not None:
            parts.append(Part(code=seg.code, lang=seg.lang, closed=seg.closed,
                              code_blocks=(seg.code,)))  # fmt: skip
            index += 1
        elif text[seg.start : seg.end].strip():
            rendered = renderer.render(text[seg.start : seg.end], index)
            parts.append(Part(html=rendered.html, code_blocks=tuple(rendered.code_blocks)))
            index += len(rendered.code_blocks)
    return parts


@lru_cache(maxsize=1024)
def render_cached(text: str, palette: Palette) -> tuple[Part, ...]:
    return tuple(render_parts(text, palette))


_WARM_UP = "Warm *up*:\n\n```python\nx = 1\n```\n"


_warmed = threading.Event()  # set once a warm-up has finished


def warm_up(palette: Palette, parent: QWidget) -> None:
    """Load what the first answer would otherwise load mid-stream: the Markdown renderer,
    Pygments lexers and style (imports and regex compiles, ~150 ms: on a thread, so the window
    stays responsive meanwhile; no Qt there), then Qt's fonts and style for the message parts
    (~15 ms, on the GUI thread). ``warmed_up()`` says when it is done. Once is enough: what
    it loads is shared by every window."""
    if _warmed.is_set():
        return

    def load() -> None:
        markdown_warm_up(palette)
        code_warm_up(palette)

    thread = threading.Thread(target=load, name="parley-warm-up", daemon=True)
    thread.start()
    poll = QTimer(parent)
    poll.setInterval(20)

    def check() -> None:
        if thread.is_alive():
            return
        poll.stop()
        poll.deleteLater()
        widget = MessageWidget(0, "assistant", _WARM_UP, "complete", (1, 1), None, palette,
                               parent)  # fmt: skip
        widget.hide()
        widget.ensurePolished()
        for child in widget.findChildren(QWidget):
            child.ensurePolished()
        widget.deleteLater()
        # What exists now (modules, classes, caches: ~50,000 objects) lives as long as the
        # app. Frozen, a full garbage collection during an answer no longer walks it: it took
        # ~25 ms here, a visible stall.
        gc.freeze()
        _warmed.set()

    poll.timeout.connect(check)
    poll.start()


def warmed_up() -> bool:
    """Whether a ``warm_up`` has finished (benchmarks wait for it before timing answers)."""
    return _warmed.is_set()


def accessible(widget: QWidget, name: str, tip: str | None = None) -> None:
    """Every control gets an accessible name and a tooltip (screen readers, hover help)."""
    widget.setAccessibleName(name)
    widget.setToolTip(tip or name)


WEB_SCHEMES = ("http", "https", "mailto")  # what a click on a link in an answer opens


def open_link(url: QUrl) -> bool:
    """Open a web or mail link of a message in the user's browser (or mail program); any
    other scheme (file:, javascript:, a custom one) is not opened."""
    if url.scheme().lower() not in WEB_SCHEMES:
        return False
    return QDesktopServices.openUrl(url)


def show_link_target(url: QUrl) -> None:
    """Hovering a link says where it goes before it is clicked (a model can write any
    address behind any words)."""
    if url.isEmpty():
        QToolTip.hideText()
    elif url.scheme() == COPY_SCHEME:
        QToolTip.showText(QCursor.pos(), "Copy code")
    else:
        QToolTip.showText(QCursor.pos(), url.toString())


class RichText(QTextBrowser):
    """Read-only rich text that is as tall as its content (the scroll area scrolls, not it).
    Links are reported by ``link_activated`` (``copy-code:N``: the message's code block N)."""

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
        self.highlighted.connect(show_link_target)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.set_width(self.viewport().width())

    def set_width(self, width: int) -> None:
        """Lay the text out at ``width`` (the viewport's width; no frame, no scroll bars)."""
        if width != self.document().textWidth():  # an equal width would still re-lay out all
            self.document().setTextWidth(width)
        self._fit()

    def _fit(self, *_: object) -> None:
        height = math.ceil(self.document().size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(max(height, 4))


def local_time(moment: datetime) -> str:
    """``moment`` as the user's locale writes a date and time; ISO-like without a locale
    (the C locale's "26 11 2026 16:15" reads as nothing)."""
    locale = QLocale()
    if locale.language() == QLocale.Language.C:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")
    when = QDateTime.fromMSecsSinceEpoch(int(moment.timestamp() * 1000))
    return locale.toString(when, QLocale.FormatType.ShortFormat)


def shown_stats(message: Any) -> dict[str, Any] | None:
    """A message's stats as its widget shows them, with the model that wrote it."""
    if not message.stats:
        return None
    stats = dict(message.stats)
    model = getattr(message, "model", None)
    if model:
        stats.setdefault("model", model)
    params = getattr(message, "params", None)  # the answer length asked for: what cut it
    if isinstance(params, Mapping) and isinstance(params.get("max_new_tokens"), int):
        stats.setdefault("max_new_tokens", params["max_new_tokens"])
    return stats


def stats_tooltip(stats: Mapping[str, Any]) -> str:
    """Who wrote an answer and how fast: "smollm2-135m-instruct on CPU wrote 211 tokens at
    80.9 tok/s; first token after 120 ms (49 prompt tokens, 30 of them from the cache)"."""
    model = stats.get("model") or "The model"
    provider = display_name(str(stats.get("provider") or ""))
    text = f"{model}{f' on {provider}' if provider else ''} wrote "
    text += f"{stats.get('generated_tokens', 0)} tokens at {stats.get('decode_tok_s', 0):.1f} tok/s"
    ttft = stats.get("ttft_s")
    if isinstance(ttft, int | float) and ttft > 0:
        text += f"; first token after {ttft * 1000:.0f} ms"
        prompt, reused = stats.get("prompt_tokens"), stats.get("reused_prompt_tokens")
        if isinstance(prompt, int) and prompt:
            cached = (
                f", {reused} of them from the cache" if isinstance(reused, int) and reused else ""
            )
            text += f" ({prompt} prompt tokens{cached})"
    return text


class MessageWidget(QFrame):
    """One message: header (who, the <n/m> version switcher, status), body, actions.
    Alt+Left / Alt+Right switch versions when the message has the focus."""

    copy_text = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    regenerate_with_requested = Signal(int, str)  # assistant message id, model name
    continue_requested = Signal(int)
    answer_requested = Signal(int)
    switch_requested = Signal(int, int)
    thumbs_requested = Signal(int, int)  # message id, +1 / -1
    alternatives_requested = Signal(int)  # assistant message id
    branch_requested = Signal(int)  # assistant message id: "Branch in new chat"

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
        queue: SliceQueue | None = None,
    ) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.role = role
        self.status = status
        self.text = content
        self.position = position
        self._palette = palette
        self._queue = queue or SliceQueue(self)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        if role == "user":
            self.setAutoFillBackground(True)
            self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self._speaker = speaker = ROLE_NAMES.get(role, role.title())
        self.setAccessibleName(f"{speaker} message")
        self.setToolTip("")  # the body carries the text; the frame itself is a container

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)

        header = QHBoxLayout()
        self.who = QLabel(f"<b>{speaker}</b>")
        accessible(self.who, f"{speaker}", f"Written by: {speaker}")
        self._written_at: datetime | None = None
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
        # in the header, not the row of buttons: that row then fits a narrower pane; ends in
        # "…" where the pane is narrower still (split view), the whole line in its tooltip
        self.stats_label = ElidedLabel()
        self.stats_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        accessible(self.stats_label, "Answer statistics")
        header.addWidget(self.stats_label)
        layout.addLayout(header)
        # content-filter banner (set by the window when the message was flagged)
        self._banner_slot = QVBoxLayout()
        self._banner_slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._banner_slot)
        self.banner: QWidget | None = None
        self.body_hidden = False
        self.reveal_button = self._tool(
            "Show the text anyway", "Show hidden text", "The content filter hid this text"
        )
        self.reveal_button.clicked.connect(lambda: self.set_body_hidden(False))
        self.reveal_button.hide()
        layout.addWidget(self.reveal_button)

        # The body: one widget per part (rich text, code block), each rendered and laid out
        # once; then, while streaming, the unfinished tail and the code block being written.
        self.parts: list[RichText | CodeBlockView] = []
        self._parts_layout = QVBoxLayout()
        self._parts_layout.setSpacing(6)
        self._parts_layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._parts_layout)
        # the unfinished tail of a streamed answer: made only for a message that streams
        self._tail_slot = QVBoxLayout()
        self._tail_slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._tail_slot)
        self._tail: RichText | None = None
        if status in ("streaming", "waiting"):
            self._make_tail()
        self._open_slot = QVBoxLayout()
        self._open_slot.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._open_slot)

        # The buttons wrap onto a second line in a narrow pane (split view, a small window)
        # rather than force the message wider than the view and clip its text.
        row = QHBoxLayout()
        row.setSpacing(2)
        self._actions_box = FlowBox(self)
        actions = self._actions_box.flow
        row.addWidget(self._actions_box, 1)
        self.copy_button = self._tool("Copy", "Copy message", "Copy this message as Markdown")
        self.copy_button.clicked.connect(lambda: self.copy_text.emit(self.text))
        actions.addWidget(self.copy_button)
        self.edit_button = self._tool(
            "Edit", "Edit message", "Edit and resend; the old version is kept"
        )
        self.edit_button.clicked.connect(lambda: self.edit_requested.emit(self.message_id))
        self.answer_button = self._tool(
            "Answer", "Answer this message", "This message has no answer yet: ask for one"
        )
        self.answerable = False  # set by the chat for its last message (see set_answerable)
        self.answer_button.clicked.connect(lambda: self.answer_requested.emit(self.message_id))
        self.regen_button = self._tool(
            "Regenerate", "Regenerate answer", "Answer again; the old answer is kept as a version"
        )
        self.regen_button.clicked.connect(lambda: self.regenerate_requested.emit(self.message_id))
        # the installed models and the one in use (set by the chat: "Regenerate with" a menu)
        self._models: Callable[[], tuple[list[str], str]] | None = None
        self.continue_button = self._tool(
            "Continue",
            "Continue answer",
            "Go on writing this answer from where it stopped",
        )
        self.continuable = False  # set by the chat for its last answer (see set_continuable)
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.message_id))
        self.alternatives_button = self._tool(
            "Alternatives…",
            "Generate alternatives",
            "Write two more answers to this prompt and rank them (comparison feedback)",
        )
        self.alternatives_button.clicked.connect(
            lambda: self.alternatives_requested.emit(self.message_id)
        )
        self.branch_button = self._tool(
            "Branch",
            "Branch in new chat",
            "Go on from this answer in a new chat; this one stays as it is",
        )
        self.branch_button.clicked.connect(lambda: self.branch_requested.emit(self.message_id))
        # words, not emoji: many Linux desktops have no colour-emoji font
        self.thumbs_up = self._tool("Good", "Good answer", "Rate this answer as good (thumbs up)")
        self.thumbs_down = self._tool("Bad", "Bad answer", "Rate this answer as bad (thumbs down)")
        for button, rating in ((self.thumbs_up, 1), (self.thumbs_down, -1)):
            button.setCheckable(True)
            # a click opens the dialog; the checked look only follows what is stored
            button.clicked.connect(lambda _c=False, r=rating: self._thumb(r))
        self.feedback_enabled = False
        self.chat_busy = False  # an answer of the chat is being written (set_chat_busy)
        self._rating = 0
        self.extra_actions: list[QWidget] = []  # e.g. "Should have been flagged…"
        self._actions_layout = actions
        for w in (self.edit_button, self.answer_button, self.regen_button, self.continue_button,
                  self.branch_button, self.alternatives_button, self.thumbs_up,
                  self.thumbs_down):  # fmt: skip
            actions.addWidget(w)
        layout.addLayout(row)

        # streaming state
        self._stable_len = 0  # self.text[:_stable_len] is shown in self.parts, final
        self._code: list[str] = []  # the code blocks of self.parts, in order
        self._tail_src = ""
        self._tail_code: list[str] = []
        self._open: CodeBlockView | None = None  # the code block being written
        self._open_start = -1  # where its opening fence is in self.text
        self._hidden: deque[QWidget] = deque()  # parts made in this drain, not on screen yet
        self._revealing = False  # a reveal is under way (it continues at the next turn)
        self._part_cost = 0.0  # how long the last finished part took to make
        self._revealed_at = 0.0
        self._finishing = False
        self._final_stats: Mapping[str, Any] | None = stats
        self._reading = False  # the status says how much of a long prompt is read
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

    @property
    def markdown_palette(self) -> Palette:
        return self._palette

    def set_written_at(self, moment: datetime | None) -> None:
        """When the message was written, in the tooltip of its speaker's name (in the
        user's locale and time zone)."""
        if moment == self._written_at:
            return
        self._written_at = moment
        tip = f"Written by: {self._speaker}"
        if moment is not None:
            tip = f"{self._speaker}, {local_time(moment)}"
        self.who.setToolTip(tip)

    def adopt(
        self,
        message_id: int,
        content: str,
        position: tuple[int, int],
        stats: Mapping[str, Any] | None,
    ) -> None:
        """Make this widget, made ahead for a message of its role and status (with no text),
        the widget of ``message_id``: what the constructor would have shown."""
        self.message_id = message_id
        self.text = content
        self.position = position
        self._final_stats = stats
        self._apply_state(stats)
        if self.status == "streaming":
            self._repaint_stream()
        elif self.role == "user" and len(self.parts) == 1 and isinstance(self.parts[0], RichText):
            self.parts[0].setPlainText(content)  # the part _render_full made, as typed
        else:
            self.render_count = 0
            self._render_full()

    @property
    def tail(self) -> RichText:
        """The rich text showing the unfinished tail of a streamed answer."""
        return self._tail if self._tail is not None else self._make_tail()

    def _make_tail(self) -> RichText:
        tail = RichText(self)
        accessible(tail, "Text being written", "The part of the answer being written")
        tail.link_activated.connect(self._on_link)
        tail.hide()
        self._tail_slot.addWidget(tail)
        self._tail = tail
        return tail

    def _hide_tail(self) -> None:
        if self._tail is not None:
            self._tail.hide()

    def holds_focus(self) -> bool:
        """Whether the keyboard is on this message or on its text (its buttons show their
        own focus)."""
        focus = QApplication.focusWidget()
        return focus is self or (
            isinstance(focus, (RichText, CodeBlockView)) and self.isAncestorOf(focus)
        )

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if not self.holds_focus():
            return
        # Keyboard users see which message Tab reached (the frame has no focus look of its
        # own, and the text inside it none that shows).
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), FOCUS_FRAME_PX)
        painter.setPen(pen)
        inset = FOCUS_FRAME_PX / 2
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(inset, inset, -inset, -inset), 4, 4)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.AltModifier and event.key() in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
        ):
            step = -1 if event.key() == Qt.Key.Key_Left else 1
            self.switch_requested.emit(self.message_id, step)
            return
        super().keyPressEvent(event)

    def set_models(self, models: Callable[[], tuple[list[str], str]] | None) -> None:
        """Offer "Regenerate with" another installed model, from ``models()`` (the names
        and the one in use), in a menu beside Regenerate; None: Regenerate alone."""
        if models is None or self._models is models:
            self._models = models
            return
        self._models = models
        menu = QMenu(self.regen_button)
        menu.aboutToShow.connect(self._fill_models)
        self.regen_button.setMenu(menu)
        self.regen_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.regen_button.installEventFilter(self)  # Down (or Alt+Down) opens it from the keys
        self.regen_button.setToolTip(
            "Answer again; the old answer is kept as a version. The arrow: answer again with "
            "another model"
        )

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if (
            watched is self.regen_button
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
            and (menu := self.regen_button.menu()) is not None
        ):
            button = self.regen_button
            menu.popup(button.mapToGlobal(QPoint(0, button.height())))
            return True
        return super().eventFilter(watched, event)

    def _fill_models(self) -> None:
        menu = self.regen_button.menu()
        if menu is None or self._models is None:
            return
        menu.clear()
        names, in_use = self._models()
        for name in names:
            label = f"Regenerate with {name}" + (" (in use)" if name == in_use else "")
            action = menu.addAction(label)
            action.triggered.connect(
                lambda _c=False, n=name: self.regenerate_with_requested.emit(self.message_id, n)
            )
        if len(names) < 2:
            hint = menu.addAction("Import more models in File ▸ Models…")
            hint.setEnabled(False)

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
        self.prev_button.setEnabled(index > 1 and not self.chat_busy)
        self.next_button.setEnabled(index < count and not self.chat_busy)
        busy = self.status in ("streaming", "waiting")
        self.status_label.setText(STATUS_TEXT.get(self.status, ""))
        self.edit_button.setVisible(self.role == "user")
        self.regen_button.setVisible(self.role == "assistant" and not busy)
        self.branch_button.setVisible(
            self.role == "assistant" and not busy and bool(self.text.strip())
        )
        self.continue_button.setVisible(self.continuable and not busy)
        self.answer_button.setVisible(self.answerable)
        empty_failure = self.status == "error" and not self.text.strip()  # nothing to rate
        self.copy_button.setVisible(not busy and not empty_failure)
        rateable = (
            self.feedback_enabled and self.role == "assistant" and not busy and not empty_failure
        )
        for button in (self.thumbs_up, self.thumbs_down, self.alternatives_button):
            button.setVisible(rateable)
        for extra in self.extra_actions:
            extra.setVisible(self.feedback_enabled and not busy)
        error = (stats or {}).get("error")
        if self.status == "error" and error:
            self.status_label.setText(f"failed: {error}")
        if self.status == "stopped" and (stats or {}).get("finish_reason") == "repetition":
            self.status_label.setText("stopped: it was repeating itself")
            self.status_label.setToolTip(
                "The model wrote the same thing over and over, so Parley ended the answer. "
                "Continue goes on anyway; Regenerate tries again."
            )
        if self.status == "complete" and (stats or {}).get("finish_reason") == "length":
            # the text ends mid-sentence: say why (Continue is there)
            written, limit = (
                (stats or {}).get("generated_tokens"),
                (stats or {}).get("max_new_tokens"),
            )
            if isinstance(written, int) and isinstance(limit, int) and 0 < written < limit:
                self.status_label.setText("cut off: the model's context window is full")
                self.status_label.setToolTip(
                    "The chat filled the model's window before the answer reached its length "
                    "limit. Continue goes on, leaving the oldest turns out; a new chat starts "
                    "with room (Settings ▸ Model sets the window's size)."
                )
            else:
                self.status_label.setText("cut off: answer length limit")
                self.status_label.setToolTip(
                    "The answer reached its maximum length (Chat settings or Settings ▸ "
                    "Generation). Continue goes on from here."
                )
        tok_s = (stats or {}).get("decode_tok_s")
        tokens = (stats or {}).get("generated_tokens")
        if self.role == "assistant" and tok_s and tokens and not busy:
            # after a status ("stopped"), set off from it as the parts are from each other
            after = "· " if self.status_label.text() else ""
            self.stats_label.setText(f"{after}{tokens} tokens · {tok_s:.0f} tok/s")
            self.stats_label.setToolTip(stats_tooltip(stats or {}))
        else:
            self.stats_label.setText("")
            self.stats_label.setToolTip("")

    # -- feedback --------------------------------------------------------------------------
    def _thumb(self, rating: int) -> None:
        self.set_rating(self._rating)  # undo the toggle: the stored rating decides the look
        self.thumbs_requested.emit(self.message_id, rating)

    def set_rating(self, rating: int) -> None:
        """Show the stored rating (+1, -1, 0: none)."""
        self._rating = rating
        self.thumbs_up.setChecked(rating > 0)
        self.thumbs_down.setChecked(rating < 0)
        self.thumbs_up.setAccessibleName("Good answer (rated)" if rating > 0 else "Good answer")
        self.thumbs_down.setAccessibleName("Bad answer (rated)" if rating < 0 else "Bad answer")

    def enable_feedback(self, extra: list[QWidget]) -> None:
        """Show the thumbs and alternatives (assistant) and ``extra`` actions (every message)."""
        self.feedback_enabled = True
        for w in self.extra_actions:
            w.deleteLater()
        self.extra_actions = list(extra)
        for w in extra:
            w.setParent(self._actions_box)
            self._actions_layout.addWidget(w)
        self._apply_state(self._final_stats)

    def set_banner(self, banner: QWidget | None) -> None:
        """The content filter's banner above the text (``None``: none)."""
        if self.banner is not None:
            self.banner.hide()
            self.banner.deleteLater()
        self.banner = banner
        if banner is not None:
            banner.setParent(self)
            self._banner_slot.addWidget(banner)

    def set_body_hidden(self, hidden: bool) -> None:
        """Hide the text behind the banner (a blocked answer); the user may still reveal it."""
        self.body_hidden = hidden
        for part in self.parts:
            part.setVisible(not hidden)
        if hidden:
            self._hide_tail()
        if self._open is not None:  # a code block being written
            self._open.setVisible(not hidden)
        self.reveal_button.setVisible(hidden)
        self.copy_button.setVisible(not hidden and self.status not in ("streaming", "waiting"))

    def set_chat_busy(self, busy: bool) -> None:
        """While an answer of this chat is written, what would change the chat (other
        versions, Edit, Regenerate, Continue, Answer, Alternatives) is greyed out: it could
        not act then, and a click that does nothing reads as broken."""
        if busy == self.chat_busy:
            return
        self.chat_busy = busy
        index, count = self.position
        self.prev_button.setEnabled(index > 1 and not busy)
        self.next_button.setEnabled(index < count and not busy)
        for button in (self.edit_button, self.regen_button, self.continue_button,
                       self.answer_button, self.alternatives_button):  # fmt: skip
            button.setEnabled(not busy)

    def set_continuable(self, continuable: bool) -> None:
        """Offer "Continue" (the chat knows which answer is last and how it ended)."""
        if continuable != self.continuable:
            self.continuable = continuable
            self.continue_button.setVisible(
                continuable and self.status not in ("streaming", "waiting")
            )

    def set_answerable(self, answerable: bool) -> None:
        """Offer "Answer" on a message of the user's (the chat knows which message is last,
        whose it is, and whether it was blocked)."""
        if answerable != self.answerable:
            self.answerable = answerable
            self.answer_button.setVisible(answerable)

    def show_reading(self, done: int, total: int) -> None:
        """A long prompt is being read before the answer's first word (a chat of thousands
        of tokens takes seconds to a minute on a CPU): say how far, until the text comes."""
        if self.status == "streaming" and total > 0:
            self._reading = True
            self.status_label.setText(f"reading the chat… {100 * done // total}%")
            self.status_label.setToolTip(
                f"{done:,} of the {total:,} tokens this answer starts from are read; "
                "Stop keeps what was read for the next try"
            )

    def set_waiting(self, waiting: bool) -> None:
        if self.status in ("streaming", "waiting"):
            self.status = "waiting" if waiting else "streaming"
            self._apply_state(None)

    # -- reading back (tests, accessibility) ----------------------------------------------
    def plain_text(self) -> str:
        """The text as shown."""
        views: list[RichText | CodeBlockView] = [*self.parts]
        if self._tail is not None and self._tail.isVisibleTo(self):
            views.append(self._tail)
        if self._open is not None:
            views.append(self._open)
        texts = (v.code if isinstance(v, CodeBlockView) else v.toPlainText() for v in views)
        return "\n".join(t.strip() for t in texts if t.strip())

    def code_blocks(self) -> list[str]:
        """Every code block shown, in order (``copy-code:N`` links copy block N)."""
        blocks = self._code + self._tail_code
        return [*blocks, self._open.code] if self._open is not None else blocks

    def code_views(self) -> list[CodeBlockView]:
        views = [p for p in self.parts if isinstance(p, CodeBlockView)]
        return [*views, self._open] if self._open is not None else views

    def focus_chain(self) -> list[QWidget]:
        """The focusable parts of the body, top to bottom (for the tab order)."""
        chain: list[QWidget] = []
        tail = [self._tail] if self._tail is not None else []
        for part in [*self.parts, *tail, *([self._open] if self._open else [])]:
            chain += [part.copy_button, part.text] if isinstance(part, CodeBlockView) else [part]
        return chain

    # -- building parts -------------------------------------------------------------------
    def _rich(self, html: str | None = None, plain: str | None = None, width: int = 0) -> RichText:
        view = RichText(self)
        accessible(view, f"{self._speaker} message text", "Message text (select to copy)")
        view.link_activated.connect(self._on_link)
        if width > 0:  # lay the text out once, at its width on screen (not at a default one)
            view.set_width(width)
        if html is not None:
            view.setHtml(html)
        elif plain is not None:
            view.setPlainText(plain)
        return view

    def _code_view(self, lang: str) -> CodeBlockView:
        view = CodeBlockView(lang, self._palette, self._queue, self)
        view.copy_text.connect(self.copy_text)
        return view

    def _add_part(self, view: RichText | CodeBlockView, hidden: bool = False) -> None:
        if hidden:  # shown with the others at the next reveal: one layout and paint for all
            view.hide()
            self._prepare(view)
            self._hidden.append(view)
        self._parts_layout.addWidget(view)
        self.parts.append(view)

    def _part_width(self) -> int:
        """The width the parts get on screen (0 before the message is laid out)."""
        return self._parts_layout.geometry().width()

    def _prepare(self, view: RichText | CodeBlockView) -> None:
        """Do now, within the turn's budget, what showing ``view`` at the next reveal would
        do: polish it and give it the width the layout will give it (a rich text is laid out
        at that width already, see ``_rich``), so that showing it is cheap."""
        view.ensurePolished()
        width = self._part_width()
        if width > 0:
            view.resize(width, view.height())

    def _reveal(self, deadline: float | None = None) -> None:
        """Show the hidden parts, in order; with a ``deadline``, only as many as fit before
        it (the rest at the next turns: showing a dozen parts at once stalls the GUI)."""
        if self._hidden:
            self._hide_tail()  # it may show text that is in the new parts now
            while self._hidden:
                self._hidden.popleft().setVisible(not self.body_hidden)  # blocked: stays hidden
                if deadline is not None and time.perf_counter() >= deadline:
                    break
        self._revealing = bool(self._hidden)
        if not self._hidden:
            self._revealed_at = time.perf_counter()

    def _clear(self) -> None:
        for view in self.parts:
            view.hide()
            view.deleteLater()
        self.parts.clear()
        self._hidden.clear()
        self._revealing = False
        self._code.clear()
        self._drop_open()
        self._hide_tail()
        self._tail_src, self._tail_code = "", []

    def _drop_open(self) -> None:
        if self._open is not None:
            self._open.hide()
            self._open.deleteLater()
            self._open, self._open_start = None, -1

    def _render_full(self) -> None:
        self._clear()
        if self.role == "user":
            # what the user typed is shown as typed: no Markdown surprises in their own words
            self._add_part(self._rich(plain=self.text))
        else:
            for part in render_cached(self.text, self._palette):
                if part.code is not None:
                    view = self._code_view(part.lang)
                    view.set_code(part.code)
                    view.close_block()
                    self._add_part(view)
                else:
                    self._add_part(self._rich(html=part.html))
                self._code.extend(part.code_blocks)
        self.render_count += 1

    # -- streaming ------------------------------------------------------------------------
    def append(self, text: str) -> None:
        """New streamed text: repaint at most every REPAINT_MS."""
        if self._reading:  # the first words: the prompt is read
            self._reading = False
            self.status_label.setText(STATUS_TEXT.get(self.status, ""))
            self.status_label.setToolTip("")
        self.text += text
        if not self._repaint_timer.isActive():
            self._repaint_timer.start()

    def _next_cut(self, start: int, stable: int) -> int:
        """The end of the finished blocks after ``start`` to render next: about CHUNK_CHARS
        of them, or the one block after ``start`` when it is longer."""
        size = CHUNK_CHARS
        while start + size < stable:
            cut = split_stable(self.text[start : start + size])
            if cut > 0:
                return start + cut
            size *= 4
        return stable

    def _repaint_stream(self, budget: float = TURN_BUDGET_S) -> None:
        """Turn finished blocks into parts (as many as fit in ``budget`` seconds; the rest in
        the next turns) and show the unfinished tail."""
        began = time.perf_counter()
        deadline = began + budget
        # the text before _stable_len never changes: only the rest needs a look
        stable = self._stable_len + split_stable(self.text[self._stable_len :])
        if self._finishing:
            stable = len(self.text)  # the end: the tail is final too
        # first the parts made in earlier turns go on screen, at most every REPAINT_MS...
        revealed = bool(self._hidden) and (
            self._revealing
            or self._stable_len >= stable
            or began - self._revealed_at >= REPAINT_MS / 1000
        )
        if revealed:
            # showing parts lays out and paints them after this turn: half the budget at most,
            # and no colouring slice in the same turn
            self._reveal(min(deadline, began + budget / 2))
            self._queue.pause(0.001)
        # ...then new parts, in what is left of the turn's budget: a part is not begun when the
        # last one took longer than what is left (the turn would overrun by that much), but a
        # turn that showed nothing makes at least one
        made = 0
        now = time.perf_counter()
        while self._stable_len < stable and (
            now + self._part_cost < deadline or (made == 0 and not revealed)
        ):
            before = now
            self._append_stable(self._next_cut(self._stable_len, stable))
            now = time.perf_counter()
            self._part_cost = now - before
            made += 1
        if self._stable_len >= stable and self._hidden and time.perf_counter() < deadline:
            self._reveal(deadline)  # caught up: what is left of the budget shows the new parts
        if self._stable_len < stable or self._hidden:
            self._repaint_timer.start(0)  # more to do: continue after other events
            return
        self._repaint_timer.setInterval(REPAINT_MS)
        if self._finishing:
            self._finishing = False
            self._drop_open()
            self._hide_tail()
            self._tail_src, self._tail_code = "", []
            self._apply_state(self._final_stats)
            return
        if made and time.perf_counter() >= deadline:
            self._repaint_timer.start(0)  # the tail (re-rendered, or a code view made) next turn
            return
        self._show_tail(stable)

    def _show_tail(self, stable: int) -> None:
        tail = self.text[stable:]
        markdown, code = tail, None
        fence = open_fence(tail)
        if fence is not None:
            eol = tail.find("\n", fence)
            heads = renderer_for(self._palette).segments(tail[: eol + 1]) if eol >= 0 else []
            if heads and heads[-1].code is not None and heads[-1].start == fence:  # top level
                markdown, code = tail[:fence], self._open_code(tail[eol + 1 :])
                if self._open is None or self._open_start != stable + fence:
                    self._drop_open()
                    self._open = self._code_view(heads[-1].lang)
                    self._open_start = stable + fence
                    self._open_slot.addWidget(self._open)
                    self._open.setVisible(not self.body_hidden)
                self._open.set_code(code)
        if code is None:
            self._drop_open()
        if markdown != self._tail_src:  # unchanged while a code block is being written
            rendered = renderer_for(self._palette).render(markdown, len(self._code))
            self.tail.setHtml(rendered.html)
            self._tail_src, self._tail_code = markdown, rendered.code_blocks
        self.tail.setVisible(bool(markdown.strip()) and not self.body_hidden)

    @staticmethod
    def _open_code(body: str) -> str:
        """The code of an open block as shown: a last line that may become the closing fence
        is held back (so that the text shown only ever grows)."""
        last = body[body.rfind("\n") + 1 :]
        if last.strip() and set(last.strip()) <= {"`", "~"}:
            body = body[: len(body) - len(last)]
        return fence_code(body)

    def _append_stable(self, end: int) -> None:
        base = self._stable_len
        text = self.text[base:end]
        renderer = renderer_for(self._palette)
        for seg in renderer.segments(text):
            if seg.dangling:
                continue
            if seg.code is not None:
                self._append_code(base, seg)
            elif text[seg.start : seg.end].strip():
                rendered = renderer.render(text[seg.start : seg.end], len(self._code))
                self._code.extend(rendered.code_blocks)
                view = self._rich(html=rendered.html, width=self._part_width())
                self._add_part(view, hidden=True)
        self._stable_len = end

    def _append_code(self, base: int, seg: Segment) -> None:
        assert seg.code is not None
        if self._open is not None and self._open_start == base + seg.start:
            view = self._open  # the block was shown while being written: keep it
            self._open_slot.removeWidget(view)
            self._open, self._open_start = None, -1
            self._reveal()  # what comes before it is on screen too
            hidden = False
        else:
            view = self._code_view(seg.lang)
            hidden = True
        view.set_code(seg.code)
        view.close_block()
        self._code.append(seg.code)
        self._add_part(view, hidden)

    def finish(self, status: str, stats: Mapping[str, Any] | None, text: str | None = None) -> None:
        """The answer ended. A streamed answer only renders what is not on screen yet, in
        slices: rendering the whole answer again would stall the GUI on long answers."""
        self.status = status
        if self._reading:  # stopped while the prompt was read
            self._reading = False
            self.status_label.setToolTip("")
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
        if len(self.text) - self._stable_len <= FINISH_NOW_CHARS and len(self._hidden) <= 2:
            self._repaint_stream(budget=math.inf)  # little left: the answer is final now
        else:  # the rest is drained by the next turns, each within TURN_BUDGET_S
            self._repaint_timer.start(0)

    def _on_link(self, url: QUrl) -> None:
        code = copied_code(url.toString(), self.code_blocks())
        if code is not None:
            self.copy_text.emit(code)
        else:
            open_link(url)


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
    regenerate_with_requested = Signal(int, str)
    continue_requested = Signal(int)
    answer_requested = Signal(int)
    switch_requested = Signal(int, int)
    thumbs_requested = Signal(int, int)  # message id, +1 / -1
    alternatives_requested = Signal(int)
    branch_requested = Signal(int)
    earlier_requested = Signal()

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
        # A long chat shows its last messages; this loads more (making a message widget takes
        # ~5 ms, so 300 turns at once held the window for 5 s).
        self.earlier_button = QPushButton(self._content)
        self.earlier_button.setAutoDefault(False)
        # a pane narrower than its words (split view, large text) cuts its text, not the pane
        self.earlier_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        accessible(
            self.earlier_button, "Show earlier messages", "Show earlier messages of this chat"
        )
        self.earlier_button.clicked.connect(self.earlier_requested)
        self.earlier_button.hide()
        self._anchor: tuple[QWidget, int] | None = None  # kept in place while rows are added
        self._anchor_timer = QTimer(self)
        self._anchor_timer.setSingleShot(True)
        self._anchor_timer.setInterval(400)
        self._anchor_timer.timeout.connect(lambda: setattr(self, "_anchor", None))
        self.widgets: dict[int, MessageWidget] = {}
        self.queue = SliceQueue(self)  # colours the code blocks of every message, in slices
        self._order: list[QWidget] = []
        self._keys: dict[int, tuple[object, ...]] = {}
        self._stick = True
        self._palette: Palette | None = None
        # called for every new message widget (the window adds feedback controls)
        self.decorate: Callable[[MessageWidget], None] | None = None
        self._models: Callable[[], tuple[list[str], str]] | None = None
        # Widgets made ahead, hidden, for the next turn: the user's message and the answer's
        # placeholder. Sending then only fills them in; making a message widget (~30 Qt
        # objects) and polishing it would otherwise fall into the frame of the send.
        self._spares: dict[str, MessageWidget] = {}
        self._spare_timer = QTimer(self)
        self._spare_timer.setSingleShot(True)
        self._spare_timer.timeout.connect(self._make_spares)
        # Scrolled up in a long chat (or while an answer streams on below): one click back to the
        # end, which the view then follows again. Not in the Tab order (it floats over the
        # messages); the keyboard has View > Go to the latest message (Ctrl+J).
        self.latest_button = QToolButton(self)
        self.latest_button.setText("\u2193 Latest")
        self.latest_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.latest_button.setCursor(Qt.CursorShape.PointingHandCursor)
        accessible(
            self.latest_button, "Go to the latest message", "Scroll to the end of the chat (Ctrl+J)"
        )
        self.latest_button.clicked.connect(self.scroll_to_end)
        self.latest_button.hide()
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._remember_stick)
        bar.rangeChanged.connect(self._follow)
        # Tab does not stop on the column itself (nothing shows that it has the keys): it
        # goes from message to message; a click still gives it the keys for scrolling.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_focus_changed)

    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        for widget in (old, new):
            message = self._message_of(widget)
            if message is not None:
                message.update()  # its focus frame
        message = self._message_of(new)
        if message is not None and new is not None and self._message_of(old) is not message:
            # Tab came into this message: from its header down, if what took the keys stays
            # in view so (after Qt's own scrolling to that widget, which comes next)
            at = new.mapTo(message, QPoint(0, 0)).y() + min(new.height(), 40)
            if at + FOCUS_SCROLL_MARGIN < self.viewport().height():
                QTimer.singleShot(0, message, lambda: self._show_top_of(message))

    def _message_of(self, widget: QWidget | None) -> MessageWidget | None:
        """The message of this view that ``widget`` is or is in, if any."""
        while widget is not None and widget is not self:
            if isinstance(widget, MessageWidget):
                return widget if widget.message_id in self.widgets else None
            widget = widget.parentWidget()
        return None

    def _show_top_of(self, message: MessageWidget) -> None:
        """A message reached with Tab shows from its header down (Qt centres a message
        taller than the view, hiding whose it is and its version arrows)."""
        bar = self.verticalScrollBar()
        top = message.y() - FOCUS_SCROLL_MARGIN
        visible = self.viewport().height()
        if (
            top < bar.value()
            or message.y() + min(message.height(), visible) > bar.value() + visible
        ):
            self._stick = False
            bar.setValue(top)

    def _focused_part(self) -> tuple[int, str | None] | None:
        """Where the keyboard is among the messages shown: the message's index and the
        name of its focused button (``None``: the message or its text)."""
        focus = QApplication.focusWidget()
        message = self._message_of(focus)
        if message is None or focus is None:
            return None
        index = self.message_widgets().index(message)
        for name in KEPT_FOCUS:
            if getattr(message, name) is focus:
                return index, name
        return index, None

    def _restore_focus(self, part: tuple[int, str | None]) -> None:
        """After the messages were rebuilt (a version switched, an answer replaced), put the
        keyboard back where it was if its widget went: on the same button of the message in
        the same place, else on that message (Qt had moved it to the input)."""
        index, name = part
        widgets = self.message_widgets()
        if index >= len(widgets):
            return
        message = widgets[index]
        focus = QApplication.focusWidget()
        if focus is not None and (focus is message or message.isAncestorOf(focus)):
            return  # still there
        target: QWidget = message
        for candidate in (name, OTHER_ARROW.get(name or "")):
            button = getattr(message, candidate) if candidate else None
            if isinstance(button, QWidget) and button.isVisibleTo(message) and button.isEnabled():
                target = button
                break
        target.setFocus(Qt.FocusReason.OtherFocusReason)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._update_latest()

    def _update_latest(self) -> None:
        """Show "Latest" while the end of the chat is well below the viewport, in its bottom
        right corner: over the ends of lines, where a message's buttons (on its left) and
        the middle of its text are not."""
        bar = self.verticalScrollBar()
        viewport = self.viewport().geometry()
        below = bar.maximum() - bar.value()
        button = self.latest_button
        if below <= viewport.height() * LATEST_AFTER:
            button.hide()
            return
        button.adjustSize()
        button.move(
            viewport.right() - button.width() - LATEST_MARGIN,
            viewport.bottom() - button.height() - LATEST_MARGIN,
        )
        button.raise_()
        button.show()

    def palette_md(self) -> Palette:
        return self._palette or palette_for(self)

    @property
    def models(self) -> Callable[[], tuple[list[str], str]] | None:
        """The installed models and the one in use, for "Regenerate with" (None: not
        offered)."""
        return self._models

    @models.setter
    def models(self, models: Callable[[], tuple[list[str], str]] | None) -> None:
        self._models = models
        for widget in self.message_widgets():  # those shown already (a chat opened first)
            if widget.role == "assistant":
                widget.set_models(models)

    @property
    def markdown_palette(self) -> Palette | None:
        """The colours set for the messages (None: those of the window when each was made)."""
        return self._palette

    def set_markdown_palette(self, palette: Palette) -> None:
        self._palette = palette
        self._keys.clear()  # re-create every widget in the new colours on the next set_entries
        self._drop_spares()

    # -- spares ---------------------------------------------------------------------------
    _SPARE_KINDS = (("user", "complete"), ("assistant", "streaming"))

    def _make_spares(self) -> None:
        """Make one missing spare (one per turn), while no answer streams into this view."""
        missing = [kind for kind in self._SPARE_KINDS if kind[0] not in self._spares]
        if not missing:
            return
        if any(w.status in ("streaming", "waiting") for w in self.message_widgets()):
            self._spare_timer.start(SPARE_MS)  # later: an answer is being drained onto the screen
            return
        role, status = missing[0]
        spare = MessageWidget(0, role, "", status, (1, 1), None, self.palette_md(),
                              self._content, self.queue)  # fmt: skip
        spare.hide()
        spare.ensurePolished()
        self._spares[role] = spare
        if len(missing) > 1:
            self._spare_timer.start(1)  # the next one at the next turn

    def _take_spare(
        self, role: str, content: str, status: str, palette: Palette
    ) -> MessageWidget | None:
        """The spare for a new message of this kind, or None (then a widget is made)."""
        spare = self._spares.get(role)
        if spare is None or spare.markdown_palette != palette or spare.status != status:
            return None
        if role == "assistant" and content:  # only an answer that has not started yet
            return None
        del self._spares[role]
        return spare

    def _drop_spares(self) -> None:
        for spare in self._spares.values():
            spare.deleteLater()
        self._spares.clear()

    def set_entries(
        self,
        entries: list[Any],
        trim: tuple[int, int] | None = None,
        live_id: int | None = None,
        earlier: int = 0,
    ) -> None:
        """Show ``entries`` (ThreadEntry-like: ``.message``, ``.siblings``). Widgets whose
        message did not change are kept, and so is the one of the answer being streamed
        (``live_id``: it holds text the store has not seen yet); ``trim`` = (index, dropped)
        puts the context marker before entry ``index``; ``earlier``: how many messages come
        before ``entries`` (a button above them shows more)."""
        palette = self.palette_md()
        focused = self._focused_part()
        keep: dict[int, MessageWidget] = {}
        order: list[QWidget] = []
        if earlier:
            self.earlier_button.setText(
                f"Show {earlier} earlier messages" if earlier > 1 else "Show the earlier message"
            )
            order.append(self.earlier_button)
        keys: dict[int, tuple[object, ...]] = {}
        for i, entry in enumerate(entries):
            m = entry.message
            position = (entry.siblings.index + 1, len(entry.siblings.ids))
            stats = shown_stats(m)
            key = (m.content, m.status, position, repr(stats))
            if trim is not None and i == trim[0]:
                order.append(TrimMarker(trim[1], self._content))
            widget = self.widgets.get(m.id)
            # a finished answer being continued streams again: it gets a streaming widget
            resumed = (
                m.id == live_id
                and widget is not None
                and m.status == "streaming"
                and widget.status not in ("streaming", "waiting")
            )
            if widget is None or resumed or (m.id != live_id and self._keys.get(m.id) != key):
                spare = self._take_spare(m.role, m.content, m.status, palette)
                if spare is not None:
                    widget = spare
                    widget.adopt(m.id, m.content, position, stats)
                else:
                    widget = MessageWidget(
                        m.id, m.role, m.content, m.status, position, stats, palette,
                        self._content, self.queue,
                    )  # fmt: skip
                self._connect(widget)
            widget.set_written_at(getattr(m, "created_at", None))
            keep[m.id] = widget
            keys[m.id] = key
            order.append(widget)
        for old in self._order:
            if old not in order:
                old.hide()
                if old is not self.earlier_button:
                    old.deleteLater()
        while self._layout.count() > 1:
            self._layout.takeAt(0)
        for i, w in enumerate(order):
            self._layout.insertWidget(i, w)
            w.show()
        self.widgets, self._order, self._keys = keep, order, keys
        self._update_tab_order()
        if focused is not None:
            self._restore_focus(focused)
        if len(self._spares) < len(self._SPARE_KINDS):
            self._spare_timer.start(SPARE_MS)

    def _connect(self, widget: MessageWidget) -> None:
        widget.copy_text.connect(self.copy_text)
        widget.edit_requested.connect(self.edit_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.regenerate_with_requested.connect(self.regenerate_with_requested)
        if widget.role == "assistant":
            widget.set_models(self.models)
        widget.continue_requested.connect(self.continue_requested)
        widget.answer_requested.connect(self.answer_requested)
        widget.switch_requested.connect(self.switch_requested)
        widget.thumbs_requested.connect(self.thumbs_requested)
        widget.alternatives_requested.connect(self.alternatives_requested)
        widget.branch_requested.connect(self.branch_requested)
        if self.decorate is not None:
            self.decorate(widget)

    def _update_tab_order(self) -> None:
        widgets = [w for w in self._order if isinstance(w, MessageWidget)]
        for a, b in itertools.pairwise(widgets):
            QWidget.setTabOrder(a, b)

    def message_widgets(self) -> list[MessageWidget]:
        return [w for w in self._order if isinstance(w, MessageWidget)]

    def keep_in_place(self, widget: QWidget) -> None:
        """Keep ``widget`` where it is on screen while rows are added above it."""
        self._anchor = (widget, widget.y() - self.verticalScrollBar().value())
        self._stick = False
        self._anchor_timer.start()

    def scroll_to(self, widget: QWidget) -> None:
        """Bring ``widget`` into view once it is laid out (and stop following the end)."""
        self._stick = False
        QTimer.singleShot(0, lambda: self.ensureWidgetVisible(widget, 0, 40))

    def scroll_to_end(self) -> None:
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _remember_stick(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - 8
        self._update_latest()

    def _follow(self, _min: int, maximum: int) -> None:
        if self._anchor is not None:
            widget, offset = self._anchor
            self.verticalScrollBar().setValue(widget.y() - offset)
        elif self._stick:
            self.verticalScrollBar().setValue(maximum)
        self._update_latest()


def copy_to_clipboard(text: str) -> None:
    QGuiApplication.clipboard().setText(text)
