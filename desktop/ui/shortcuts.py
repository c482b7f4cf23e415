"""The keyboard shortcuts help dialog (F1)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.message_view import accessible

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Enter", "Send the message"),
    ("Shift+Enter", "New line in the message"),
    ("Up (in an empty input)", "Edit the last prompt"),
    ("Esc", "Stop the answer / cancel editing"),
    ("Ctrl+T / Ctrl+N / Ctrl+Shift+O", "New chat"),
    ("Ctrl+W", "Close the chat tab"),
    ("Ctrl+Shift+T", "Reopen the chat tab closed last"),
    ("Ctrl+Shift+Backspace", "Delete the chat (Undo in the status bar)"),
    ("Ctrl+Z (outside the input)", "Undo the last delete, while Undo is offered"),
    ("Ctrl+Shift+E", "Export the chat (Markdown, HTML, PDF, …)"),
    ("Ctrl+Tab / Ctrl+Shift+Tab", "Next / previous chat tab"),
    ("Ctrl+\\", "Split view: two chats side by side (again: one pane)"),
    ("Ctrl+Shift+\\", "Move the chat to the other side of the split view"),
    ("Ctrl+K / Ctrl+F", "Search all chats"),
    ("Down (in the search field)", "Into the chat list or the search results; Enter opens"),
    ("Esc (in the search field)", "Clear the search; again: leave the field"),
    ("Ctrl+L / Shift+Esc", "Move to the message input"),
    ("Ctrl+Shift+C", "Copy the last answer"),
    ("Ctrl+Shift+;", "Copy the last code block"),
    ("Ctrl+J", "Go to the latest message of the chat"),
    ("Ctrl+Shift+B / Ctrl+Shift+S", "Show or hide the chat list"),
    ("F2 (in the chat list)", "Rename the chat"),
    ("Delete (in the chat list)", "Delete the chat (Undo in the status bar)"),
    (
        "Ctrl+click / Shift+click (in the chat list)",
        "Select several chats to export, move or delete",
    ),
    ("Menu key (in the chat list)", "Pin, move to a folder, duplicate; rename its folder"),
    ("Alt+Left / Alt+Right (on a message)", "Previous / next version of the message"),
    ("Down (on Regenerate)", "Regenerate with another installed model"),
    ("1 to 4 (comparing answers)", "Put the selected answer in that place"),
    ("Alt+Up / Alt+Down (comparing answers)", "Move the selected answer up / down"),
    ("Tab / Shift+Tab", "Move between the chat list, tabs, messages and the input"),
    ("Ctrl++ / Ctrl+- / Ctrl+0", "Larger / smaller / default text"),
    ("Ctrl+,", "Settings"),
    ("F1 / Ctrl+/", "This list"),
    ("Ctrl+Q", "Quit"),
)


CTRL_ENTER_SENDS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Enter", "Send the message"),
    ("Enter / Shift+Enter", "New line in the message"),
)


def shortcuts(send_on_enter: bool = True) -> tuple[tuple[str, str], ...]:
    """The list, with the send keys the send key setting chose."""
    return SHORTCUTS if send_on_enter else CTRL_ENTER_SENDS + SHORTCUTS[2:]


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, *, send_on_enter: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        accessible(self, "Keyboard shortcuts", "Every keyboard shortcut of Parley")
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(SHORTCUTS), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        accessible(self.table, "Shortcut list", "Keys and what they do")
        for row, (keys, action) in enumerate(shortcuts(send_on_enter)):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(action))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        for button in buttons.buttons():
            accessible(button, "Close", "Close this list")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # wide enough for every line (the list grew past what 520 px held), within the screen
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        wanted = header.sectionSize(0) + header.sectionSize(1) + 60
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        width = min(max(520, wanted), screen.width() - 40) if screen is not None else wanted
        self.resize(width, 560)
