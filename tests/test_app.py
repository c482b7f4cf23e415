from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop import app
from desktop.config.paths import models_dir
from desktop.config.settings import Settings
from desktop.services.engine_host import EngineHost
from desktop.services.notifications import Notifier
from desktop.store import DatabaseLocked, Store
from desktop.ui.main_window import MainWindow
from desktop.ui.settings_dialog import SettingsDialog
from tests.fakes import no_thread_left_running
from tests.models import TinyModels


@pytest.fixture
def parts(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[MainWindow, Settings, Store]]:
    with no_thread_left_running():
        settings = Settings(tmp_path / "settings.json")
        store = Store.open(tmp_path / "history.sqlite3")
        host = EngineHost()
        window = app.build_window(store, host, Notifier(), settings)
        qtbot.addWidget(window)
        yield window, settings, store
        window.close()
        assert host.shutdown()
        store.close()


def test_new_chats_take_their_defaults_from_the_settings(
    parts: tuple[MainWindow, Settings, Store],
) -> None:
    window, settings, _store = parts
    settings.set("chat.default_system_prompt", "Talk like a sailor.")
    settings.set("sampling.temperature", 0.0)
    session = window.current_tab().session  # type: ignore[union-attr]
    assert session.system_prompt() == "Talk like a sailor."
    assert session.sampling_params().temperature == 0.0


def test_a_default_model_chosen_in_the_settings_answers_from_then_on(
    parts: tuple[MainWindow, Settings, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    window, settings, _store = parts
    used: list[str] = []
    monkeypatch.setattr(window, "use_model", used.append)
    monkeypatch.setattr(app.ModelLibrary, "names", lambda _self: ["alpha", "beta"])
    settings.set("model.default", "beta")
    assert used == ["beta"], "loaded now, not after a restart (and the library's default too)"
    settings.set("model.default", "gone")  # not installed: nothing to load
    assert used == ["beta"]


def test_the_send_key_setting_applies_live(
    qtbot: QtBot, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, _store = parts
    composer = window.current_tab().composer  # type: ignore[union-attr]
    assert composer.send_on_enter
    settings.set("input.send_key", "ctrl_enter")
    assert not composer.send_on_enter
    assert "Ctrl+Enter sends" in composer.accessibleDescription(), "what a screen reader says"
    assert "Ctrl+Enter sends" in composer.toolTip()
    qtbot.keyClicks(composer, "a")
    qtbot.keyClick(composer, Qt.Key.Key_Return)
    assert composer.toPlainText() == "a\n"
    assert not window.new_tab().composer.send_on_enter


def test_zooming_sets_the_text_size_setting_and_ctrl_0_goes_back_to_its_default(
    qtbot: QtBot, parts: tuple[MainWindow, Settings, Store]
) -> None:
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import ThemeController

    window, settings, _store = parts
    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    font, sheet, palette, style = (
        qapp.font(),
        qapp.styleSheet(),
        qapp.palette(),
        qapp.style().name(),
    )
    theme = ThemeController(qapp, settings)  # as run_app: the setting drives the screen
    try:
        settings.set("appearance.font_size", 16)  # chosen in Settings
        assert qapp.font().pointSize() == 16
        window.zoom(-1)  # Ctrl+-
        assert (settings.get_int("appearance.font_size"), qapp.font().pointSize()) == (15, 15)
        assert Settings.load(settings.path).get_int("appearance.font_size") == 15, "kept"
        window.zoom(0)  # Ctrl+0: the default size, in Settings too (once presses settle)
        qtbot.waitUntil(lambda: settings.get_int("appearance.font_size") == 10, timeout=2000)
        assert qapp.font().pointSize() == 10
        for _ in range(40):
            window.zoom(1)
        qtbot.waitUntil(lambda: not window._zoom_timer.isActive(), timeout=3000)
        assert settings.get_int("appearance.font_size") == 32, "within the setting's bounds"
    finally:
        theme.close()
        qapp.setStyle(style)
        qapp.setPalette(palette)
        qapp.setStyleSheet(sheet)
        qapp.setFont(font)


def test_the_settings_menu_opens_the_settings_dialog(
    parts: tuple[MainWindow, Settings, Store],
) -> None:
    window, _settings, _store = parts
    actions = [a for m in window._menus.values() for a in m.actions() if "Settings" in a.text()]
    assert len(actions) == 1
    actions[0].trigger()
    dialog = window.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    assert dialog.isVisible()
    notes = [
        label.text() for label in dialog.fields["model.threads"].container.findChildren(QLabel)
    ]
    assert f"This computer has {os.cpu_count()} logical cores" in " ".join(notes)
    threads = dialog.fields["model.threads"]
    _settings.set("model.threads", 1)
    assert threads.notice_label.isVisibleTo(dialog)
    from desktop.engine.types import ModelInfo

    reloaded = ModelInfo("m", 2048, "CPUExecutionProvider")
    window.host.model_loaded.emit(reloaded)  # the model loaded again (Reload…)
    assert not threads.notice_label.isVisibleTo(dialog), "its reload note goes"
    dialog.close()


def test_default_model_prefers_the_setting_then_the_first_installed(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "settings.json")
    assert app.default_model(settings) is None
    for name in ("b-model", "a-model", "not-a-bundle"):
        (models_dir() / name).mkdir(parents=True)
    for name in ("b-model", "a-model"):
        (models_dir() / name / "tokenizer.json").write_text("{}")
    assert app.default_model(settings) == models_dir() / "a-model"
    settings.set("model.default", "b-model")
    assert app.default_model(settings) == models_dir() / "b-model"
    settings.set("model.default", "gone")
    assert app.default_model(settings) == models_dir() / "a-model"


def test_the_models_recommended_sampling_applies_where_the_user_kept_the_default(
    tmp_path: Path,
) -> None:
    from desktop.engine.types import ModelInfo

    settings = Settings.load(tmp_path / "settings.json")
    model = ModelInfo("smol", 8192, "CPUExecutionProvider",
                      sampling=(("temperature", 0.2), ("top_p", 0.9)))  # fmt: skip
    params = app.chat_defaults(settings, model).sampling
    assert (params.temperature, params.top_p) == (0.2, 0.9)
    settings.set("sampling.temperature", 1.1)  # the user's own choice wins
    params = app.chat_defaults(settings, model).sampling
    assert (params.temperature, params.top_p) == (1.1, 0.9)
    odd = ModelInfo("odd", 8192, "CPUExecutionProvider", sampling=(("top_p", 7.0),))
    assert app.chat_defaults(settings, odd).sampling.top_p == settings.get_float("sampling.top_p")


# What the first window must not load: each of these costs start-up time and is only needed
# once the user opens a dialog, exports, rates an answer or the first answer renders (the
# window's warm-up loads Markdown and Pygments on a thread after it is shown).
_DEFERRED = ("pygments", "markdown_it", "keyring", "urllib.request", "http.client",
             "desktop.feedback", "desktop.transcripts", "desktop.ui.settings_dialog",
             "desktop.ui.feedback_dialog", "desktop.ui.compare_dialog",
             "desktop.ui.model_manager", "desktop.ui.pdf_export", "desktop.ui.about",
             "desktop.ui.token_editor")  # fmt: skip

_FIRST_WINDOW = """
import json, sys
from PySide6.QtWidgets import QApplication
from desktop.app import build_window
from desktop.config.settings import Settings
from desktop.services.engine_host import EngineHost
from desktop.services.notifications import Notifier
from desktop.store import Store
qt = QApplication([])
store = Store.open()
host = EngineHost()
window = build_window(store, host, Notifier(), Settings.load())
window.show()
print(json.dumps(sorted(sys.modules)))
host.shutdown()
store.close()
"""


def _last_line_of_a_fresh_python(code: str, tmp_path: Path) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) with its own data folder."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path / "data"),
               PARLEY_CACHE_DIR=str(tmp_path / "cache"), QT_QPA_PLATFORM="offscreen")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_the_first_window_does_not_import_what_it_does_not_show(tmp_path: Path) -> None:
    import json

    loaded = json.loads(_last_line_of_a_fresh_python(_FIRST_WINDOW, tmp_path))
    assert "desktop.ui.main_window" in loaded  # the window was really built
    early = [m for m in loaded if any(m == d or m.startswith(d + ".") for d in _DEFERRED)]
    assert early == []


def test_the_context_length_setting_limits_the_loaded_model(tiny_models: TinyModels) -> None:
    from tests.ggufs import TinySpec

    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0", context=2048))
    settings = Settings.load()
    settings.update({"model.device": "cpu", "model.context_length": 512})
    engine = app.load_engine(bundle, settings)
    assert engine.info.context_length == 512
    assert engine.context_length == 512
    settings.update({"model.context_length": 4096})  # more than the model knows: its own
    assert app.load_engine(bundle, settings).context_length == 2048


def test_the_settings_say_which_defaults_follow_the_models_recommendation(tmp_path: Path) -> None:
    from desktop.engine.types import ModelInfo

    settings = Settings.load(tmp_path / "settings.json")
    model = ModelInfo("smol", 8192, "CPUExecutionProvider",
                      sampling=(("temperature", 0.2), ("top_k", 20.0)))  # fmt: skip
    notes = app.recommendation_notes(settings, model)
    assert notes.keys() == {"sampling.temperature", "sampling.top_k"}
    assert "smol recommends 0.2" in notes["sampling.temperature"]
    assert "recommends 20:" in notes["sampling.top_k"]
    settings.set("sampling.temperature", 1.1)  # the user's own value is what chats use
    assert app.recommendation_notes(settings, model).keys() == {"sampling.top_k"}
    everything = app.recommendation_notes(settings, model, only_defaults=False)
    assert everything.keys() == {"sampling.temperature", "sampling.top_k"}
    assert app.recommendation_notes(settings, None) == {}


def test_the_missing_keychain_is_only_announced_to_someone_who_submits(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from keyring.backends import fail

    from desktop.feedback import TokenStore
    from desktop.services.feedback_service import FeedbackService

    settings = Settings(tmp_path / "settings.json")
    store = Store.open(tmp_path / "history.sqlite3")
    service = FeedbackService(store, settings, TokenStore(fail.Keyring()))
    try:
        assert service.tokens.notice  # no keychain on this machine
        assert app.keychain_notice(service) is None  # feedback submission is off
        settings.set("submission.enabled", True)
        assert app.keychain_notice(service) == service.tokens.notice
    finally:
        service.shutdown()
        store.close()


_OPEN_RIGHT_AWAY = """
from PySide6.QtWidgets import QApplication
from desktop.app import build_window
from desktop.config.settings import Settings
from desktop.services.engine_host import EngineHost
from desktop.services.notifications import Notifier
from desktop.store import Store
qt = QApplication([])
store = Store.open()
chat = store.create_conversation("Code")
question = store.add_message(chat.id, None, "user", "Show code")
answer = store.begin_assistant(chat.id, question.id, "m")
store.finish(answer.id, "complete", None, "Here:\\n\\n```python\\nprint(1)\\n```\\n")
host = EngineHost()
window = build_window(store, host, Notifier(), Settings.load())
window.show()
qt.processEvents()  # the warm-up thread starts importing Markdown and Pygments now...
tab = window.open_conversation(chat.id)  # ...while this renders a code block at once
print(tab.view.message_widgets()[-1].code_blocks())
host.shutdown()
store.close()
"""


def test_a_chat_opened_while_the_window_warms_up_renders(tmp_path: Path) -> None:
    """Pygments swaps its lazy packages into sys.modules at the end of their import: the
    warm-up thread and the GUI thread importing them together broke the first render
    ("cannot import name 'HtmlFormatter'"), every time, until both took one lock."""
    assert _last_line_of_a_fresh_python(_OPEN_RIGHT_AWAY, tmp_path) == "['print(1)']"


def test_the_window_comes_back_with_its_size_and_sidebar_width(
    qtbot: QtBot, tmp_path: Path, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    window.resize(700, 520)  # within the offscreen screen (restoreGeometry keeps it on screen)
    window.show()
    window.splitter.setSizes([300, 400])
    qtbot.waitUntil(lambda: window.splitter.sizes()[0] == 300)
    window._last_dir = tmp_path  # an export went there
    work, shut = store.create_folder("Work"), store.create_folder("Shut")
    window.sidebar.toggle_folder(work.id)  # opened: it stays open
    path = tmp_path / "window.json"
    app.write_layout(path, window.layout_state())
    again = app.build_window(store, window.host, Notifier(), settings)
    qtbot.addWidget(again)
    assert again.restore_layout(app.read_layout(path))
    again.show()
    assert (again.width(), again.height()) == (700, 520)
    qtbot.waitUntil(lambda: again.splitter.sizes()[0] == 300)
    assert again._in_start_dir("x.md") == str(tmp_path / "x.md"), "file dialogs go on there"
    assert again.sidebar.expanded_folders == {work.id}
    assert shut.id not in again.sidebar.expanded_folders
    again.close()


def test_the_chats_left_open_come_back_in_their_panes(
    qtbot: QtBot, tmp_path: Path, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    a, b, c, gone = (store.create_conversation(t) for t in ("Alpha", "Beta", "Gamma", "Gone"))
    store.add_message(a.id, None, "user", "Hello from Alpha")
    window.show()
    for conversation in (a, b, gone):
        window.new_tab(conversation.id)
    window.toggle_split()  # Gone (the current chat) moves to the right
    window.new_tab(c.id)  # and Gamma opens next to it
    window.open_conversation(b.id)
    path = tmp_path / "window.json"
    app.write_layout(path, window.layout_state())
    store.delete_conversations(gone.id)

    again = app.build_window(store, window.host, Notifier(), settings)
    qtbot.addWidget(again)
    again.show()
    again.activateWindow()
    qtbot.waitUntil(again.isActiveWindow, timeout=2000)
    assert again.restore_chats(app.read_layout(path)) == 3
    titles = [t.session.title() for t in again._tabs_in(again.tabs)]
    assert titles == ["Alpha", "Beta"], "the empty start tab made room; Gone is gone"
    assert again.is_split()
    assert [t.session.title() for t in again._tabs_in(again.side_tabs)] == ["Gamma"]
    current = again.current_tab()
    assert current is not None
    assert current.session.conversation_id == b.id
    assert current.composer.hasFocus(), "the keys in the input of the chat shown"
    alpha = again._tabs_in(again.tabs)[0]
    assert alpha.view.message_widgets() == [], "a tab behind the current one waits"
    again.tabs.setCurrentWidget(alpha)
    assert [w.plain_text() for w in alpha.view.message_widgets()] == ["Hello from Alpha"]
    assert again.restore_chats({"chats": {"left": ["x", True, 10**9]}}) == 0
    assert again.restore_chats({"chats": "nonsense"}) == 0
    again.close()


def test_of_too_many_chats_left_open_the_newest_and_the_one_shown_come_back(
    qtbot: QtBot, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    chats = [store.create_conversation(f"Chat {n}").id for n in range(16)]
    cap = MainWindow.RESTORED_CHATS
    for current, expected in (
        (chats[-1], chats[-cap:]),  # the newest tabs, the last one shown
        (chats[0], [chats[0], *chats[-cap + 1 :]]),  # the chat the user was in, kept too
    ):
        again = app.build_window(store, window.host, Notifier(), settings)
        qtbot.addWidget(again)
        again.show()
        state = {"chats": {"left": chats, "current": current}}
        assert again.restore_chats(state) == cap
        restored = [t.session.conversation_id for t in again._tabs_in(again.tabs)]
        assert restored == expected
        shown = again.current_tab()
        assert shown is not None
        assert shown.session.conversation_id == current
        again.close()


def test_what_was_typed_and_not_sent_comes_back_with_its_chat(
    qtbot: QtBot, tmp_path: Path, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    kept = store.create_conversation("Kept")
    asked = store.add_message(kept.id, None, "user", "Old question")
    edited = store.create_conversation("Being edited")
    old = store.add_message(edited.id, None, "user", "Typo here")
    window.show()
    window.current_tab().composer.setPlainText("An idea for a new chat")  # type: ignore[union-attr]
    window.new_tab(kept.id).composer.setPlainText("Half a follow-up")
    editing = window.new_tab(edited.id)
    editing.composer.setPlainText("Put aside")
    editing.begin_edit(old.id)  # the box holds an edit of an old message: not a draft
    assert editing.editing
    state = window.layout_state()
    assert state["chats"]["drafts"] == {  # type: ignore[index]
        "new": "An idea for a new chat",
        str(kept.id): "Half a follow-up",
        str(edited.id): "Put aside",  # what was typed before the edit began
    }
    assert asked.content == "Old question"

    again = app.build_window(store, window.host, Notifier(), settings)
    qtbot.addWidget(again)
    again.show()
    assert again.restore_chats(state) == 2
    boxes = {t.session.title(): t.composer.toPlainText() for t in again.chat_tabs()}
    assert boxes == {
        "New chat": "An idea for a new chat",
        "Kept": "Half a follow-up",
        "Being edited": "Put aside",
    }
    again.close()


def test_a_chat_closed_before_sending_keeps_what_was_typed_for_when_it_opens_again(
    qtbot: QtBot, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    chat = store.create_conversation("Planning")
    store.add_message(chat.id, None, "user", "First question")
    doomed = store.create_conversation("Doomed")
    store.add_message(doomed.id, None, "user", "Whatever")
    window.show()
    window.new_tab(chat.id).composer.setPlainText("Second question, half")
    window.new_tab(doomed.id).composer.setPlainText("Never mind")
    window.close_tab(window.tabs.currentIndex())  # Doomed
    window.close_tab(window.tabs.currentIndex())  # Planning
    state = window.layout_state()
    assert state["chats"]["drafts"][str(chat.id)] == "Second question, half"  # type: ignore[index]
    assert window.open_conversation(chat.id).composer.toPlainText() == "Second question, half"

    window.open_conversation(doomed.id)
    window.sidebar.deleted.emit([doomed.id], store.delete_conversations(doomed.id))
    assert str(doomed.id) not in window.layout_state()["chats"]["drafts"]  # type: ignore[index]

    # across a restart: a draft of a chat that was closed comes back when it is opened
    again = app.build_window(store, window.host, Notifier(), settings)
    qtbot.addWidget(again)
    again.show()
    state["chats"] = {"left": [], "drafts": {str(chat.id): "Kept over a restart"}}
    again.restore_chats(state)
    assert again.open_conversation(chat.id).composer.toPlainText() == "Kept over a restart"
    again.close()


def test_the_layout_is_saved_while_the_app_runs_so_a_crash_keeps_open_chats_and_drafts(
    qtbot: QtBot, tmp_path: Path, parts: tuple[MainWindow, Settings, Store]
) -> None:
    window, settings, store = parts
    chat = store.create_conversation("Open when it crashed")
    store.add_message(chat.id, None, "user", "Hello")
    path = tmp_path / "window.json"
    window.show()
    timer = app.autosave_layout(window, path, interval_ms=20)
    tab = window.new_tab(chat.id)
    tab.composer.setPlainText("A long question I was typing")
    qtbot.waitUntil(lambda: app.read_layout(path).get("chats") is not None, timeout=2000)
    state = app.read_layout(path)
    assert chat.id in state["chats"]["left"]  # type: ignore[index]
    assert state["chats"]["drafts"][str(chat.id)] == "A long question I was typing"  # type: ignore[index]
    written = path.stat().st_mtime_ns
    qtbot.wait(100)  # nothing changed: nothing written
    assert path.stat().st_mtime_ns == written
    assert not path.with_name("window.json.tmp").exists()
    timer.stop()

    again = app.build_window(store, window.host, Notifier(), settings)  # the next start
    qtbot.addWidget(again)
    again.show()
    assert again.restore_chats(app.read_layout(path)) >= 1
    restored = {t.session.conversation_id: t.composer.toPlainText() for t in again.chat_tabs()}
    assert restored[chat.id] == "A long question I was typing"
    again.close()


def test_an_unreadable_layout_file_keeps_the_default_layout(tmp_path: Path) -> None:
    path = tmp_path / "window.json"
    assert app.read_layout(path) == {}
    path.write_text("{not json", encoding="utf-8")
    assert app.read_layout(path) == {}
    path.write_text('["a list"]', encoding="utf-8")
    assert app.read_layout(path) == {}
    app.write_layout(tmp_path / "file" / "window.json", {"geometry": "x"})
    assert app.read_layout(tmp_path / "file" / "window.json") == {"geometry": "x"}


def test_while_an_import_holds_the_history_it_is_neither_moved_nor_cleared(
    qtbot: QtBot,
    tmp_path: Path,
    parts: tuple[MainWindow, Settings, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from PySide6.QtWidgets import QAbstractButton, QFileDialog, QMessageBox

    from desktop.ui.main_window import _Import
    from desktop.ui.settings_dialog import SettingsDialog

    window, _settings, store = parts
    chat = store.create_conversation("Keep me")
    window._import = _Import("conversations.json", threading.Event())  # an import is running
    window.clear_history()
    assert store.get_conversation(chat.id).title == "Keep me"
    assert window.notice.text().startswith("Nothing was deleted. Chats from conversations.json")

    warnings: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "x"))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    action = next(a for a in window._menus["&File"].actions() if a.text() == "&Settings…")
    action.trigger()
    dialog = window.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    field = dialog.fields["history.location"]
    (change,) = [w for w in field.focus_widgets() if isinstance(w, QAbstractButton)]
    change.click()
    (text,) = warnings
    assert "being imported" in text
    assert store.path.parent == tmp_path  # not moved
    dialog.close()

    # any other write (a rename in the sidebar, a rating) fails at once, saying why
    started = time.perf_counter()
    with pytest.raises(DatabaseLocked, match="being imported"):
        store.rename_conversation(chat.id, "Renamed")
    assert time.perf_counter() - started < 1.0  # not the 3 s busy timeout
    window._import = None
    store.rename_conversation(chat.id, "Renamed")
    assert store.get_conversation(chat.id).title == "Renamed"


@pytest.mark.parametrize("use_default", [True, False])
def test_a_history_folder_that_is_not_there_asks_before_starting_elsewhere(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_default: bool
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from desktop.config.paths import data_dir

    settings = Settings.load()
    settings.update({"history.location": str(tmp_path / "usb-stick" / "parley")})
    settings.save()
    asked: list[str] = []

    def question(_parent: object, title: str, text: str, *_rest: object) -> object:
        asked.append(text)
        return QMessageBox.StandardButton.Yes if use_default else QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", question)
    store = app.open_history()
    assert "usb-stick" in asked[0]
    assert "nothing is deleted" in asked[0]
    if use_default:
        assert store is not None
        assert store.path == data_dir() / "history.sqlite3"
        assert Settings.load().get("history.location") == str(data_dir())
        store.close()
    else:
        assert store is None, "the user quits to connect the drive"
        assert "usb-stick" in str(Settings.load().get("history.location"))
    assert not (tmp_path / "usb-stick").exists()
