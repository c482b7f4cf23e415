"""Help ▸ About Parley: what a bug report needs, copyable."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from desktop.config.paths import data_dir
from desktop.ui.main_window import MainWindow
from tests.ui.feedback_helpers import unnamed_controls


def test_about_shows_versions_the_device_and_the_files_and_copies_them(
    qtbot: QtBot, window: MainWindow
) -> None:
    from desktop.ui.about import AboutDialog

    action = next(a for a in window._menus["&Help"].actions() if "About" in a.text())
    action.trigger()
    (dialog,) = [d for d in window.findChildren(AboutDialog) if d.isVisible()]
    facts = dict(dialog.rows)
    assert facts["Model"] == "FakeLM-1M"
    assert facts["Runs on"].startswith("CPU (")  # the fake engine's fallback reason
    assert "CUDA not available" in facts["Runs on"]
    assert facts["Data folder"] == str(data_dir())
    assert "CPUExecutionProvider" in facts["ONNX Runtime"]
    assert facts["Parley"] != ""
    assert unnamed_controls(dialog) == []
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert "Model: FakeLM-1M" in copied
    assert f"Data folder: {data_dir()}" in copied
