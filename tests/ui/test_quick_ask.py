"""Quick ask and the tray: the answer streams into the small window, is saved to history, and
continues as a chat tab; closing the window with the tray active keeps Parley running."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from desktop import app
from desktop.config.settings import Settings
from desktop.engine.types import ModelInfo
from desktop.store import Store
from desktop.ui.main_window import MainWindow
from desktop.ui.tray import Tray
from tests.fakes import FakeEngine


def test_quick_ask_streams_the_answer_and_saves_it_to_history(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine, store: Store
) -> None:
    engine.replies = [" ".join(f"w{i}" for i in range(30))]
    engine.delay_s = 0.01
    window = make_window()
    quick = window.open_quick_ask()
    assert quick.isVisible()
    assert quick.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert not quick.stop_button.isVisibleTo(quick), "nothing to stop yet"
    qtbot.keyClicks(quick.input, "What is quick?")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    assert quick.question.text() == "You asked: What is quick?"
    # streams: part of the answer is there before the end
    qtbot.waitUntil(lambda: "w3" in quick.answer_text(), timeout=5000)
    assert "w29" not in quick.answer_text()
    assert not quick.open_button.isEnabled()  # not while it is being written
    assert not quick.copy_button.isEnabled()
    assert quick.stop_button.isVisibleTo(quick)
    with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
        pass
    assert not quick.stop_button.isVisibleTo(quick)
    assert quick.answer_text() == engine.replies[0]
    assert quick.open_button.isEnabled()
    assert quick.copy_button.isEnabled()
    QApplication.clipboard().clear()
    qtbot.keyClick(
        quick.input,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert QApplication.clipboard().text() == engine.replies[0]
    assert quick.status.text() == "Answer copied."

    conversation_id = quick.session.conversation_id
    assert conversation_id is not None
    saved = [m.content for m in store.current_path(conversation_id)]
    assert saved == ["What is quick?", engine.replies[0]]
    assert "What is quick?" in window.sidebar.titles()

    # a follow-up goes on in the same chat, and says so
    engine.delay_s = 0.0
    engine.replies = ["Quite."]
    qtbot.keyClicks(quick.input, "Really?")
    with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
        qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.question.text().startswith("You asked, in the chat “What is quick?”: Really?")
    saved = [m.content for m in store.current_path(conversation_id)]
    assert saved[-2:] == ["Really?", "Quite."]

    # Open in window: the conversation continues as a tab
    quick.open_button.click()
    assert not quick.isVisible()
    tab = window.current_tab()
    assert tab is not None
    assert tab.session.conversation_id == conversation_id
    assert [w.plain_text() for w in tab.view.message_widgets()] == saved


def test_a_chat_open_in_a_tab_shows_what_quick_ask_adds_to_it(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window()
    quick = window.open_quick_ask()
    qtbot.keyClicks(quick.input, "First question")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "idle")
    conversation_id = quick.session.conversation_id
    assert conversation_id is not None
    tab = window.open_conversation(conversation_id)  # from the sidebar, Quick ask still open
    assert len(tab.view.message_widgets()) == 2
    qtbot.keyClicks(quick.input, "And then?")
    with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
        qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session.conversation_id == conversation_id, "Quick ask went on with its chat"
    shown = [w.plain_text() for w in tab.view.message_widgets()]
    assert shown[2] == "And then?", "the tab shows the turn Quick ask added"


def test_copy_takes_the_answer_as_written_not_as_shown(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    engine.replies = ["Use **bold** and `code`."]
    quick = make_window().open_quick_ask()
    assert not quick.copy_answer(), "nothing to copy yet"
    qtbot.keyClicks(quick.input, "Format?")
    assert quick.session is None
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
        pass
    assert quick.answer_text() == "Use bold and code."
    qtbot.mouseClick(quick.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == "Use **bold** and `code`."


def test_the_answer_is_formatted_as_in_the_chat_with_links_and_code_to_copy(
    qtbot: QtBot,
    make_window: Callable[..., MainWindow],
    engine: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    engine.replies = ["See https://www.python.org and run:\n\n```sh\npip install parley\n```\n"]
    quick = make_window().open_quick_ask()
    qtbot.keyClicks(quick.input, "How?")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
        pass
    html = quick.answer.toHtml()
    assert 'href="https://www.python.org"' in html, "a bare address is a link, as in the chat"
    assert "pip install parley" in quick.answer_text()
    quick.answer.anchorClicked.emit(QUrl("copy-code:0"))
    assert QApplication.clipboard().text() == "pip install parley"
    quick.answer.anchorClicked.emit(QUrl("https://www.python.org"))
    quick.answer.anchorClicked.emit(QUrl("file:///etc/passwd"))
    assert opened == ["https://www.python.org"]


def test_up_brings_back_the_questions_asked_before(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    engine.replies = ["One.", "Two.", "Three."]
    quick = make_window().open_quick_ask()
    for question in ("first question", "second question"):
        qtbot.keyClicks(quick.input, question)
        qtbot.keyClick(quick.input, Qt.Key.Key_Return)
        assert quick.session is not None
        qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "idle")
    qtbot.keyClick(quick.input, Qt.Key.Key_Up)
    assert quick.input.text() == "second question"
    qtbot.keyClick(quick.input, Qt.Key.Key_Up)
    assert quick.input.text() == "first question"
    qtbot.keyClick(quick.input, Qt.Key.Key_Up)  # nothing before the first
    assert quick.input.text() == "first question"
    qtbot.keyClick(quick.input, Qt.Key.Key_Down)
    qtbot.keyClick(quick.input, Qt.Key.Key_Down)
    assert quick.input.text() == "", "past the last one: the empty line again"


def test_quick_ask_without_a_model_says_so_and_keeps_the_question(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window(load_model=False)
    quick = window.open_quick_ask()
    qtbot.keyClicks(quick.input, "Anyone home?")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.status.text().startswith("No model is loaded")
    assert quick.input.text() == "Anyone home?"
    assert quick.session is not None
    assert quick.session.conversation_id is None, "nothing stored"


def test_quick_ask_opens_centred_in_the_upper_part_of_the_screen(window: MainWindow) -> None:
    from PySide6.QtGui import QGuiApplication

    quick = window.open_quick_ask()
    area = QGuiApplication.primaryScreen().availableGeometry()
    frame = quick.geometry()
    assert abs(frame.center().x() - area.center().x()) <= 2
    assert area.top() <= frame.top() < area.top() + area.height() // 2
    quick.hide()


def test_esc_hides_and_a_new_quick_ask_starts_a_new_conversation(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window()
    quick = window.open_quick_ask()
    qtbot.keyClicks(quick.input, "first")
    with qtbot.waitSignal(window.host.queue_changed, timeout=5000, raising=False):
        qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "idle")
    first = quick.session.conversation_id
    qtbot.keyClick(quick.input, Qt.Key.Key_Escape)
    assert not quick.isVisible()
    again = window.open_quick_ask()
    assert again is quick
    assert quick.answer_text() == ""
    qtbot.keyClicks(quick.input, "second")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    assert quick.session is not None
    qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "idle")
    assert quick.session.conversation_id not in (None, first)


def test_an_answer_that_finished_behind_esc_is_shown_by_the_next_quick_ask(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine
) -> None:
    engine.replies = [" ".join(f"line{i}" for i in range(60))]
    engine.delay_s = 0.01
    window = make_window()
    quick = window.open_quick_ask()
    qtbot.keyClicks(quick.input, "Write a poem about the sea")
    qtbot.keyClick(quick.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "streaming")
    qtbot.keyClick(quick.input, Qt.Key.Key_Escape)  # hidden while it is written
    assert not quick.isVisible()
    qtbot.waitUntil(lambda: quick.session is not None and quick.session.state == "idle")
    window.open_quick_ask()
    assert "line59" in quick.answer_text(), "not an empty window: the answer never seen"
    assert quick.open_button.isEnabled()
    quick.hide()
    window.open_quick_ask()  # seen once: the next one starts afresh
    assert quick.answer_text() == ""


def test_closing_the_window_with_the_tray_keeps_parley_running_and_says_so_once(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window()
    quit_calls: list[bool] = []
    tray = Tray(window, window.open_quick_ask, window.new_tab, lambda: quit_calls.append(True))
    window.keep_in_tray = True
    told: list[str] = []
    window.tray_notice.connect(told.append)
    window.close()
    assert not window.isVisible()
    assert len(told) == 1
    assert "keeps running in the tray" in told[0]
    tray.show_window()
    assert window.isVisible()
    window.close()
    assert len(told) == 1  # once
    # the tray's menu
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Quick ask…", "New chat", "Show/Hide window", "Model: none loaded", "Quit"]
    tray.toggle_action.trigger()
    assert window.isVisible()
    tray.toggle_action.trigger()
    assert not window.isVisible()
    tray.quick_action.trigger()
    assert window.quick_ask is not None
    assert window.quick_ask.isVisible()
    tray.quit_action.trigger()
    assert quit_calls == [True]
    # File > Quit with the tray: the app is asked to quit (it closes the window for real)
    asked: list[bool] = []
    window.quit_requested.connect(lambda: asked.append(True))
    window.request_quit()
    assert asked == [True]
    window.close_for_quit()
    assert not window.isVisible()


def test_showing_the_window_from_the_tray_keeps_it_maximized(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window()
    tray = Tray(window, window.open_quick_ask, window.new_tab, lambda: None)
    window.showMaximized()
    qtbot.waitUntil(window.isMaximized)
    window.hide()
    tray.show_window()
    assert window.isVisible()
    assert window.isMaximized(), "not restored to its small size"
    window.showMinimized()
    tray.show_window()
    assert not window.isMinimized()
    assert window.isMaximized()


def test_without_a_tray_the_window_says_where_the_features_are(
    qtbot: QtBot,
    make_window: Callable[..., MainWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window()
    monkeypatch.setattr(app, "tray_available", lambda: False)
    application = QApplication.instance()
    assert isinstance(application, QApplication)
    assert app.install_tray(application, window, Settings.load()) is None
    assert not window.keep_in_tray
    qtbot.wait(50)  # the model takes a moment to load
    window.host.model_loaded.emit(ModelInfo("FakeLM-1M", 2048, "CPUExecutionProvider"))
    window.notify("FakeLM-1M is ready.")  # what the window says when a model loaded
    # said after it, not replaced by it half a second after the start
    qtbot.waitUntil(lambda: "no system tray" in window.notice.text(), timeout=2000)
    assert "Quick ask is in the File menu" in window.notice.text()
    assert "parley --quick-ask" in window._details


def test_with_a_tray_the_app_keeps_running_when_the_window_closes(
    qtbot: QtBot,
    make_window: Callable[..., MainWindow],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = make_window()
    monkeypatch.setattr(app, "tray_available", lambda: True)
    application = QApplication.instance()
    assert isinstance(application, QApplication)
    try:
        tray = app.install_tray(application, window, Settings.load())
        assert tray is not None
        assert window.keep_in_tray
        assert not application.quitOnLastWindowClosed()
        assert tray.model_action.text() == "Model: none loaded"  # loaded before the tray
        app.on_command(window, "quick-ask")
        assert window.quick_ask is not None
        assert window.quick_ask.isVisible()
        window.hide()
        app.on_command(window, "show")
        assert window.isVisible()
        tray.hide()
    finally:
        application.setQuitOnLastWindowClosed(True)


def test_the_hotkey_setting_is_checked_and_explains_the_fallback() -> None:
    settings = Settings.load()
    assert settings.get_str("quick_ask.hotkey") == "Ctrl+Alt+Space"
    option = settings.option("quick_ask.hotkey")
    assert "parley --quick-ask" in option.description
    for bad in ("Space", "Ctrl+", "Hyper+X", "Ctrl+Alt", "Ctrl+Q", "Ctrl+Shift+T"):
        with pytest.raises(ValueError, match=r"quick_ask\.hotkey"):
            settings.set("quick_ask.hotkey", bad)
    with pytest.raises(ValueError, match="needs Alt or Meta") as refused:
        settings.set("quick_ask.hotkey", "Ctrl+Q")  # Quit, in most programs
    assert "Ctrl+Q quits most" in str(refused.value)
    settings.set("quick_ask.hotkey", "Meta+Shift+P")
    assert settings.get_str("quick_ask.hotkey") == "Meta+Shift+P"


def test_the_settings_say_whether_the_shortcut_works_here(
    qtbot: QtBot, store: Store, tmp_path: Path
) -> None:
    from desktop.services.engine_host import EngineHost
    from desktop.services.hotkey import GlobalHotkey
    from desktop.services.notifications import Notifier
    from desktop.ui.settings_dialog import SettingsDialog

    settings = Settings(tmp_path / "settings.json")
    hotkey = GlobalHotkey()
    host = EngineHost()
    try:
        note = app.install_hotkey(hotkey, settings)  # offscreen: cannot be registered
        assert note.startswith("Not registered here")
        assert "parley --quick-ask" in note
        window = app.build_window(store, host, Notifier(), settings, hotkey_note=lambda: note)
        qtbot.addWidget(window)
        action = next(a for a in window._menus["&File"].actions() if a.text() == "&Settings…")
        action.trigger()
        dialog = window.settings_dialog
        assert isinstance(dialog, SettingsDialog)
        texts = [
            label.text()
            for label in dialog.fields["quick_ask.hotkey"].container.findChildren(QLabel)
        ]
        assert note in texts
        dialog.reject()
        window.close()
        settings.set("quick_ask.hotkey", "")
        assert app.install_hotkey(hotkey, settings) == "No global shortcut is set."
    finally:
        hotkey.close()
        assert host.shutdown()


def test_quick_ask_steps_aside_for_a_dialog_of_the_window(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    quick = window.open_quick_ask()
    assert quick.isVisible()
    box = QMessageBox(QMessageBox.Icon.Question, "Export", "Save here?", parent=window)
    box.setWindowModality(Qt.WindowModality.ApplicationModal)
    box.show()
    box.activateWindow()
    box.setFocus()
    qtbot.waitUntil(lambda: not quick.isVisible(), timeout=2000)  # not over its buttons
    box.close()


@pytest.mark.qt_no_exception_capture
def test_stop_before_the_answer_begins_leaves_quick_ask_usable(
    qtbot: QtBot, make_window: Callable[..., MainWindow], engine: FakeEngine, store: Store
) -> None:
    errors: list[BaseException] = []
    hook = sys.excepthook
    sys.excepthook = lambda _t, value, _tb: errors.append(value)
    try:
        window = make_window()
        quick = window.open_quick_ask()
        qtbot.keyClicks(quick.input, "never mind")
        qtbot.keyClick(quick.input, Qt.Key.Key_Return)
        assert quick.session is not None
        quick.stop()  # before the worker took it up: the empty answer is taken back
        qtbot.wait(100)
        assert quick.status.text() == "Stopped before it began."
        assert quick.session.state == "idle"
        assert errors == []
        engine.replies = ["Fine."]
        qtbot.keyClicks(quick.input, "then this")
        with qtbot.waitSignal(quick.session.answer_finished, timeout=5000):
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
        assert quick.answer_text() == "Fine."
    finally:
        sys.excepthook = hook
