"""The conversation sidebar: date groups, pinned chats, folders, and full-text search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.services.history import History, SummaryLike
from desktop.ui.message_view import accessible

ROLE_ID = Qt.ItemDataRole.UserRole
ROLE_MESSAGE = Qt.ItemDataRole.UserRole + 1
SEARCH_DELAY_MS = 150

# the store's group_for_sidebar: (summaries, now) -> groups with .key, .label, .conversations
Grouper = Callable[..., Sequence[Any]]


def mark_snippet(snippet: str, highlights: Sequence[tuple[int, int]]) -> str:
    """The snippet with each match wrapped in « » (a list item shows plain text)."""
    out, last = [], 0
    for start, end in highlights:
        out += [snippet[last:start], "«", snippet[start:end], "»"]
        last = end
    out.append(snippet[last:])
    return "".join(out)


class Sidebar(QWidget):
    """``open_requested(conversation_id, message_id)`` (message_id -1: none),
    ``deleted(conversation_id, undo_token)``, ``new_chat_requested()``,
    ``changed(conversation_id)`` (renamed, pinned, moved: open tabs may update)."""

    open_requested = Signal(int, int)
    deleted = Signal(int, str)
    new_chat_requested = Signal()
    changed = Signal(int)

    def __init__(self, history: History, group: Grouper, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history = history
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
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(8)
        self.tree.setUniformRowHeights(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        accessible(
            self.tree,
            "Conversation list",
            "Enter opens; F2 renames; Delete deletes (with undo); menu key for more",
        )
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.tree.itemChanged.connect(self._renamed)
        self.results = QListWidget()
        self.results.setWordWrap(True)
        accessible(self.results, "Search results", "Enter opens the chat at the match")
        self.results.itemActivated.connect(self._result_activated)
        self.results.itemClicked.connect(self._result_activated)
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.results)
        layout.addWidget(self.stack, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._search_enter)
        for key, slot in (
            (QKeySequence.StandardKey.Delete, self.delete_current),
            (QKeySequence(Qt.Key.Key_F2), self.rename_current),
        ):
            shortcut = QShortcut(key, self.tree)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(slot)
        self.refresh()

    # -- listing --------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_id()
        self.tree.blockSignals(True)
        self.tree.clear()
        folders = {f.id: f.name for f in self._history.list_folders()}
        summaries = list(self._history.list_conversations())
        in_folder: dict[int, list[SummaryLike]] = {}
        loose: list[SummaryLike] = []
        for s in summaries:
            if s.folder_id is not None and s.folder_id in folders and not s.pinned:
                in_folder.setdefault(s.folder_id, []).append(s)
            else:
                loose.append(s)
        groups = list(self._group(loose, None))
        pinned = [g for g in groups if getattr(g, "key", "") == "pinned"]
        dated = [g for g in groups if getattr(g, "key", "") != "pinned"]
        for g in pinned:
            self._add_group(g.label, g.conversations)
        for folder_id, name in folders.items():
            if folder_id in in_folder:
                self._add_group(f"📁 {name}", in_folder[folder_id])
        for g in dated:
            self._add_group(g.label, g.conversations)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        if current is not None:
            self.select(current)

    def _add_group(self, label: str, conversations: Sequence[SummaryLike]) -> None:
        heading = QTreeWidgetItem([label])
        heading.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = heading.font(0)
        font.setBold(True)
        heading.setFont(0, font)
        self.tree.addTopLevelItem(heading)
        for c in conversations:
            title = c.title or "Untitled"
            item = QTreeWidgetItem([("📌 " if c.pinned else "") + title])
            item.setData(0, ROLE_ID, c.id)
            item.setToolTip(0, title)
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled
                | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsEditable
            )
            heading.addChild(item)

    def _headings(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def items(self) -> list[QTreeWidgetItem]:
        children = (h.child(j) for h in self._headings() for j in range(h.childCount()))
        return [item for item in children if item is not None]

    def headings(self) -> list[str]:
        return [h.text(0) for h in self._headings()]

    def current_id(self) -> int | None:
        item = self.tree.currentItem()
        value = item.data(0, ROLE_ID) if item is not None else None
        return int(value) if value is not None else None

    def select(self, conversation_id: int) -> None:
        for item in self.items():
            if item.data(0, ROLE_ID) == conversation_id:
                self.tree.blockSignals(True)
                self.tree.setCurrentItem(item)
                self.tree.blockSignals(False)
                return

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        value = item.data(0, ROLE_ID)
        if value is not None:
            self.open_requested.emit(int(value), -1)

    # -- search ---------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def run_search(self) -> None:
        self._search_timer.stop()
        query = self.search.text().strip()
        if not query:
            self.stack.setCurrentWidget(self.tree)
            return
        self.results.clear()
        for hit in self._history.search(query):
            snippet = mark_snippet(hit.snippet, hit.highlights)
            text = (
                hit.conversation_title
                if hit.message_id is None
                else (f"{hit.conversation_title}\n{snippet}")
            )
            item = QListWidgetItem(text)
            item.setData(ROLE_ID, hit.conversation_id)
            item.setData(ROLE_MESSAGE, hit.message_id if hit.message_id is not None else -1)
            item.setToolTip(snippet)
            self.results.addItem(item)
        if self.results.count() == 0:
            empty = QListWidgetItem(f"No chat contains “{query}”.")
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            self.results.addItem(empty)
        self.stack.setCurrentWidget(self.results)

    def _search_enter(self) -> None:
        self.run_search()
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
        conversation_id = self.current_id()
        if conversation_id is None:
            return
        menu = QMenu(self)
        pinned = self._history.get_conversation(conversation_id).pinned
        for text, slot in (
            ("Open", lambda: self.open_requested.emit(conversation_id, -1)),
            ("Rename\tF2", self.rename_current),
            ("Unpin" if pinned else "Pin", lambda: self.set_pinned(conversation_id, not pinned)),
            ("Move to folder…", lambda: self.ask_folder(conversation_id)),
            ("Duplicate", lambda: self.duplicate(conversation_id)),
            ("Delete\tDel", self.delete_current),
        ):
            action = menu.addAction(text)
            action.triggered.connect(slot)
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def rename_current(self) -> None:
        item = self.tree.currentItem()
        if item is not None and item.data(0, ROLE_ID) is not None:
            title = self._history.get_conversation(int(item.data(0, ROLE_ID))).title
            self.tree.blockSignals(True)
            item.setText(0, title)  # edit the bare title, without the pin mark
            self.tree.blockSignals(False)
            self.tree.editItem(item, 0)

    def _renamed(self, item: QTreeWidgetItem, _column: int) -> None:
        value = item.data(0, ROLE_ID)
        if value is None:
            return
        title = " ".join(item.text(0).split())
        if title:
            self.rename(int(value), title)
        else:
            self.refresh()

    def rename(self, conversation_id: int, title: str) -> None:
        self._history.rename_conversation(conversation_id, title)
        self.refresh()
        self.changed.emit(conversation_id)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._history.set_pinned(conversation_id, pinned)
        self.refresh()

    def ask_folder(self, conversation_id: int) -> None:
        names = [f.name for f in self._history.list_folders()]
        name, ok = QInputDialog.getItem(
            self, "Move to folder", "Folder (type a new name to create one; empty: none)",
            ["", *names], 0, True,
        )  # fmt: skip
        if ok:
            self.move_to_folder(conversation_id, name.strip() or None)

    def move_to_folder(self, conversation_id: int, folder: str | None) -> None:
        folder_id = None
        if folder:
            existing = {f.name: f.id for f in self._history.list_folders()}
            folder_id = existing.get(folder) or self._history.create_folder(folder).id
        self._history.move_to_folder(conversation_id, folder_id)
        self.refresh()

    def duplicate(self, conversation_id: int) -> int:
        copy = self._history.duplicate_conversation(conversation_id)
        self.refresh()
        self.select(copy.id)
        return copy.id

    def delete_current(self) -> None:
        conversation_id = self.current_id()
        if conversation_id is not None:
            self.delete(conversation_id)

    def delete(self, conversation_id: int) -> str:
        token = self._history.delete_conversations(conversation_id)
        self.refresh()
        self.deleted.emit(conversation_id, token)
        return token

    def undo_delete(self, token: str) -> None:
        self._history.undo_delete(token)
        self.refresh()
