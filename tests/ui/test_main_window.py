from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, QRect, Qt, QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QToolButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.engine.types import ChatMessage, ModelInfo
from desktop.store import Store
from desktop.ui.chat_tab import ChatTab
from desktop.ui.main_window import MainWindow
from desktop.ui.message_view import RichText, TrimMarker, local_time
from desktop.ui.search_results import ROLE_HTML
from desktop.ui.theme import line_height
from tests.fakes import FakeEngine, word_tokenizer


def tab_of(window: MainWindow) -> ChatTab:
    tab = window.current_tab()
    assert tab is not None
    return tab


def send(qtbot: QtBot, tab: ChatTab, text: str, wait: bool = True) -> None:
    tab.composer.setFocus()
    qtbot.keyClicks(tab.composer, text)
    if wait:
        with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
            qtbot.keyClick(tab.composer, Qt.Key.Key_Return)
    else:
        qtbot.keyClick(tab.composer, Qt.Key.Key_Return)


def shown(tab: ChatTab) -> list[tuple[str, str]]:
    return [(w.role, w.plain_text()) for w in tab.view.message_widgets()]


def test_the_status_bar_names_directml_as_users_know_it(window: MainWindow) -> None:
    window._on_model_loaded(ModelInfo("Phi", 4096, "DmlExecutionProvider"))
    assert window.provider_label.text() == "DirectML"  # not "Dml"


def test_window_opens_with_the_model_in_the_status_bar(window: MainWindow) -> None:
    assert window.isVisible()
    assert window.model_label.text() == "FakeLM-1M"
    assert window.provider_label.text() == "CPU (fallback)"
    assert "CUDA not available" in window.provider_label.toolTip()
    assert window.centre.currentWidget() is window.panes
    assert window.loaded_folders[0].name == "fake-model"  # type: ignore[attr-defined]


def test_enter_sends_and_the_answer_streams_into_the_view(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = [" ".join(f"word{i}" for i in range(40))]
    engine.delay_s = 0.01
    tab = tab_of(window)
    send(qtbot, tab, "Say many words", wait=False)
    assert tab.composer.toPlainText() == ""

    # while streaming: some words are visible, not all of them, and the tab spins
    def partly_visible() -> bool:
        widget = tab.view.message_widgets()[-1]
        text = widget.plain_text()
        return "word3" in text and "word39" not in text

    qtbot.waitUntil(partly_visible, timeout=5000)
    assert tab.session.state == "streaming"
    assert window.tabs.tabText(0)[0] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    assert tab.stop_button.isEnabled()
    assert tab.stop_button.isVisible(), "Stop takes Send's place while the answer is written"
    assert not tab.send_button.isVisible()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        pass
    assert tab.send_button.isVisible()
    assert not tab.stop_button.isVisible()
    assert shown(tab) == [("user", "Say many words"), ("assistant", engine.replies[0])]
    assert window.tabs.tabText(0) == "Say many words"
    assert window.windowTitle() == "Say many words — Parley"
    assert "tok/s" in window.speed_label.text()
    written_by = tab.view.message_widgets()[-1].stats_label.toolTip()
    assert written_by.startswith("FakeLM-1M on CPU wrote 40 tokens at "), written_by
    assert window.context_label.text().startswith("context ")
    assert window.sidebar.titles()[0] == "Say many words"


def test_an_empty_chat_offers_examples_and_the_first_message_replaces_them(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    assert tab.empty.isVisible()
    assert not tab.view.isVisible()
    example = tab.empty.example_buttons[2]
    assert example.accessibleName().startswith("Example: ")
    qtbot.mouseClick(example, Qt.MouseButton.LeftButton)
    question = example.accessibleName().removeprefix("Example: ")
    assert tab.composer.toPlainText() == question, "an example goes into the box, unsent"
    assert tab.composer.hasFocus()
    assert tab.session.state == "idle"
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.keyClick(tab.composer, Qt.Key.Key_Return)
    assert not tab.empty.isVisible()
    assert tab.view.isVisible()
    assert shown(tab)[0] == ("user", question)
    assert window.new_tab().empty.isVisible(), "the next new chat starts empty again"
    assert window.windowTitle() == "Parley", "a new chat has no title yet"


def test_a_model_that_fails_to_load_says_why_above_the_chats_and_keeps_the_prompt(
    qtbot: QtBot, window: MainWindow
) -> None:
    good = window._models

    def broken(folder: object) -> object:
        raise OSError("model.onnx.data is incomplete: 50 MB of the 118 MB the model needs")

    window._models = type(good)(load=broken)  # type: ignore[arg-type]
    with qtbot.waitSignal(window.host.model_failed, timeout=5000):
        window.load_model(Path("broken"))
    assert window.model_bar.isVisible()
    assert "model.onnx.data is incomplete" in window.model_bar_label.text()
    tab = tab_of(window)
    qtbot.waitUntil(lambda: window.host.unavailable() is not None, timeout=5000)
    send(qtbot, tab, "Are you there?", wait=False)
    assert tab.composer.toPlainText() == "Are you there?", "nothing sent, nothing lost"
    assert tab.banner.isVisible()
    assert tab.banner.text().startswith("Not sent. No model is loaded: model.onnx.data is")
    assert tab.session.path() == []

    window._models = good
    with qtbot.waitSignal(window.host.model_loaded, timeout=5000):
        window.load_model(Path("fake-model"))
    assert not window.model_bar.isVisible()
    assert not tab.banner.isVisible()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.keyClick(tab.composer, Qt.Key.Key_Return)
    assert shown(tab)[0] == ("user", "Are you there?")


def test_a_long_message_shows_its_tokens_against_what_fits(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine, tmp_path: Path
) -> None:
    folder = word_tokenizer(tmp_path)  # one token a word
    engine.path, engine.context_length = folder, 1000
    window = make_window()
    tab = tab_of(window)
    # answers of 200 tokens: 800 left for a message (the engine keeps at most a quarter)
    tab.session.set_chat_settings(None, {"max_new_tokens": 200})
    tab.composer.setPlainText("word " * 900)
    qtbot.waitUntil(tab.count_label.isVisible, timeout=2000)
    assert tab.count_label.text() == "900 tokens: 100 more than fit (800)"
    tab.composer.setPlainText("word " * 750)
    qtbot.waitUntil(lambda: tab.count_label.text() == "750 of 800 tokens", timeout=2000)
    tab.composer.setPlainText("A short question?")
    qtbot.waitUntil(lambda: not tab.count_label.isVisible(), timeout=2000)


def test_the_status_bar_shows_the_context_of_the_chat_shown(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    window_size = engine.context_length
    assert window.context_label.text() == f"context 0/{window_size}"
    first = tab_of(window)
    send(qtbot, first, "Hi")
    first_used = window.context_label.text()
    assert first_used.startswith("context ")
    first_speed = window.speed_label.text()
    assert first_speed.endswith(" tok/s")
    second = window.new_tab()
    assert window.context_label.text() == f"context 0/{window_size}", "a new chat used nothing"
    assert window.speed_label.text() == "", "no answer in this chat: no speed of its own"
    engine.replies = [" ".join(["many"] * 50)]
    send(qtbot, second, "Say many words")
    second_used = window.context_label.text()
    assert second_used != first_used
    window.tabs.setCurrentWidget(first)
    assert window.context_label.text() == first_used
    assert window.speed_label.text() == first_speed, "each chat's own last answer"
    window.tabs.setCurrentWidget(second)
    assert window.context_label.text() == second_used
    # another version of the answer shown: the context of that branch
    engine.replies = ["short"]
    with qtbot.waitSignal(second.session.answer_finished, timeout=5000):
        second.session.regenerate(second.session.path()[-1].id)
    regenerated = window.context_label.text()
    assert regenerated != second_used
    second.session.switch(second.session.path()[-1].id, -1)
    assert window.context_label.text() == second_used, "follows the version switcher"


def test_a_chat_with_no_answer_counts_its_context_from_its_text(
    qtbot: QtBot,
    make_window: Callable[..., MainWindow],
    engine: FakeEngine,
    store: Store,
    tmp_path: Path,
) -> None:
    folder = word_tokenizer(tmp_path)  # one token a word
    engine.path = folder
    imported = store.create_conversation("Imported")  # answers with no statistics
    q = store.add_message(imported.id, None, "user", "word " * 100)
    store.add_message(imported.id, q.id, "assistant", "word " * 300)
    window = make_window()
    window.open_conversation(imported.id)
    per_message = 5  # the template's marks
    assert window.context_label.text() == f"context ~{400 + 2 * per_message}/2048"
    assert "counted from this chat's text" in window.context_label.toolTip()
    window.new_tab()
    assert window.context_label.text() == "context 0/2048", "an empty chat: nothing to count"


def test_after_a_model_switch_the_context_is_counted_with_the_new_model(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine, tmp_path: Path
) -> None:
    folder = word_tokenizer(tmp_path)  # one token a word
    engine.path = folder
    window = make_window()
    send(qtbot, tab_of(window), "word word")
    assert not window.context_label.text().startswith("context ~"), "the answer's own count"
    assert window.host.info is not None
    window.host.info = dataclasses.replace(window.host.info, name="Other-2M")
    window._on_model_loaded(window.host.info)  # another model answers from now on
    assert window.context_label.text().startswith("context ~"), "not the old model's tokens"


def test_an_answer_that_finishes_in_a_tab_not_shown_marks_the_tab_until_it_is(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = [" ".join(["word"] * 30)]
    engine.delay_s = 0.01
    first = tab_of(window)
    send(qtbot, first, "Tell me something", wait=False)
    second = window.new_tab()
    assert window.tabs.currentWidget() is second
    with qtbot.waitSignal(first.session.answer_finished, timeout=5000):
        pass
    index = window.tabs.indexOf(first)
    assert window.tabs.tabText(index).startswith("● ")
    assert "new answer" in window.tabs.tabToolTip(index)
    window.tabs.setCurrentWidget(first)
    assert window.tabs.tabText(index) == "Tell me something"
    engine.delay_s = 0.0
    send(qtbot, first, "And more")  # answered while shown: no mark
    assert window.tabs.tabText(index) == "Tell me something"


def test_clearing_the_history_closes_the_open_chats_first(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine, store: Store
) -> None:
    first = tab_of(window)
    send(qtbot, first, "Hi")
    engine.replies = [" tok" * 2000]
    engine.delay_s = 0.005
    second = window.new_tab()
    send(qtbot, second, "go on forever", wait=False)
    qtbot.waitUntil(lambda: bool(second.session.streaming_text), timeout=5000)
    folder = store.create_folder("Work")
    store.move_to_folder(first.session.conversation_id or 0, folder.id)
    assert window.history_size() == (
        "2 chats (4 messages), 1 folder and every rating and report on them"
    )
    window.clear_history()
    assert store.list_conversations() == []
    assert window.history_size().startswith("0 chats (0 messages) and")
    (fresh,) = window.chat_tabs()
    assert fresh.session.conversation_id is None
    assert window.sidebar.titles() == []
    assert "deleted" in window.notice.text()
    engine.delay_s = 0.0
    engine.replies = ["Hello again."]
    send(qtbot, fresh, "Still there?")  # no NotFoundError from a chat that no longer exists
    assert shown(fresh) == [("user", "Still there?"), ("assistant", "Hello again.")]


def test_shift_enter_makes_a_new_line(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    qtbot.keyClicks(tab.composer, "line one")
    qtbot.keyClick(tab.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(tab.composer, "line two")
    assert tab.composer.toPlainText() == "line one\nline two"
    assert tab.session.conversation_id is None


def test_the_input_grows_with_its_text_up_to_a_limit(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    composer = tab.composer
    empty = composer.height()
    line = composer.fontMetrics().lineSpacing()
    assert empty < 4 * line, "an empty box keeps the room for the conversation"
    composer.setPlainText("one\ntwo\nthree\nfour\nfive")
    five = composer.height()
    assert five >= empty + 3 * line
    composer.setPlainText("word " * 400)  # one paragraph that wraps
    assert composer.height() > five
    composer.setPlainText("\n".join(str(i) for i in range(200)))
    tallest = composer.height()
    assert tallest <= (composer.MAX_LINES + 1) * line + 20
    assert composer.verticalScrollBar().maximum() > 0, "beyond the limit it scrolls"
    composer.clear()
    assert composer.height() == empty


@pytest.mark.parametrize("points", [9.0, 10.0, 10.5, 14.0])
def test_the_input_holds_exactly_its_lines_at_any_font_size(
    qtbot: QtBot, window: MainWindow, points: float
) -> None:
    """At 10 pt (the default) a line is laid out 16 px tall where the integer metrics say
    15: five lines got the room of six, and twelve did not fit without a scroll bar."""
    from PySide6.QtGui import QFont

    composer = tab_of(window).composer
    font = QFont(composer.font())
    font.setPointSizeF(points)
    composer.setFont(font)
    for lines in (3, 5, composer.MAX_LINES):
        composer.setPlainText("\n".join(f"line {i}" for i in range(lines)))
        assert composer.lines_for_text() == lines
        last = composer.document().lastBlock()
        bottom = composer.blockBoundingGeometry(last).translated(composer.contentOffset()).bottom()
        assert composer.verticalScrollBar().maximum() == 0
        assert bottom <= composer.viewport().height()
        assert composer.viewport().height() - bottom < line_height(composer.font())


def test_a_dropped_text_file_goes_into_the_message_and_a_binary_one_is_refused(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    from PySide6.QtCore import QMimeData

    tab = tab_of(window)
    code = tmp_path / "hello.py"
    code.write_text("print('hi')\n", encoding="utf-8")
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    qtbot.keyClicks(tab.composer, "Explain this:")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(code)), QUrl.fromLocalFile(str(image))])
    assert tab.composer.canInsertFromMimeData(data)
    with qtbot.waitSignal(tab.notify) as notice:
        tab.composer.insertFromMimeData(data)
    assert notice.args == ["cat.png is not a text file."]
    assert tab.composer.toPlainText() == "Explain this:\n`hello.py`:\n```python\nprint('hi')\n```\n"
    plain = QMimeData()
    plain.setText(" and more")
    tab.composer.insertFromMimeData(plain)  # ordinary text still pastes as text
    assert tab.composer.toPlainText().endswith("```\n and more")


def test_attach_files_puts_the_chosen_files_into_the_message(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The button next to the input does what dropping does, for those who do not drag."""
    from desktop.ui import chat_tab

    tab = tab_of(window)
    notes = tmp_path / "notes.md"
    notes.write_text("- ship it\n", encoding="utf-8")
    missing = tmp_path / "gone.txt"
    asked: list[str] = []

    def choose(parent: object, caption: str) -> tuple[list[str], str]:
        asked.append(caption)
        return [str(notes), str(missing)], ""

    monkeypatch.setattr(chat_tab.QFileDialog, "getOpenFileNames", choose)
    assert tab.attach_button.isVisible()
    assert tab.attach_button.accessibleName() == "Attach files"
    with qtbot.waitSignal(tab.notify) as notice:
        qtbot.mouseClick(tab.attach_button, Qt.MouseButton.LeftButton)
    assert asked == ["Attach text files"]
    assert notice.args[0].startswith("gone.txt could not be read")
    assert tab.composer.toPlainText() == "`notes.md`:\n```markdown\n- ship it\n```\n"
    assert tab.composer.hasFocus()


def test_a_dropped_model_is_imported_and_dropped_text_goes_into_the_message(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GGUF file (or model folder) dropped on the message box or anywhere in the window is
    imported, not pasted as "not a text file"; other files dropped on the window land in
    the message."""
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtGui import QDropEvent

    gguf = tmp_path / "Llama-3.2-1B.Q4_0.gguf"
    gguf.write_bytes(b"GGUF")
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk\n", encoding="utf-8")
    imported: list[Path] = []
    monkeypatch.setattr(
        window, "import_model", lambda source, precision=None: imported.append(source)
    )
    tab = tab_of(window)

    def mime(*paths: Path) -> QMimeData:
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        return data

    tab.composer.insertFromMimeData(mime(gguf, notes))
    assert imported == [gguf]
    assert tab.composer.toPlainText() == "`notes.txt`:\n```\nremember the milk\n```\n"
    tab.composer.clear()

    def drop(data: QMimeData) -> None:
        event = QDropEvent(
            QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )  # fmt: skip
        window.dropEvent(event)

    drop(mime(gguf))
    assert imported == [gguf, gguf]
    drop(mime(notes))
    assert "remember the milk" in tab.composer.toPlainText()
    assert tab.composer.hasFocus()


def test_escape_stops_the_answer(qtbot: QtBot, window: MainWindow, engine: FakeEngine) -> None:
    engine.replies = [" tok" * 2000]
    engine.delay_s = 0.005
    tab = tab_of(window)
    send(qtbot, tab, "go on forever", wait=False)
    # stop once part of the answer arrived (not before its first token: nothing to keep then)
    qtbot.waitUntil(
        lambda: tab.session.state == "streaming" and bool(tab.session.streaming_text), timeout=5000
    )
    with qtbot.waitSignal(tab.session.answer_finished, timeout=2000) as blocker:
        qtbot.keyClick(tab.composer, Qt.Key.Key_Escape)
    assert blocker.args[1] == "stopped"
    widget = tab.view.message_widgets()[-1]
    assert widget.status_label.text() == "stopped"
    assert 0 < len(widget.text) < len(" tok" * 2000)
    assert tab.send_button.isEnabled()
    # Regenerate clicked with the mouse: the keys are on that button, Esc stops all the same
    engine.replies = [" tok" * 2000]
    widget.regen_button.setFocus()
    widget.regen_button.click()
    qtbot.waitUntil(
        lambda: tab.session.state == "streaming" and bool(tab.session.streaming_text), timeout=5000
    )
    focus = QApplication.focusWidget()
    assert focus is not None
    assert focus is not tab.composer
    with qtbot.waitSignal(tab.session.answer_finished, timeout=2000) as blocker:
        qtbot.keyClick(focus, Qt.Key.Key_Escape)
    assert blocker.args[1] == "stopped"


def test_an_answer_cut_off_by_its_length_limit_says_so_and_can_go_on(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = [" ".join(f"w{i}" for i in range(20))]
    tab = tab_of(window)
    tab.session.set_chat_settings(None, {"max_new_tokens": 5})  # the answer's own limit
    send(qtbot, tab, "Write a long essay")
    answer = tab.view.message_widgets()[-1]
    assert answer.status_label.text() == "cut off: answer length limit"
    assert "Continue" in answer.status_label.toolTip()
    assert answer.continue_button.isVisibleTo(window)
    # ended before its limit: the context window was full, not the answer's length
    engine.finish_with = "length"
    engine.replies = ["w0 w1"]
    send(qtbot, tab, "And more")
    answer = tab.view.message_widgets()[-1]
    assert answer.status_label.text() == "cut off: the model's context window is full"
    assert "leaving the oldest turns out" in answer.status_label.toolTip()
    assert answer.continue_button.isVisibleTo(window)


def test_an_answer_ended_for_repeating_itself_says_so_and_can_go_on(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.finish_with = "repetition"
    tab = tab_of(window)
    send(qtbot, tab, "Make a table")
    answer = tab.view.message_widgets()[-1]
    assert answer.status_label.text() == "stopped: it was repeating itself"
    assert answer.continue_button.isVisibleTo(window)
    again = window.new_tab(tab.session.conversation_id)  # as stored, when opened again
    stored = again.view.message_widgets()[-1]
    assert stored.status_label.text() == "stopped: it was repeating itself"
    assert stored.continue_button.isVisibleTo(window)


def test_regenerate_keeps_the_old_answer_and_the_switcher_moves_between(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "Hi")
    answer = tab.view.message_widgets()[-1]
    assert answer.regen_button.isVisible()
    assert not answer.prev_button.isVisible()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.mouseClick(answer.regen_button, Qt.MouseButton.LeftButton)
    answer = tab.view.message_widgets()[-1]
    assert answer.plain_text() == "Another answer."
    assert answer.position_label.text() == "2/2"
    assert answer.prev_button.isEnabled()
    assert not answer.next_button.isEnabled()
    qtbot.mouseClick(answer.prev_button, Qt.MouseButton.LeftButton)
    answer = tab.view.message_widgets()[-1]
    assert answer.plain_text() == "Hello there, human."
    assert answer.position_label.text() == "1/2"
    # keyboard: Alt+Right on the focused message shows the next version again
    answer.setFocus()
    qtbot.keyClick(answer, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert tab.view.message_widgets()[-1].position_label.text() == "2/2"


def test_the_keyboard_stays_on_the_versions_it_switches(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "Hi")
    for _ in range(2):
        with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
            tab.view.message_widgets()[-1].regen_button.click()
    window.activateWindow()
    answer = tab.view.message_widgets()[-1]
    assert answer.position_label.text() == "3/3"
    answer.prev_button.setFocus()
    qtbot.keyClick(answer.prev_button, Qt.Key.Key_Space)
    answer = tab.view.message_widgets()[-1]
    assert answer.position_label.text() == "2/3"
    assert QApplication.focusWidget() is answer.prev_button, "Space again goes on back"
    qtbot.keyClick(answer.prev_button, Qt.Key.Key_Space)
    answer = tab.view.message_widgets()[-1]
    assert answer.position_label.text() == "1/3"
    assert QApplication.focusWidget() is answer.next_button, "the arrow that can still go"
    answer.setFocus()
    qtbot.keyClick(answer, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    answer = tab.view.message_widgets()[-1]
    assert answer.position_label.text() == "2/3"
    assert QApplication.focusWidget() is answer, "Alt+Right again goes on"
    assert answer.holds_focus()
    assert not tab.view.message_widgets()[0].holds_focus()


def test_edit_resends_as_a_new_version_of_the_prompt(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "First try")
    user = tab.view.message_widgets()[0]
    qtbot.mouseClick(user.edit_button, Qt.MouseButton.LeftButton)
    assert tab.composer.toPlainText() == "First try"
    assert tab.banner.isVisible()
    tab.composer.clear()
    send(qtbot, tab, "Second try")
    assert shown(tab) == [("user", "Second try"), ("assistant", "Another answer.")]
    user = tab.view.message_widgets()[0]
    assert user.position_label.text() == "2/2"
    qtbot.mouseClick(user.prev_button, Qt.MouseButton.LeftButton)
    assert shown(tab) == [("user", "First try"), ("assistant", "Hello there, human.")]


def test_up_in_an_empty_input_edits_the_last_prompt(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "one")
    send(qtbot, tab, "two")
    qtbot.keyClick(tab.composer, Qt.Key.Key_Up)
    assert tab.composer.toPlainText() == "two"
    qtbot.keyClick(tab.composer, Qt.Key.Key_Escape)  # cancel editing
    assert tab.composer.toPlainText() == ""
    assert not tab.banner.isVisible()


def test_editing_puts_a_half_typed_message_aside_and_gives_it_back(
    qtbot: QtBot, window: MainWindow
) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "First try")
    tab.composer.setPlainText("a draft I have not sent")
    qtbot.mouseClick(tab.view.message_widgets()[0].edit_button, Qt.MouseButton.LeftButton)
    assert tab.composer.toPlainText() == "First try"
    assert tab.composer.textCursor().position() == len("First try")  # typing appends
    qtbot.keyClick(tab.composer, Qt.Key.Key_Escape)  # cancelled: the draft is back
    assert tab.composer.toPlainText() == "a draft I have not sent"
    qtbot.mouseClick(tab.view.message_widgets()[0].edit_button, Qt.MouseButton.LeftButton)
    tab.composer.setPlainText("Second try")
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.keyClick(tab.composer, Qt.Key.Key_Return)
    assert shown(tab)[0] == ("user", "Second try")
    assert tab.composer.toPlainText() == "a draft I have not sent"  # and after sending the edit
    assert not tab.editing


def test_two_tabs_queue_on_the_one_worker_and_both_finish(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    gate = threading.Event()
    engine.gate = gate
    engine.replies = ["answer for A", "answer for B"]
    first = tab_of(window)
    send(qtbot, first, "question A", wait=False)
    assert first.session.state == "waiting"  # for the worker to pick it up: a moment
    assert not first.banner.isVisible(), "no other tab holds the model"
    second = window.new_tab()
    send(qtbot, second, "question B", wait=False)
    qtbot.waitUntil(lambda: first.session.state == "streaming", timeout=5000)
    assert second.session.state == "waiting"
    assert second.banner.isVisible()
    assert "Waiting" in second.banner.text()
    assert window.tabs.tabText(1).startswith("…")
    assert "waiting" in window.tabs.tabToolTip(1)
    with qtbot.waitSignal(second.session.answer_finished, timeout=5000):
        gate.set()
    assert shown(first) == [("user", "question A"), ("assistant", "answer for A")]
    assert shown(second) == [("user", "question B"), ("assistant", "answer for B")]
    assert not window._spinner.isActive()


def test_split_view_shows_two_chats_side_by_side_and_both_answer(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = [" ".join(["left answer"] * 20), " ".join(["right answer"] * 30)]
    engine.delay_s = 0.005
    left = tab_of(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Backslash, Qt.KeyboardModifier.ControlModifier)
    assert window.is_split()
    assert window.split_action.isChecked()
    assert window.side_tabs.isVisible()
    right = tab_of(window)  # the only chat stays left; a new one opens on the right
    assert right is not left
    assert window.pane_of(left) is window.tabs
    assert window.pane_of(right) is window.side_tabs
    assert right.composer.hasFocus()
    send(qtbot, left, "question left", wait=False)
    send(qtbot, right, "question right", wait=False)
    assert window.current_tab() is right  # typing in a pane makes it the current one
    qtbot.waitUntil(lambda: right.session.state == "idle" and left.session.state == "idle",
                    timeout=10000)  # fmt: skip
    assert shown(left) == [("user", "question left"), ("assistant", engine.replies[0])]
    assert shown(right) == [("user", "question right"), ("assistant", engine.replies[1])]
    assert left.isVisible()
    assert right.isVisible()
    assert window.side_tabs.tabText(0) == "question right"
    # the status bar speaks of the side in use
    left.composer.setFocus()
    left_context = window.context_label.text()
    right.composer.setFocus()
    assert window.context_label.text() == f"context {right.context_used()}/2048"
    assert window.context_label.text() != left_context
    left.composer.setFocus()
    assert window.context_label.text() == f"context {left.context_used()}/2048"
    # Ctrl+W closes the active side's chat; an empty side unsplits.
    right.composer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert not window.is_split()
    assert window.chat_tabs() == [left]
    assert window.current_tab() is left


def test_a_chat_moves_between_panes_and_unsplitting_keeps_every_chat(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    gate = threading.Event()
    engine.gate = gate
    first = tab_of(window)
    second = window.new_tab()
    send(qtbot, second, "still answering", wait=False)
    window.toggle_split()  # the current chat (two are open) moves right
    assert window.pane_of(second) is window.side_tabs
    assert window.pane_of(first) is window.tabs
    window.move_to_other_pane()  # and back left: the side is empty, so the view unsplits
    assert not window.is_split()
    assert window.tabs.count() == 2
    window.toggle_split()
    assert window.pane_of(second) is window.side_tabs
    third = window.new_tab()  # new chats open in the active pane
    assert window.pane_of(third) is window.side_tabs
    window.toggle_split()
    assert not window.is_split()
    assert set(window.chat_tabs()) == {first, second, third}
    assert window.tabs.count() == 3
    # The answer written while its chat moved between panes is complete.
    with qtbot.waitSignal(second.session.answer_finished, timeout=5000):
        gate.set()
    assert shown(second)[-1][0] == "assistant"
    assert shown(second)[-1][1]


def test_search_finds_a_word_from_an_old_chat(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    old = store.create_conversation("Holiday plans")
    store.add_message(old.id, None, "user", "Where should I see the aurora borealis?")
    store.create_conversation("Unrelated")
    window = make_window()
    assert window.sidebar.titles() == ["Unrelated", "Holiday plans"]
    window.sidebar.search.setText("borealis")
    qtbot.waitUntil(lambda: window.sidebar.stack.currentWidget() is window.sidebar.results)
    results = window.sidebar.results
    assert [results.item(i).text() for i in range(results.count())] == [
        "Holiday plans",
        "You: Where should I see the aurora borealis?",
    ]
    assert "<b>borealis</b>" in results.item(1).data(ROLE_HTML)
    assert results.visualItemRect(results.item(1)).height() > 0
    results.itemActivated.emit(results.item(1))
    tab = tab_of(window)
    assert tab.session.conversation_id == old.id
    assert shown(tab) == [("user", "Where should I see the aurora borealis?")]
    assert window.tabs.count() == 1  # the empty start tab made room


def test_opening_a_chat_keeps_a_new_chat_that_has_text_typed_in_it(
    store: Store, make_window: Callable[..., MainWindow]
) -> None:
    old, other = store.create_conversation("Old chat"), store.create_conversation("Other")
    window = make_window()
    tab_of(window).composer.setPlainText("Half a thought")
    window.open_conversation(old.id)
    assert [t.composer.toPlainText() for t in window.chat_tabs()] == ["Half a thought", ""]
    window.new_tab()
    window.open_conversation(other.id)
    titles = [t.session.title() for t in window.chat_tabs()]
    assert titles == ["New chat", "Old chat", "Other"], "an empty new chat still makes room"


def test_ctrl_k_focuses_search_and_tab_shortcuts_work(qtbot: QtBot, window: MainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.hasFocus()
    tab_of(window).composer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search.hasFocus(), "Ctrl+F, where people look for Find, searches too"
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.count() == 2
    assert window.tabs.currentIndex() == 1
    qtbot.keyClick(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0
    tab_of(window).composer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.count() == 1
    assert tab_of(window).composer.hasFocus(), "on to the chat shown now"
    send(qtbot, tab_of(window), "a chat that gets listed")
    qtbot.waitUntil(lambda: len(window.sidebar.selected_ids()) == 1)  # listed a frame later
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.count() == 2, "Ctrl+N: a new chat, as in most desktop chat apps"
    assert window.tabs.currentIndex() == 1
    assert window.sidebar.selected_ids() == [], "the chat listed before is not the one shown"


def test_a_chat_opened_and_closed_at_once_hands_back_to_the_chat_it_came_from(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    a, b, c = (store.create_conversation(t) for t in ("Alpha", "Beta", "Gamma"))
    window = make_window()
    tabs = [window.open_conversation(chat.id) for chat in (a, b, c)]
    window.tabs.setCurrentWidget(tabs[0])  # reading Alpha, first of four tabs
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == window.tabs.count() - 1
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.current_tab() is tabs[0], "back to Alpha, not to Gamma beside the new tab"
    # once another chat was shown in between, closing goes to the neighbour as usual
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    window.tabs.setCurrentWidget(tabs[1])
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    qtbot.keyClick(window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert window.current_tab() is tabs[2]
    qtbot.keyClick(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert window.current_tab() is tabs[0]
    assert window.current_tab().composer.hasFocus(), "Ctrl+Tab: the keys go to the chat shown"


def test_changing_tabs_takes_the_keys_straight_to_the_chat_not_through_the_search_field(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    a, b = (store.create_conversation(t) for t in ("Alpha", "Beta"))
    window = make_window()
    window.open_conversation(a.id)
    window.open_conversation(b.id)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    tab_of(window).composer.setFocus()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    visited: list[QWidget] = []
    app.focusChanged.connect(lambda _old, new: visited.append(new))
    qtbot.keyClick(window, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.search not in visited, "a screen reader said 'Search chats' each time"
    assert QApplication.focusWidget() is tab_of(window).composer


def test_several_chats_deleted_at_once_close_their_tabs_and_come_back_with_one_undo(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    a, b, c = (store.create_conversation(t) for t in ("Alpha", "Beta", "Gamma"))
    window = make_window()
    for chat in (a, b, c):
        window.open_conversation(chat.id)
    exported: list[list[int]] = []
    window.choose_transcript_export = exported.append  # type: ignore[method-assign,assignment]
    window.sidebar.export_requested.emit([a.id, c.id])
    assert exported == [[a.id, c.id]], "the selection's Export… exports the selection"
    window.open_conversation(a.id).composer.setPlainText("a question half typed")
    window.sidebar.delete(a.id, c.id)
    assert [t.session.conversation_id for t in window.chat_tabs()] == [b.id]
    assert window.notice.text() == "2 chats deleted."
    qtbot.mouseClick(window.undo_button, Qt.MouseButton.LeftButton)
    assert window.notice.text() == "2 chats restored."
    assert sorted(window.sidebar.titles()) == ["Alpha", "Beta", "Gamma"]
    tabs = window.chat_tabs()
    assert [t.session.conversation_id for t in tabs] == [a.id, b.id, c.id], "back in place"
    assert window.current_tab() is tabs[0], "the chat shown before the delete is shown again"
    assert tabs[0].composer.toPlainText() == "a question half typed"


def test_delete_with_undo_rename_pin_and_duplicate(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    a = store.create_conversation("Alpha")
    store.add_message(a.id, None, "user", "alpha text")
    b = store.create_conversation("Beta")
    window = make_window()
    sidebar = window.sidebar
    window.open_conversation(a.id)
    sidebar.delete(a.id)
    assert sidebar.titles() == ["Beta"]
    assert all(t.session.conversation_id != a.id for t in window.chat_tabs())
    assert window.undo_button.isVisible()
    qtbot.mouseClick(window.undo_button, Qt.MouseButton.LeftButton)
    assert sorted(sidebar.titles()) == ["Alpha", "Beta"]
    assert not window.undo_button.isVisible()

    sidebar.rename(b.id, "Beta renamed")
    sidebar.set_pinned(b.id, True)
    assert sidebar.headings()[0] == "Pinned"
    assert sidebar.titles()[0] == "Beta renamed"
    copy = sidebar.duplicate(a.id)
    assert store.get_conversation(copy).title.startswith("Alpha")
    assert [m.content for m in store.current_path(copy)] == ["alpha text"]
    sidebar.move_to_folder(a.id, "Work")
    assert "Work" in sidebar.headings()


def stored_titles(store: Store) -> list[str]:
    """Every conversation in the file, in the trash or not."""
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        return [t for (t,) in db.execute("SELECT title FROM conversations ORDER BY title")]


def test_delete_in_the_list_moves_on_each_delete_can_be_undone_and_then_goes_for_good(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chats = [store.create_conversation(t) for t in ("One", "Two", "Three", "Four")]
    for chat in chats:
        store.add_message(chat.id, None, "user", f"text of {chat.title}")
    window = make_window()
    sidebar = window.sidebar
    shown = window.open_conversation(chats[0].id)  # "One", at the bottom of the list
    window.activateWindow()
    assert sidebar.titles() == ["Four", "Three", "Two", "One"]
    sidebar.select(chats[2].id)
    sidebar.listing.setFocus()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Delete)  # "Three"
    assert sidebar.current_id() == chats[1].id, "the next chat down, not the one shown"
    assert sidebar.listing.hasFocus()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Delete)  # "Two"
    assert sidebar.titles() == ["Four", "One"]
    assert window.current_tab() is shown
    # Ctrl+Z (outside the input) undoes the last delete, then the one before
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sidebar.titles() == ["Four", "Two", "One"]
    assert window.undo_button.isVisible()
    qtbot.keyClick(sidebar.listing, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sidebar.titles() == ["Four", "Three", "Two", "One"]
    assert not window.undo_button.isVisible()
    assert not window.undo_action.isEnabled()
    # once Undo is no longer offered, a deleted chat's text leaves the file
    sidebar.delete(chats[3].id)
    window._undo_timer.timeout.emit()
    assert not window.undo_button.isVisible()
    assert stored_titles(store) == ["One", "Three", "Two"]


def test_after_acting_on_another_chat_from_its_menu_the_highlight_names_the_chat_shown(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chats = [store.create_conversation(t) for t in ("One", "Two", "Three", "Four")]
    window = make_window()
    sidebar = window.sidebar
    window.open_conversation(chats[0].id)
    sidebar.show()
    sidebar._context_menu(sidebar.listing.visualRect(sidebar.index_of(chats[2].id)).center())
    menu = sidebar.menu
    assert menu is not None
    assert sidebar.current_id() == chats[2].id, "the chat whose menu is open"
    pin = next(a for a in menu.actions() if a.text() == "Pin")
    pin.trigger()
    menu.triggered.emit(pin)  # as a click on the item reports it
    menu.hide()
    qtbot.waitUntil(lambda: sidebar.current_id() == chats[0].id, timeout=1000)
    assert store.get_conversation(chats[2].id).pinned

    # several chats deleted from their menu: the one shown stays highlighted
    flag = QItemSelectionModel.SelectionFlag
    sidebar.clear_selection()
    for chat in (chats[1], chats[3]):
        sidebar.listing.selectionModel().select(sidebar.index_of(chat.id), flag.Select)
    assert sidebar.selected_ids() == [chats[3].id, chats[1].id]
    sidebar._selection_menu(sidebar.selected_ids(), sidebar.listing.rect().center())
    assert sidebar.menu is not None
    delete = next(a for a in sidebar.menu.actions() if a.text().startswith("Delete 2"))
    delete.trigger()
    assert sidebar.titles() == ["Three", "One"]
    assert sidebar.current_id() == chats[0].id, "not the neighbour of what went"


def test_chats_left_in_the_trash_by_a_session_that_ended_go_for_good_at_start(
    store: Store, make_window: Callable[..., MainWindow]
) -> None:
    store.create_conversation("Kept")
    gone = store.create_conversation("Deleted before a crash")
    store.delete_conversations(gone.id)  # the Undo offer of a session killed meanwhile
    assert stored_titles(store) == ["Deleted before a crash", "Kept"]
    make_window()
    assert stored_titles(store) == ["Kept"]


def test_rename_by_editing_the_item(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    c = store.create_conversation("Old name")
    window = make_window()
    window.open_conversation(c.id)
    assert window.windowTitle() == "Old name — Parley"
    sidebar = window.sidebar
    index = sidebar.index_of(c.id)
    assert sidebar.model.data(index, Qt.ItemDataRole.EditRole) == "Old name"
    # what the inline editor does on Enter
    assert sidebar.model.setData(index, "  New   name ", Qt.ItemDataRole.EditRole)
    assert store.get_conversation(c.id).title == "New name"
    assert sidebar.titles() == ["New name"]
    assert window.windowTitle() == "New name — Parley", "the open chat's window follows"
    assert not sidebar.model.setData(sidebar.index_of(c.id), "   ", Qt.ItemDataRole.EditRole)
    assert store.get_conversation(c.id).title == "New name"


def test_context_trim_shows_a_marker(qtbot: QtBot, window: MainWindow, engine: FakeEngine) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "one")
    send(qtbot, tab, "two")
    engine.trim = 2
    send(qtbot, tab, "three")
    markers = tab.view.findChildren(TrimMarker)
    visible = [m for m in markers if m.isVisible()]
    assert len(visible) == 1
    assert "2 older messages" in visible[0].text()
    layout_widgets = [
        tab.view._layout.itemAt(i).widget() for i in range(tab.view._layout.count() - 1)
    ]
    # the marker sits before the first message that was still sent
    assert layout_widgets.index(visible[0]) == 2

    def shown_markers(t: ChatTab) -> list[str]:
        return [m.text() for m in t.view.findChildren(TrimMarker) if m.isVisible()]

    # another version of that answer, not cut: no marker; back to the cut one: its marker
    trimmed_answer = tab.session.path()[-1].id
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        assert tab.session.regenerate()
    assert shown_markers(tab) == []
    tab.session.show(trimmed_answer)
    assert len(shown_markers(tab)) == 1
    # a later answer that was not cut: the marker of the earlier one does not stay
    send(qtbot, tab, "four")
    assert shown_markers(tab) == []
    reopened = window.open_conversation(tab.session.conversation_id or 0)
    reopened.reload()
    assert shown_markers(reopened) == [], "the same after a restart"


def _interrupted_story(store: Store, make_window: Callable[..., MainWindow]) -> tuple[ChatTab, int]:
    """A chat whose answer "Once upon a" was cut off by a crash, opened after the restart."""
    c = store.create_conversation("Crashed")
    u = store.add_message(c.id, None, "user", "tell me a story")
    with Store.open(store.path) as crashed:  # the writer goes away without finishing
        a = crashed.begin_assistant(c.id, u.id, "FakeLM-1M")
        crashed.append_partial(a.id, "Once upon a")
    store.recover_interrupted()  # what the next start does
    return make_window().open_conversation(c.id), a.id


def test_a_message_left_without_an_answer_offers_answer(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    """The app quit between storing a message and starting its answer: after the restart
    the chat ends with the question, and its "Answer" button gets the answer."""
    c = store.create_conversation("Unanswered")
    store.add_message(c.id, None, "user", "are you there?")
    tab = make_window().open_conversation(c.id)
    (question,) = tab.view.message_widgets()
    assert question.answer_button.isVisible()
    assert question.answer_button.accessibleName() == "Answer this message"
    engine.replies = ["Yes."]
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.mouseClick(question.answer_button, Qt.MouseButton.LeftButton)
    question, reply = tab.view.message_widgets()
    assert reply.plain_text() == "Yes."
    assert not question.answer_button.isVisible()
    assert [m.role for m in store.current_path(c.id)] == ["user", "assistant"]


def test_interrupted_answer_continues_in_the_same_message(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    tab, answer_id = _interrupted_story(store, make_window)
    widget = tab.view.message_widgets()[-1]
    assert widget.status_label.text() == "interrupted"
    assert widget.plain_text() == "Once upon a"
    assert widget.continue_button.isVisible()
    engine.replies = [" time, there was a lamp."]
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.mouseClick(widget.continue_button, Qt.MouseButton.LeftButton)
    # the model was shown the partial answer as the start of its turn
    assert engine.calls[-1][-1] == ChatMessage("assistant", "Once upon a")
    widget = tab.view.message_widgets()[-1]
    assert widget.plain_text() == "Once upon a time, there was a lamp."
    assert not widget.prev_button.isVisible(), "one message, not a second version"
    assert widget.status_label.text() == ""
    assert not widget.continue_button.isVisible()
    stored = store.get_message(answer_id)
    assert (stored.status, stored.content) == ("complete", "Once upon a time, there was a lamp.")


def test_a_continuation_that_fails_before_writing_leaves_the_answer_as_it_was(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    tab, answer_id = _interrupted_story(store, make_window)
    engine.fail_with = "the model ran out of memory"
    with qtbot.waitSignal(tab.session.error) as error:
        tab.view.message_widgets()[-1].continue_button.click()
    assert error.args == ["the model ran out of memory"]
    qtbot.waitUntil(lambda: tab.session.state == "idle")
    kept = store.get_message(answer_id)
    assert (kept.status, kept.content) == ("stopped", "Once upon a")
    widget = tab.view.message_widgets()[-1]
    assert widget.continue_button.isVisible(), "it can still be continued"
    engine.fail_with = None
    engine.replies = [" time."]
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        widget.continue_button.click()
    assert store.get_message(answer_id).content == "Once upon a time."


def test_a_stopped_or_cut_off_answer_offers_continue_only_at_the_end(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    tab = tab_of(window)
    engine.replies = [" tok" * 2000]
    engine.delay_s = 0.005
    send(qtbot, tab, "go on forever", wait=False)
    qtbot.waitUntil(lambda: bool(tab.session.streaming_text), timeout=5000)
    with qtbot.waitSignal(tab.session.answer_finished, timeout=2000):
        qtbot.keyClick(tab.composer, Qt.Key.Key_Escape)
    stopped = tab.view.message_widgets()[-1]
    assert stopped.continue_button.isVisible()
    engine.delay_s = 0.0
    engine.replies = ["A complete answer."]
    send(qtbot, tab, "and now?")
    assert not tab.view.message_widgets()[1].continue_button.isVisible(), "only the last"
    assert not tab.view.message_widgets()[-1].continue_button.isVisible(), "it ended by itself"
    # an answer cut off by the length limit
    tab.session.set_chat_settings(None, {"max_new_tokens": 2})
    engine.replies = ["one two three four"]
    send(qtbot, tab, "count")
    cut = tab.view.message_widgets()[-1]
    assert cut.continue_button.isVisible()
    tab.session.set_chat_settings(None, {})
    engine.replies = [" three four"]
    text = cut.plain_text()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        cut.continue_button.click()
    last = tab.view.message_widgets()[-1]
    assert last.plain_text() == text + " three four"
    assert last.message_id == cut.message_id


def _long_chat(store: Store, turns: int) -> tuple[int, list[int]]:
    chat = store.create_conversation("Long")
    parent, ids = None, []
    for i in range(turns):
        q = store.add_message(chat.id, parent, "user", f"question {i}")
        a = store.begin_assistant(chat.id, q.id, "m")
        store.finish(a.id, "complete", None, f"answer {i}")
        parent = a.id
        ids += [q.id, a.id]
    return chat.id, ids


def test_a_long_chat_shows_its_last_messages_and_loads_earlier_ones_on_request(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chat_id, ids = _long_chat(store, 40)  # 80 messages
    window = make_window()
    tab = window.open_conversation(chat_id)
    shown = tab.view.message_widgets()
    assert len(shown) == ChatTab.SHOWN
    assert [w.message_id for w in shown] == ids[-ChatTab.SHOWN :]
    button = tab.view.earlier_button
    assert button.isVisible()
    assert button.text() == f"Show {80 - ChatTab.SHOWN} earlier messages"
    send(qtbot, tab, "one more")  # new turns add below; the first message shown stays first
    assert tab.view.message_widgets()[0].message_id == ids[-ChatTab.SHOWN]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert tab.view.message_widgets()[0].message_id == ids[-2 * ChatTab.SHOWN]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert tab.view.message_widgets()[0].message_id == ids[0]
    assert not button.isVisible()
    assert len(tab.view.message_widgets()) == 82


def test_a_search_hit_above_the_messages_shown_is_loaded_and_scrolled_to(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chat_id, ids = _long_chat(store, 40)
    window = make_window()
    tab = window.open_conversation(chat_id)
    hit = ids[6]  # "question 3"
    assert hit not in tab.view.widgets
    assert window.open_conversation(chat_id, hit) is tab
    assert tab.view.message_widgets()[0].message_id == hit
    widget = tab.view.widgets[hit]
    bar = tab.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() <= widget.y() <= bar.value() + tab.view.height())
    assert bar.value() < bar.maximum()


def test_scrolled_up_a_latest_button_goes_back_to_the_end_which_is_then_followed(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chat_id, _ids = _long_chat(store, 40)
    window = make_window()
    window.resize(700, 600)  # a small window: the buttons span most of the chat's width
    tab = window.open_conversation(chat_id)
    view, bar = tab.view, tab.view.verticalScrollBar()
    button = view.latest_button
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    assert not button.isVisible(), "at the end there is nothing to go to"
    bar.setValue(0)
    assert button.isVisible()
    assert button.accessibleName() == "Go to the latest message"
    port = view.viewport().geometry()
    assert port.contains(button.geometry()), "it floats inside the messages' area"
    for value in range(0, bar.maximum() - port.height(), 9):  # wherever the chat is
        bar.setValue(value)
        covered = [
            b.text()
            for b in view.widget().findChildren(QToolButton)
            if b.isVisible()
            and QRect(b.mapTo(view, QPoint(0, 0)), b.size()).intersects(button.geometry())
        ]
        assert covered == [], "it never covers a message's buttons"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert bar.value() == bar.maximum()
    assert not button.isVisible()
    send(qtbot, tab, "one more")  # back at the end, the view follows new messages again
    assert bar.value() == bar.maximum()
    bar.setValue(0)
    window.go_to_latest()  # View > Go to the latest message (Ctrl+J)
    assert bar.value() == bar.maximum()
    assert not button.isVisible()


def test_chatgpts_keyboard_shortcuts_work_here_too(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine, store: Store
) -> None:
    """Copy last answer, copy last code block, focus the input, delete the chat, new chat,
    the sidebar and the shortcut list: the keys ChatGPT's users already have in their hands."""
    from PySide6.QtWidgets import QDialog

    from desktop.ui.shortcuts import ShortcutsDialog

    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    engine.replies = ["First:\n\n```sh\nls\n```", "Second, **no code**."]
    tab = tab_of(window)
    tab.composer.setFocus()
    qtbot.keyClick(tab.composer, Qt.Key.Key_C, ctrl_shift)
    assert window.notice.text() == "There is no answer to copy yet."
    send(qtbot, tab, "one")
    send(qtbot, tab, "two")
    qtbot.keyClick(tab.composer, Qt.Key.Key_C, ctrl_shift)
    assert QGuiApplication.clipboard().text() == "Second, **no code**."
    qtbot.keyClick(tab.composer, Qt.Key.Key_Semicolon, ctrl_shift)
    assert QGuiApplication.clipboard().text() == "ls", "the last answer with a code block"

    window.sidebar.search.setFocus()
    qtbot.keyClick(window.sidebar.search, Qt.Key.Key_Escape, Qt.KeyboardModifier.ShiftModifier)
    assert tab.composer.hasFocus()
    qtbot.keyClick(tab.composer, Qt.Key.Key_S, ctrl_shift)
    assert not window.sidebar.isVisible()
    qtbot.keyClick(tab.composer, Qt.Key.Key_S, ctrl_shift)
    assert window.sidebar.isVisible()

    chat_id = tab.session.conversation_id
    assert chat_id is not None
    qtbot.keyClick(tab.composer, Qt.Key.Key_Backspace, ctrl_shift)
    assert all(t.session.conversation_id != chat_id for t in window.chat_tabs())
    title = store.get_conversation(chat_id).title
    assert window.notice.text() == f"Deleted “{title}”.", "which one"
    assert window.undo_button.isVisible()
    assert chat_id not in [c.id for c in store.list_conversations()]

    before = len(window.chat_tabs())
    focus = window.focusWidget() or window
    qtbot.keyClick(focus, Qt.Key.Key_O, ctrl_shift)
    assert len(window.chat_tabs()) == before + 1
    qtbot.keyClick(
        window.focusWidget() or window, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier
    )
    (dialog,) = [w for w in window.findChildren(QDialog) if isinstance(w, ShortcutsDialog)]
    assert dialog.isVisible()
    dialog.close()


def test_a_message_says_when_it_was_written_in_the_tooltip_of_its_speaker(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    from datetime import UTC, datetime

    from PySide6.QtCore import QLocale

    chat = store.create_conversation("Old")
    moment = datetime(2024, 2, 29, 9, 41, tzinfo=UTC)
    question = store.add_message(chat.id, None, "user", "leap day?", created_at=moment)
    local = moment.astimezone()
    QLocale.setDefault(QLocale(QLocale.Language.C))  # no locale: an ISO-like time
    try:
        window = make_window()
        tab = window.open_conversation(chat.id)
        widget = tab.view.widgets[question.id]
        assert widget.who.toolTip() == f"You, {local.strftime('%Y-%m-%d %H:%M')}"
        QLocale.setDefault(QLocale("en_US"))
        assert local_time(moment).startswith(local.strftime("%-m/%-d/%y"))
    finally:
        QLocale.setDefault(QLocale.system())


def test_ctrl_shift_t_reopens_closed_chats_last_closed_first_and_skips_deleted_ones(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    a, b, c = (store.create_conversation(t) for t in ("Alpha", "Beta", "Gamma"))
    window = make_window()
    tabs = {chat.id: window.open_conversation(chat.id) for chat in (a, b, c)}
    for chat in (a, b, c):
        window.close_tab(window.tabs.indexOf(tabs[chat.id]))
    window.sidebar.delete(b.id)  # deleted since: passed over
    open_ids = lambda: [t.session.conversation_id for t in window.chat_tabs()]  # noqa: E731
    focus = window.focusWidget() or window
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(focus, Qt.Key.Key_T, ctrl_shift)
    assert c.id in open_ids()
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_T, ctrl_shift)
    assert a.id in open_ids()
    assert b.id not in open_ids()
    assert window.reopen_closed_chat() is None
    assert window.notice.text() == "There is no closed chat to reopen."


def test_branch_goes_on_from_an_answer_in_a_new_chat_and_leaves_this_one_alone(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine, store: Store
) -> None:
    engine.replies = ["Answer one.", "Answer two."]
    tab = tab_of(window)
    send(qtbot, tab, "question one")
    send(qtbot, tab, "question two")
    first_answer = tab.view.message_widgets()[1]
    assert first_answer.branch_button.isVisible()
    assert not tab.view.message_widgets()[0].branch_button.isVisible(), "answers only"
    qtbot.mouseClick(first_answer.branch_button, Qt.MouseButton.LeftButton)
    branch = tab_of(window)
    assert branch is not tab
    assert shown(branch) == [("user", "question one"), ("assistant", "Answer one.")]
    assert len(shown(tab)) == 4
    assert window.notice.text() == "Branched into a new chat: question one (branch)"
    assert "question one (branch)" in window.sidebar.titles()
    engine.replies = ["Answer three."]
    send(qtbot, branch, "another way")
    assert shown(branch)[-1] == ("assistant", "Answer three.")
    assert len(shown(tab)) == 4


def test_chats_written_by_another_program_show_up_in_the_window(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    """`parley chat` in a terminal writes to the same history as the open window."""
    chat = store.create_conversation("Open in a tab")
    question = store.add_message(chat.id, None, "user", "first")
    window = make_window()
    tab = window.open_conversation(chat.id)
    assert not window.check_history(), "nothing changed elsewhere"
    other = Store.open(store.path)  # the terminal's connection
    try:
        terminal = other.create_conversation("From the terminal")
        other.add_message(terminal.id, None, "user", "hello from parley chat")
        other.add_message(chat.id, question.id, "assistant", "answered in the terminal")
    finally:
        other.close()
    assert window.check_history()
    assert "From the terminal" in window.sidebar.titles()
    assert shown(tab)[-1] == ("assistant", "answered in the terminal")
    assert not window.check_history()
    store.rename_conversation(chat.id, "The window's own write")
    assert not window.check_history(), "its own writes are not news"


def test_an_answer_a_terminal_left_unfinished_becomes_interrupted_with_continue(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    """`parley chat` killed mid-answer (or its terminal closed): the window, already open,
    turns the answer into an interrupted one within seconds, as its own start would."""
    chat = store.create_conversation("Written in a terminal")
    question = store.add_message(chat.id, None, "user", "tell me a story")
    terminal = Store.open(store.path)
    try:
        answer = terminal.begin_assistant(chat.id, question.id, "FakeLM-1M")
        terminal.append_partial(answer.id, "Once upon a")
        window = make_window()
        tab = window.open_conversation(chat.id)
        window.check_history()
        assert store.get_message(answer.id).status == "streaming", "its writer is alive"
    finally:
        terminal.close()  # the terminal's process ends
    assert window.check_history()
    assert store.get_message(answer.id).status == "interrupted"
    widget = tab.view.message_widgets()[-1]
    assert widget.status_label.text() == "interrupted"
    assert widget.continue_button.isVisible()
    assert not window.check_history(), "said once"
    engine.replies = [" time."]
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        qtbot.mouseClick(widget.continue_button, Qt.MouseButton.LeftButton)
    assert store.get_message(answer.id).content == "Once upon a time."


def test_a_notice_too_long_for_the_status_bar_ends_in_an_ellipsis_and_opens_whole(
    qtbot: QtBot, window: MainWindow
) -> None:
    from PySide6.QtCore import QPoint

    window.resize(700, 500)
    text = "Not ranked. Your answer is shown again; the alternatives stay as its other versions."
    window.notify(text * 2)
    notice = window.notice
    qtbot.waitUntil(notice.is_elided)
    assert notice.text() == text * 2, "the whole notice stays in the label, for screen readers"
    assert notice.toolTip() == text * 2
    qtbot.mouseClick(notice, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    box = window.details_box
    assert box.text() == text * 2
    box.close()
    window.notify("Saved.")
    assert not notice.is_elided()


def test_an_ampersand_in_a_title_shows_in_the_tab_as_typed(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chat = store.create_conversation("Dragon & pirate")
    window = make_window()
    window.open_conversation(chat.id)
    index = window.tabs.currentIndex()
    assert window.tabs.tabText(index) == "Dragon && pirate"  # Qt shows "&&" as one "&"
    assert window.tabs.tabToolTip(index) == "Dragon & pirate"


def test_finished_messages_are_not_rendered_again(qtbot: QtBot, window: MainWindow) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "first")
    first_answer = tab.view.message_widgets()[-1]
    renders = first_answer.render_count
    assert renders <= 1  # a streamed answer is built from its chunks, not rendered again
    send(qtbot, tab, "second")
    assert tab.view.message_widgets()[1] is first_answer
    assert first_answer.render_count == renders


def test_a_web_link_in_an_answer_opens_in_the_browser_and_nothing_else_does(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QDesktopServices

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    engine.replies = [
        "See [the docs](https://docs.python.org/3/) or [mail us](mailto:a@b.example); "
        "not [this](file:///etc/passwd) nor [that](javascript:alert(1)). Also https://bare.example/x"
    ]
    tab = tab_of(window)
    send(qtbot, tab, "links?")
    widget = tab.view.message_widgets()[-1]
    body = widget.parts[0]
    assert isinstance(body, RichText)
    html = body.toHtml()
    assert 'href="https://bare.example/x"' in html  # a bare address is a link too
    targets = ("https://docs.python.org/3/", "mailto:a@b.example", "file:///etc/passwd")
    for target in (*targets, "https://bare.example/x"):
        assert target in html
        body.link_activated.emit(QUrl(target))
    body.link_activated.emit(QUrl("javascript:alert(1)"))
    assert opened == ["https://docs.python.org/3/", "mailto:a@b.example", "https://bare.example/x"]


def test_code_blocks_have_a_copy_button(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.replies = [
        "Here:\n\n```python\nprint('hi')\n```\n\n1. in a list:\n   ```\n   ls\n   ```\n\nand $x^2$."
    ]
    tab = tab_of(window)
    send(qtbot, tab, "code please")
    widget = tab.view.message_widgets()[-1]
    assert widget.code_blocks() == ["print('hi')", "ls"]
    (code,) = widget.code_views()  # a top-level block gets its own view
    assert code.lang == "python"
    qtbot.mouseClick(code.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "print('hi')"
    # a block inside a list stays in the rich text, with a link
    view = next(p for p in widget.parts if hasattr(p, "toHtml") and "Copy code" in p.toHtml())
    view.link_activated.emit(QUrl("copy-code:1"))
    assert QGuiApplication.clipboard().text() == "ls"
    assert "x2" in widget.plain_text().replace(" ", "")
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == engine.replies[0]


def test_engine_error_is_shown_not_raised(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    engine.fail_with = "the model file is damaged"
    tab = tab_of(window)
    send(qtbot, tab, "hi")
    widget = tab.view.message_widgets()[-1]
    assert "the model file is damaged" in widget.status_label.text()
    assert "the model file is damaged" in window.notice.text()


def test_font_size_scales_the_messages(qtbot: QtBot, window: MainWindow) -> None:
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import apply_theme

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet, font, style = app.palette(), app.styleSheet(), app.font(), app.style().name()
    apply_theme(app, "light")  # as the app runs: a stylesheet, which kept old fonts in place
    try:
        tab = tab_of(window)
        send(qtbot, tab, "hi")
        widget = tab.view.message_widgets()[-1]
        body = widget.parts[0]
        before = body.font().pointSizeF()
        window.resize(1000, 700)
        window.splitter.setSizes([250, 750])
        window.zoom(2)
        assert body.font().pointSizeF() == pytest.approx(before + 2), "the first press: at once"
        side = window.splitter.sizes()[0]
        assert side == pytest.approx(250 * (before + 2) / before, abs=2), "the sidebar grew too"
        window.zoom(0)  # the next ones within the settling time: together, at its end
        qtbot.waitUntil(lambda: body.font().pointSizeF() == pytest.approx(before), timeout=2000)

        sizes: list[float] = []
        window.font_size_store = sizes.append  # what the app stores (and then shows)
        qtbot.waitUntil(lambda: not window._zoom_timer.isActive(), timeout=2000)
        for _ in range(5):  # five quick presses of Ctrl++
            window.zoom(1)
        qtbot.waitUntil(lambda: not window._zoom_timer.isActive(), timeout=2000)
        assert sizes == [before + 1, before + 5], "two restyles, not five"
    finally:
        app.setStyle(style)
        app.setPalette(palette)
        app.setStyleSheet(sheet)
        app.setFont(font)


def test_switching_the_theme_draws_the_messages_shown_in_the_new_colours(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    from PySide6.QtWidgets import QApplication

    from desktop.ui.markdown import DARK, LIGHT
    from desktop.ui.theme import apply_theme

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet, style = app.palette(), app.styleSheet(), app.style().name()
    apply_theme(app, "light")
    try:
        engine.replies = ["Use `x[::-1]` or see https://docs.python.org"]
        tab = tab_of(window)
        send(qtbot, tab, "how?")
        before = tab.view.message_widgets()[-1].parts[0]
        assert LIGHT.code_bg in before.toHtml()
        apply_theme(app, "dark")
        qtbot.waitUntil(lambda: tab.view.markdown_palette is DARK)
        after = tab.view.message_widgets()[-1].parts[0]
        assert after is not before, "built again"
        assert DARK.code_bg in after.toHtml()
        assert LIGHT.code_bg not in after.toHtml()

        # a chat in a tab not shown is built again when it is shown, not at the switch
        hidden = window.new_tab()
        send(qtbot, hidden, "how?")
        window.tabs.setCurrentWidget(tab)
        waiting = hidden.view.message_widgets()[-1].parts[0]
        apply_theme(app, "light")
        qtbot.waitUntil(lambda: tab.view.markdown_palette is LIGHT)
        assert hidden.view.message_widgets()[-1].parts[0] is waiting, "not built while hidden"
        window.tabs.setCurrentWidget(hidden)
        shown = hidden.view.message_widgets()[-1].parts[0]
        assert shown is not waiting
        assert LIGHT.code_bg in shown.toHtml()
    finally:
        app.setStyle(style)
        app.setPalette(palette)
        app.setStyleSheet(sheet)


def test_a_tabs_menu_closes_the_others_and_moves_it_to_the_other_side(
    qtbot: QtBot, window: MainWindow
) -> None:
    first = tab_of(window)
    send(qtbot, first, "Hi")
    second = window.new_tab()
    window.new_tab()
    menu = window._tab_menu(window.tabs, window.tabs.indexOf(second))
    assert menu is not None
    assert window.current_tab() is second
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == [
        "Close", "Close other chats", "Export…", "Copy as Markdown",
        "Split view, this chat on the right",
    ]  # fmt: skip
    for text in ("Export…", "Copy as Markdown"):
        action = next(a for a in menu.actions() if a.text() == text)
        assert not action.isEnabled(), "an empty chat has nothing to export"
    menu = window._tab_menu(window.tabs, window.tabs.indexOf(first))
    assert menu is not None
    assert next(a for a in menu.actions() if a.text() == "Export…").isEnabled()
    next(a for a in menu.actions() if a.text() == "Copy as Markdown").trigger()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith("# Hi\n")
    assert "## You\n\nHi\n" in copied
    assert "Hello there, human." in copied
    assert window.notice.text() == "Copied the chat as Markdown."
    next(a for a in menu.actions() if a.text() == "Close other chats").trigger()
    assert window.chat_tabs() == [first]
    second = window.new_tab()
    menu = window._tab_menu(window.tabs, window.tabs.indexOf(first))
    assert menu is not None
    next(a for a in menu.actions() if a.text().startswith("Split view")).trigger()
    assert window.is_split()
    assert window.pane_of(first) is window.side_tabs
    assert window.pane_of(second) is window.tabs
    menu = window._tab_menu(window.side_tabs, 0)
    assert menu is not None
    next(a for a in menu.actions() if a.text() == "Move to the other side").trigger()
    assert not window.is_split(), "the right side emptied: back to one pane"
    assert window.pane_of(first) is window.tabs


def test_a_chat_clicked_in_the_sidebar_leaves_the_keys_with_the_list(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    older, newer = store.create_conversation("Older"), store.create_conversation("Newer")
    window = make_window()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    listing = window.sidebar.listing
    row = listing.visualRect(window.sidebar.index_of(older.id)).center()
    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=row)
    assert window.current_tab().session.conversation_id == older.id
    assert listing.hasFocus(), "Delete and F2 work on the chat just clicked"

    qtbot.keyClicks(listing, "Hi")  # typing is meant for the chat
    tab = window.current_tab()
    assert tab.composer.hasFocus()
    assert tab.composer.toPlainText() == "Hi"

    listing.setFocus()
    window.sidebar.select(newer.id)
    qtbot.keyClick(listing, Qt.Key.Key_Return)
    assert window.current_tab().session.conversation_id == newer.id
    assert window.current_tab().composer.hasFocus(), "Enter opens the chat to write in it"
    window.sidebar.select(older.id)
    listing.setFocus()
    qtbot.keyClick(listing, Qt.Key.Key_Return)  # an open chat: the same
    assert window.current_tab().composer.hasFocus()

    qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=row)
    qtbot.keyClick(listing, Qt.Key.Key_Delete)
    assert window.sidebar.titles() == ["Newer"]


def test_a_long_prompt_says_how_much_of_the_chat_is_read_until_the_answer_begins(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    import threading

    hold = threading.Event()
    engine.reading = [(256, 1000), (512, 1000), (768, 1000)]
    engine.hold_after_reading = hold
    engine.replies = ["Here it is."]
    tab = tab_of(window)
    send(qtbot, tab, "Summarise all of this", wait=False)
    answer = tab.view.message_widgets()[-1]
    qtbot.waitUntil(lambda: answer.status_label.text() == "reading the chat… 76%", timeout=5000)
    assert "768 of the 1,000 tokens" in answer.status_label.toolTip()
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        hold.set()
    assert answer.plain_text() == "Here it is."
    assert "reading" not in answer.status_label.text()
    assert answer.status_label.toolTip() == ""


def test_the_window_cannot_be_made_too_small_to_use(qtbot: QtBot, window: MainWindow) -> None:
    window.resize(250, 200)
    assert window.width() >= 640
    assert window.height() >= 440
    tab = tab_of(window)
    send_box, settings_box = tab.send_button.geometry(), tab.settings_button.geometry()
    assert not send_box.intersects(settings_box), "the input's buttons never overlap"


def test_typing_a_question_has_the_engine_read_the_chat_meanwhile(
    qtbot: QtBot,
    store: Store,
    make_window: Callable[..., MainWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = store.create_conversation("Long story")
    question = store.add_message(chat.id, None, "user", "Tell me a long story")
    store.add_message(chat.id, question.id, "assistant", "Once upon a time " * 50)
    window = make_window()
    asked: list[list[ChatMessage]] = []
    real = window.host.prefetch

    def spy(messages: list[ChatMessage], params: object) -> bool:
        asked.append(list(messages))
        return real(messages, params)  # type: ignore[arg-type]

    monkeypatch.setattr(window.host, "prefetch", spy)
    tab = window.open_conversation(chat.id)
    qtbot.keyClicks(tab.composer, "And then")
    assert len(asked) == 1, "once, at the first key"
    assert [m.content for m in asked[0] if m.role != "system"] == [
        "Tell me a long story",
        "Once upon a time " * 50,
    ]
    send(qtbot, tab, "?")
    qtbot.keyClicks(tab.composer, "More")
    assert len(asked) == 2, "the chat has grown: read again"
    new = window.new_tab()
    qtbot.keyClicks(new.composer, "Hello")
    assert len(asked) == 2, "a new chat has nothing to read"


def test_a_tab_brought_back_by_undo_is_scrolled_into_the_tab_strip(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow]
) -> None:
    chats = [store.create_conversation(f"A chat with a long title, number {i}") for i in range(8)]
    window = make_window()
    window.resize(700, 500)
    window.show()
    for chat in chats:
        window.open_conversation(chat.id)
    first = window.open_conversation(chats[0].id)  # the strip scrolls back to it
    qtbot.waitExposed(window)
    window.sidebar.delete(chats[0].id)
    window.tabs.setCurrentIndex(window.tabs.count() - 1)  # the strip scrolls to the end
    qtbot.mouseClick(window.undo_button, Qt.MouseButton.LeftButton)
    bar = window.tabs.tabBar()
    shown = window.current_tab()
    assert shown is not None
    assert shown is not first
    assert shown.session.conversation_id == chats[0].id
    place = bar.tabRect(window.tabs.indexOf(shown))
    assert place.left() >= 0
    assert place.right() <= bar.width(), "on screen, not scrolled off to the left"


def test_a_history_found_damaged_while_running_is_said_in_a_box_once(
    window: MainWindow,
) -> None:
    text = "The history database h.sqlite3 is damaged. A copy was saved as h.corrupt."
    window.notifier.error(text)
    window.notifier.serious.emit(text)
    box = window.details_box
    assert box is not None
    assert box.isVisible(), "not only a status line the next one replaces"
    assert box.text() == text
    box.close()
    window.notifier.serious.emit(text)  # every read of the damaged part fails alike
    assert not box.isVisible(), "one box, not one per read"
    assert window.details_box is box


def test_a_long_message_reached_with_the_keys_shows_from_its_header(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    from desktop.ui.message_view import FOCUS_SCROLL_MARGIN

    engine.replies = ["\n\n".join(f"Paragraph {i} of a long answer." for i in range(80))]
    tab = tab_of(window)
    send(qtbot, tab, "Write a lot")
    window.activateWindow()
    answer = tab.view.message_widgets()[-1]
    qtbot.waitUntil(lambda: answer.height() > tab.view.viewport().height(), timeout=3000)
    tab.composer.setFocus()
    answer.setFocus(Qt.FocusReason.BacktabFocusReason)  # Shift+Tab from the input
    bar = tab.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == max(0, answer.y() - FOCUS_SCROLL_MARGIN), timeout=2000)
    assert answer.holds_focus()


def test_while_an_answer_is_written_the_controls_that_cannot_act_are_greyed(
    qtbot: QtBot, window: MainWindow, engine: FakeEngine
) -> None:
    tab = tab_of(window)
    send(qtbot, tab, "one")
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        assert tab.session.regenerate()  # the first answer has two versions now
    gate = threading.Event()
    engine.gate = gate
    send(qtbot, tab, "two", wait=False)
    qtbot.waitUntil(lambda: tab.session.state == "streaming", timeout=5000)
    question, answer = tab.view.message_widgets()[:2]
    assert answer.prev_button.isVisible()
    assert not answer.prev_button.isEnabled(), "switching would do nothing now"
    assert not question.edit_button.isEnabled()
    assert not answer.regen_button.isEnabled()
    assert answer.copy_button.isEnabled(), "copying still works"
    with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
        gate.set()
    assert answer.prev_button.isEnabled()
    assert question.edit_button.isEnabled()
    assert answer.regen_button.isEnabled()


def test_chats_looked_through_in_the_list_share_one_preview_tab_until_written_in(
    qtbot: QtBot, store: Store, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    a, b, c, d = (store.create_conversation(t) for t in ("Alpha", "Beta", "Gamma", "Delta"))
    window = make_window()
    kept = window.open_conversation(a.id)  # opened some other way (a new chat, Ctrl+T…)
    kept.composer.setPlainText("a draft")

    def titles() -> list[str]:
        return [t.session.title() for t in window.chat_tabs()]

    window.sidebar.open_requested.emit(b.id, -1)
    window.sidebar.open_requested.emit(c.id, -1)  # looked at Beta, then Gamma: one tab
    assert titles() == ["Alpha", "Gamma"]
    preview = window.current_tab()
    assert preview is not None
    assert preview.preview
    assert "preview" in window.tabs.tabToolTip(window.tabs.indexOf(preview))
    preview.composer.setPlainText("keep me")  # written in: it stays
    assert not preview.preview
    window.sidebar.open_requested.emit(d.id, -1)
    assert titles() == ["Alpha", "Gamma", "Delta"]
    window.sidebar.open_requested.emit(a.id, -1)  # open already: shown, nothing closes
    assert titles() == ["Alpha", "Gamma", "Delta"]
    assert window.current_tab() is kept
    window.sidebar.open_requested.emit(b.id, -1)  # the preview, wherever it is, makes room
    assert titles() == ["Alpha", "Gamma", "Beta"]
    window.sidebar.open_requested.emit(d.id, -1)
    # an answer written in a preview keeps it too
    shown = window.current_tab()
    assert shown is not None
    assert shown.preview
    assert shown.session.title() == "Delta"
    with qtbot.waitSignal(shown.session.answer_finished, timeout=5000):
        assert shown.session.send("hello")
    assert not shown.preview
    window.sidebar.open_requested.emit(b.id, -1)
    assert titles() == ["Alpha", "Gamma", "Delta", "Beta"]
    # Ctrl+Shift+T brings back the tab closed, not the chats only glanced at in a preview
    window.close_tab(window.tabs.indexOf(window.current_tab()))  # Beta
    assert "Beta" not in titles()
    window.close_tab(window.tabs.indexOf(kept))  # Alpha, with its draft
    e = store.create_conversation("Epsilon")
    window.sidebar.open_requested.emit(b.id, -1)  # glanced at, then replaced
    window.sidebar.open_requested.emit(e.id, -1)
    reopened = window.reopen_closed_chat()
    assert reopened is not None
    assert reopened.session.title() == "Alpha"
    assert not reopened.preview
    # a chat that comes back with a draft is written in already: no preview
    window.close_tab(window.tabs.indexOf(reopened))
    window.sidebar.open_requested.emit(a.id, -1)
    shown = window.current_tab()
    assert shown is not None
    assert shown.composer.toPlainText() == "a draft"
    assert not shown.preview


def test_a_larger_text_in_split_view_leaves_the_chats_their_room(
    qtbot: QtBot, window: MainWindow
) -> None:
    from PySide6.QtGui import QFont

    window.resize(1000, 700)
    window.show()
    window.toggle_split()
    window.splitter.setSizes([300, 700])
    qtbot.waitUntil(lambda: window.splitter.sizes()[0] == 300)
    font = QFont(window.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    window.setFont(font)  # as the text size setting reaches it
    # two panes of 45 characters do not fit beside a wider sidebar: it keeps its width
    assert window.splitter.sizes()[0] <= 300
    window.toggle_split()  # one pane: the sidebar may grow, while the chat keeps its room
    window.splitter.setSizes([250, 750])
    qtbot.waitUntil(lambda: window.splitter.sizes()[0] == 250)
    font.setPointSizeF(font.pointSizeF() * 1.2)
    window.setFont(font)
    side, chat = window.splitter.sizes()
    assert side > 250
    assert chat >= 45 * window.fontMetrics().averageCharWidth()
