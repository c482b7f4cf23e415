"""The main window: sidebar, chat tabs, status bar, welcome page, menus and shortcuts."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QSize,
    QStandardPaths,
    Qt,
    QTimer,
    Signal,
    SignalInstance,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabBar,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.convert.errors import ConversionError
from desktop.convert.library import ModelLibrary
from desktop.engine.providers import display_name
from desktop.engine.types import ChatEngine, ModelInfo
from desktop.services.chat_session import ChatDefaults, ChatSession
from desktop.services.engine_host import EngineHost, Job
from desktop.services.history import History
from desktop.services.notifications import Notifier
from desktop.ui.chat_tab import SPINNER, ChatTab
from desktop.ui.elided_label import ElidedLabel
from desktop.ui.message_view import accessible, copy_to_clipboard, palette_for, warm_up
from desktop.ui.shortcuts import SHORTCUTS, ShortcutsDialog
from desktop.ui.sidebar import Grouper, Sidebar
from desktop.ui.theme import ROLE_ERROR, ROLE_PROPERTY, apply_font_size
from desktop.ui.tray import present_window
from desktop.ui.welcome import ProgressDialog, WelcomePage

# Only what the first window shows is imported at start; dialogs, transcripts (Pygments, PDF)
# and the feedback machinery (keyring, HTTP) load when first used (tests/test_app.py checks).
if TYPE_CHECKING:
    from desktop.services.feedback_service import FeedbackService
    from desktop.store import Store
    from desktop.transcripts import Format
    from desktop.ui.model_manager import ModelManagerDialog
    from desktop.ui.quick_ask import QuickAskWindow

TRANSCRIPT_FORMATS: tuple[tuple[Format, str], ...] = (
    ("markdown", "Markdown"),
    ("html", "HTML page"),
    ("text", "Plain text"),
    ("pdf", "PDF"),
    ("parley-json", "Parley JSON (every branch)"),
    ("chatgpt-json", "ChatGPT conversations.json"),
)

Progress = Callable[[str, float], None]
_T = TypeVar("_T")
NOTICE_MS = 8000
FRAME_MS = 16
UNDO_MS = 10000
REOPEN_KEPT = 20  # closed chats Ctrl+Shift+T can bring back
IMPORT_FAILED = "The import failed"  # how a failed import of chats is said
HISTORY_CHECK_MS = 2000  # how often the window looks for chats written elsewhere
MIN_WINDOW = QSize(640, 440)
MIN_FONT_PT, MAX_FONT_PT = 8.0, 32.0  # the text size setting's bounds
ZOOM_SETTLE_MS = 250  # zoom presses this close together are applied as one

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelActions:
    """How the window gets a model; the composition root passes the real functions, tests pass
    fakes. ``install`` downloads, verifies and converts the starter model and returns its
    folder; ``import_model`` turns a GGUF file or a model folder into an installed bundle;
    ``load`` opens a bundle (both run on the engine worker)."""

    load: Callable[[Path], ChatEngine]
    install: Callable[[Progress, threading.Event], Path] | None = None
    # (source, progress, cancel, precision for a checkpoint folder or None) -> installed folder
    import_model: Callable[[Path, Progress, threading.Event, str | None], Path] | None = None
    # the model manager: the installed models, and what else a new default changes (settings)
    library: Callable[[], ModelLibrary] | None = None
    on_default: Callable[[str], None] | None = None


EXPORTS = (
    ("dpo", "preference pairs (DPO JSONL)"),
    ("sft", "ideal answers (SFT JSONL)"),
    ("ratings", "ratings (JSONL)"),
    ("chatgpt", "ChatGPT message_feedback.json"),
)


@dataclass(frozen=True)
class _Import:
    """A transcript import running on its own thread."""

    name: str
    cancel: threading.Event


@dataclass(frozen=True)
class _ClosedTab:
    """A tab that deleting its chat closed: where it was and what was typed in it."""

    conversation_id: int
    index: int
    draft: str
    was_current: bool


class MainWindow(QMainWindow):
    _export_done = Signal(str)
    _import_done = Signal(str)
    _import_progress = Signal(str, float)  # stage, fraction (from the import's thread)
    quit_requested = Signal()  # File > Quit while the tray keeps Parley running
    tray_notice = Signal(str)  # said once, when closing the window leaves Parley in the tray

    def __init__(
        self,
        history: History,
        host: EngineHost,
        defaults: Callable[[], ChatDefaults],
        models: ModelActions,
        group: Grouper,
        notifier: Notifier | None = None,
        open_settings: Callable[[QWidget], None] | None = None,
        parent: QWidget | None = None,
        feedback: FeedbackService | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Parley")
        self.resize(1100, 760)
        # Below this the chat shows only its buttons and the input's buttons overlap (the
        # sidebar can be hidden, Ctrl+Shift+B, for a narrow window).
        self.setMinimumSize(MIN_WINDOW)
        accessible(self, "Parley", "Parley: a local chat assistant")
        self.history = history
        self.host = host
        self._defaults = defaults
        self._models = models
        self._open_settings = open_settings
        self.feedback = feedback
        self.outbox_view: QWidget | None = None
        self.feedback_list: QWidget | None = None
        self._exports: list[threading.Thread] = []
        self.notifier = notifier or Notifier(self)
        self.notifier.message.connect(self.notify)
        self.notifier.serious.connect(self._alarm)
        self._alarmed: set[str] = set()
        self._export_done.connect(self.notify)
        self._import_done.connect(self._after_import)
        self._import_progress.connect(self._on_import_progress)
        self._import: _Import | None = None  # the import running, if any
        self._details, self._details_error = "", True
        self.details_box: QMessageBox | None = None  # the last one shown (tests look at it)
        # Deletes Undo can still bring back, the last one last, each with the tabs it closed;
        # deleted for good (purged) when the Undo offer ends or the window closes.
        self._undo: list[tuple[str, list[_ClosedTab]]] = []
        self._spin = 0
        self._send_on_enter = True
        self.settings_dialog: QWidget | None = None  # the open settings dialog, if any
        self.progress_dialog: ProgressDialog | None = None
        self.model_manager: ModelManagerDialog | None = None
        self.tab_menu: QMenu | None = None  # the last tab menu shown (tests read it)
        self.model_folder: Path | None = None  # the model loaded (or being loaded)
        self._last_dir: Path | None = None  # where the last file dialog was answered
        # What was typed in chats closed before sending, by conversation: back when reopened.
        self._closed_drafts: dict[int, str] = {}
        self._opened_from: tuple[ChatTab, ChatTab] | None = None  # (new tab, its opener)
        self._closed: list[int] = []  # chats whose tab was closed, the last one last (Ctrl+Shift+T)
        self.quick_ask: QuickAskWindow | None = None
        self.keep_in_tray = False  # closing hides the window (the tray icon is there)
        self._told_tray = False
        self._quitting = False

        # centre: sidebar | (welcome page or tabs)
        self.sidebar = Sidebar(history, group, self)
        self.sidebar.shown = lambda: (
            tab.session.conversation_id if (tab := self.current_tab()) is not None else None
        )
        # Chat tabs in one pane, or two side by side (View > Split view).
        self.tabs = self._make_pane("Chat tabs", "Open chats (Ctrl+Tab: next, Ctrl+W: close)")
        self.side_tabs = self._make_pane(
            "Chat tabs, right side", "The second pane of the split view (Ctrl+\\: unsplit)"
        )
        self.side_tabs.hide()
        self._active_pane = self.tabs
        self.panes = QSplitter(Qt.Orientation.Horizontal)
        self.panes.setChildrenCollapsible(False)
        self.panes.addWidget(self.tabs)
        self.panes.addWidget(self.side_tabs)
        self.welcome = WelcomePage()
        self.centre = QStackedWidget()
        self.centre.addWidget(self.panes)
        self.centre.addWidget(self.welcome)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self._build_model_bar())
        column.addWidget(self.centre, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 840])
        self._sidebar_pt = self.font().pointSizeF()  # the text size the sidebar was sized for
        self.setCentralWidget(self.splitter)
        self.setAcceptDrops(True)  # a model file or folder dropped anywhere imports it

        self._build_status_bar()
        self._build_menus()

        self.sidebar.open_requested.connect(self._open_from_list)
        self.sidebar.export_requested.connect(lambda ids: self.choose_transcript_export(list(ids)))
        self.sidebar.new_chat_requested.connect(self.new_tab)
        self.sidebar.deleted.connect(self._on_deleted)
        self.sidebar.typed.connect(self._type_into_chat)
        self.sidebar.changed.connect(self._retitle_tabs)
        for pane in (self.tabs, self.side_tabs):
            pane.tabCloseRequested.connect(lambda i, p=pane: self.close_tab(i, p))
            pane.currentChanged.connect(lambda _i, p=pane: self._on_current_tab(p))
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_focus)
        self.welcome.install_requested.connect(self.install_starter)
        self.welcome.import_requested.connect(self.choose_import)
        host.model_loaded.connect(self._on_model_loaded)
        host.model_failed.connect(self._on_model_failed)
        host.queue_changed.connect(lambda _n: self._on_queue())

        if feedback is not None:
            feedback.notice.connect(self.notify)

        self._to_list: int | None = None  # the chat the sidebar is about to list (_on_title)
        self._list_timer = QTimer(self)
        self._list_timer.setSingleShot(True)
        self._list_timer.setInterval(FRAME_MS)
        self._list_timer.timeout.connect(self._list_chat)
        self._spinner = QTimer(self)
        self._spinner.setInterval(100)
        self._spinner.timeout.connect(self._spin_tabs)
        self.new_tab()
        # after the window is on screen, before the first answer: imports Pygments lexers
        QTimer.singleShot(0, lambda: warm_up(palette_for(self), self))

    # -- building -------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.notice = ElidedLabel(clickable=True)
        accessible(self.notice, "Notification", "The latest message from Parley")
        self.notice.clicked.connect(self.show_details)  # a notice too long for the bar

        def action(text: str, name: str, tip: str, slot: Callable[[], None]) -> QToolButton:
            """A button next to the notice, shown only while it applies."""
            button = QToolButton()
            button.setText(text)
            accessible(button, name, tip)
            button.clicked.connect(slot)
            button.hide()
            return button

        self.details_button = action(
            "Details…", "Details", "Show the details of the message in the status bar",
            self.show_details,
        )  # fmt: skip
        self.cancel_import_button = action(
            "Cancel import", "Cancel import", "Stop the import; nothing is imported",
            self.cancel_import,
        )  # fmt: skip
        self.undo_button = action(
            "Undo", "Undo delete", "Bring back what was just deleted", self.undo_delete
        )
        # The model in use; its menu switches to another installed model.
        self.model_label = QToolButton()
        self.model_label.setText("No model")
        self.model_label.setAutoRaise(True)
        self.model_label.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        accessible(self.model_label, "Model", "The model that answers; click to switch")
        self.model_menu = QMenu(self.model_label)
        self.model_menu.aboutToShow.connect(self._fill_model_menu)
        self.model_label.setMenu(self.model_menu)
        self.provider_label = QLabel()
        accessible(self.provider_label, "Device", "Where the model runs (execution provider)")
        self.speed_label = QLabel()
        accessible(self.speed_label, "Speed", "Tokens per second of this chat's last answer")
        self.context_label = QLabel()
        accessible(self.context_label, "Context", "Tokens used by the last answer vs the window")
        bar.addWidget(self.notice, 1)
        bar.addWidget(self.details_button)
        bar.addWidget(self.cancel_import_button)
        bar.addWidget(self.undo_button)
        for w in (self.model_label, self.provider_label, self.speed_label, self.context_label):
            bar.addPermanentWidget(w)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self._clear_notice)
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_MS)
        self._undo_timer.timeout.connect(self._expire_undo)
        # Chats deleted in a session that ended before its Undo offer did (killed, crashed):
        # no Undo brings them back now, so they go for good, as they would have.
        self._from_history(self.history.purge_deleted, 0)
        # parley chat (or an import from the command line) writes to the same history: its
        # chats show up here within a couple of seconds, and open chats it went on with too
        self._history_version = self._read_history_version()
        self._history_timer = QTimer(self)
        self._history_timer.setInterval(HISTORY_CHECK_MS)
        self._history_timer.timeout.connect(self.check_history)
        self._history_timer.start()

    def _action(self, menu_name: str, text: str,
                keys: str | QKeySequence.StandardKey | tuple[str, ...] | None,
                slot: Callable[[], object], tip: str) -> QAction:  # fmt: skip
        """A menu item; ``keys`` a tuple: the first is shown in the menu, the others (the
        ones ChatGPT uses) work too."""
        action = QAction(text, self)
        if isinstance(keys, tuple):
            action.setShortcuts([QKeySequence(k) for k in keys])
        elif keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self._menus[menu_name].addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        names = ("&File", "&View", "F&eedback", "&Help")
        self._menus = {name: bar.addMenu(name) for name in names}
        if self.feedback is None:
            self._menus["F&eedback"].menuAction().setVisible(False)
        a = self._action
        a("&File", "&New chat", ("Ctrl+T", "Ctrl+N", "Ctrl+Shift+O"), self.new_tab,
          "Start a new chat")  # fmt: skip
        a("&File", "&Close chat", "Ctrl+W",
          lambda: self.close_tab(self._active_pane.currentIndex(), self._active_pane),
          "Close the current chat tab")  # fmt: skip
        a("&File", "&Reopen closed chat", "Ctrl+Shift+T", self.reopen_closed_chat,
          "Open again the chat whose tab was closed last")  # fmt: skip
        a("&File", "&Delete chat", "Ctrl+Shift+Backspace", self.delete_current_chat,
          "Delete the current chat (Undo in the status bar)")  # fmt: skip
        # Ctrl+Z in the input or the search field stays their own text undo
        self.undo_action = a("&File", "&Undo delete", "Ctrl+Z", self.undo_delete,
                             "Bring back the chat deleted last, while Undo is offered")  # fmt: skip
        self.undo_action.setEnabled(False)
        self._menus["&File"].addSeparator()
        a("&File", "&Export chat…", "Ctrl+Shift+E", lambda: self.choose_transcript_export(),
          "Save the current chat as Markdown, HTML, text, PDF or JSON")  # fmt: skip
        a("&File", "Export &all chats…", None, self.choose_all_transcripts_export,
          "Save every chat in one zip (or one JSON file) in a format of your choice")  # fmt: skip
        a("&File", "Import c&hats…", None, self.choose_transcript_import,
          "Import ChatGPT's conversations.json (or its zip) or a Parley JSON file")  # fmt: skip
        self._menus["&File"].addSeparator()
        a("&File", "&Import a model…", None, self.choose_import, "Import a GGUF file or folder")
        if self._models.library is not None:
            a("&File", "&Models…", None, self.open_model_manager,
              "Installed models: import, remove, choose the default")  # fmt: skip
        if self._open_settings is not None:
            open_settings = self._open_settings
            a("&File", "&Settings…", "Ctrl+,", lambda: open_settings(self), "Open the settings")
        self._menus["&File"].addSeparator()
        a("&File", "&Quick ask…", None, self.open_quick_ask,
          "A small window for one quick question (also: parley --quick-ask)")  # fmt: skip
        self._menus["&File"].addSeparator()
        a("&File", "&Quit", "Ctrl+Q", self.request_quit, "Quit Parley")
        search = a("&View", "&Search chats", "Ctrl+K", self.sidebar.focus_search,
                   "Search all chats")  # fmt: skip
        search.setShortcuts([QKeySequence("Ctrl+K"), QKeySequence(QKeySequence.StandardKey.Find)])
        a("&View", "Next chat", "Ctrl+Tab", lambda: self._cycle(1), "Next tab")
        a("&View", "Previous chat", "Ctrl+Shift+Tab", lambda: self._cycle(-1), "Previous tab")
        a("&View", "Focus input", ("Ctrl+L", "Shift+Esc"), self.focus_input,
          "Move to the message input")  # fmt: skip
        a("&View", "Go to the &latest message", "Ctrl+J", self.go_to_latest,
          "Scroll to the end of the current chat")  # fmt: skip
        self._menus["&View"].addSeparator()
        self.split_action = a("&View", "S&plit view", "Ctrl+\\", self.toggle_split,
                              "Two chats side by side")  # fmt: skip
        self.split_action.setCheckable(True)
        a("&View", "&Move chat to the other side", "Ctrl+Shift+\\", self.move_to_other_pane,
          "Move the current chat to the other pane of the split view")  # fmt: skip
        a("&View", "Toggle sidebar", ("Ctrl+Shift+B", "Ctrl+Shift+S"), self.toggle_sidebar,
          "Show/hide chats")  # fmt: skip
        self._menus["&View"].addSeparator()
        a("&View", "&Copy last answer", "Ctrl+Shift+C",
          lambda: self._in_tab(ChatTab.copy_last_answer),
          "Copy the last answer of the current chat, as the model wrote it")  # fmt: skip
        a("&View", "Copy last code &block", "Ctrl+Shift+;",
          lambda: self._in_tab(ChatTab.copy_last_code),
          "Copy the last code block of the current chat's answers")  # fmt: skip
        self._menus["&View"].addSeparator()
        a("&View", "Zoom in", QKeySequence.StandardKey.ZoomIn, lambda: self.zoom(1), "Larger text")
        a("&View", "Zoom out", QKeySequence.StandardKey.ZoomOut, lambda: self.zoom(-1),
          "Smaller text")  # fmt: skip
        a("&View", "Reset zoom", "Ctrl+0", lambda: self.zoom(0), "Default text size")
        if self.feedback is not None:
            a("F&eedback", "&Your feedback…", None, self.show_feedback_list,
              "Every rating, report and ranking you gave: see it again or withdraw it")  # fmt: skip
            a("F&eedback", "&Outbox and submission…", None, self.show_outbox,
              "What waits to be sent to your team's feedback endpoint, and why")  # fmt: skip
            self._menus["F&eedback"].addSeparator()
            for fmt, label in EXPORTS:
                a("F&eedback", f"Export {label}…", None,
                  lambda f=fmt: self.choose_feedback_export(f),  # type: ignore[misc]
                  f"Save your feedback as {label}")  # fmt: skip
        a("&Help", "&Keyboard shortcuts", ("F1", "Ctrl+/"), self.show_shortcuts,
          "List every shortcut")  # fmt: skip
        a("&Help", "&About Parley", None, self.show_about,
          "Versions, where the model runs, where the files are")  # fmt: skip
        # Ctrl+0's size, and where zooming keeps the size (the app: the text size setting,
        # so that Settings shows what is on screen and the next start keeps it)
        self.default_font_pt = QApplication.font().pointSizeF()
        self._zoom_to: float | None = None  # a size asked for while the last one settles
        self._zoomed = self.default_font_pt  # the size applied last
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(ZOOM_SETTLE_MS)
        self._zoom_timer.timeout.connect(self._zoom_settled)
        self.font_size_store: Callable[[float], None] | None = None
        assert {s for s, _ in SHORTCUTS}  # the help dialog lists what is bound here

    # -- tabs -----------------------------------------------------------------------------
    def _make_pane(self, name: str, tip: str) -> QTabWidget:
        pane = QTabWidget()
        pane.setMovable(True)
        pane.setTabsClosable(True)
        pane.setDocumentMode(True)
        accessible(pane, name, tip)
        bar = pane.tabBar()
        accessible(bar, "Chat tabs", "The open chats: Ctrl+Tab goes to the next, Ctrl+W closes")
        bar.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        bar.customContextMenuRequested.connect(
            lambda pos, p=pane: self._tab_menu(p, p.tabBar().tabAt(pos))
        )
        return pane

    def _tab_menu(self, pane: QTabWidget, index: int) -> QMenu | None:
        """A tab's menu: close it or the others, export its chat, move it to the other side."""
        tab = pane.widget(index)
        if not isinstance(tab, ChatTab):
            return None
        pane.setCurrentIndex(index)
        self._activate(pane)  # Export and Move act on the current chat: this one
        menu = QMenu(self)
        menu.addAction("Close", lambda: self.close_tab(pane.indexOf(tab), pane))
        others = menu.addAction("Close other chats", lambda: self.close_others(tab))
        others.setEnabled(len(self.chat_tabs()) > 1)
        menu.addSeparator()
        export = menu.addAction("Export…", lambda: self.choose_transcript_export())
        export.setEnabled(tab.session.conversation_id is not None)
        copy = menu.addAction("Copy as Markdown", lambda: self.copy_chat_markdown(tab))
        copy.setEnabled(tab.session.conversation_id is not None)
        if self.is_split():
            side = "Move to the other side"
        elif pane.count() > 1:
            side = "Split view, this chat on the right"
        else:
            side = "Split view, a new chat on the right"
        menu.addAction(side, self.move_to_other_pane)
        menu.popup(pane.tabBar().mapToGlobal(pane.tabBar().tabRect(index).bottomLeft()))
        self.tab_menu = menu
        return menu

    def close_others(self, keep: ChatTab) -> None:
        self._close_chats([tab for tab in self.chat_tabs() if tab is not keep])

    def _panes(self) -> tuple[QTabWidget, ...]:
        return (self.tabs, self.side_tabs) if self.is_split() else (self.tabs,)

    def is_split(self) -> bool:
        return not self.side_tabs.isHidden()

    def pane_of(self, tab: ChatTab) -> QTabWidget:
        return self.side_tabs if self.side_tabs.indexOf(tab) >= 0 else self.tabs

    @staticmethod
    def _tabs_in(pane: QTabWidget) -> list[ChatTab]:
        return [w for i in range(pane.count()) if isinstance(w := pane.widget(i), ChatTab)]

    def chat_tabs(self) -> list[ChatTab]:
        return self._tabs_in(self.tabs) + self._tabs_in(self.side_tabs)

    def current_tab(self) -> ChatTab | None:
        """The chat of the pane last used (the only pane unless split)."""
        widget = self._active_pane.currentWidget()
        return widget if isinstance(widget, ChatTab) else None

    def _activate(self, pane: QTabWidget) -> None:
        if pane is self._active_pane or (pane is self.side_tabs and not self.is_split()):
            return
        self._active_pane = pane
        self._select_current_in_sidebar()
        self._show_context()  # the status bar speaks of the pane in use

    def _select_current_in_sidebar(self) -> None:
        tab = self.current_tab()
        if tab is not None and tab.session.conversation_id is not None:
            self.sidebar.select(tab.session.conversation_id)
        else:  # a new chat, not listed yet: the one listed before is not what is shown
            self.sidebar.clear_selection()
        self._update_window_title()

    def _update_window_title(self) -> None:
        """The chat shown names the window (taskbar, window switcher): "Title — Parley"."""
        tab = self.current_tab()
        title = tab.session.title() if tab is not None and tab.session.conversation_id else ""
        self.setWindowTitle(f"{title} — Parley" if title else "Parley")

    def _on_focus(self, _old: QWidget | None, new: QWidget | None) -> None:
        while new is not None:
            if new is self.tabs or new is self.side_tabs:
                self._activate(new)
                return
            new = new.parentWidget()

    def new_tab(self, conversation_id: int | None = None, *, background: bool = False) -> ChatTab:
        """A chat tab in the active pane, shown and focused; ``background``: added behind the
        current one, its messages read when it is first shown."""
        session = ChatSession(
            self.history, self.host, self._defaults, conversation_id, busy=self.history_busy
        )
        tab = ChatTab(session, feedback=self.feedback, deferred=background)
        tab.composer.send_on_enter = self._send_on_enter
        if conversation_id is not None and conversation_id in self._closed_drafts:
            tab.composer.setPlainText(self._closed_drafts.pop(conversation_id))
        session.setParent(tab)
        pane = self._active_pane
        opener = pane.currentWidget()
        index = pane.addTab(tab, session.title())
        tab.state_changed.connect(lambda _s, t=tab: self._on_tab_state(t))
        tab.title_changed.connect(lambda _t, t=tab: self._on_title(t))
        tab.answer_stats.connect(lambda _stats: self._show_context())  # of the chat shown
        tab.answer_stats.connect(lambda _stats, t=tab: self._mark_unread(t))
        tab.notify.connect(self.notify)
        tab.composer.models_dropped.connect(self.import_dropped)
        tab.branch_requested.connect(self.branch_chat)
        tab.model_requested.connect(self.use_model)
        # another branch shown (the version switcher, an edit): its own use of the context
        session.path_changed.connect(lambda t=tab: self._show_context_of(t))
        if self._models.library is not None:
            tab.view.models = self._installed_models
        if not background:
            self._release_focus(pane)
            pane.setCurrentIndex(index)
            # closed before another tab is shown, it hands back to the chat it was opened
            # from, as a browser does (not to its neighbour at the end of the strip)
            self._opened_from = (tab, opener) if isinstance(opener, ChatTab) else None
        self._refresh_tab_labels()
        if not background:
            tab.composer.setFocus()
        return tab

    def _move(self, tab: ChatTab, to: QTabWidget) -> None:
        """Move a chat between panes; its session (and an answer being written) goes along."""
        source = self.pane_of(tab)
        if source is to:
            return
        index = source.indexOf(tab)
        text, tip = source.tabText(index), source.tabToolTip(index)
        source.removeTab(index)
        new = to.addTab(tab, text)
        to.setTabToolTip(new, tip)
        to.setCurrentIndex(new)

    def toggle_split(self) -> None:
        """Split: the current chat goes to the right (a new chat when it is the only one).
        Unsplit: the right side's chats join the left."""
        if self.is_split():
            for tab in self._tabs_in(self.side_tabs):
                self._move(tab, self.tabs)
            self.side_tabs.hide()
            self._active_pane = self.tabs
        else:
            current = self.current_tab()
            self.side_tabs.show()
            half = max(1, self.panes.width() // 2)
            self.panes.setSizes([half, half])
            self._active_pane = self.side_tabs
            if current is not None and self.tabs.count() > 1:
                self._move(current, self.side_tabs)
                current.composer.setFocus()
            else:
                self.new_tab()
        self.split_action.setChecked(self.is_split())
        self._refresh_tab_labels()

    def move_to_other_pane(self) -> None:
        tab = self.current_tab()
        if tab is None:
            return
        if not self.is_split():
            self.toggle_split()  # the current chat moves right, or a new one opens there
            return
        other = self.tabs if self.pane_of(tab) is self.side_tabs else self.side_tabs
        self._move(tab, other)
        self._active_pane = other
        tab.composer.setFocus()
        self._settle_panes()

    def _settle_panes(self) -> None:
        """No empty pane: an empty side unsplits; an empty left takes the right's chats."""
        if self.is_split() and (self.side_tabs.count() == 0 or self.tabs.count() == 0):
            self.toggle_split()
        if self.tabs.count() == 0:
            self.new_tab()

    def open_conversation(self, conversation_id: int, message_id: int = -1) -> ChatTab:
        """Show a conversation: its tab if open, else a new tab (or the current empty one).
        ``message_id`` (a search hit) selects the branch that contains it."""
        if message_id >= 0:
            for t in self.chat_tabs():
                if t.session.conversation_id == conversation_id and t.session.state != "idle":
                    break  # do not switch branches under an answer being written
            else:
                self.history.switch_branch(message_id)
        for tab in self.chat_tabs():
            if tab.session.conversation_id == conversation_id:
                pane = self.pane_of(tab)
                pane.setCurrentWidget(tab)
                self._activate(pane)
                tab.composer.setFocus()  # as a new tab's: the chat shown takes the keys
                if message_id >= 0:
                    tab.reveal(message_id)
                return tab
        current = self.current_tab()
        if current is not None and self._blank(current):
            pane = self.pane_of(current)
            pane.removeTab(pane.indexOf(current))
            current.deleteLater()
        tab = self.new_tab(conversation_id)
        if message_id >= 0:
            tab.reveal(message_id)
        return tab

    def _open_from_list(self, conversation_id: int, message_id: int = -1) -> ChatTab:
        """A chat clicked in the sidebar (or a search hit): in the preview tab, which shows
        the chat looked at last until something is written in it, rather than in one more
        tab each time."""
        pane = self._active_pane
        preview = next(
            (
                t
                for t in self._tabs_in(pane)
                if t.preview and t.session.state == "idle" and not t.composer.toPlainText().strip()
            ),
            None,
        )
        known = any(t.session.conversation_id == conversation_id for t in self.chat_tabs())
        tab = self.open_conversation(conversation_id, message_id)
        if known or tab is preview:
            return tab
        if preview is not None and self.pane_of(tab) is pane:
            at = pane.indexOf(preview)
            # only looked at: Ctrl+Shift+T brings back the tabs closed, not each chat glanced at
            self._close_chats([preview], remember=False)
            if pane.indexOf(tab) >= 0:
                pane.tabBar().moveTab(pane.indexOf(tab), min(at, pane.count() - 1))
                pane.setCurrentWidget(tab)
        if tab.composer.toPlainText().strip():
            self._refresh_tab_labels()
            return tab  # came back with a draft: written in already, it stays
        tab.preview = True
        tab.composer.textChanged.connect(lambda t=tab: self._keep_tab(t))
        tab.state_changed.connect(lambda _state, t=tab: self._keep_tab(t))
        self._refresh_tab_labels()
        return tab

    def _keep_tab(self, tab: ChatTab) -> None:
        """Something was written in a preview tab: it stays when another chat is opened."""
        if tab.preview and (tab.composer.toPlainText().strip() or tab.session.state != "idle"):
            tab.preview = False
            self._refresh_tab_labels()

    @staticmethod
    def _blank(tab: ChatTab) -> bool:
        """A new chat with nothing in it: opening another chat may take its place."""
        return (
            tab.session.conversation_id is None
            and tab.session.state == "idle"
            and not tab.composer.toPlainText().strip()
        )

    def close_tab(self, index: int, pane: QTabWidget | None = None) -> None:
        widget = (pane or self._active_pane).widget(index)
        if isinstance(widget, ChatTab):
            focus = QApplication.focusWidget()
            had_keys = focus is not None and widget.isAncestorOf(focus)
            opener = (
                self._opened_from[1]
                if self._opened_from and self._opened_from[0] is widget
                else None
            )
            self._close_chats([widget])
            if opener is not None and opener in self.chat_tabs():
                self.pane_of(opener).setCurrentWidget(opener)
            shown = self.current_tab()
            if had_keys and shown is not None:  # Ctrl+W: on to the chat shown now, not to
                shown.composer.setFocus()  # whatever Qt picks (the search field)

    def _close_chats(self, tabs: list[ChatTab], *, remember: bool = True) -> None:
        """Close these tabs (an answer being written stops and is stored), then list the
        history once and leave no pane empty."""
        if not tabs:
            return
        for tab in tabs:
            pane = self.pane_of(tab)
            conversation_id = tab.session.conversation_id
            draft = tab.draft
            if conversation_id is not None and draft.strip():
                self._closed_drafts[conversation_id] = draft
            if conversation_id is not None and remember:
                if conversation_id in self._closed:
                    self._closed.remove(conversation_id)
                self._closed = [*self._closed[-(REOPEN_KEPT - 1) :], conversation_id]
            tab.session.close()
            pane.removeTab(pane.indexOf(tab))
            tab.deleteLater()
        self.sidebar.refresh()
        self._settle_panes()
        # the pane that took over (closing the right side's last chat unsplits) may show
        # another chat than the one the list had highlighted
        self._select_current_in_sidebar()

    def _release_focus(self, pane: QTabWidget) -> None:
        """Before ``pane`` shows another chat: the keys leave the chat shown now without
        Qt handing them to the next widget in line, the search field (a screen reader said
        "Search chats" at every change of tab)."""
        focus = QApplication.focusWidget()
        shown = pane.currentWidget()
        if focus is not None and shown is not None and shown.isAncestorOf(focus):
            focus.clearFocus()

    def _cycle(self, step: int) -> None:
        pane = self._active_pane
        if pane.count():
            self._release_focus(pane)
            pane.setCurrentIndex((pane.currentIndex() + step) % pane.count())
            shown = self.current_tab()
            if shown is not None:  # a chat not shown before had the keys nowhere visible
                shown.composer.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _on_current_tab(self, pane: QTabWidget) -> None:
        if pane.count() == 0:
            return
        if self._opened_from is not None and pane.currentWidget() is not self._opened_from[0]:
            self._opened_from = None  # another chat was shown since: closing goes as usual
        self._active_pane = pane if pane is self.tabs or self.is_split() else self.tabs
        self._select_current_in_sidebar()
        self._show_context()
        shown = pane.currentWidget()
        if isinstance(shown, ChatTab) and shown.unread:
            shown.unread = False
            self._label_pane(pane)

    def _on_title(self, tab: ChatTab) -> None:
        self._refresh_tab_labels()  # the window's title too
        # the sidebar lists the chat a frame later: a new chat gets its title in the middle of
        # sending its first message, and that frame already has the new messages to lay out
        self._to_list = tab.session.conversation_id
        self._list_timer.start()

    def _list_chat(self) -> None:
        self.sidebar.refresh()
        if self._to_list is not None:
            self.sidebar.select(self._to_list)

    def _retitle_tabs(self, _conversation_id: int) -> None:
        for tab in self.chat_tabs():
            tab.session.forget_title()
        self._refresh_tab_labels()

    def _on_tab_state(self, tab: ChatTab) -> None:
        busy = any(t.session.state != "idle" for t in self.chat_tabs())
        if busy and not self._spinner.isActive():
            self._spinner.start()
        elif not busy:
            self._spinner.stop()
        if tab.session.state == "idle" and tab.session.conversation_id is not None:
            self.sidebar.touch(tab.session.conversation_id)
        self._refresh_tab_labels()

    def _spin_tabs(self) -> None:
        self._spin = (self._spin + 1) % len(SPINNER)
        self._refresh_tab_labels()

    def _mark_unread(self, tab: ChatTab) -> None:
        """An answer that finished in a tab nobody is looking at marks the tab until shown."""
        if self.pane_of(tab).currentWidget() is not tab:
            tab.unread = True
            self._refresh_tab_labels()

    def _on_queue(self) -> None:
        """An answer started or ended: tabs waiting say whether another one holds the model."""
        self._refresh_tab_labels()
        for tab in self.chat_tabs():
            tab.refresh_banner()

    def _refresh_tab_labels(self) -> None:
        for pane in self._panes():
            self._label_pane(pane)
        self._update_window_title()

    def _label_pane(self, pane: QTabWidget) -> None:
        for i in range(pane.count()):
            tab = pane.widget(i)
            if not isinstance(tab, ChatTab):
                continue
            title = tab.session.title()
            short = title if len(title) <= 24 else title[:23] + "…"
            state = tab.session.state
            if state == "streaming":
                text, tip = f"{SPINNER[self._spin]} {short}", f"{title} — answering…"
            elif state == "waiting":
                text, tip = f"… {short}", f"{title} — waiting for the model (another tab is first)"
            elif tab.unread:
                text, tip = f"● {short}", f"{title} — a new answer"
            else:
                text, tip = short, title
            if tab.preview:
                tip += (
                    " — preview: the next chat opened from the list takes its place, until "
                    "you write in this one"
                )
            pane.setTabText(i, text.replace("&", "&&"))  # a title's "&" is no shortcut mark
            pane.setTabToolTip(i, tip)
            bar = pane.tabBar()  # a preview's name is drawn fainter, as an editor's in italics
            bar.setTabTextColor(
                i, bar.palette().placeholderText().color() if tab.preview else QColor()
            )
            close = pane.tabBar().tabButton(i, QTabBar.ButtonPosition.RightSide)
            if close is not None:  # Qt's own button: a screen reader heard only "Close Tab"
                accessible(close, f"Close {title}", f"Close the chat “{title}” (Ctrl+W)")

    # -- focus, zoom, dialogs ---------------------------------------------------------------
    def focus_input(self) -> None:
        tab = self.current_tab()
        if tab is not None:
            tab.composer.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _in_tab(self, action: Callable[[ChatTab], object]) -> None:
        """``action`` on the current chat, if there is one."""
        tab = self.current_tab()
        if tab is not None:
            action(tab)

    def branch_chat(self, message_id: int) -> ChatTab | None:
        """ChatGPT's "Branch in new chat": the conversation down to ``message_id`` copied
        into a new chat, opened in a tab; the chat it came from stays as it was."""
        from desktop.store import KnownError

        try:
            branch = self.history.branch_conversation(message_id)
        except (KnownError, ValueError) as exc:
            self.notify(f"Could not branch the chat: {exc}")
            return None
        self.sidebar.refresh()
        tab = self.open_conversation(branch.id)
        self.notify(f"Branched into a new chat: {branch.title}")
        return tab

    def copy_chat_markdown(self, tab: ChatTab) -> bool:
        """The chat as its Markdown export (the branch shown) on the clipboard, to paste into
        an issue, a note or a mail."""
        from desktop.store import KnownError
        from desktop.store.transcripts import read_conversation
        from desktop.transcripts.render import to_markdown

        conversation_id = tab.session.conversation_id
        if conversation_id is None:
            return False
        try:
            conversation = read_conversation(self.history, conversation_id)  # type: ignore[arg-type]
        except KnownError as exc:
            self.notify(f"Could not copy the chat: {exc}")
            return False
        copy_to_clipboard(to_markdown(conversation))
        self.notify("Copied the chat as Markdown.")
        return True

    def _from_history(self, read: Callable[[], _T], failed: _T) -> _T:
        """``read()`` on the history, or ``failed`` when it cannot be done now (busy,
        damaged, or closed as the app quits): the periodic check just tries again."""
        import sqlite3

        from desktop.store import KnownError

        try:
            return read()
        except (KnownError, sqlite3.Error):
            return failed

    def _read_history_version(self) -> int | None:
        return self._from_history(self.history.data_version, None)

    def _recover_abandoned(self) -> bool:
        """Answers another program was writing when it ended (``parley chat`` killed, a
        terminal closed) become "interrupted" with a Continue, as at the window's start."""
        if self._import is not None:
            return False
        return bool(self._from_history(lambda: len(self.history.recover_interrupted()), 0))

    def check_history(self) -> bool:
        """List the chats again, and show again the open ones that are idle, when another
        program (parley chat, parley import) changed the history or left an answer
        unfinished. True when it had."""
        recovered = self._recover_abandoned()  # the window's own write: not in data_version
        version = self._read_history_version()
        if version is None or (version == self._history_version and not recovered):
            return False
        self._history_version = version
        if self._import is not None:
            return False  # the window's own import: its end lists the chats
        from desktop.store import KnownError

        self.sidebar.refresh()
        for tab in self.chat_tabs():
            if tab.session.state == "idle" and tab.session.conversation_id is not None:
                try:
                    tab.refresh()
                except (KnownError, LookupError):  # gone meanwhile: it stays as it was shown
                    continue
        return True

    def reopen_closed_chat(self) -> ChatTab | None:
        """The chat whose tab was closed last, in a tab again (one that was deleted since
        is passed over); each press goes one further back."""
        if self._closed:
            existing = {c.id for c in self.history.list_conversations()}
            while self._closed:
                conversation_id = self._closed.pop()
                if conversation_id in existing and not any(
                    t.session.conversation_id == conversation_id for t in self.chat_tabs()
                ):
                    return self.open_conversation(conversation_id)
        self.notify("There is no closed chat to reopen.")
        return None

    def delete_current_chat(self) -> None:
        """The current tab's chat into the trash (Undo in the status bar); its tab closes."""
        tab = self.current_tab()
        conversation_id = tab.session.conversation_id if tab is not None else None
        if conversation_id is None:
            self.notify("Nothing to delete: this chat is empty.")
            return
        self.sidebar.delete(conversation_id)

    def go_to_latest(self) -> None:
        self._in_tab(lambda tab: tab.view.scroll_to_end())

    def set_send_on_enter(self, on: bool) -> None:
        """The send key setting: Enter (Shift+Enter: new line) or Ctrl+Enter."""
        self._send_on_enter = on
        for tab in self.chat_tabs():
            tab.composer.send_on_enter = on

    def toggle_sidebar(self) -> None:
        self.sidebar.setVisible(not self.sidebar.isVisible())

    def set_font_size(self, points: float) -> None:
        """Scale all text (the settings' font size and the zoom shortcuts)."""
        points = max(MIN_FONT_PT, min(MAX_FONT_PT, points))
        # the application's font: the stylesheet keeps a window's own font from its children
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_font_size(app, round(points))

    def zoom(self, step: int) -> None:
        """Ctrl++ / Ctrl+- / Ctrl+0: one point larger, smaller, or the default size. The first
        press applies at once; presses that follow within ZOOM_SETTLE_MS are added up and
        applied together: each size restyles every widget (1.6 s with a dozen chats open),
        and five quick presses took five times that, the button rows drawn over the text."""
        if self._zoom_to is not None:
            base = self._zoom_to
        elif self._zoom_timer.isActive():
            base = self._zoomed  # just asked for: it may not be on screen yet
        else:
            base = QApplication.font().pointSizeF()
        size = self.default_font_pt if step == 0 else base + step
        size = max(MIN_FONT_PT, min(MAX_FONT_PT, size))
        if self._zoom_timer.isActive():
            self._zoom_to = size
            return
        self._zoom_timer.start()
        self._apply_zoom(size)

    def _zoom_settled(self) -> None:
        size, self._zoom_to = self._zoom_to, None
        if size is not None and size != QApplication.font().pointSizeF():
            self._zoom_timer.start()  # presses during this one add up again
            self._apply_zoom(size)

    def _apply_zoom(self, size: float) -> None:
        self._zoomed = size
        if self.font_size_store is not None:
            self.font_size_store(size)  # the setting's subscriber sets it on screen
        else:
            self.set_font_size(size)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self, send_on_enter=self._send_on_enter).open()

    def show_about(self) -> QDialog:
        from desktop.ui.about import AboutDialog

        path = getattr(self.history, "path", None)
        dialog = AboutDialog(self.host.info, path if isinstance(path, Path) else None, self)
        dialog.open()
        return dialog

    def settings_rows(self) -> dict[str, list[tuple[str, QWidget]]]:
        """What belongs on a settings page without being a setting: the model manager, the
        feedback endpoint's API token (kept in the keychain) and the outbox."""

        def button(text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
            widget = QPushButton(text)
            widget.setAutoDefault(False)
            accessible(widget, text.rstrip("…"), tip)
            widget.clicked.connect(slot)
            return widget

        manage = button(
            "Manage models…",
            "List, import and remove models, and choose the default one.",
            self.open_model_manager,
        )
        # device, threads and context length take effect in a loaded model: here, at once
        reload = button(
            "Reload the model now",
            "Load the model in use again, with the device, threads and context length set "
            "here (an answer being written finishes first).",
            self.reload_model,
        )
        rows: dict[str, list[tuple[str, QWidget]]] = {
            "model": [("Installed models", manage), ("", reload)]
        }
        if self.feedback is not None:
            from desktop.ui.token_editor import TokenEditor

            outbox = button("Open the outbox…", "What waits to be sent, and why.", self.show_outbox)
            rows["feedback"] = [("API token", TokenEditor(self.feedback)), ("Outbox", outbox)]
        return rows

    # -- feedback ---------------------------------------------------------------------------
    def show_feedback_list(self) -> QWidget | None:
        if self.feedback is None:
            return None
        from desktop.ui.feedback_list import FeedbackList

        if self.feedback_list is None:
            view = FeedbackList(self.feedback, self)
            self._own_window(view, "Your feedback", 760, 460)
            view.open_requested.connect(self._open_feedback_target)
            self.feedback_list = view
        self.feedback_list.show()
        self.feedback_list.raise_()
        self.feedback_list.activateWindow()
        return self.feedback_list

    def _own_window(self, view: QWidget, title: str, width: int, height: int) -> None:
        """``view`` as a window of its own, opened over Parley's."""
        view.setWindowFlag(Qt.WindowType.Window)
        view.setWindowTitle(title)
        view.resize(width, height)
        centre = self.frameGeometry().center()
        top = max(self.frameGeometry().top(), centre.y() - height // 2)
        view.move(centre.x() - width // 2, top)

    def _open_feedback_target(self, conversation_id: int, message_id: int) -> None:
        """Your feedback's "Open in chat": the chat at that message, in front."""
        self.present()
        self.open_conversation(conversation_id, message_id)

    def show_outbox(self) -> QWidget | None:
        if self.feedback is None:
            return None
        from desktop.ui.outbox_view import OutboxView

        if self.outbox_view is None:
            view = OutboxView(self.feedback, self)
            # wide enough for the endpoint and the table
            self._own_window(view, "Feedback outbox", 720, 460)
            self.outbox_view = view
        self.outbox_view.show()
        self.outbox_view.raise_()
        return self.outbox_view

    def _in_start_dir(self, name: str) -> str:
        """``name`` in the folder a file dialog opens in: the one used last, else Documents,
        else home (not the folder Parley was started from)."""
        folder = self._last_dir
        if folder is None or not folder.is_dir():
            docs = QStandardPaths.writableLocation(
                QStandardPaths.StandardLocation.DocumentsLocation
            )
            folder = Path(docs) if docs and Path(docs).is_dir() else Path.home()
        return str(folder / name) if name else str(folder)

    def choose_feedback_export(self, fmt: str) -> None:
        suffix = "json" if fmt == "chatgpt" else "jsonl"
        name = "message_feedback.json" if fmt == "chatgpt" else f"parley-{fmt}.jsonl"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export feedback", self._in_start_dir(name), f"{suffix.upper()} (*.{suffix})"
        )
        if path:
            self._last_dir = Path(path).parent
            self.export_feedback(fmt, Path(path))

    def export_feedback(self, fmt: str, path: Path) -> threading.Thread | None:
        """Write the export on a plain thread with its own database connection; the result
        comes back to the status bar."""
        if self.feedback is None:
            return None
        from desktop.feedback.export import export
        from desktop.feedback.repository import FeedbackStore

        def work(store: Store) -> str:
            feedback = FeedbackStore(store)
            try:
                count = export(feedback, fmt, path)  # type: ignore[arg-type]
            finally:
                feedback.close()
            return f"Exported {count} feedback record(s) to {path}."

        return self._with_own_store(
            self.feedback.store.path, "parley-feedback-export", self._export_done, work,
            "The feedback export failed", (ValueError,),
        )  # fmt: skip

    def _with_own_store(
        self,
        db_path: Path,
        name: str,
        done: SignalInstance,
        work: Callable[[Store], str],
        failure: str,
        errors: tuple[type[Exception], ...] = (),
    ) -> threading.Thread:
        """Run ``work`` on a plain thread with its own connection to the history (exports and
        imports take seconds); the sentence it returns, or ``failure`` with the error, goes
        to ``done``."""
        from desktop.store import KnownError, Store

        expected: tuple[type[Exception], ...] = (KnownError, OSError, *errors)

        def run() -> None:
            try:
                store = Store.open(db_path)
                try:
                    message = work(store)
                finally:
                    store.close()
            except expected as exc:
                message = f"{failure}: {exc}"
            except Exception as exc:  # a bug: logged, and the caller still hears the end
                logger.exception("%s failed", name)
                message = f"{failure} because of an error inside Parley ({exc}); see the log"
            done.emit(message)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._exports.append(thread)
        thread.start()
        return thread

    # -- transcripts ---------------------------------------------------------------------
    def choose_all_transcripts_export(self) -> None:
        self.choose_transcript_export([c.id for c in self.history.list_conversations()])

    def choose_transcript_export(self, conversation_ids: list[int] | None = None) -> None:
        """Ask where to export ``conversation_ids`` (default: the chat shown) and in which
        format; several chats go into one zip (or one JSON file for the JSON formats)."""
        if conversation_ids is None:
            tab = self.current_tab()
            conversation = tab.session.conversation_id if tab is not None else None
            if conversation is None:
                self.notify("Nothing to export yet: this chat is empty.")
                return
            conversation_ids = [conversation]
        if not conversation_ids:
            self.notify("There are no chats to export yet.")
            return
        from desktop.transcripts import EXTENSIONS, JSON_FORMATS, safe_filename, with_extension

        one = len(conversation_ids) == 1
        suffixes: dict[Format, str] = {}
        filters: dict[str, Format] = {}
        for fmt, label in TRANSCRIPT_FORMATS:
            suffix = EXTENSIONS[fmt] if one or fmt in JSON_FORMATS else ".zip"
            # "Markdown (*.zip)" read as a mistake: one file per chat, in a zip
            shown = label if suffix != ".zip" else f"{label}, one file per chat in a zip"
            filters[f"{shown} (*{suffix})"] = fmt
            suffixes[fmt] = suffix
        if one:
            name = f"{safe_filename(self.history.get_conversation(conversation_ids[0]).title)}.md"
        else:
            name = f"Parley chats {time.strftime('%Y-%m-%d')}.zip"
        title = "Export chat" if one else f"Export {len(conversation_ids)} chats"
        path, chosen = QFileDialog.getSaveFileName(
            self, title, self._in_start_dir(name), ";;".join(filters)
        )
        if not path:
            return
        self._last_dir = Path(path).parent
        fmt = filters.get(chosen, "markdown")
        # A name typed with another format's extension ("notes.html") says the format, when
        # the list was left as it was; the extension offered (".md") does not: a format
        # chosen in the list wins over it.
        typed = Path(path).suffix.lower()
        by_suffix: dict[str, list[Format]] = {
            suffix: [f for f, x in suffixes.items() if x == suffix] for suffix in suffixes.values()
        }
        if typed != Path(name).suffix and len(by_suffix.get(typed, [])) == 1:
            fmt = by_suffix[typed][0]
        target = with_extension(Path(path), suffixes[fmt])  # the name may be another format's
        if one:
            self.export_transcript(conversation_ids, fmt, target)
        elif fmt == "pdf":
            self.export_pdfs(conversation_ids, target)
        else:
            self.export_transcripts_in_background(conversation_ids, fmt, target)

    def export_transcript(
        self, conversation_ids: int | list[int], fmt: Format, path: Path
    ) -> Path | None:
        """Written here, on the GUI thread: one chat is small, and the PDF writer is Qt."""
        from desktop.store import KnownError
        from desktop.transcripts import TranscriptError, export_conversations
        from desktop.ui.pdf_export import html_to_pdf

        ids = [conversation_ids] if isinstance(conversation_ids, int) else conversation_ids
        try:
            written = export_conversations(
                self.history, ids, fmt, path,  # type: ignore[arg-type]
                pdf_renderer=html_to_pdf,
            )  # fmt: skip
        except (TranscriptError, KnownError, OSError) as exc:
            self.notify(f"The export failed: {exc}")
            return None
        what = "the chat" if len(ids) == 1 else f"{len(ids)} chats"
        self.notify(f"Exported {what} to {written}.")
        return written

    def export_pdfs(self, conversation_ids: list[int], path: Path) -> QTimer | None:
        """Several chats as PDF, in one zip. Qt's PDF writer belongs to the GUI thread, so
        one chat is rendered per turn of the event loop with the progress in the status bar
        (~60 ms each: 840 chats held the window for 50 s when rendered in one go); the zip
        is written at the end. Returns the timer that drives it (None when nothing starts)."""
        from desktop.store import KnownError
        from desktop.store.transcripts import read_conversations
        from desktop.transcripts import TranscriptError
        from desktop.transcripts.export import (
            export_target,
            render_one,
            write_atomically,
            zip_parts,
        )
        from desktop.ui.pdf_export import html_to_pdf

        try:
            conversations = read_conversations(self.history, conversation_ids)  # type: ignore[arg-type]
        except KnownError as exc:
            self.notify(f"The export failed: {exc}")
            return None
        count, parts = len(conversations), list[bytes]()
        timer = QTimer(self)

        def step() -> None:
            try:
                if len(parts) < count:
                    parts.append(render_one(conversations[len(parts)], "pdf", html_to_pdf))
                    self._notice_timer.stop()
                    self.notice.setText(
                        f"Exporting {count} chats as PDF: {len(parts) / count:.0%}…"
                    )
                    return
                timer.stop()
                target = export_target(path, conversations, "pdf")
                write_atomically(target, zip_parts(conversations, parts, "pdf"))
            except (TranscriptError, OSError) as exc:
                timer.stop()
                self.notify(f"The export failed: {exc}")
                return
            self.notify(f"Exported {count} chats to {target}.")

        timer.timeout.connect(step)
        timer.start(0)
        return timer

    def export_transcripts_in_background(
        self, conversation_ids: list[int], fmt: Format, path: Path
    ) -> threading.Thread:
        """Many chats take seconds: written on a plain thread with its own connection."""
        from desktop.transcripts import TranscriptError, export_conversations

        count = len(conversation_ids)
        self.notify(f"Exporting {count} chats…")

        def work(store: Store) -> str:
            written = export_conversations(store, conversation_ids, fmt, path)
            return f"Exported {count} chats to {written}."

        return self._with_own_store(
            self.history.path,  # type: ignore[attr-defined]
            "parley-transcript-export", self._export_done, work, "The export failed",
            (TranscriptError,),
        )  # fmt: skip

    def choose_transcript_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import chats",
            self._in_start_dir(""),
            "Chat exports (*.json *.zip);;All files (*)",
        )
        if path:
            self._last_dir = Path(path).parent
            self.import_transcripts(Path(path))

    def import_transcripts(self, path: Path) -> threading.Thread | None:
        """Large exports take minutes: imported on a plain thread with its own connection,
        all or nothing, with its progress and a Cancel button in the status bar; the sidebar
        refreshes when it is done. The import holds the history for writing meanwhile, so no
        answer is being written when it starts, and none starts until it ends."""
        from desktop.transcripts import ImportCancelled, TranscriptError, import_file

        if self._import is not None:
            self.notify("An import is already running; wait for it or cancel it.")
            return None
        if any(s.state != "idle" for s in self._sessions()):
            self.notify("Wait for the answers being written to finish, then import.")
            return None
        cancel = threading.Event()
        self._import = _Import(path.name, cancel)
        self._on_import_progress("checking", 0.0)
        self.cancel_import_button.show()
        shown = [("", -1)]

        def progress(stage: str, fraction: float) -> None:  # on the import's thread
            step = (stage, int(fraction * 100))
            if step != shown[0]:  # a signal per percent, not per conversation
                shown[0] = step
                self._import_progress.emit(stage, fraction)

        def work(store: Store) -> str:
            try:
                result = import_file(store, path, progress=progress, cancel=cancel)
            except ImportCancelled:
                return f"Import of {path.name} cancelled; nothing was imported."
            summary = f"Imported {result.added} new chat(s) and {result.messages} message(s)"
            if result.merged:
                summary += f"; {result.merged} existing chat(s) got new messages"
            if result.unchanged:
                summary += f"; {result.unchanged} chat(s) were already in your history"
            if not result.warnings:
                return summary + "."
            # the first line is the notice, the rest its details
            return "\n".join((f"{summary}; some parts were left out.", *result.warnings))

        return self._with_own_store(
            self.history.path,  # type: ignore[attr-defined]
            "parley-transcript-import", self._import_done, work, IMPORT_FAILED,
            (TranscriptError,),
        )  # fmt: skip

    def _on_import_progress(self, stage: str, fraction: float) -> None:
        if self._import is None or self._import.cancel.is_set():  # "Cancelling…" stays
            return
        self._notice_timer.stop()  # stays until the import ends
        verb = "checking" if stage == "checking" else "adding chats"
        self.notice.setText(f"Importing {self._import.name}: {verb}, {fraction:.0%}…")
        self.details_button.hide()

    def cancel_import(self) -> None:
        if self._import is not None:
            self._import.cancel.set()
            self.notice.setText(f"Cancelling the import of {self._import.name}…")

    def history_busy(self) -> str | None:
        """Why nothing can be asked now (the history is held by an import), or None."""
        if self._import is None:
            return None
        return (
            f"Chats from {self._import.name} are being imported; wait for it to finish "
            "or cancel it in the status bar."
        )

    def _sessions(self) -> list[ChatSession]:
        sessions = [tab.session for tab in self.chat_tabs()]
        if self.quick_ask is not None and self.quick_ask.session is not None:
            sessions.append(self.quick_ask.session)
        return sessions

    def _after_import(self, message: str) -> None:
        busy = self.history_busy()
        self._import = None
        if busy is not None:
            for tab in self.chat_tabs():
                tab.clear_refusal(busy)  # "Not sent: … being imported" is over
        self.cancel_import_button.hide()
        self.sidebar.refresh()
        text, _, details = message.partition("\n")
        self.notify(text, details, error=False)
        if text.startswith(IMPORT_FAILED):  # the user chose the file: say it where it is seen
            box = QMessageBox(QMessageBox.Icon.Warning, "Import failed", text,
                              QMessageBox.StandardButton.Close, self)  # fmt: skip
            self.details_box = box
            box.open()

    # -- notifications -------------------------------------------------------------------
    def notify(self, text: str, details: str = "", *, error: bool = True) -> None:
        """The one place messages for the user end up (errors included). ``details`` go
        behind a Details… button: an error's, or (``error=False``) notes on what went well."""
        self.notice.setText(text)
        self.notice.setToolTip(text)
        self._details, self._details_error = details, error
        self.details_button.setVisible(bool(details))
        self._notice_timer.start(NOTICE_MS if not details else NOTICE_MS * 4)

    def _alarm(self, text: str) -> None:
        """Say ``text`` in a box the user closes (once per text): the status bar's line is
        replaced by the next notice within seconds."""
        if text in self._alarmed:
            return
        self._alarmed.add(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "Parley", text,
                          QMessageBox.StandardButton.Close, self)  # fmt: skip
        self.details_box = box
        box.open()

    def _clear_notice(self) -> None:
        self.notice.clear()
        self.details_button.hide()

    def show_details(self) -> None:
        if not self._details:  # a notice longer than the status bar: all of it
            box = QMessageBox(QMessageBox.Icon.Information, "Parley", self.notice.text(),
                              QMessageBox.StandardButton.Close, self)  # fmt: skip
        elif self._details_error:  # a traceback or a long reason: behind "Show Details…"
            box = QMessageBox(QMessageBox.Icon.Warning, "Error details", self.notice.text(),
                              QMessageBox.StandardButton.Close, self)  # fmt: skip
            box.setDetailedText(self._details)
        else:  # a few sentences for the user: shown at once
            box = QMessageBox(QMessageBox.Icon.Information, "Details", self.notice.text(),
                              QMessageBox.StandardButton.Close, self)  # fmt: skip
            box.setInformativeText(self._details.replace("\n", "\n\n"))
        self.details_box = box
        box.open()

    # -- delete with undo -----------------------------------------------------------------
    def clear_history(self) -> None:
        """Settings ▸ History ▸ Clear all history (confirmed there). The chats close first (an
        answer being written stops and is stored), then the history is emptied; an empty
        chat stays open."""
        busy = self.history_busy()
        if busy is not None:
            self.notify(f"Nothing was deleted. {busy}")
            return
        if self.quick_ask is not None:
            self.quick_ask._forget_session()
        self._close_chats(self.chat_tabs())  # leaves one new, empty chat
        self._closed_drafts.clear()
        self._closed.clear()
        # seconds for a large history: say so before the window stops answering
        self.notify("Deleting every chat…")
        self.statusBar().repaint()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.history.clear_all()
        finally:
            QApplication.restoreOverrideCursor()
        self.sidebar.refresh()
        self._show_context()
        self.notify("Every chat was deleted.")

    def history_size(self) -> str:
        """What "clear all history" deletes, in words: "1,204 chats (18,310 messages), 3
        folders and every rating and report on them" ("" when the history is unreadable)."""
        from desktop.store import KnownError

        try:
            chats, messages, folders = self.history.totals()
        except KnownError:
            return ""

        def count(n: int, word: str) -> str:
            return f"{n:,} {word}{'' if n == 1 else 's'}"

        parts = f"{count(chats, 'chat')} ({count(messages, 'message')})"
        if folders:
            parts += f", {count(folders, 'folder')}"
        return f"{parts} and every rating and report on them"

    def _type_into_chat(self, text: str) -> None:
        """Typing while the sidebar's list has the keys writes in the chat shown."""
        tab = self.current_tab()
        if tab is not None:
            tab.composer.setFocus(Qt.FocusReason.OtherFocusReason)
            tab.composer.insertPlainText(text)

    def _on_deleted(self, conversation_ids: list[int], token: str) -> None:
        gone = set(conversation_ids)
        closing = [t for t in self.chat_tabs() if t.session.conversation_id in gone]
        current = self.current_tab()
        # Undo opens these tabs again where they were, with what was typed in them.
        tabs = [
            _ClosedTab(cid, self.pane_of(t).indexOf(t), t.draft, t is current)
            for t in closing
            if (cid := t.session.conversation_id) is not None
        ]
        quick = self.quick_ask.session if self.quick_ask is not None else None
        if quick is not None and quick.conversation_id in gone:
            self.quick_ask._forget_session()  # type: ignore[union-attr]
        self._close_chats(closing)
        self._closed = [c for c in self._closed if c not in gone]  # nothing to reopen there
        for conversation_id in gone:
            self._closed_drafts.pop(conversation_id, None)
        self._undo.append((token, tabs))
        self.undo_action.setEnabled(True)
        n = len(gone)
        if n == 1:  # which one (a Delete in the list may not be the chat shown)
            title = self._title_of(conversation_ids[0])
            self.notify(f"Deleted “{title}”." if title else "Chat deleted.")
        else:
            self.notify(f"{n} chats deleted.")
        self.undo_button.show()
        self._undo_timer.start()

    def _title_of(self, conversation_id: int) -> str:
        title = self._from_history(lambda: self.history.get_conversation(conversation_id).title, "")
        return title if len(title) <= 60 else title[:59] + "…"

    def undo_delete(self) -> None:
        """Bring back the last delete; Undo again brings back the one before, while offered."""
        if not self._undo:
            return
        token, tabs = self._undo.pop()
        n = self.sidebar.undo_delete(token)
        self._reopen_undeleted(tabs)
        if self.feedback is not None:
            self.feedback.request_send()  # its feedback waiting to be sent may go again
        self.notify("Chat restored." if n == 1 else f"{n} chats restored.")
        if not self._undo:
            self._undo_timer.stop()
            self.undo_button.hide()
            self.undo_action.setEnabled(False)

    def _reopen_undeleted(self, tabs: list[_ClosedTab]) -> None:
        """The tabs the delete closed, open again at their places, with their drafts."""
        shown: ChatTab | None = None
        for closed in sorted(tabs, key=lambda c: c.index):
            if closed.draft.strip():
                self._closed_drafts[closed.conversation_id] = closed.draft
            tab = self.open_conversation(closed.conversation_id)
            pane = self.pane_of(tab)
            pane.tabBar().moveTab(pane.indexOf(tab), min(closed.index, pane.count() - 1))
            if closed.was_current:
                shown = tab
        if shown is not None:
            pane = self.pane_of(shown)
            pane.setCurrentWidget(shown)
            bar, index = pane.tabBar(), pane.indexOf(shown)
            if bar.count() > 1:  # scroll the tab strip to it: moved tabs stay where they were
                bar.blockSignals(True)  # the pages and the window see no change of tab
                bar.setCurrentIndex(1 if index == 0 else 0)
                bar.setCurrentIndex(index)
                bar.blockSignals(False)
            shown.composer.setFocus()

    def _expire_undo(self) -> None:
        """The Undo offer is over: what was deleted goes for good (its text, feedback and
        anything of it still waiting to be sent), not into a trash kept forever."""
        undo, self._undo = self._undo, []
        self._undo_timer.stop()
        self.undo_button.hide()
        self.undo_action.setEnabled(False)
        for token, _tabs in undo:
            self._from_history(functools.partial(self.history.purge, token), 0)

    # -- model ----------------------------------------------------------------------------
    def show_welcome(self, on: bool) -> None:
        self.centre.setCurrentWidget(self.welcome if on else self.panes)
        if on:
            self.model_bar.hide()  # the welcome page says it
            self.welcome.setFocus()

    def load_model(self, folder: Path) -> Job:
        loader = self._models.load
        self.model_folder = folder
        self.model_label.setText("Loading model…")
        return self.host.load(lambda: loader(folder))

    def install_starter(self) -> Job | None:
        install = self._models.install
        if install is None:
            self.notify("Installing the starter model is not available in this build.")
            return None
        return self._run_model_job("Installing the starter model", install)

    # -- drops ----------------------------------------------------------------------------
    @staticmethod
    def _dropped_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self._dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        """Dropped outside the message box: a GGUF file or model folder is imported (the
        first of them), text files go into the current chat's message."""
        from desktop.convert.library import is_model_source

        files = self._dropped_files(event)
        if not files:
            return
        event.acceptProposedAction()
        models = [f for f in files if is_model_source(f)]
        if models:
            self.import_dropped(models)
            return
        tab = self.current_tab()
        if tab is None:
            self.notify("Install or import a model first; then drop files into a chat.")
            return
        tab.composer.insert_files(files)
        tab.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def import_dropped(self, models: list[Path]) -> None:
        """Models dropped on the window or a message box: the first is imported."""
        self.import_model(models[0])
        if len(models) > 1:
            self.notify(f"One model at a time: importing {models[0].name}.")

    def choose_import(self) -> QMessageBox:
        """A GGUF file or a model folder? Asked first: a file dialog cancelled used to open
        a folder dialog, the only way to a folder and one no one expected."""
        box = QMessageBox(QMessageBox.Icon.Question, "Import a model",
                          "What do you want to import?", QMessageBox.StandardButton.Cancel,
                          self)  # fmt: skip
        box.setInformativeText(
            "A GGUF file, or a model folder: a Hugging Face checkpoint (config.json and "
            ".safetensors weights) or a model already exported to ONNX."
        )
        self.import_file_button = box.addButton("A GGUF &file…", QMessageBox.ButtonRole.AcceptRole)
        self.import_folder_button = box.addButton(
            "A model f&older…", QMessageBox.ButtonRole.AcceptRole
        )
        box.setDefaultButton(self.import_file_button)

        def chosen(button: object) -> None:
            if button is self.import_file_button:
                path, _ = QFileDialog.getOpenFileName(
                    self, "Import a GGUF model", self._in_start_dir(""),
                    "GGUF models (*.gguf);;All files (*)",
                )  # fmt: skip
            elif button is self.import_folder_button:
                path = QFileDialog.getExistingDirectory(
                    self, "Import a model folder", self._in_start_dir("")
                )
            else:
                return
            if path:
                self._last_dir = Path(path).parent
                self.import_model(Path(path))

        box.buttonClicked.connect(chosen)
        self.details_box = box
        box.open()
        return box

    def import_model(self, source: Path, precision: str | None = None) -> Job | None:
        importer = self._models.import_model
        if importer is None:
            if source.is_dir():
                return self.load_model(source)
            self.notify("Importing GGUF files is not available in this build.")
            return None
        return self._run_model_job(
            f"Importing {source.name}",
            lambda progress, cancel: importer(source, progress, cancel, precision),
        )

    def _run_model_job(self, title: str, work: Callable[[Progress, threading.Event], Path]) -> Job:
        job = self.host.run_job(work)
        dialog = ProgressDialog(title, job, self)
        job.succeeded.connect(lambda folder: self._use_new_model(Path(folder)))
        job.succeeded.connect(lambda _folder: self.refresh_model_manager())
        job.failed.connect(lambda message: self._import_failed(f"{title} failed: {message}"))
        job.cancelled.connect(lambda: self._model_problem(f"{title}: cancelled."))
        dialog.open()
        self.progress_dialog = dialog
        return job

    def _import_from_manager(self, path: Path, precision: str | None) -> None:
        self._last_dir = path.parent  # the next file dialog opens there
        self.import_model(path, precision)

    def reload_model(self) -> Job | None:
        """The model in use, loaded again (settings that need a reload take effect)."""
        if self.model_folder is None:
            self.notify("No model is in use to reload.")
            return None
        self.notify(f"{self.model_folder.name} is loading again with the current settings.")
        return self.load_model(self.model_folder)

    def _use_new_model(self, folder: Path) -> None:
        """A model just installed or imported answers from now on, and is the default: the
        one in use, the manager's ✓ and the next start agree (it answered until a restart,
        then the old default came back)."""
        library = self._models.library() if self._models.library is not None else None
        if library is not None and folder.parent == library.root:
            self.set_default_model(folder.name)
        else:
            self.load_model(folder)

    # -- model manager --------------------------------------------------------------------
    def _fill_model_menu(self) -> None:
        """The installed models (the one in use checked) and the model manager."""
        menu = self.model_menu
        menu.clear()
        if self._models.library is not None:
            names, in_use = self._installed_models()
            for name in names:
                action = menu.addAction(name)
                action.setCheckable(True)
                action.setChecked(name == in_use)
                if name != in_use:
                    action.triggered.connect(lambda _c=False, n=name: self.set_default_model(n))
            menu.addSeparator()
        menu.addAction("Manage models…", self.open_model_manager)

    def _installed_models(self) -> tuple[list[str], str]:
        """The installed models' names and the one in use (for "Regenerate with")."""
        if self._models.library is None:
            return [], ""
        try:
            names = [m.name for m in self._models.library().list()]
        except OSError:
            names = []
        return names, self._in_use()

    def use_model(self, name: str) -> None:
        """Answers from now on come from ``name`` (loaded unless it is in use already)."""
        if name != self._in_use() and self.set_default_model(name) is not None:
            self.notify(f"{name} is loading; it answers in every chat from now on.")

    def _in_use(self) -> str:
        """The model loaded or loading; none after a failed load, so that a damaged model can
        be removed."""
        if self.model_folder is None or self.host.problem is not None:
            return ""
        return self.model_folder.name

    def open_model_manager(self) -> ModelManagerDialog | None:
        if self._models.library is None:
            self.notify("The model manager is not available in this build.")
            return None
        if self.model_manager is None:
            from desktop.ui.model_manager import ModelManagerDialog

            dialog = ModelManagerDialog(self._models.library().list(), self._in_use(), self)
            dialog.start_dir = lambda: self._in_start_dir("")
            dialog.import_requested.connect(
                lambda path, precision: self._import_from_manager(Path(path), precision or None)
            )
            dialog.remove_requested.connect(self.remove_model)
            dialog.default_requested.connect(self.set_default_model)
            dialog.install_starter_requested.connect(self.install_starter)
            self.model_manager = dialog
        self.refresh_model_manager()
        self.model_manager.open()
        return self.model_manager

    def refresh_model_manager(self) -> None:
        if self.model_manager is not None and self._models.library is not None:
            from desktop.convert.starter import STARTER_NAME
            from desktop.engine.integrity import model_damage

            models = self._models.library().list()
            damaged = {m.name: why for m in models if (why := model_damage(Path(m.path)))}
            self.model_manager.set_models(models, self._in_use(), damaged)
            self.model_manager.set_starter_available(
                self._models.install is not None and all(m.name != STARTER_NAME for m in models)
            )

    def remove_model(self, name: str) -> Job | None:
        """Delete an installed model's files, on the engine worker (it may be large)."""
        if self._models.library is None or name == self._in_use():
            return None
        library = self._models.library()

        def work(progress: Progress, _cancel: threading.Event) -> str:
            progress("Removing", 0.0)
            library.remove(name)
            return name

        job = self.host.run_job(work)
        dialog = ProgressDialog(f"Removing {name}", job, self)
        job.succeeded.connect(lambda _n: self.notify(f"{name} was removed."))
        job.succeeded.connect(lambda _n: self._after_remove(name))
        job.failed.connect(lambda message: self.notify(f"Removing {name} failed: {message}"))
        dialog.open()
        self.progress_dialog = dialog
        return job

    def _after_remove(self, name: str) -> None:
        """A removed model that had failed to load leaves the window with none: the welcome
        page when nothing is installed any more, otherwise the bar asks for another."""
        self.refresh_model_manager()
        if self.model_folder is None or self.model_folder.name != name:
            return
        self.model_folder = None
        assert self._models.library is not None
        if not self._models.library().names():
            self.welcome.status.clear()
            self.show_welcome(True)
        else:
            self.model_bar_label.setText("⚠ No model is loaded: choose one in Models…")

    def set_default_model(self, name: str) -> Job | None:
        """Make ``name`` the default and load it (the engine is replaced on the worker)."""
        if self._models.library is None:
            return None
        library = self._models.library()
        try:
            library.set_default(name)
            folder = library.get(name).path
        except (OSError, ConversionError) as exc:
            self.notify(f"{name} could not be made the default: {exc}")
            return None
        if self._models.on_default is not None:
            self._models.on_default(name)
        job = self.load_model(folder)
        self.refresh_model_manager()
        return job

    def _build_model_bar(self) -> QWidget:
        """Above the chats while no model could be loaded: why, and the way to fix it."""
        self.model_bar = QWidget()
        row = QHBoxLayout(self.model_bar)
        row.setContentsMargins(8, 6, 8, 6)
        self.model_bar_label = QLabel()
        self.model_bar_label.setWordWrap(True)
        self.model_bar_label.setProperty(ROLE_PROPERTY, ROLE_ERROR)
        self.model_bar_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        accessible(self.model_bar_label, "Model problem", "Why no model is loaded")
        button = QPushButton("Models…")
        button.setAutoDefault(False)
        accessible(button, "Open the models", "Reinstall, import or choose a model")
        button.clicked.connect(self.open_model_manager)
        row.addWidget(self.model_bar_label, 1)
        row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        self.model_bar.hide()
        return self.model_bar

    def _model_problem(self, message: str) -> None:
        self.welcome.status.setText(message)
        self.notify(message)

    def _import_failed(self, message: str) -> None:
        """An install or import that failed says why where the user is looking: over the
        model manager, a box (the status bar's line, cut short behind the manager and gone
        in seconds, was all they got); on the welcome page, its own line."""
        self._model_problem(message)
        manager = self.model_manager
        if manager is not None and manager.isVisible():
            box = QMessageBox(QMessageBox.Icon.Warning, "Model not imported", message,
                              QMessageBox.StandardButton.Close, manager)  # fmt: skip
            self.details_box = box
            box.open()

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model_label.setText(info.name)
        self.model_label.setToolTip(f"{info.name}\n{info.path}\nClick to switch models")
        provider = display_name(info.provider) or "?"
        if info.fallback_reason:
            self.provider_label.setText(f"{provider} (fallback)")
            self.provider_label.setToolTip(f"Running on {provider}: {info.fallback_reason}")
        else:
            self.provider_label.setText(provider)
            self.provider_label.setToolTip(f"Running on {provider}")
        self._show_context()
        self.welcome.status.clear()
        self.model_bar.hide()
        self.show_welcome(False)
        for tab in self.chat_tabs():
            tab.refresh_banner()  # "no model" said after a refused send is stale now
        self.notify(f"{info.name} is ready.")

    def _on_model_failed(self, message: str) -> None:
        self.model_label.setText("No model")
        problem = f"The model could not be loaded: {message}"
        self._model_problem(problem)
        if self.host.info is None and self.centre.currentWidget() is self.panes:
            self.model_bar_label.setText(f"⚠ {problem}")
            self.model_bar.show()

    def _count_tokens(self, text: str) -> int | None:
        measured = self.host.measure(text, 0)
        return None if measured is None else measured[0]

    def _show_context_of(self, tab: ChatTab) -> None:
        if tab is self.current_tab():
            self._show_context()

    def _show_context(self) -> None:
        """How much of the model's window the chat shown uses: as its last answer said, or
        counted from its text where no answer says (~)."""
        if self.host.info is None:
            return
        window = self.host.info.context_length
        tab = self.current_tab()
        speed, used, estimate = (
            tab.context_figures(self._count_tokens, self.host.info.name)
            if tab is not None
            else (None, None, None)
        )
        self.speed_label.setText(f"{speed:.1f} tok/s" if speed else "")
        if estimate is not None:  # an imported chat, a question not answered yet
            self.context_label.setText(f"context ~{estimate}/{window}")
            self.context_label.setToolTip(
                f"About {estimate} of the model's {window} tokens of context, counted from "
                "this chat's text (no answer in it says what it used)"
            )
        elif used is None:  # the same words as with an answer: the count is what changes
            self.context_label.setText(f"context 0/{window}")
            self.context_label.setToolTip(
                f"No answer in this chat yet; the model reads up to {window} tokens of a chat"
            )
        else:
            self.context_label.setText(f"context {used}/{window}")
            self.context_label.setToolTip(
                f"This chat's last answer used {used} of the model's {window} tokens of context"
            )

    # -- quick ask ----------------------------------------------------------------------------
    def _quick_session(self) -> ChatSession:
        session = ChatSession(self.history, self.host, self._defaults, busy=self.history_busy)
        feedback = self.feedback
        if feedback is not None:
            session.input_filter = lambda mid, text: feedback.moderate(mid, text, "input").blocked
            session.blocked_among = feedback.blocked_among
        session.answer_finished.connect(lambda *_: self.sidebar.refresh())
        # a tab showing the same chat ("Open in window", then more asked here) shows it too
        session.answer_finished.connect(lambda *_: self._refresh_tabs_of(session))
        session.title_changed.connect(lambda _t: self.sidebar.refresh())
        return session

    def _refresh_tabs_of(self, session: ChatSession) -> None:
        for tab in self.chat_tabs():
            same = tab.session is not session and tab.session.conversation_id is not None
            if same and tab.session.conversation_id == session.conversation_id:
                tab.refresh()

    def _quick_output_check(self, message_id: int, text: str) -> str | None:
        if self.feedback is None or not text.strip():
            return None
        result = self.feedback.moderate(message_id, text, "output")
        return result.summary() if result.blocked else None

    def open_quick_ask(self) -> QuickAskWindow:
        if self.quick_ask is None:
            from desktop.ui.quick_ask import QuickAskWindow

            quick = QuickAskWindow(self._quick_session)
            quick.output_check = self._quick_output_check
            quick.open_in_window.connect(self.continue_in_window)
            self.quick_ask = quick
        self.quick_ask.present()
        return self.quick_ask

    def present(self) -> None:
        present_window(self)

    def continue_in_window(self, conversation_id: int) -> ChatTab:
        self.present()
        tab = self.open_conversation(conversation_id)
        tab.reload()
        return tab

    # -- lifetime -------------------------------------------------------------------------
    def request_quit(self) -> None:
        """File > Quit: with the tray, quitting is the app's business (it closes everything)."""
        if self.keep_in_tray:
            self.quit_requested.emit()
        else:
            self.close()

    def layout_state(self) -> dict[str, object]:
        """Size, position, sidebar width and the chats open in each pane, to be given back to
        ``restore_layout`` and ``restore_chats``."""

        def saved(pane: QTabWidget) -> list[int]:
            ids = (t.session.conversation_id for t in self._tabs_in(pane))
            return [i for i in ids if i is not None]

        current = self.current_tab()
        return {
            "geometry": bytes(self.saveGeometry().toBase64().data()).decode("ascii"),
            "sidebar": bytes(self.splitter.saveState().toBase64().data()).decode("ascii"),
            # where the file dialogs opened last: the next start goes on from there
            "last_dir": str(self._last_dir) if self._last_dir is not None else None,
            "folders_open": sorted(self.sidebar.expanded_folders),
            "chats": {
                "left": saved(self.tabs),
                "right": saved(self.side_tabs) if self.is_split() else [],
                "current": current.session.conversation_id if current is not None else None,
                "drafts": self._drafts(),
            },
        }

    def _drafts(self) -> dict[str, str]:
        """What is typed and not sent, per open chat ("new": a new chat's), to be put back."""
        drafts: dict[str, str] = {}
        for tab in self.chat_tabs():
            text = tab.draft  # an edit of an old message is not one
            if not text.strip():
                continue
            key = str(tab.session.conversation_id) if tab.session.conversation_id else "new"
            drafts.setdefault(key, text)
        for conversation_id, text in self._closed_drafts.items():
            drafts.setdefault(str(conversation_id), text)
        return drafts

    RESTORED_CHATS = 12  # per pane: more tabs than that were left open by accident

    def restore_chats(self, state: Mapping[str, object]) -> int:
        """Open the chats of a ``layout_state`` again, in their panes and order, the current
        one shown; chats deleted since are skipped. Tabs behind the current one read their
        messages when first shown. Returns how many opened."""
        chats = state.get("chats")
        if not isinstance(chats, dict):
            return 0
        listed = {c.id for c in self.history.list_conversations()}
        opened: set[int] = {
            i for t in self.chat_tabs() if (i := t.session.conversation_id) is not None
        }
        restored: list[ChatTab] = []

        current = chats.get("current")

        def ids(key: str) -> list[int]:
            """The pane's chats; of more than RESTORED_CHATS, the newest (rightmost) ones
            and the one that was shown, in their order (the oldest came back, and the chat
            the user was in did not)."""
            value = chats.get(key)
            if not isinstance(value, list):
                return []
            wanted = [i for i in value if type(i) is int and i in listed and i not in opened]
            unique = list(dict.fromkeys(wanted))
            kept = unique[-self.RESTORED_CHATS :]
            if current in unique and current not in kept:
                kept = [i for i in unique if i == current or i in kept[1:]]
            return kept

        start = self.current_tab()  # the empty chat a start opens makes room
        drafts = chats.get("drafts")
        drafts = drafts if isinstance(drafts, dict) else {}
        new_draft = drafts.get("new")
        if start is not None and isinstance(new_draft, str) and not start.composer.toPlainText():
            start.composer.setPlainText(new_draft)  # and the new chat stays for it
        for key, draft in drafts.items():  # new_tab puts them back, now or when reopened
            kept = key.isdigit() and int(key) in listed and int(key) not in opened
            if kept and isinstance(draft, str):
                self._closed_drafts[int(key)] = draft
        for conversation_id in ids("left"):
            restored.append(self._restore_into(self.tabs, conversation_id))
            opened.add(conversation_id)
        right = ids("right")
        if right and not self.is_split():
            self.side_tabs.show()
            half = max(1, self.panes.width() // 2)
            self.panes.setSizes([half, half])
            for conversation_id in right:
                restored.append(self._restore_into(self.side_tabs, conversation_id))
            self.split_action.setChecked(True)
        if not restored:
            return 0
        chosen = next(
            (t for t in restored if type(current) is int and t.session.conversation_id == current),
            restored[0],
        )
        for pane in self._panes():  # the right side shows its first chat unless chosen
            tabs = [t for t in restored if self.pane_of(t) is pane]
            if tabs and pane is not self.pane_of(chosen):
                pane.setCurrentWidget(tabs[0])
        self.pane_of(chosen).setCurrentWidget(chosen)  # before the empty chat goes
        self._active_pane = self.pane_of(chosen)
        if start is not None and self._blank(start):
            pane = self.pane_of(start)
            pane.removeTab(pane.indexOf(start))
            start.deleteLater()
        self._select_current_in_sidebar()
        self._refresh_tab_labels()
        # the keys in the chat's input, as in a new chat (the blank tab that had them went,
        # and Qt handed them to the first message or the search field)
        chosen.composer.setFocus(Qt.FocusReason.OtherFocusReason)
        return len(restored)

    def _restore_into(self, pane: QTabWidget, conversation_id: int) -> ChatTab:
        self._active_pane = pane
        return self.new_tab(conversation_id, background=True)

    def restore_layout(self, state: Mapping[str, object]) -> bool:
        """Put back a ``layout_state``; anything unreadable is ignored (the default layout
        stays). Qt moves a window saved on a screen that is gone onto one that exists."""
        restored = False
        geometry, sidebar = state.get("geometry"), state.get("sidebar")
        if isinstance(geometry, str):
            restored = self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        if isinstance(sidebar, str):
            self.splitter.restoreState(QByteArray.fromBase64(sidebar.encode("ascii")))
        last_dir = state.get("last_dir")
        if isinstance(last_dir, str) and Path(last_dir).is_dir():
            self._last_dir = Path(last_dir)
        folders = state.get("folders_open")
        if isinstance(folders, list):
            self.sidebar.expanded_folders.update(f for f in folders if isinstance(f, int))
            self.sidebar.refresh()
        return restored

    def close_for_quit(self) -> None:
        self._quitting = True
        if self.quick_ask is not None:
            self.quick_ask._forget_session()
            self.quick_ask.deleteLater()
            self.quick_ask = None
        self.close()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.restyle_messages()
        elif event.type() == QEvent.Type.FontChange:
            self._widen_sidebar()

    def _widen_sidebar(self) -> None:
        """The sidebar grows and shrinks with the text size (titles cut after a dozen
        letters at 16 pt otherwise), up to 45% of the window."""
        size = self.font().pointSizeF()
        before, self._sidebar_pt = self._sidebar_pt, size
        sizes = self.splitter.sizes()
        if before <= 0 or size == before or len(sizes) != 2 or sum(sizes) <= 0:
            return
        total = sum(sizes)
        # the chats keep room for about 45 characters a pane (two panes in split view)
        room = 45 * self.fontMetrics().averageCharWidth() * (2 if self.is_split() else 1)
        side = min(int(sizes[0] * size / before), int(total * 0.45), max(sizes[0], total - room))
        self.splitter.setSizes([side, total - side])

    def restyle_messages(self) -> None:
        """The theme changed: messages already on screen were rendered in the old colours
        (code, inline code, links), so each chat builds them again in the new ones; a chat
        whose answer is being written does so when it ends."""
        palette = palette_for(self)
        for tab in self.chat_tabs():
            if tab.view.markdown_palette is palette:
                continue
            tab.view.set_markdown_palette(palette)
            if tab.session.state != "idle":
                continue
            if tab.isVisible():
                tab.refresh()
            else:  # built again when shown: with many tabs open a switch took seconds
                tab.defer_reload()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.keep_in_tray and not self._quitting:
            event.ignore()
            self.hide()
            if not self._told_tray:
                self._told_tray = True
                self.tray_notice.emit(
                    "Parley keeps running in the tray. Use Quit in its menu (or Ctrl+Q) to "
                    "close it."
                )
            return
        if self.quick_ask is not None:
            self.quick_ask._forget_session()
        self._expire_undo()
        self._list_timer.stop()  # the history may be closed next
        for tab in self.chat_tabs():
            tab.session.close()
        super().closeEvent(event)
