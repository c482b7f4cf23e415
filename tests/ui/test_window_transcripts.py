"""Export the open chat and import a ChatGPT export from the window's File menu."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.store import Store
from desktop.ui.main_window import MainWindow


def _open_chat(window: MainWindow, store: Store) -> int:
    conv = store.create_conversation("Trip ideas")
    user = store.add_message(
        conv.id, None, "user", "Where should I go in May? <script>x()</script>"
    )
    store.add_message(conv.id, user.id, "assistant", "Lisbon: *trams* and `pastéis`.")
    window.open_conversation(conv.id)
    return conv.id


def test_export_the_open_chat_as_markdown_and_inert_html(
    window: MainWindow, store: Store, tmp_path: Path
) -> None:
    conv = _open_chat(window, store)
    md = window.export_transcript(conv, "markdown", tmp_path / "trip.md")
    assert md is not None
    text = md.read_text()
    assert "Lisbon" in text
    assert "Where should I go" in text
    html = window.export_transcript(conv, "html", tmp_path / "trip.html")
    assert html is not None

    class Tags(HTMLParser):
        scripts = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.scripts += tag == "script"

    parser = Tags()
    parser.feed(html.read_text())
    assert parser.scripts == 0
    assert "Exported the chat" in window.notice.text()


def test_import_a_chatgpt_export_appears_in_the_sidebar(
    window: MainWindow, store: Store, tmp_path: Path, qtbot: QtBot
) -> None:
    export = [{
        "title": "Imported from ChatGPT",
        "create_time": 1700000000.0,
        "update_time": 1700000100.0,
        "current_node": "b",
        "mapping": {
            "root": {"id": "root", "message": None, "parent": None, "children": ["a"]},
            "a": {"id": "a", "parent": "root", "children": ["b"], "message": {
                "id": "a", "author": {"role": "user"}, "create_time": 1700000000.0,
                "content": {"content_type": "text", "parts": ["What is a quokka?"]}}},
            "b": {"id": "b", "parent": "a", "children": [], "message": {
                "id": "b", "author": {"role": "assistant"}, "create_time": 1700000050.0,
                "content": {"content_type": "text", "parts": ["A small marsupial."]}}},
        },
    }]  # fmt: skip
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(export))
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)
    assert "Imported 1 new chat" in window.notice.text()
    assert "Imported from ChatGPT" in window.sidebar.titles()
    assert any(hit.conversation_id for hit in store.search("quokka"))


def test_a_broken_import_file_is_one_clear_line(
    window: MainWindow, tmp_path: Path, qtbot: QtBot
) -> None:
    path = tmp_path / "conversations.json"
    path.write_text("[{not json")
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)
    assert window.notice.text().startswith("The import failed:")
    assert "nothing was imported" in window.notice.text()
