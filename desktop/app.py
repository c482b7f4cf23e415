"""Composition root: QApplication, logging, excepthooks, history, engine host, main window.

Nothing imports this module; ``desktop.cli`` calls ``run_app`` when ``parley`` is started
without a subcommand.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.config.bundled import bundled_model
from desktop.config.paths import data_dir
from desktop.config.settings import Settings
from desktop.convert import starter
from desktop.convert.library import ModelLibrary
from desktop.engine.engine import load_engine as open_engine
from desktop.engine.providers import Device
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


_DEVICES: dict[str, Device] = {"auto": "auto", "cuda": "cuda", "directml": "directml",
                               "cpu": "cpu"}  # fmt: skip


def load_engine(folder: Path, settings: Settings) -> ChatEngine:
    device = _DEVICES[settings.get_str("model.device")]  # the schema allows only these
    return open_engine(folder, device=device, threads=settings.get_int("model.threads"))


def install_starter(progress: Progress, cancel: threading.Event) -> Path:
    return starter.install_starter(ModelLibrary(), progress, cancel).path


def import_model(source: Path, progress: Progress, cancel: threading.Event) -> Path:
    return ModelLibrary().import_path(source, progress=progress).path


def installed_models() -> list[Path]:
    """Installed model bundles, by name."""
    return [m.path for m in ModelLibrary().list()]


def default_model(settings: Settings) -> Path | None:
    """The model named in the settings, else the library's default, else the first one,
    else the model bundled with an installed app (so a fresh install answers offline)."""
    library = ModelLibrary()
    models = {m.name: m.path for m in library.list()}
    for name in (settings.get_str("model.default"), library.default_name()):
        if name and name in models:
            return models[name]
    return next(iter(models.values()), None) or bundled_model()


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
        ModelActions(
            load=lambda folder: load_engine(folder, settings),
            install=install_starter,
            import_model=import_model,
        ),
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
