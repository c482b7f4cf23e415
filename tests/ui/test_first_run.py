from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from desktop.ui.welcome import STARTER_LABEL
from tests.ui.conftest import FakeInstaller


def test_without_a_model_the_welcome_page_installs_the_starter(
    qtbot: QtBot, make_window: Callable[..., MainWindow], installer: FakeInstaller
) -> None:
    window = make_window(load_model=False)
    assert window.centre.currentWidget() is window.welcome
    assert window.welcome.install_button.text() == STARTER_LABEL
    with qtbot.waitSignal(window.host.model_loaded, timeout=5000):
        qtbot.mouseClick(window.welcome.install_button, Qt.MouseButton.LeftButton)
    assert installer.stages == ["download", "verify", "convert"]
    assert window.loaded_folders == [installer.folder]  # type: ignore[attr-defined]
    assert window.centre.currentWidget() is window.panes
    assert window.model_label.text() == "FakeLM-1M"
    assert not window.progress_dialog.isVisible()


def test_the_install_can_be_cancelled(
    qtbot: QtBot, make_window: Callable[..., MainWindow], installer: FakeInstaller
) -> None:
    installer.block = True
    window = make_window(load_model=False)
    job = window.install_starter()
    assert job is not None
    dialog = window.progress_dialog
    qtbot.waitUntil(lambda: dialog.stage.text() == "Downloading… 50%", timeout=5000)
    assert dialog.bar.value() == 500
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert window.centre.currentWidget() is window.welcome
    assert "cancelled" in window.welcome.status.text()
    assert window.loaded_folders == []  # type: ignore[attr-defined]


def test_a_failing_load_is_a_message_not_a_traceback(
    qtbot: QtBot, make_window: Callable[..., MainWindow]
) -> None:
    window = make_window(load_model=False)

    def broken(folder: object) -> object:
        raise OSError("tokenizer.json is missing")

    window._models = type(window._models)(load=broken)  # type: ignore[arg-type]
    with qtbot.waitSignal(window.host.model_failed, timeout=5000):
        window.load_model(__import__("pathlib").Path("x"))
    assert window.welcome.status.text() == (
        "The model could not be loaded: tokenizer.json is missing"
    )
    assert "Traceback" not in window.notice.text()


def test_progress_words_and_bar_agree_and_unpacking_is_said() -> None:
    from desktop.ui.welcome import stage_text

    assert stage_text("quantize", 0.3779) == "Quantizing… 37%", "as the bar, floored"
    assert stage_text("extract", 0.5) == "Unpacking the model… 50%"
