"""The chat tab's parts on their own (the tab as a whole: test_main_window.py)."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.ui.chat_tab import Composer


def test_the_empty_box_hint_names_the_send_keys_where_it_fits(qtbot: QtBot) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.resize(700, composer.height())
    composer.show()
    qtbot.waitExposed(composer)
    assert composer.placeholderText() == (
        "Message Parley… (Enter sends, Shift+Enter for a new line)"
    )
    composer.send_on_enter = False  # the send key setting
    assert composer.placeholderText() == "Message Parley… (Ctrl+Enter sends, Enter for a new line)"

    composer.resize(150, composer.height())  # a split view's box: the keys would be cut off
    assert composer.placeholderText() == "Message Parley…"
    composer.resize(700, composer.height())
    assert composer.placeholderText().startswith("Message Parley… (Ctrl+Enter")


def test_the_chat_settings_fields_line_up_and_say_their_units(qtbot: QtBot) -> None:
    from desktop.services.chat_session import ChatDefaults, ChatSession
    from desktop.services.engine_host import EngineHost
    from desktop.ui.chat_tab import ChatSettingsDialog
    from tests.fakes import MemoryHistory

    host = EngineHost()
    try:
        session = ChatSession(MemoryHistory(), host, lambda: ChatDefaults())
        dialog = ChatSettingsDialog(session)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        lefts = {box.mapTo(dialog, box.rect().topLeft()).x() for _c, box in dialog.boxes.values()}
        assert len(lefts) == 1, "one column, whatever the length of the names before it"
        assert dialog.boxes["max_new_tokens"][1].suffix() == " tokens"
    finally:
        assert host.shutdown()
