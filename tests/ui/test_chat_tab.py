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
