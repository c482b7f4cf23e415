"""Composition root: QApplication, logging, excepthooks, history, engine host, main window.

Nothing imports this module; ``desktop.cli`` calls ``run_app`` when ``parley`` is started
without a subcommand.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.config.paths import data_dir, models_dir
from desktop.config.settings import Settings
from desktop.engine.types import ChatEngine, SamplingParams
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.services.notifications import Notifier, install_excepthooks
from desktop.store import DatabaseCorrupt, DatabaseTooNew, KnownError, Store, group_for_sidebar
from desktop.ui.main_window import MainWindow, ModelActions
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.theme import ThemeController

log = logging.getLogger("parley")

Progress = Callable[[str, float], None]


def _setup_logging() -> None:
    folder = data_dir() / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / "parley.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:  # a read-only data folder must not keep the app from starting
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _domain_function(module: str, name: str) -> Callable[..., Any]:
    """A function of the engine/convert packages, looked up when first used, so the window
    opens (and says what is missing) even in a build without the converter."""
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"{module}.{name} is not available in this build ({exc})") from exc


def load_engine(folder: Path) -> ChatEngine:
    engine: ChatEngine = _domain_function("desktop.engine", "load_engine")(folder)
    return engine


def install_starter(progress: Progress, cancel: threading.Event) -> Path:
    folder: Path = _domain_function("desktop.convert.starter", "install_starter")(progress, cancel)
    return folder


def import_model(source: Path, progress: Progress, cancel: threading.Event) -> Path:
    if source.is_dir():
        return source
    convert = _domain_function("desktop.convert.gguf_to_onnx", "convert_gguf")
    folder: Path = convert(source, models_dir() / source.stem, progress=progress)
    return folder


def installed_models() -> list[Path]:
    """Model bundles in the models folder, by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "parley.json").is_file())


def default_model(settings: Settings) -> Path | None:
    """The model set in the settings, else the first installed one."""
    models = installed_models()
    wanted = settings.get_str("model.default")
    chosen = next((m for m in models if m.name == wanted), None)
    return chosen or (models[0] if models else None)


def chat_defaults(settings: Settings) -> ChatDefaults:
    return ChatDefaults(
        settings.get_str("chat.default_system_prompt"),
        SamplingParams(**settings.sampling_kwargs()),
    )


def open_history(parent: Any = None) -> Store | None:
    """Open the history, or explain why not. A corrupt or too-new database is never reset
    silently: the user chooses, and the old file is kept."""
    try:
        return Store.open()
    except (DatabaseCorrupt, DatabaseTooNew) as exc:
        answer = QMessageBox.question(
            parent,
            "Parley cannot open its history",
            f"{exc}\n\nStart with an empty history? The old file is kept next to it.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            store, moved = Store.start_over()
            log.warning("history set aside at %s", moved)
            return store
        return None
    except KnownError as exc:
        QMessageBox.critical(parent, "Parley cannot open its history", str(exc))
        return None


def build_window(
    history: Store, host: EngineHost, notifier: Notifier, settings: Settings
) -> MainWindow:
    def move_history(path: Path) -> None:
        history.move_to(path)

    def open_settings(parent: Any) -> None:
        dialog = SettingsDialog(
            settings,
            parent,
            move_history=move_history,
            model_names=lambda: [m.name for m in installed_models()],
        )
        dialog.clear_history_requested.connect(history.clear_all)
        dialog.clear_history_requested.connect(window.sidebar.refresh)
        window.settings_dialog = dialog
        dialog.open()

    window = MainWindow(
        history,
        host,
        lambda: chat_defaults(settings),
        ModelActions(load=load_engine, install=install_starter, import_model=import_model),
        group_for_sidebar,
        notifier,
        open_settings=open_settings,
    )
    window.set_send_on_enter(settings.get_str("input.send_key") == "enter")
    settings.subscribe(
        lambda _change: window.set_send_on_enter(settings.get_str("input.send_key") == "enter"),
        keys=["input.send_key"],
    )
    return window


def run_app(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns the exit code."""
    args = list(sys.argv if argv is None else argv)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(args)
    app.setApplicationName("Parley")
    app.setOrganizationName("Parley")
    _setup_logging()
    notifier = Notifier()
    hooks = install_excepthooks(notifier)
    settings = Settings.load()
    theme = ThemeController(app, settings)
    history = open_history()
    if history is None:
        hooks.uninstall()
        theme.close()
        return 1
    host = EngineHost()
    window = build_window(history, host, notifier, settings)
    window.show()
    for notice in settings.notices:
        window.notify(notice)
    model = default_model(settings)
    if model is not None:
        window.load_model(model)
    else:
        window.show_welcome(True)
    interrupted = len(history.interrupted_on_open)
    if interrupted:
        QTimer.singleShot(
            0,
            lambda: window.notify(
                f"{interrupted} answer(s) were cut off when Parley last closed; they are kept "
                "and marked 'interrupted' (Continue answers again)."
            ),
        )
    try:
        return app.exec()
    finally:
        host.shutdown()
        history.close()
        theme.close()
        hooks.uninstall()
