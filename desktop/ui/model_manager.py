"""The model manager (File > Models…): the installed models with their precision, size and
measured accuracy, and import, remove and "set as default".

The dialog only shows the library and asks; the window does the work (imports and removals run
as jobs on the engine worker with the progress dialog, a new default reloads the engine there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.convert.library import InstalledModel
from desktop.ui.message_view import accessible

COLUMNS = ("Name", "Precision", "Size", "Default", "Accuracy vs unquantized")
PRECISIONS = (
    ("int4", "int4 (smallest, default)"),
    ("int8", "int8"),
    ("fp32", "fp32 (exact, largest)"),
)


def describe_size(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    return f"{size / 1e6:.0f} MB"


def describe_accuracy(manifest: dict[str, Any]) -> tuple[str, str]:
    """The ``accuracy`` block of parley.json as (cell text, tooltip); "—" when not measured."""
    acc = manifest.get("accuracy")
    if not isinstance(acc, dict):
        source = manifest.get("source")
        names = (source.get("file"), source.get("member")) if isinstance(source, dict) else ()
        if any(str(n).lower().endswith(".gguf") for n in names if n):
            return "as the GGUF file", (
                "The GGUF's weights were carried over exactly as the file has them, not "
                "quantized again: the conversion lost nothing to measure. What the file's own "
                "quantization (its name says which, e.g. Q4_1) costs was decided by whoever "
                "made it"
            )
        return "—", "Not measured (an ONNX import keeps its own weights exactly)"
    try:
        top1 = 100 * float(acc.get("top1_agreement", 0.0))
        kl = float(acc.get("mean_kl", 0.0))
    except (TypeError, ValueError):
        return "?", "The accuracy record in parley.json is unreadable"
    reference = acc.get("reference") or "its unquantized weights"
    tip = (
        f"Compared with {reference}: the most likely next token agrees at {top1:.1f}% of "
        f"positions; mean KL divergence {kl:.3g} nats (0 = identical)."
    )
    return f"top-1 {top1:.1f}% · KL {kl:.3g}", tip


def precision_of(manifest: dict[str, Any]) -> str:
    for key in ("precision", "quantization", "dtype"):
        value = manifest.get(key)
        if isinstance(value, str) and value:
            return value
    return "?"


class ModelManagerDialog(QDialog):
    """Signals: ``import_requested(Path, str)`` (path, precision or "" for a GGUF / ONNX
    folder), ``remove_requested(str)`` (after the user confirmed), ``default_requested(str)``,
    ``install_starter_requested()`` (shown while the starter model is not installed)."""

    import_requested = Signal(object, str)
    install_starter_requested = Signal()
    remove_requested = Signal(str)
    default_requested = Signal(str)

    def __init__(
        self, models: Sequence[InstalledModel], in_use: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        accessible(self, "Models", "Installed models: import, remove, choose the default")
        self.resize(760, 360)
        self.in_use = in_use
        # where its file dialogs open (the window gives its own: the folder used last)
        self.start_dir: Callable[[], str] = lambda: ""
        self.models: list[InstalledModel] = []
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        accessible(self.table, "Installed models", "Select a model to remove or make default")
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        self.empty = QLabel("No model installed yet. Import a GGUF file or a model folder.")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)

        row = QHBoxLayout()
        self.import_file_button = QPushButton("Import &GGUF file…")
        accessible(self.import_file_button, "Import a GGUF file", "Convert a .gguf model")
        self.import_folder_button = QPushButton("Import &folder…")
        accessible(
            self.import_folder_button,
            "Import a model folder",
            "A Hugging Face checkpoint (config.json + safetensors) or an ONNX model folder",
        )
        self.precision = QComboBox()
        for key, label in PRECISIONS:
            self.precision.addItem(label, key)
        accessible(
            self.precision,
            "Precision for checkpoints",
            "How a safetensors checkpoint folder is converted (a GGUF keeps its own)",
        )
        self.default_button = QPushButton("Set as &default")
        accessible(self.default_button, "Set as default", "Answer with this model (reloads it)")
        self.remove_button = QPushButton("&Remove…")
        accessible(self.remove_button, "Remove model", "Delete this model's files (asks first)")
        close = QPushButton("Close")
        accessible(close, "Close", "Close the model manager")
        self.starter_button = QPushButton("Install &starter")
        accessible(
            self.starter_button,
            "Install the starter model",
            "Download (93 MB), verify and convert SmolLM2-135M-Instruct again",
        )
        self.starter_button.clicked.connect(self.install_starter_requested)
        self.starter_button.hide()
        for w in (self.starter_button, self.import_file_button, self.import_folder_button,
                  QLabel("Precision:"), self.precision):  # fmt: skip
            row.addWidget(w)
        row.addStretch(1)
        for w in (self.default_button, self.remove_button, close):
            row.addWidget(w)
        layout.addLayout(row)
        self.import_file_button.clicked.connect(self._choose_file)
        self.import_folder_button.clicked.connect(self._choose_folder)
        self.default_button.clicked.connect(self._set_default)
        self.remove_button.clicked.connect(self.confirm_remove)
        close.clicked.connect(self.accept)
        self.set_models(models)

    def set_starter_available(self, available: bool) -> None:
        """Offer to install the starter model (it is not installed, e.g. removed as damaged)."""
        self.starter_button.setVisible(available)
        self.empty.setText(
            "No model installed yet. Install the starter model, or import a GGUF file or a "
            "model folder."
            if available
            else "No model installed yet. Import a GGUF file or a model folder."
        )

    def set_models(
        self,
        models: Sequence[InstalledModel],
        in_use: str | None = None,
        damaged: Mapping[str, str] | None = None,
    ) -> None:
        """``damaged``: name -> why that model cannot load (its row says so)."""
        damaged = damaged or {}
        if in_use is not None:
            self.in_use = in_use
        selected = self.selected()
        self.models = list(models)
        self.table.setRowCount(len(self.models))
        for r, m in enumerate(self.models):
            accuracy, tip = describe_accuracy(m.manifest)
            name = m.name + ("  (in use)" if m.name == self.in_use else "")
            problem = damaged.get(m.name)
            where = str(m.path)
            if problem is not None:
                name += "  ⚠ damaged"
                where += f"\nDamaged: {problem}. Remove it, then install or import it again."
            try:
                size = describe_size(m.size_bytes)
            except OSError:
                size = "?"
            cells = (name, precision_of(m.manifest), size, "✓" if m.is_default else "", accuracy)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip if c == 4 else where if c == 0 else text)
                if c == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setData(Qt.ItemDataRole.AccessibleTextRole,
                                 "default" if m.is_default else "not default")  # fmt: skip
                self.table.setItem(r, c, item)
        self.empty.setVisible(not self.models)
        self.table.setVisible(bool(self.models))
        names = [m.name for m in self.models]
        self.table.selectRow(names.index(selected) if selected in names else 0)
        self._update_buttons()

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.models):
            return None
        return self.models[rows[0].row()].name

    def select(self, name: str) -> None:
        names = [m.name for m in self.models]
        if name in names:
            self.table.selectRow(names.index(name))

    def _update_buttons(self) -> None:
        name = self.selected()
        model = next((m for m in self.models if m.name == name), None)
        self.remove_button.setEnabled(model is not None and model.name != self.in_use)
        self.remove_button.setToolTip(
            "The model in use cannot be removed: set another one as default first"
            if model is not None and model.name == self.in_use
            else "Delete this model's files (asks first)"
        )
        # the default not in use (chosen elsewhere, or a load that failed) can be taken up
        self.default_button.setEnabled(
            model is not None and not (model.is_default and model.name == self.in_use)
        )

    def chosen_precision(self) -> str:
        return str(self.precision.currentData())

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", self.start_dir(), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.import_requested.emit(Path(path), "")

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a model folder", self.start_dir())
        if path:
            self.import_requested.emit(Path(path), self.chosen_precision())

    def _set_default(self) -> None:
        name = self.selected()
        if name is not None:
            self.default_requested.emit(name)

    def confirm_remove(self) -> QMessageBox | None:
        name = self.selected()
        if name is None or name == self.in_use:
            return None
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove model",
            f"Remove {name}? Its files are deleted; import it again to get it back.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.buttonClicked.connect(
            lambda b: (
                self.remove_requested.emit(name)
                if box.standardButton(b) == QMessageBox.StandardButton.Yes
                else None
            )
        )
        self.confirm_box = box
        box.open()
        return box
