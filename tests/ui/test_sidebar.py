"""The sidebar's listing model on a real store."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.store import Store, group_for_sidebar
from desktop.ui.sidebar import Sidebar


def make(qtbot: QtBot, store: Store) -> Sidebar:
    sidebar = Sidebar(store, group_for_sidebar)
    qtbot.addWidget(sidebar)
    sidebar.resize(280, 400)
    sidebar.show()
    return sidebar


def test_rows_are_headings_then_their_chats(qtbot: QtBot, store: Store) -> None:
    a = store.create_conversation("Alpha")
    b = store.create_conversation("Beta")
    c = store.create_conversation("Gamma")
    work = store.create_folder("Work")
    store.move_to_folder(a.id, work.id)
    store.set_pinned(b.id, True)
    sidebar = make(qtbot, store)
    model = sidebar.model
    shown = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    # a folder is closed at first: what it holds does not push today's chats down
    assert shown == ["Pinned", "Beta", "▸ Work (1)", "Today", "Gamma"]
    sidebar.toggle_folder(work.id)
    shown = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    # words and a folder icon, no emoji: without a colour-emoji font they are empty boxes
    assert shown == ["Pinned", "Beta", "▾ Work (1)", "Alpha", "Today", "Gamma"]
    icons = [model.data(model.index(r, 0), Qt.ItemDataRole.DecorationRole) for r in range(6)]
    # the folder's icon, and a blank one that sets its chat in under it
    assert [i is not None and not i.isNull() for i in icons] == [False, False, True, True] + [
        False
    ] * 2
    spoken = [model.data(model.index(r, 0), Qt.ItemDataRole.AccessibleTextRole) for r in range(6)]
    assert spoken[:3] == ["Group: Pinned", "Beta (pinned)", "Folder: ▾ Work (1), open"]
    heading = model.index(0, 0)
    assert not model.flags(heading) & Qt.ItemFlag.ItemIsSelectable
    assert model.data(heading, Qt.ItemDataRole.FontRole).bold()
    assert model.conversation_id(heading) is None
    assert model.conversation_id(sidebar.index_of(c.id)) == c.id
    assert model.flags(sidebar.index_of(c.id)) & Qt.ItemFlag.ItemIsEditable


def test_enter_opens_the_current_chat_and_delete_removes_it(qtbot: QtBot, store: Store) -> None:
    store.create_conversation("Older")
    newer = store.create_conversation("Newer")
    sidebar = make(qtbot, store)
    sidebar.select(newer.id)
    assert sidebar.current_id() == newer.id
    sidebar.listing.setFocus()
    with qtbot.waitSignal(sidebar.open_requested) as opened:
        qtbot.keyClick(sidebar.listing, Qt.Key.Key_Return)
    assert opened.args == [newer.id, -1]
    with qtbot.waitSignal(sidebar.deleted) as deleted:
        qtbot.keyClick(sidebar.listing, Qt.Key.Key_Delete)
    assert deleted.args[0] == [newer.id]
    assert sidebar.titles() == ["Older"]
    sidebar.undo_delete(deleted.args[1])
    assert sidebar.titles() == ["Newer", "Older"]


def _click(qtbot: QtBot, sidebar: Sidebar, conversation_id: int, keys: Qt.KeyboardModifier) -> None:
    rect = sidebar.listing.visualRect(sidebar.index_of(conversation_id))
    qtbot.mouseClick(sidebar.listing.viewport(), Qt.MouseButton.LeftButton, keys, rect.center())


def test_several_chats_are_selected_with_ctrl_and_shift_and_deleted_at_once(
    qtbot: QtBot, store: Store
) -> None:
    a, b, c, d = (store.create_conversation(t) for t in ("A", "B", "C", "D"))
    sidebar = make(qtbot, store)
    assert sidebar.titles() == ["D", "C", "B", "A"]
    with qtbot.waitSignal(sidebar.open_requested) as opened:
        _click(qtbot, sidebar, d.id, Qt.KeyboardModifier.NoModifier)
    assert opened.args == [d.id, -1]  # a plain click opens, as before
    with qtbot.assertNotEmitted(sidebar.open_requested):  # choosing, not opening
        _click(qtbot, sidebar, b.id, Qt.KeyboardModifier.ControlModifier)
        assert sidebar.selected_ids() == [d.id, b.id]
        _click(qtbot, sidebar, a.id, Qt.KeyboardModifier.ShiftModifier)
    assert sidebar.selected_ids() == [d.id, b.id, a.id]
    sidebar.listing.setFocus()
    with qtbot.waitSignal(sidebar.deleted) as deleted:
        qtbot.keyClick(sidebar.listing, Qt.Key.Key_Delete)
    assert deleted.args[0] == [d.id, b.id, a.id]
    assert sidebar.titles() == ["C"]
    assert sidebar.undo_delete(deleted.args[1]) == 3, "one undo brings all of them back"
    assert sidebar.titles() == ["D", "C", "B", "A"]
    assert c.id not in deleted.args[0]


def test_the_menu_of_a_selection_exports_moves_and_deletes_all_of_it(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.ui import sidebar as sidebar_module

    a, b, c = (store.create_conversation(t) for t in ("A", "B", "C"))
    sidebar = make(qtbot, store)
    _click(qtbot, sidebar, c.id, Qt.KeyboardModifier.NoModifier)
    _click(qtbot, sidebar, a.id, Qt.KeyboardModifier.ControlModifier)
    where = sidebar.listing.visualRect(sidebar.index_of(a.id)).center()
    sidebar._context_menu(where)
    assert sidebar.menu is not None
    actions = {a.text(): a for a in sidebar.menu.actions()}
    assert list(actions) == [
        "Export 2 chats…",
        "Pin 2 chats",
        "Move 2 chats to folder…",
        "Delete 2 chats\tDel",
    ]
    with qtbot.waitSignal(sidebar.export_requested) as exported:
        actions["Export 2 chats…"].trigger()
    assert exported.args == [[c.id, a.id]]
    actions["Pin 2 chats"].trigger()
    assert [store.get_conversation(i).pinned for i in (a.id, b.id, c.id)] == [True, False, True]
    sidebar._selection_menu([a.id, c.id], where)
    assert sidebar.menu is not None
    unpin = next(x for x in sidebar.menu.actions() if x.text() == "Unpin 2 chats")
    unpin.trigger()
    assert not any(store.get_conversation(i).pinned for i in (a.id, c.id))
    monkeypatch.setattr(sidebar_module.QInputDialog, "getItem", lambda *_args: ("Work", True))
    actions["Move 2 chats to folder…"].trigger()
    assert {store.get_conversation(i).folder_id for i in (a.id, c.id)} != {None}
    assert store.get_conversation(b.id).folder_id is None
    # right-click outside the selection: that chat's own menu, and only it is selected
    sidebar._context_menu(sidebar.listing.visualRect(sidebar.index_of(b.id)).center())
    assert sidebar.selected_ids() == [b.id]
    assert "Rename\tF2" in [a.text() for a in sidebar.menu.actions()]


def test_a_heading_opens_nothing(qtbot: QtBot, store: Store) -> None:
    store.create_conversation("Only")
    sidebar = make(qtbot, store)
    with qtbot.assertNotEmitted(sidebar.open_requested):
        sidebar.listing.activated.emit(sidebar.model.index(0, 0))


def test_refresh_keeps_the_selection_and_sees_new_chats(qtbot: QtBot, store: Store) -> None:
    first = store.create_conversation("First")
    sidebar = make(qtbot, store)
    sidebar.select(first.id)
    store.create_conversation("Second")
    sidebar.refresh()
    assert sidebar.titles() == ["Second", "First"]
    assert sidebar.current_id() == first.id


def test_f2_opens_the_editor_on_the_bare_title(qtbot: QtBot, store: Store) -> None:
    chat = store.create_conversation("Pinned one")
    store.set_pinned(chat.id, True)
    sidebar = make(qtbot, store)
    sidebar.select(chat.id)
    sidebar.listing.setFocus()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_F2)
    assert sidebar.listing.state() == sidebar.listing.State.EditingState
    editor = sidebar.listing.focusWidget()
    assert editor is not None
    assert editor.property("text") == "Pinned one"


def test_long_titles_are_elided_not_scrolled_sideways(qtbot: QtBot, store: Store) -> None:
    store.create_conversation("Write a Python function that reverses a string, and explain it")
    sidebar = make(qtbot, store)
    sidebar.resize(200, 300)
    qtbot.waitUntil(lambda: sidebar.listing.viewport().width() < 200)
    assert sidebar.listing.horizontalScrollBar().maximum() == 0
    row = sidebar.listing.visualRect(sidebar.model.index(1, 0))
    assert row.height() >= sidebar.listing.fontMetrics().height()


def test_an_answer_in_the_latest_chat_does_not_read_the_listing_again(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = store.create_conversation("older")
    latest = store.create_conversation("latest")
    sidebar = make(qtbot, store)
    reads: list[int] = []
    listing = store.list_conversations
    monkeypatch.setattr(store, "list_conversations", lambda: reads.append(1) or listing())
    store.add_message(latest.id, None, "user", "hi")
    sidebar.touch(latest.id)
    assert reads == []  # already first under today's heading: nothing to move
    assert sidebar.titles() == ["latest", "older"]
    # An answer in the older chat moves it up: that needs the listing.
    store.add_message(older.id, None, "user", "hello again")
    sidebar.touch(older.id)
    assert reads == [1]
    assert sidebar.titles() == ["older", "latest"]
    # So does a chat renamed elsewhere (the quick-ask window, another tab).
    store.rename_conversation(older.id, "renamed")
    sidebar.touch(older.id)
    assert reads == [1, 1]
    assert sidebar.titles() == ["renamed", "latest"]


def test_down_from_the_search_field_moves_into_the_list_below(qtbot: QtBot, store: Store) -> None:
    older = store.create_conversation("Older")
    store.add_message(older.id, None, "user", "the word is kumquat")
    newer = store.create_conversation("Newer")
    sidebar = make(qtbot, store)
    sidebar.activateWindow()
    qtbot.waitUntil(sidebar.isActiveWindow, timeout=2000)
    sidebar.search.setFocus()
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Down)
    assert sidebar.listing.hasFocus()
    assert sidebar.current_id() == newer.id, "the first chat, not the heading above it"

    sidebar.search.setFocus()
    sidebar.search.setText("kumquat")
    sidebar.run_search()
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Down)
    assert sidebar.results.hasFocus()
    assert sidebar.results.currentRow() == 0
    with qtbot.waitSignal(sidebar.open_requested) as opened:
        qtbot.keyClick(sidebar.results, Qt.Key.Key_Down)
        qtbot.keyClick(sidebar.results, Qt.Key.Key_Return)
    assert opened.args[0] == older.id
    assert opened.args[1] != -1, "the message row opens the chat at the match"


def test_an_empty_history_says_so_in_the_list(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.ui.sidebar import ConversationListView

    def ink(sidebar: Sidebar) -> int:
        """Pixels of the list that are not its background."""
        image = sidebar.listing.viewport().grab().toImage()
        base = image.pixel(image.width() - 2, image.height() - 2)
        return sum(
            image.pixel(x, y) != base for x in range(0, image.width(), 2) for y in range(0, 60, 2)
        )

    sidebar = make(qtbot, store)
    assert ink(sidebar) > 20, "the empty list has its sentence"
    monkeypatch.setattr(ConversationListView, "EMPTY_TEXT", "")
    sidebar.listing.viewport().update()
    assert ink(sidebar) == 0, "the ink above came from the sentence"


def test_a_search_for_symbols_fills_in_step_by_step(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Store, "SEARCH_FIRST_SPAN", 16)
    old = store.create_conversation("Old chat")
    parent = store.add_message(old.id, None, "user", "what is a -> b?").id
    new = store.create_conversation("New chat")
    parent = None
    for i in range(400):
        parent = store.add_message(new.id, parent, "user", f"line {i}").id
    store.add_message(new.id, parent, "user", "x -> y")
    sidebar = make(qtbot, store)
    sidebar.search.setText("->")
    sidebar.run_search()

    def texts() -> list[str]:
        return [sidebar.results.item(i).text() for i in range(sidebar.results.count())]

    assert texts() == ["New chat", "You: x -> y", "Searching older messages…"]
    qtbot.waitUntil(lambda: "Searching older messages…" not in texts(), timeout=5000)
    assert texts() == ["New chat", "You: x -> y", "Old chat", "You: what is a -> b?"]

    # Enter waits for the first hit, however far back it is.
    sidebar.search.setText("?")
    with qtbot.waitSignal(sidebar.open_requested) as opened:
        sidebar.search.returnPressed.emit()
    assert opened.args[0] == old.id


def test_escape_clears_the_search_then_leaves_the_field(qtbot: QtBot, store: Store) -> None:
    store.create_conversation("Kumquat jam")
    sidebar = make(qtbot, store)
    sidebar.activateWindow()
    qtbot.waitUntil(sidebar.isActiveWindow, timeout=2000)
    sidebar.search.setFocus()
    qtbot.keyClicks(sidebar.search, "kumquat")
    sidebar.run_search()
    assert sidebar.stack.currentWidget() is sidebar.results
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Escape)
    assert sidebar.search.text() == ""
    assert sidebar.stack.currentWidget() is sidebar.listing, "the chat list again"
    assert sidebar.search.hasFocus()
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Escape)
    assert sidebar.listing.hasFocus()
    # from the results (a hit opened, or Down into them): Esc ends the search there too
    sidebar.search.setText("kumquat")
    sidebar.run_search()
    sidebar.results.setFocus()
    qtbot.keyClick(sidebar.results, Qt.Key.Key_Escape)
    assert sidebar.search.text() == ""
    assert sidebar.stack.currentWidget() is sidebar.listing
    assert sidebar.listing.hasFocus()


def test_a_folder_is_renamed_or_deleted_from_its_heading(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QInputDialog

    chat = store.create_conversation("Budget")
    work = store.create_folder("Work")
    store.move_to_folder(chat.id, work.id)
    sidebar = make(qtbot, store)
    sidebar.show()
    sidebar.toggle_folder(work.id)
    heading = sidebar.model.index(sidebar.model.rows().index("Work"), 0)
    sidebar._context_menu(sidebar.listing.visualRect(heading).center())
    menu = sidebar.menu
    assert menu is not None
    assert [a.text() for a in menu.actions()] == [
        "Rename folder…",
        "Delete folder (its chats stay)",
    ]
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  Office  work ", True))
    menu.actions()[0].trigger()
    assert "Office work" in sidebar.headings()
    assert [f.name for f in store.list_folders()] == ["Office work"]

    # the chat's own menu has them too: the keyboard's way (headings take no focus)
    sidebar._context_menu(sidebar.listing.visualRect(sidebar.index_of(chat.id)).center())
    assert sidebar.menu is not None
    texts = [a.text() for a in sidebar.menu.actions() if not a.isSeparator()]
    assert texts[-2:] == [
        "Rename folder “Office work”…",
        "Delete folder “Office work” (its chats stay)",
    ]

    heading = sidebar.model.index(sidebar.model.rows().index("Office work"), 0)
    sidebar._context_menu(sidebar.listing.visualRect(heading).center())
    assert sidebar.menu is not None
    sidebar.menu.actions()[1].trigger()
    assert store.list_folders() == []
    assert sidebar.headings() == ["Today"]
    assert sidebar.titles() == ["Budget"], "its chat stays"


def test_a_folder_opens_and_closes_by_click_or_key_and_an_empty_one_stays_listed(
    qtbot: QtBot, store: Store
) -> None:
    older = store.create_conversation("Budget")
    work = store.create_folder("Work")
    store.move_to_folder(older.id, work.id)
    store.create_folder("Ideas")  # nothing in it yet: listed, to be renamed or deleted
    today = store.create_conversation("Lunch")
    sidebar = make(qtbot, store)
    sidebar.show()
    model = sidebar.model

    def shown() -> list[str]:
        return [model.data(model.index(r, 0)) for r in range(model.rowCount())]

    assert shown() == ["▸ Work (1)", "▸ Ideas (empty)", "Today", "Lunch"]
    sidebar.shown = lambda: today.id
    sidebar.select(today.id)
    work_row = sidebar.model.index(0, 0)
    qtbot.mouseClick(
        sidebar.listing.viewport(),
        Qt.MouseButton.LeftButton,
        pos=sidebar.listing.visualRect(work_row).center(),
    )
    assert shown() == ["▾ Work (1)", "Budget", "▸ Ideas (empty)", "Today", "Lunch"]
    assert sidebar.listing.currentIndex().row() == 0, "the heading keeps the keys"
    assert sidebar.selected_ids() == [today.id], "and the chat shown its highlight"
    sidebar.listing.setFocus()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Left)
    assert shown() == ["▸ Work (1)", "▸ Ideas (empty)", "Today", "Lunch"]
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Return)
    assert "Budget" in shown()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Space)
    assert "Budget" not in shown()
    # a chat shown from a closed folder (its tab chosen, the next start) opens it
    store.move_to_folder(today.id, work.id)
    sidebar.refresh()
    assert shown() == ["▸ Work (2)", "▸ Ideas (empty)"]
    sidebar.select(today.id)
    assert shown() == ["▾ Work (2)", "Lunch", "Budget", "▸ Ideas (empty)"]
    assert sidebar.current_id() == today.id
    # closed again by the user while its chat is shown: it stays closed, even when
    # another chat is acted on (the highlight then names nothing)
    sidebar.toggle_folder(work.id)
    sidebar.shown = lambda: today.id
    sidebar.follow_shown()
    assert shown() == ["▸ Work (2)", "▸ Ideas (empty)"]
    assert sidebar.selected_ids() == []


def test_a_search_the_history_cannot_answer_says_so_in_the_list(
    qtbot: QtBot, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.store import DatabaseLocked

    sidebar = make(qtbot, store)

    def locked(query: str, limit: int = 50) -> object:
        raise DatabaseLocked("The history is busy: another Parley is importing.", store.path)
        yield  # a generator, as the store's

    monkeypatch.setattr(store, "search_in_steps", locked)
    sidebar.search.setText("->")
    sidebar.run_search()
    texts = [sidebar.results.item(i).text() for i in range(sidebar.results.count())]
    assert texts == ["The search failed: The history is busy: another Parley is importing."]


def test_a_chat_menu_closed_without_a_choice_gives_the_selection_back(
    qtbot: QtBot, store: Store
) -> None:
    shown = store.create_conversation("Shown")
    other = store.create_conversation("Other")
    sidebar = make(qtbot, store)
    sidebar.show()
    sidebar.select(shown.id)
    sidebar._context_menu(sidebar.listing.visualRect(sidebar.index_of(other.id)).center())
    menu = sidebar.menu
    assert menu is not None
    assert sidebar.selected_ids() == [other.id], "the menu's chat, while the menu is open"
    qtbot.waitExposed(menu)
    menu.hide()  # Esc, or a click elsewhere
    qtbot.waitUntil(lambda: sidebar.selected_ids() == [shown.id], timeout=2000)

    sidebar._context_menu(sidebar.listing.visualRect(sidebar.index_of(other.id)).center())
    menu = sidebar.menu
    assert menu is not None
    qtbot.waitExposed(menu)
    pin = next(a for a in menu.actions() if a.text() == "Pin")
    sidebar.shown = lambda: shown.id  # what the window says is on screen
    menu.hide()
    pin.trigger()  # a choice: it acted on that chat; the highlight goes to the chat shown
    qtbot.wait(50)
    assert store.get_conversation(other.id).pinned
    assert sidebar.selected_ids() == [shown.id]
