"""Help ▸ About Parley: versions, where the model runs and why, and where the files are, with a
button that copies it all for a bug report."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.config.paths import data_dir
from desktop.engine.providers import display_name
from desktop.engine.types import ModelInfo
from desktop.ui.message_view import accessible, copy_to_clipboard


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_facts(model: ModelInfo | None, history: Path | None) -> list[tuple[str, str]]:
    """What a bug report needs, as (label, value) rows."""
    import onnxruntime as ort

    providers = ", ".join(ort.get_available_providers())
    rows = [
        ("Parley", _version("parley-desktop")),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("System", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("ONNX Runtime", f"{ort.__version__}, providers: {providers}"),
        ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
    ]
    if model is None:
        rows.append(("Model", "none loaded"))
    else:
        provider = display_name(model.provider)
        if model.fallback_reason:
            provider += f" ({model.fallback_reason})"
        rows += [
            ("Model", model.name),
            ("Model folder", model.path or "?"),
            ("Runs on", provider),
            ("Context window", f"{model.context_length} tokens"),
        ]
    rows += [
        ("Data folder", str(data_dir())),
        ("History", str(history) if history is not None else "?"),
        ("Log", str(data_dir() / "logs" / "parley.log")),
    ]
    return rows


def as_text(rows: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in rows)


class AboutDialog(QDialog):
    def __init__(
        self, model: ModelInfo | None, history: Path | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Parley")
        accessible(self, "About Parley", "Versions, the model in use and where files are")
        self.rows = about_facts(model, history)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<b>Parley</b> — a local chat assistant. Everything runs on this computer; "
            "nothing you type leaves it unless you send feedback to an endpoint you set."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(len(self.rows), 2)
        self.table.setHorizontalHeaderLabels(["", ""])
        self.table.horizontalHeader().hide()
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        accessible(self.table, "Details", "Versions, the model in use and where files are")
        for row, (label, value) in enumerate(self.rows):
            self.table.setItem(row, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.table.setItem(row, 1, item)
        self.table.resizeColumnToContents(0)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy details")
        accessible(self.copy_button, "Copy details", "Copy these lines for a bug report")
        self.copy_button.clicked.connect(lambda: copy_to_clipboard(as_text(self.rows)))
        self.folder_button = QPushButton("Open data &folder")
        accessible(self.folder_button, "Open data folder", "Show Parley's files")
        self.folder_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(data_dir())))
        )
        for button in (self.copy_button, self.folder_button):
            button.setAutoDefault(False)
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        accessible(close, "Close", "Close this window")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, 420)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
