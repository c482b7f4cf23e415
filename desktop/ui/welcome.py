"""First run: no model yet. Offer the starter model or an import, with a cancellable progress
dialog (the work itself runs on the engine worker, see EngineHost.run_job)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services.engine_host import Job
from desktop.ui.message_view import accessible

STARTER_LABEL = "Install the starter model (SmolLM2-135M-Instruct, 93 MB)"


class WelcomePage(QWidget):
    install_requested = Signal()
    import_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        accessible(self, "Welcome", "Parley needs a model before it can answer")
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        title = QLabel("<h1>Welcome to Parley</h1>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        accessible(title, "Welcome to Parley")
        text = QLabel(
            "Parley runs a language model on this computer: nothing you type leaves it.<br>"
            "To begin, install the small starter model or import one you already have "
            "(a GGUF file or a model folder)."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        accessible(text, "About the models")
        self.install_button = QPushButton(STARTER_LABEL)
        accessible(
            self.install_button,
            "Install the starter model",
            "Download (93 MB), verify and convert SmolLM2-135M-Instruct; it can be cancelled",
        )
        self.import_button = QPushButton("Import a model…")
        accessible(self.import_button, "Import a model", "Choose a GGUF file or a model folder")
        self.install_button.clicked.connect(self.install_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.install_button.setDefault(True)
        for w in (title, text):
            layout.addWidget(w)
        row = QHBoxLayout()
        row.addStretch(1)
        column = QVBoxLayout()
        column.addWidget(self.install_button)
        column.addWidget(self.import_button)
        row.addLayout(column)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        accessible(self.status, "Model status", "What happened to the last install or import")
        layout.addWidget(self.status)
        layout.addStretch(2)
        self.setFocusProxy(self.install_button)


# The stages that converters and the starter install report, in words for the dialog.
STAGE_TEXT = {
    "download": "Downloading",
    "verify": "Checking the download",
    "extract": "Unpacking the model",
    "hash": "Checking the file",
    "read": "Reading the model",
    "build": "Building the graph",
    "convert": "Converting for ONNX Runtime",
    "quantize": "Quantizing",
    "validate": "Trying the model",
    "write": "Saving",
}


def stage_text(stage: str, fraction: float) -> str:
    words = STAGE_TEXT.get(stage, stage[:1].upper() + stage[1:])
    # floored as the bar is (1000 steps): "38%" beside a bar at 37% read as a mistake
    percent = math.floor(fraction * 100)
    return f"{words}… {percent}%" if 0.0 < fraction < 1.0 else f"{words}…"


class ProgressDialog(QDialog):
    """Shows a Job's stages and progress; Cancel asks the job to stop."""

    def __init__(self, title: str, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        accessible(self, title, "Progress of the current task")
        self.job = job
        layout = QVBoxLayout(self)
        self.stage = QLabel("Starting…")
        accessible(self.stage, "Current step")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        accessible(self.bar, "Progress")
        self.cancel_button = QPushButton("Cancel")
        accessible(self.cancel_button, "Cancel", "Stop; nothing half-done is kept")
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.stage)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(420)
        job.progress.connect(self._progress)
        # the job's end closes the dialog (done() bypasses reject(), which means "cancel")
        job.succeeded.connect(lambda _r: self.done(QDialog.DialogCode.Accepted))
        job.failed.connect(lambda _m: self.done(QDialog.DialogCode.Rejected))
        job.cancelled.connect(lambda: self.done(QDialog.DialogCode.Rejected))

    def _progress(self, stage: str, fraction: float) -> None:
        self.stage.setText(stage_text(stage, fraction))
        self.bar.setValue(math.floor(max(0.0, min(1.0, fraction)) * 1000))

    def _cancel(self) -> None:
        self.stage.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        self.job.cancel()

    def reject(self) -> None:
        # Esc / the close box cancel the job too; the dialog closes once the job has ended
        if not self.job.cancel_event.is_set():
            self._cancel()
