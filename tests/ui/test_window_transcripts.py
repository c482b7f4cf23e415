"""Export the open chat and import a ChatGPT export from the window's File menu."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from desktop.store import Store
from desktop.ui.main_window import MainWindow
from tests.fakes import FakeEngine


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


def _import(qtbot: QtBot, window: MainWindow, tmp_path: Path, export: object) -> Path:
    """Import ``export`` as conversations.json from the window and wait for the end."""
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(export))
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)
    return path


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
    _import(qtbot, window, tmp_path, export)
    assert "Imported 1 new chat" in window.notice.text()
    assert "Imported from ChatGPT" in window.sidebar.titles()
    assert any(hit.conversation_id for hit in store.search("quokka"))


def test_what_an_import_left_out_is_behind_details_not_an_error(
    window: MainWindow, store: Store, tmp_path: Path, qtbot: QtBot
) -> None:
    def node(key: str, parent: str | None, children: list[str], message: object) -> object:
        return {"id": key, "parent": parent, "children": children, "message": message}

    def text(key: str, role: str, words: str, **author: str) -> object:
        return {"id": key, "author": {"role": role, **author}, "create_time": 1700000000.0,
                "content": {"content_type": "text", "parts": [words]}}  # fmt: skip

    export = [{"title": "Searched", "create_time": 1700000000.0, "current_node": "b",
               "mapping": {
        "root": node("root", None, ["a"], None),
        "a": node("a", "root", ["t"], text("a", "user", "Weather in Oslo?")),
        "t": node("t", "a", ["b"], text("t", "tool", "page text", name="browser")),
        "b": node("b", "t", [], text("b", "assistant", "Cold.")),
    }}]  # fmt: skip
    path = _import(qtbot, window, tmp_path, export)
    assert "Imported 1 new chat" in window.notice.text()
    assert "left out" in window.notice.text()
    assert window.details_button.isVisibleTo(window)
    window.details_button.click()
    box = window.details_box
    assert box is not None
    assert box.windowTitle() == "Details"  # not "Error details": the import worked
    assert "browser" in box.informativeText()  # shown, not behind another button
    box.close()
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)  # again
    assert "Imported 0 new chat(s)" in window.notice.text()
    assert "1 chat(s) were already in your history" in window.notice.text()
    conv = next(c for c in store.list_conversations() if c.title == "Searched")
    assert [m.role for m in store.current_path(conv.id)] == ["user", "assistant"]


def test_a_broken_import_file_is_one_clear_line(
    window: MainWindow, tmp_path: Path, qtbot: QtBot
) -> None:
    path = tmp_path / "conversations.json"
    path.write_text("[{not json")
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)
    assert window.notice.text().startswith("The import failed:")
    assert "nothing was imported" in window.notice.text()
    box = window.details_box  # a warning the user sees, not only a line that goes away
    assert box is not None
    assert box.isVisible()
    assert box.icon() == box.Icon.Warning
    assert box.text() == window.notice.text()
    box.close()
    empty = tmp_path / "empty.json"
    empty.write_text("\n  \n")
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(empty)
    assert window.notice.text() == "The import failed: empty.json is empty; nothing was imported"


def test_an_import_that_fails_unexpectedly_still_ends_and_frees_the_window(
    window: MainWindow, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import desktop.transcripts

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the importer")

    monkeypatch.setattr(desktop.transcripts, "import_file", broken)
    path = tmp_path / "conversations.json"
    path.write_text("[]")
    with qtbot.waitSignal(window._import_done, timeout=10000):
        window.import_transcripts(path)
    assert window.notice.text().startswith("The import failed because of an error inside")
    assert "a bug in the importer" in window.notice.text()
    assert window._import is None, "answers and other imports are not held off for good"


def test_export_all_chats_into_one_zip_off_the_gui_thread(
    window: MainWindow, store: Store, tmp_path: Path, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    _open_chat(window, store)
    other = store.create_conversation("Second chat")
    store.add_message(other.id, None, "user", "Hello again")
    asked: list[tuple[str, str]] = []

    def save_as(_parent: object, title: str, name: str, filters: str) -> tuple[str, str]:
        asked.append((title, name))
        chosen = next(f for f in filters.split(";;") if f.startswith("Markdown"))
        assert chosen == "Markdown, one file per chat in a zip (*.zip)"
        return str(tmp_path / "everything"), chosen  # typed without its suffix

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    with qtbot.waitSignal(window._export_done, timeout=10000):
        window.choose_all_transcripts_export()
    assert asked[0][0] == "Export 2 chats"
    assert asked[0][1].endswith(".zip")
    with zipfile.ZipFile(tmp_path / "everything.zip") as archive:
        assert sorted(archive.namelist()) == ["Second chat.md", "Trip ideas.md"]
    assert "Exported 2 chats to" in window.notice.text()


def test_the_sidebar_exports_the_chat_it_was_asked_about(
    window: MainWindow, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = _open_chat(window, store)
    other = store.create_conversation("Not this one")
    store.add_message(other.id, None, "user", "Elsewhere")

    offered: list[Path] = []

    def save_as(_parent: object, _title: str, name: str, filters: str) -> tuple[str, str]:
        offered.append(Path(name))
        chosen = next(f for f in filters.split(";;") if f.startswith("Plain text"))
        return str(tmp_path / "trip.md"), chosen  # the offered name kept, another format

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    window.sidebar.export_requested.emit([conv])
    assert offered[0].name == "Trip ideas.md"
    assert offered[0].parent != Path.cwd(), "the Documents folder (or home), not where we run"
    assert "Lisbon" in (tmp_path / "trip.txt").read_text(encoding="utf-8")
    assert not (tmp_path / "trip.md.txt").exists()
    window.sidebar.export_requested.emit([conv])
    assert offered[1].parent == tmp_path, "the next export starts where the last one went"

    def typed_html(_parent: object, _title: str, _name: str, filters: str) -> tuple[str, str]:
        return str(tmp_path / "typed.html"), filters.split(";;")[0]  # the list left on Markdown

    monkeypatch.setattr(QFileDialog, "getSaveFileName", typed_html)
    window.sidebar.export_requested.emit([conv])
    assert (tmp_path / "typed.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (tmp_path / "typed.md").exists(), "the extension typed says the format"


def test_a_long_import_shows_progress_holds_off_answers_and_cancels_cleanly(
    window: MainWindow,
    engine: FakeEngine,
    tmp_path: Path,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    import desktop.transcripts as transcripts
    from desktop.transcripts import ImportCancelled

    gate = threading.Event()

    def slow_import(store: Store, path: Path, **kw: object) -> object:
        kw["progress"]("checking", 0.5)  # type: ignore[operator]
        gate.wait(10)
        if kw["cancel"].is_set():  # type: ignore[attr-defined]
            raise ImportCancelled("cancelled")
        raise AssertionError("the test cancels before the import ends")

    monkeypatch.setattr(transcripts, "import_file", slow_import)
    path = tmp_path / "conversations.json"
    path.write_text("[]")
    thread = window.import_transcripts(path)
    assert thread is not None
    qtbot.waitUntil(lambda: "checking, 50%" in window.notice.text(), timeout=5000)
    assert window.notice.text().startswith("Importing conversations.json")
    assert window.cancel_import_button.isVisibleTo(window)
    assert window.import_transcripts(path) is None  # one at a time
    assert "already running" in window.notice.text()

    # the history is held by the import: nothing is asked, what was typed stays
    tab = window.current_tab()
    assert tab is not None
    tab.composer.setPlainText("Hello?")
    tab.send()
    assert engine.calls == []
    assert tab.composer.toPlainText() == "Hello?"
    assert "being imported" in tab.banner.text()

    window.cancel_import_button.click()
    window._import_progress.emit("adding", 0.7)  # a late report does not hide the cancel
    assert window.notice.text() == "Cancelling the import of conversations.json…"
    with qtbot.waitSignal(window._import_done, timeout=10000):
        gate.set()
    thread.join(5)
    assert window.notice.text() == "Import of conversations.json cancelled; nothing was imported."
    assert not window.cancel_import_button.isVisibleTo(window)
    assert not tab.banner.isVisibleTo(window)  # "Not sent: … being imported" is over
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        tab.send()  # the history is free again
    assert len(engine.calls) == 1


def test_no_import_starts_while_an_answer_is_being_written(
    window: MainWindow, engine: FakeEngine, tmp_path: Path, qtbot: QtBot
) -> None:
    import threading

    engine.gate = threading.Event()
    tab = window.current_tab()
    assert tab is not None
    tab.composer.setPlainText("Hello?")
    tab.send()
    qtbot.waitUntil(lambda: tab.session.state != "idle", timeout=5000)
    path = tmp_path / "conversations.json"
    path.write_text("[]")
    assert window.import_transcripts(path) is None
    assert "Wait for the answers being written to finish" in window.notice.text()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        engine.gate.set()


def test_several_chats_as_pdf_are_rendered_a_chat_per_turn_and_zipped(
    window: MainWindow, store: Store, tmp_path: Path, qtbot: QtBot
) -> None:
    import zipfile

    ids = []
    for n in range(3):
        chat = store.create_conversation(f"Chat {n}")
        question = store.add_message(chat.id, None, "user", f"Question {n}?")
        store.add_message(chat.id, question.id, "assistant", f"Answer **{n}**.")
        ids.append(chat.id)
    timer = window.export_pdfs(ids, tmp_path)
    assert timer is not None
    assert timer.isActive()
    assert not list(tmp_path.glob("*.zip"))  # nothing rendered before the event loop turns
    qtbot.waitUntil(lambda: window.notice.text().startswith("Exported 3 chats"), timeout=20000)
    [archive] = tmp_path.glob("*.zip")
    assert str(archive) in window.notice.text()
    with zipfile.ZipFile(archive) as z:
        names = sorted(z.namelist())
        assert names == ["Chat 0.pdf", "Chat 1.pdf", "Chat 2.pdf"]
        assert all(z.read(name).startswith(b"%PDF") for name in names)
    assert not timer.isActive()
