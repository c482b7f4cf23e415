"""The conversation sidebar: date groups, pinned chats, folders, and full-text search.

The listing is a flat Qt item model over the store's summaries (headings are rows too), shown
in a QListView with uniform row heights: opening the sidebar costs one store query and one
pass to group, whatever the size of the history; Qt asks only for the rows on screen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QFont,
    QIcon,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop.services.history import History, SearchHitLike, SummaryLike
from desktop.store import ConversationSummary, KnownError
from desktop.ui.message_view import accessible

ROLE_ID = Qt.ItemDataRole.UserRole
ROLE_MESSAGE = Qt.ItemDataRole.UserRole + 1  # the message a search result opens at; -1: none
SEARCH_DELAY_MS = 150


class FolderHeading(str):
    """A folder's name as a heading of the listing (drawn with a folder icon: the emoji it
    had showed as an empty box where no colour-emoji font is installed), its id, how many
    chats it holds and whether they are listed under it (a click opens or closes it)."""

    folder_id: int
    chats: int
    expanded: bool

    def __new__(
        cls, name: str, folder_id: int, count: int = 0, expanded: bool = True
    ) -> FolderHeading:
        heading = super().__new__(cls, name)
        heading.folder_id = folder_id
        heading.chats = count
        heading.expanded = expanded
        return heading

    def shown(self) -> str:
        """The heading as listed, "▸ Work (5)": an arrow that says open or closed (the open
        and closed folder icons look alike in some styles), the name, how many chats."""
        arrow = "▾" if self.expanded else "▸"
        return f"{arrow} {self} ({self.chats})" if self.chats else f"{arrow} {self} (empty)"


# the store's group_for_sidebar: (summaries, now) -> groups with .key, .label, .conversations
Grouper = Callable[..., Sequence[Any]]
Index = QModelIndex | QPersistentModelIndex


class ConversationListModel(QAbstractListModel):
    """Rows are headings (a ``str``) and conversations (a summary), in display order.

    Editing a conversation's title asks for a rename (``rename_requested(id, title)``); the
    sidebar stores it and refreshes the model."""

    rename_requested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[str | SummaryLike] = []
        # as wide as the view (long titles are elided, no sideways scrolling), one line tall
        self.row_size = QSize(1, 20)
        self._row_of: dict[int, int] | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        blank = QPixmap(16, 16)
        blank.fill(Qt.GlobalColor.transparent)
        self._indent = QIcon(blank)

    def set_rows(self, rows: list[str | SummaryLike]) -> None:
        self.beginResetModel()
        self._rows = rows
        self._row_of = None
        self.endResetModel()

    def row_of(self, conversation_id: int) -> int | None:
        if self._row_of is None:  # built on the first look-up, not on every refresh
            self._row_of = {
                row.id: i for i, row in enumerate(self._rows) if not isinstance(row, str)
            }
        return self._row_of.get(conversation_id)

    def conversation_id(self, index: Index) -> int | None:
        row = self._rows[index.row()] if index.isValid() else None
        return None if row is None or isinstance(row, str) else row.id

    def headings(self) -> list[str]:
        return [row for row in self._rows if isinstance(row, str)]

    def rows(self) -> list[str | SummaryLike]:
        return self._rows

    def titles(self) -> list[str]:
        """The conversations' titles as shown, top to bottom (pinned ones are under their
        own heading, so they need no mark)."""
        return [self._display(row) for row in self._rows if not isinstance(row, str)]

    @staticmethod
    def _display(row: SummaryLike) -> str:
        return row.title or "Untitled"

    # -- QAbstractItemModel ---------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.SizeHintRole:
            return self.row_size
        row = self._rows[index.row()]
        if isinstance(row, str):
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
            if isinstance(row, FolderHeading):
                if role == Qt.ItemDataRole.DisplayRole:
                    return row.shown()
                if role == Qt.ItemDataRole.DecorationRole:
                    icon = QStyle.StandardPixmap.SP_DirOpenIcon
                    if not row.expanded:
                        icon = QStyle.StandardPixmap.SP_DirClosedIcon
                    return QApplication.style().standardIcon(icon)
                if role == Qt.ItemDataRole.AccessibleTextRole:
                    state = "open" if row.expanded else "closed"
                    return f"Folder: {row.shown()}, {state}"
                if role == Qt.ItemDataRole.ToolTipRole:
                    action = "hide" if row.expanded else "show"
                    return f"Click (or Enter) to {action} its chats; right-click to rename it"
            if role == Qt.ItemDataRole.DisplayRole:
                return row
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return f"Group: {row}"
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row)
        if role == Qt.ItemDataRole.DecorationRole and row.folder_id is not None and not row.pinned:
            return self._indent  # listed under its folder's heading: set in from it
        if role == Qt.ItemDataRole.EditRole:
            return row.title
        if role == Qt.ItemDataRole.AccessibleTextRole and row.pinned:
            return f"{self._display(row)} (pinned)"
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.title or "Untitled"
        if role == ROLE_ID:
            return row.id
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if isinstance(self._rows[index.row()], str):
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        conversation_id = self.conversation_id(index)
        if conversation_id is None or role != Qt.ItemDataRole.EditRole:
            return False
        title = " ".join(str(value).split())
        if not title:
            return False
        self.rename_requested.emit(conversation_id, title)
        return True


class ConversationListView(QListView):
    """Delete and F2 act on the current chat (keys, not shortcuts: they belong to the list).
    Text typed here is meant for the chat: ``typed(text)``, for the window to pass on."""

    delete_pressed = Signal()
    rename_pressed = Signal()
    typed = Signal(str)
    folder_toggled = Signal(int, object)  # folder id, True/False (open/close) or None (flip)

    def setModel(self, model: Any) -> None:  # noqa: N802
        super().setModel(model)
        self._fit_rows()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the font size setting, zoom
            self._fit_rows()

    def _fit_rows(self) -> None:
        model = self.model()
        if isinstance(model, ConversationListModel):
            height = self.fontMetrics().height()
            model.row_size = QSize(1, height + 4)
            self.setIconSize(QSize(height, height))  # a folder's icon within its row
            self.doItemsLayout()

    EMPTY_TEXT = "No chats yet.\nYour conversations will be listed here."

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        """An empty history says so instead of showing a blank box."""
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            area = self.viewport().rect().adjusted(8, 8, -8, -8)
            flags = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
            painter.drawText(area, int(flags) | int(Qt.TextFlag.TextWordWrap), self.EMPTY_TEXT)
            painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        model = self.model()
        current = self.currentIndex()
        if isinstance(model, ConversationListModel) and current.isValid():
            heading = model.rows()[current.row()]
            opening = {
                Qt.Key.Key_Return: None,
                Qt.Key.Key_Enter: None,
                Qt.Key.Key_Space: None,
                Qt.Key.Key_Right: True,
                Qt.Key.Key_Left: False,
            }
            if isinstance(heading, FolderHeading) and event.key() in opening:
                self.folder_toggled.emit(heading.folder_id, opening[Qt.Key(event.key())])
                return
        if event.matches(QKeySequence.StandardKey.Delete) or event.key() == Qt.Key.Key_Delete:
            self.delete_pressed.emit()
            return
        if event.key() == Qt.Key.Key_F2 and self.state() != self.State.EditingState:
            self.rename_pressed.emit()
            return
        commands = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        text = event.text()
        if (
            text.isprintable()
            and text.strip()
            and not event.modifiers() & commands
            and self.state() != self.State.EditingState
        ):
            self.typed.emit(text)
            return
        super().keyPressEvent(event)


class Sidebar(QWidget):
    """``open_requested(conversation_id, message_id)`` (message_id -1: none),
    ``export_requested(conversation_ids)``, ``deleted(conversation_ids, undo_token)``,
    ``new_chat_requested()``, ``changed(conversation_id)`` (renamed, pinned, moved: open tabs
    may update), ``typed(text)`` (typed in the list: meant for the chat). Ctrl+click and
    Shift+click select several chats; the context menu and Delete then act on all of them."""

    open_requested = Signal(int, int)
    export_requested = Signal(list)
    deleted = Signal(list, str)
    new_chat_requested = Signal()
    changed = Signal(int)
    typed = Signal(str)

    def __init__(self, history: History, group: Grouper, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = history
        # folders whose chats are listed under them; the others show their heading only
        # (so that chats filed away do not push today's down the list)
        self.expanded_folders: set[int] = set()
        # the chat on screen (the window tells): the highlight returns to it after an
        # action on another chat of the list
        self.shown: Callable[[], int | None] = lambda: None
        self._group = group
        accessible(self, "Conversations", "Your chats, newest first")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats (Ctrl+K)")
        self.search.setClearButtonEnabled(True)
        accessible(self.search, "Search chats", "Search titles and message text (Ctrl+K)")
        top.addWidget(self.search, 1)
        self.new_button = QPushButton("New")
        accessible(self.new_button, "New chat", "Start a new chat (Ctrl+T)")
        self.new_button.clicked.connect(self.new_chat_requested)
        top.addWidget(self.new_button)
        layout.addLayout(top)

        self.stack = QStackedWidget()
        self.model = ConversationListModel(self)
        self.model.rename_requested.connect(self.rename)
        self.listing = ConversationListView()
        self.listing.setModel(self.model)
        self.listing.setUniformItemSizes(True)  # row heights are not measured row by row
        self.listing.setLayoutMode(QListView.LayoutMode.Batched)
        self.listing.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.listing.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.listing.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.listing.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        accessible(
            self.listing,
            "Conversation list",
            "Enter opens; F2 renames; Delete deletes (with undo); Shift or Ctrl with a click "
            "or the arrows selects several; menu key for more; typing writes in the chat",
        )
        self.listing.customContextMenuRequested.connect(self._context_menu)
        self.menu: QMenu | None = None  # the last context menu shown
        self.listing.activated.connect(self._activated)
        self.listing.clicked.connect(self._clicked)
        self.listing.folder_toggled.connect(self.toggle_folder)
        self.results = QListWidget()
        self.results.setWordWrap(True)
        self.results.setResizeMode(QListView.ResizeMode.Adjust)  # rows re-wrap with the width
        accessible(self.results, "Search results", "Enter opens the chat at the match")
        self.results.itemActivated.connect(self._result_activated)
        self.results.itemClicked.connect(self._result_activated)
        self.stack.addWidget(self.listing)
        self.stack.addWidget(self.results)
        layout.addWidget(self.stack, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        # A search for symbols reads the history a slice at a time (the store's
        # search_in_steps); the window paints and takes keys between the slices.
        self._search_steps: Iterator[tuple[Sequence[SearchHitLike], bool]] | None = None
        self._search_step_timer = QTimer(self)
        self._search_step_timer.setSingleShot(True)
        self._search_step_timer.setInterval(0)
        self._search_step_timer.timeout.connect(self._next_search_step)
        self.search.returnPressed.connect(self._search_enter)
        self.search.installEventFilter(self)  # Down moves into the list below
        self.results.installEventFilter(self)  # Esc ends the search there too
        self.listing.delete_pressed.connect(self.delete_current)
        self.listing.rename_pressed.connect(self.rename_current)
        self.listing.typed.connect(self.typed)
        self.refresh()

    # -- listing --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the listing from the store again (one query, one grouping pass)."""
        current = self.current_id()
        folders = {f.id: f.name for f in self._history.list_folders()}
        summaries = self._history.list_conversations()
        in_folder: dict[int, list[SummaryLike]] = {}
        loose: Sequence[SummaryLike] = summaries
        if folders:  # chats in a folder are listed under it, not under their date
            loose = []
            for s in summaries:
                if s.folder_id is not None and not s.pinned and s.folder_id in folders:
                    in_folder.setdefault(s.folder_id, []).append(s)
                else:
                    loose.append(s)
        groups = list(self._group(loose, None))
        rows: list[str | SummaryLike] = []
        dated = []
        for g in groups:
            if getattr(g, "key", "") == "pinned":
                rows.append(g.label)
                rows += g.conversations
            else:
                dated.append(g)
        for folder_id, name in folders.items():
            chats = in_folder.get(folder_id, [])
            expanded = folder_id in self.expanded_folders
            rows.append(FolderHeading(name, folder_id, len(chats), expanded))
            if expanded:
                rows += chats
        for g in dated:
            rows.append(g.label)
            rows += g.conversations
        self.model.set_rows(rows)
        if current is not None and (index := self.index_of(current)).isValid():
            self._select_only(index)  # still listed (a folder closed since hides it)
            self.listing.scrollTo(index)

    def touch(self, conversation_id: int) -> None:
        """``conversation_id`` was just active (an answer finished): it belongs at the top of
        its section. When it is there already, the usual case of talking on in the latest
        chat, nothing moves and the listing is not read again (10,000 chats take ~40 ms)."""
        row = self.model.row_of(conversation_id)
        rows = self.model.rows()
        if row is None or row == 0 or not isinstance(rows[row - 1], str):
            self.refresh()
            return
        listed = rows[row]
        assert not isinstance(listed, str)
        try:
            now = self._history.get_conversation(conversation_id)
        except Exception:  # deleted meanwhile: the full listing sorts it out
            self.refresh()
            return
        same = (now.title, now.pinned, now.folder_id) == (
            listed.title,
            listed.pinned,
            listed.folder_id,
        )
        heading = rows[row - 1]
        if same and (now.pinned or now.folder_id is not None or heading == self._heading_now()):
            return
        self.refresh()

    def _heading_now(self) -> str | None:
        probe = ConversationSummary(0, "", time.time(), False, None)
        groups = self._group([probe], None)
        return str(groups[0].label) if groups else None

    def headings(self) -> list[str]:
        return self.model.headings()

    def titles(self) -> list[str]:
        """The conversations as listed (pinned ones with their mark), top to bottom."""
        return self.model.titles()

    def index_of(self, conversation_id: int) -> QModelIndex:
        row = self.model.row_of(conversation_id)
        return self.model.index(row, 0) if row is not None else QModelIndex()

    def current_id(self) -> int | None:
        return self.model.conversation_id(self.listing.currentIndex())

    def select(self, conversation_id: int) -> None:
        """Highlight a chat (the one shown), opening the folder it is in if it is closed."""
        index = self.index_of(conversation_id)
        if not index.isValid() and self._open_folder_of(conversation_id):
            index = self.index_of(conversation_id)
        if index.isValid():
            self._select_only(index)
            self.listing.scrollTo(index)

    def _open_folder_of(self, conversation_id: int) -> bool:
        """Open the closed folder that holds ``conversation_id``; whether one was opened."""
        try:
            folder_id = self._history.get_conversation(conversation_id).folder_id
        except Exception:  # gone meanwhile (deleted, another process): nothing to open
            return False
        if folder_id is None or folder_id in self.expanded_folders:
            return False
        self.expanded_folders.add(folder_id)
        self.refresh()
        return True

    def clear_selection(self) -> None:
        """No chat of the list is the one shown (a new, empty chat is)."""
        self.listing.selectionModel().clearSelection()

    def _select_only(self, index: QModelIndex) -> None:
        """``index`` current and the only one selected (setCurrentIndex would add it to the
        selection while the keyboard reports Ctrl held)."""
        flag = QItemSelectionModel.SelectionFlag
        self.listing.selectionModel().setCurrentIndex(index, flag.ClearAndSelect | flag.Rows)

    def _activated(self, index: QModelIndex) -> None:
        selecting = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if QApplication.keyboardModifiers() & selecting:
            return  # Ctrl+click, Shift+click: choosing chats to act on, not opening one
        conversation_id = self.model.conversation_id(index)
        if conversation_id is not None:
            self.open_requested.emit(conversation_id, -1)

    def follow_shown(self) -> None:
        """Highlight the chat on screen (``shown``) when it is listed (in a folder the user
        closed, it stays closed: an action on another chat is no reason to open it); else
        nothing stays highlighted."""
        shown = self.shown()
        if shown is not None and self.model.row_of(shown) is not None:
            self.select(shown)
        else:
            self.clear_selection()

    def toggle_folder(self, folder_id: int, expanded: bool | None = None) -> None:
        """Show or hide a folder's chats under its heading (``expanded`` None: the other
        way round); the heading stays current, for the keys."""
        is_open = folder_id in self.expanded_folders
        if expanded is None:
            expanded = not is_open
        if expanded == is_open:
            return
        if expanded:
            self.expanded_folders.add(folder_id)
        else:
            self.expanded_folders.discard(folder_id)
        self.refresh()
        on_screen = self.shown()
        if on_screen is not None and (index := self.index_of(on_screen)).isValid():
            self._select_only(index)  # the chat on screen keeps its highlight
        for row, heading in enumerate(self.model.rows()):
            if isinstance(heading, FolderHeading) and heading.folder_id == folder_id:
                self.listing.selectionModel().setCurrentIndex(
                    self.model.index(row, 0), QItemSelectionModel.SelectionFlag.NoUpdate
                )
                break

    def _heading_at(self, index: QModelIndex) -> FolderHeading | None:
        row = self.model.rows()[index.row()] if index.isValid() else None
        return row if isinstance(row, FolderHeading) else None

    def _clicked(self, index: QModelIndex) -> None:
        """A click opens the chat and leaves the keys with the list (Delete, F2, the arrows);
        typing goes on to the chat (``typed``). Enter opens it and moves on to the chat. A
        click on a folder shows or hides its chats."""
        heading = self._heading_at(index)
        if heading is not None:
            self.toggle_folder(heading.folder_id)
            return
        self._activated(index)
        if self.listing.isVisible():
            self.listing.setFocus(Qt.FocusReason.MouseFocusReason)

    def selected_ids(self) -> list[int]:
        """The chats selected, in the order listed (headings are never selected)."""
        rows = sorted(i.row() for i in self.listing.selectionModel().selectedIndexes())
        ids = [self.model.conversation_id(self.model.index(row, 0)) for row in rows]
        return [i for i in ids if i is not None]

    # -- search ---------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def run_search(self, until_found: bool = False) -> None:
        """Search for what is typed and show the results (the listing when the field is
        empty). ``until_found``: do not return before the first hit or the end."""
        self._search_timer.stop()
        self._search_step_timer.stop()
        self._search_steps = None
        query = self.search.text().strip()
        if not query:
            self.stack.setCurrentWidget(self.listing)
            return
        # Painting results needs Qt's style classes (~16 ms to load): not at start.
        from desktop.ui.search_results import ResultDelegate

        if not isinstance(self.results.itemDelegate(), ResultDelegate):
            self.results.setItemDelegate(ResultDelegate(self.results))
        self._search_steps = self._history.search_in_steps(query)
        self._next_search_step(until_found)
        self.stack.setCurrentWidget(self.results)

    def _next_search_step(self, until_found: bool = False) -> None:
        if self._search_steps is None:
            return
        try:
            hits, finished = next(self._search_steps)
            while until_found and not hits and not finished:
                hits, finished = next(self._search_steps)
        except KnownError as exc:  # the history locked or gone meanwhile: say so, in the list
            self._search_steps = None
            self.results.clear()
            self._add_note(f"The search failed: {exc}")
            return
        if finished:
            self._search_steps = None
        else:
            self._search_step_timer.start()
        self._show_results(hits, finished)

    def _show_results(self, hits: Sequence[SearchHitLike], finished: bool) -> None:
        from desktop.ui.search_results import ROLE_HTML, result_rows

        current = self.results.currentRow()
        self.results.clear()
        for row in result_rows(hits):
            item = QListWidgetItem(row.text)
            item.setData(ROLE_ID, row.conversation_id)
            item.setData(ROLE_MESSAGE, row.message_id if row.message_id is not None else -1)
            item.setData(ROLE_HTML, row.html)
            item.setToolTip(row.text)
            self.results.addItem(item)
        if not finished:
            self._add_note("Searching older messages…")
        elif self.results.count() == 0:
            self._add_note(f"No chat contains “{self.search.text().strip()}”.")
        if 0 <= current < self.results.count():
            self.results.setCurrentRow(current)  # a new step keeps the user's place

    def _add_note(self, text: str) -> None:
        """A line in the results that is no result (it cannot be chosen)."""
        note = QListWidgetItem(text)
        note.setFlags(Qt.ItemFlag.NoItemFlags)
        self.results.addItem(note)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if (
            watched is self.results
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):  # Esc in the results: away with the search, back to the list of chats
            self.search.clear()
            self.run_search()
            self.listing.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        if (
            watched is not self.search
            or event.type() != QEvent.Type.KeyPress
            or not isinstance(event, QKeyEvent)
        ):
            return super().eventFilter(watched, event)
        if event.key() == Qt.Key.Key_Escape:  # away with the search, then out of the field
            if self.search.text():
                self.search.clear()
                self.run_search()
            else:
                self.listing.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        if event.key() == Qt.Key.Key_Down:  # into the list below
            shown = self.stack.currentWidget()
            if shown is self.results and self.results.count():
                self.results.setCurrentRow(0)
            elif shown is self.listing:
                first = self.model.index(0, 0)
                next_row = 1 if self.model.conversation_id(first) is None else 0
                self._select_only(self.model.index(next_row, 0))
            if shown is not None:
                shown.setFocus(Qt.FocusReason.TabFocusReason)
            return True
        return super().eventFilter(watched, event)

    def _search_enter(self) -> None:
        self.run_search(until_found=True)
        if self.results.count():
            first = self.results.item(0)
            if first.data(ROLE_ID) is not None:
                self._result_activated(first)

    def _result_activated(self, item: QListWidgetItem) -> None:
        value = item.data(ROLE_ID)
        if value is not None:
            self.open_requested.emit(int(value), int(item.data(ROLE_MESSAGE)))

    # -- actions --------------------------------------------------------------------------
    def _context_menu(self, pos: QPoint) -> None:
        index = self.listing.indexAt(pos)
        conversation_id = self.model.conversation_id(index)
        if conversation_id is None:
            heading = self.model.rows()[index.row()] if index.isValid() else None
            if isinstance(heading, FolderHeading):
                self._folder_menu(heading, pos)
            return
        selected = self.selected_ids()
        if conversation_id in selected and len(selected) > 1:
            self._selection_menu(selected, pos)
            return
        before = self.selected_ids()
        self._select_only(index)
        menu = QMenu(self)
        self._restore_after(menu, before)
        conversation = self._history.get_conversation(conversation_id)
        pinned = conversation.pinned
        for text, slot in (
            ("Open", lambda: self.open_requested.emit(conversation_id, -1)),
            ("Rename\tF2", self.rename_current),
            ("Unpin" if pinned else "Pin", lambda: self.set_pinned(conversation_id, not pinned)),
            ("Move to folder…", lambda: self.ask_folder(conversation_id)),
            ("Duplicate", lambda: self.duplicate(conversation_id)),
            ("Export…", lambda: self.export_requested.emit([conversation_id])),
            ("Delete\tDel", self.delete_current),
        ):
            action = menu.addAction(text)
            action.triggered.connect(slot)
        folders = {f.id: f.name for f in self._history.list_folders()}
        folder_id = conversation.folder_id
        if folder_id is not None and folder_id in folders and not pinned:  # from the keyboard too
            menu.addSeparator()
            self._add_folder_actions(menu, folder_id, folders[folder_id], named=True)
        self.menu = menu
        menu.popup(self.listing.viewport().mapToGlobal(pos))

    def _restore_after(self, menu: QMenu, selected: list[int]) -> None:
        """A chat's menu selects it; closed without a choice, the selection goes back to
        what it was (the chat shown), as the highlight would otherwise name another."""
        chosen: list[bool] = []
        menu.triggered.connect(lambda _action: chosen.append(True))

        def closed() -> None:
            if chosen:  # pinned, moved, renamed: the highlight goes back to the chat shown
                self.follow_shown()
            elif len(selected) == 1:
                self.select(selected[0])

        # a choice is reported after the menu hides: look once the event has passed
        menu.aboutToHide.connect(lambda: QTimer.singleShot(0, closed))

    def _folder_menu(self, folder: FolderHeading, pos: QPoint) -> None:
        """A folder's heading: rename it, or delete it (its chats stay, under their dates)."""
        menu = QMenu(self)
        self._add_folder_actions(menu, folder.folder_id, str(folder), named=False)
        self.menu = menu
        menu.popup(self.listing.viewport().mapToGlobal(pos))

    def _add_folder_actions(self, menu: QMenu, folder_id: int, name: str, *, named: bool) -> None:
        """Rename and delete a folder; ``named``: the actions say which (in a chat's menu)."""
        which = f" “{name}”" if named else ""
        rename = menu.addAction(f"Rename folder{which}…")
        rename.triggered.connect(lambda: self.ask_folder_name(folder_id, name))
        delete = menu.addAction(f"Delete folder{which} (its chats stay)")
        delete.triggered.connect(lambda: self.delete_folder(folder_id))

    def ask_folder_name(self, folder_id: int, name: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename folder", "Folder name:", text=name)
        if ok and new.strip() and new.strip() != name:
            self._history.rename_folder(folder_id, " ".join(new.split()))
            self.refresh()

    def delete_folder(self, folder_id: int) -> None:
        self._history.delete_folder(folder_id)
        self.refresh()

    def _selection_menu(self, selected: list[int], pos: QPoint) -> None:
        """What can be done to several chats at once."""
        n = len(selected)
        listed = {row.id: row for row in self.model.rows() if not isinstance(row, str)}
        pinned = all(listed[i].pinned for i in selected if i in listed)  # as listed: no query
        pin = f"Unpin {n} chats" if pinned else f"Pin {n} chats"
        menu = QMenu(self)
        for text, slot, moves in (
            (f"Export {n} chats…", lambda: self.export_requested.emit(selected), False),
            (pin, lambda: self.set_pinned_all(selected, not pinned), True),
            (f"Move {n} chats to folder…", lambda: self.ask_folder(*selected), True),
            (f"Delete {n} chats\tDel", lambda: self.delete(*selected), True),
        ):
            action = menu.addAction(text)
            action.triggered.connect(slot)
            if moves:  # the chats changed place: the highlight goes back to the chat shown
                action.triggered.connect(self.follow_shown)
        self.menu = menu
        menu.popup(self.listing.viewport().mapToGlobal(pos))

    def rename_current(self) -> None:
        index = self.listing.currentIndex()
        if self.model.conversation_id(index) is not None:
            self.listing.edit(index)

    def rename(self, conversation_id: int, title: str) -> None:
        self._history.rename_conversation(conversation_id, title)
        self.refresh()
        self.changed.emit(conversation_id)

    def set_pinned_all(self, conversation_ids: Sequence[int], pinned: bool) -> None:
        for conversation_id in conversation_ids:
            self._history.set_pinned(conversation_id, pinned)
        self.refresh()

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._history.set_pinned(conversation_id, pinned)
        self.refresh()

    def ask_folder(self, *conversation_ids: int) -> None:
        names = [f.name for f in self._history.list_folders()]
        name, ok = QInputDialog.getItem(
            self, "Move to folder", "Folder (type a new name to create one; empty: none)",
            ["", *names], 0, True,
        )  # fmt: skip
        if ok:
            self.move_to_folder(list(conversation_ids), name.strip() or None)

    def move_to_folder(self, conversation_ids: int | list[int], folder: str | None) -> None:
        folder_id = None
        if folder:
            existing = {f.name: f.id for f in self._history.list_folders()}
            folder_id = existing.get(folder) or self._history.create_folder(folder).id
        ids = [conversation_ids] if isinstance(conversation_ids, int) else conversation_ids
        for conversation_id in ids:
            self._history.move_to_folder(conversation_id, folder_id)
        self.refresh()

    def duplicate(self, conversation_id: int) -> int:
        copy = self._history.duplicate_conversation(conversation_id)
        self.refresh()
        self.select(copy.id)
        return copy.id

    def delete_current(self) -> None:
        """Delete: the chats selected, or the current one."""
        selected = self.selected_ids()
        current = self.current_id()
        if len(selected) > 1:
            self.delete(*selected, walking=True)
        elif current is not None:
            self.delete(current, walking=True)

    def delete(self, *conversation_ids: int, walking: bool = False) -> str:
        """Into the trash, all with one undo token. Deleted with the Delete key (``walking``
        the list), the selection moves on to the next chat below (else above), as in a mail
        client, not to the chat shown somewhere up the list; from a menu, the highlight
        goes back to the chat shown."""
        in_list = self.listing.hasFocus()
        shown = None if walking else self.shown()
        neighbour = self._neighbour_of(conversation_ids)
        token = self._history.delete_conversations(*conversation_ids)
        self.refresh()
        self.deleted.emit(list(conversation_ids), token)  # the window closes their tabs
        if shown is not None and shown not in conversation_ids:
            self.follow_shown()  # the highlight names the chat on screen, which stays
        elif in_list and neighbour is not None:
            self.select(neighbour)
        if in_list:
            self.listing.setFocus(Qt.FocusReason.OtherFocusReason)
        return token

    def _neighbour_of(self, conversation_ids: Sequence[int]) -> int | None:
        """The chat listed after the last of ``conversation_ids``, else before the first."""
        gone = set(conversation_ids)
        rows = self.model.rows()
        places = [i for i, row in enumerate(rows) if not isinstance(row, str) and row.id in gone]
        if not places:
            return None
        after = (r for r in rows[places[-1] + 1 :] if not isinstance(r, str) and r.id not in gone)
        before = (
            r for r in reversed(rows[: places[0]]) if not isinstance(r, str) and r.id not in gone
        )
        found = next(after, None) or next(before, None)
        return None if found is None else found.id

    def undo_delete(self, token: str) -> int:
        restored = self._history.undo_delete(token)
        self.refresh()
        return restored
