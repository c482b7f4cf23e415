"""Composition root: QApplication, logging, excepthooks, history, engine host, main window.

Nothing imports this module; ``desktop.cli`` calls ``run_app`` when ``parley`` is started
without a subcommand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.config.bundled import bundled_model
from desktop.config.paths import data_dir
from desktop.config.settings import Settings, SettingsFileError
from desktop.convert.library import ModelLibrary
from desktop.engine.providers import Device
from desktop.engine.types import ChatEngine, ModelInfo, SamplingParams
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.services.hotkey import GlobalHotkey
from desktop.services.notifications import Notifier, install_excepthooks
from desktop.services.quit_signals import QuitOnSignals
from desktop.services.single_instance import InstanceServer, command_for, forward, server_name
from desktop.store import (
    DatabaseCorrupt,
    DatabaseTooNew,
    HistoryFolderMissing,
    KnownError,
    Store,
    group_for_sidebar,
)
from desktop.ui.main_window import MainWindow, ModelActions
from desktop.ui.theme import ThemeController
from desktop.ui.tray import Tray, app_icon, tray_available

if TYPE_CHECKING:  # loaded in run_app (the feedback package: content filter, keyring, HTTP)
    from desktop.services.feedback_service import FeedbackService

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
    """Runs on the engine worker: load, then warm up so the first answer starts at full speed."""
    from desktop.engine.engine import load_engine as open_engine  # ONNX Runtime: on the worker

    device = _DEVICES[settings.get_str("model.device")]  # the schema allows only these
    engine = open_engine(
        folder,
        device=device,
        threads=settings.get_int("model.threads"),
        max_context=settings.get_int("model.context_length"),
    )
    engine.warm_up()
    return engine


def install_starter(progress: Progress, cancel: threading.Event) -> Path:
    from desktop.convert import starter  # the converter (onnx, gguf) loads when it is needed

    return starter.install_starter(ModelLibrary(), progress, cancel).path


def import_model(
    source: Path, progress: Progress, cancel: threading.Event, precision: str | None = None
) -> Path:
    from desktop.convert.starter import CancelledError

    def report(stage: str, fraction: float) -> None:
        if cancel.is_set():  # the conversion stops at its next stage and leaves nothing behind
            raise CancelledError()
        progress(stage, fraction)

    return ModelLibrary().import_path(source, progress=report, precision=precision).path


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


def save_default(settings: Settings, name: str) -> None:
    """The model manager's "set as default" also wins over an older choice in the settings."""
    settings.update({"model.default": name})
    try:
        settings.save()
    except SettingsFileError as exc:
        log.warning("settings not saved: %s", exc)


def store_font_size(settings: Settings, points: float) -> None:
    """Zooming (Ctrl++, Ctrl+-, Ctrl+0) sets the text size setting: Settings shows the size
    on screen, and the next start keeps it."""
    option = settings.option("appearance.font_size")
    low, high = option.minimum or 8, option.maximum or 32
    settings.set("appearance.font_size", int(max(low, min(high, round(points)))))
    try:
        settings.save()
    except SettingsFileError as exc:
        log.warning("settings not saved: %s", exc)


def chat_defaults(settings: Settings, model: ModelInfo | None = None) -> ChatDefaults:
    """A new chat's defaults: the user's sampling settings where they changed them, otherwise
    what the loaded model's authors recommend, otherwise the app's defaults."""
    params = SamplingParams(**settings.sampling_kwargs())
    if model is not None:
        recommended = {
            key: value for key, value in model.sampling
            if settings.is_default(f"sampling.{key}")
        }  # fmt: skip
        if "top_k" in recommended:
            recommended["top_k"] = int(recommended["top_k"])
        candidate = dataclasses.replace(params, **recommended)  # type: ignore[arg-type]
        try:
            candidate.validate()
            params = candidate
        except ValueError:  # a model's odd recommendation never breaks a chat
            log.warning("ignoring the model's sampling recommendation %s", recommended)
    return ChatDefaults(settings.get_str("chat.default_system_prompt"), params)


def recommendation_notes(
    settings: Settings, model: ModelInfo | None, *, only_defaults: bool = True
) -> dict[str, str]:
    """For the settings panel: which sampling defaults new chats take from the loaded model
    instead (see :func:`chat_defaults`), so the page does not claim 0.7 while chats use 0.2;
    ``only_defaults``: for the options that have their default now (the others: the user's
    own value is what chats use)."""
    if model is None:
        return {}
    notes = {}
    for key, value in model.sampling:
        shown = int(value) if key == "top_k" else round(value, 3)
        notes[f"sampling.{key}"] = (
            f"{model.name} recommends {shown}: new chats use that while this stays at its default."
        )
    return {k: v for k, v in notes.items() if not only_defaults or settings.is_default(k)}


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
    except HistoryFolderMissing as exc:
        answer = QMessageBox.question(
            parent,
            "Parley cannot find its history",
            f"{exc}\n\nUse the history in the default folder ({data_dir()}) instead? The "
            "setting goes back to it; nothing is deleted. No: quit, connect the drive, and "
            "start Parley again.",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return None
        settings = Settings.load()
        settings.reset("history.location")
        with contextlib.suppress(SettingsFileError):
            settings.save()
        return open_history(parent)
    except KnownError as exc:
        QMessageBox.critical(parent, "Parley cannot open its history", str(exc))
        return None


def build_window(
    history: Store,
    host: EngineHost,
    notifier: Notifier,
    settings: Settings,
    feedback: FeedbackService | None = None,
    hotkey_note: Callable[[], str] | None = None,
) -> MainWindow:
    def move_history(path: Path) -> None:
        history.move_to(path)  # refused while an import holds it (``write_guard``, below)

    def open_settings(parent: Any) -> None:
        from desktop.ui.settings_dialog import SettingsDialog  # loads when first opened

        dialog = SettingsDialog(
            settings,
            parent,
            move_history=move_history,
            model_names=lambda: [m.name for m in installed_models()],
            extra_rows=window.settings_rows(),
            history_size=window.history_size,
        )
        dialog.clear_history_requested.connect(window.clear_history)
        window.host.model_loaded.connect(dialog.model_reloaded)  # its reload notes go
        if hotkey_note is not None:
            dialog.set_field_note("quick_ask.hotkey", hotkey_note())
        cores = os.cpu_count()
        if cores:  # 99 threads were accepted on two cores, and slow
            dialog.set_field_note(
                "model.threads",
                f"This computer has {cores} logical cores; more threads than that only slow "
                "the model down.",
            )
        model = loaded_model.get("info")
        for key, note in recommendation_notes(settings, model, only_defaults=False).items():
            dialog.set_field_note(key, note, while_default=True)  # goes as the value changes
        window.settings_dialog = dialog
        dialog.open()

    loaded_model: dict[str, ModelInfo] = {}
    host.model_loaded.connect(lambda info: loaded_model.__setitem__("info", info))
    window = MainWindow(
        history,
        host,
        lambda: chat_defaults(settings, loaded_model.get("info")),
        ModelActions(
            load=lambda folder: load_engine(folder, settings),
            install=install_starter,
            import_model=import_model,
            library=ModelLibrary,
            on_default=lambda name: save_default(settings, name),
        ),
        group_for_sidebar,
        notifier,
        open_settings=open_settings,
        feedback=feedback,
    )
    window.set_send_on_enter(settings.get_str("input.send_key") == "enter")
    font_size = settings.option("appearance.font_size")
    window.default_font_pt = float(font_size.default_value())
    window.font_size_store = lambda points: store_font_size(settings, points)
    settings.subscribe(
        lambda _change: window.set_send_on_enter(settings.get_str("input.send_key") == "enter"),
        keys=["input.send_key"],
    )

    def default_model_chosen(_change: object) -> None:
        # Settings ▸ Model ▸ Default model: that model answers now, and the library's
        # default (what `parley ask` and the manager's ✓ read) says the same
        name = settings.get_str("model.default")
        if name and name in ModelLibrary().names():
            window.use_model(name)

    settings.subscribe(default_model_chosen, keys=["model.default"])
    # while an import holds the history (on its own connection), the window's writes fail at
    # once with that reason instead of freezing it for the busy timeout
    history.write_guard = window.history_busy
    return window


NO_TRAY_NOTICE_MS = 4000  # when no model loads, the no-tray notice comes after this


def install_tray(app: QApplication, window: MainWindow, settings: Settings) -> Tray | None:
    """The tray icon where the desktop has a tray (and the setting is on); closing the window
    then keeps Parley running. Elsewhere the window says so once and keeps every feature."""
    if not settings.get_bool("quick_ask.tray"):
        return None
    if not tray_available():
        said: list[bool] = []

        def say(*_args: object) -> None:
            # after "… is ready", which replaced it within half a second when said at once;
            # with details, it stays four times as long
            if not said:
                said.append(True)
                window.notify(
                    "This desktop has no system tray: Quick ask is in the File menu.",
                    "Closing the window quits Parley here. `parley --quick-ask` opens Quick ask "
                    "from a shortcut of your desktop's own keyboard settings.",
                    error=False,
                )

        window.host.model_loaded.connect(say, Qt.ConnectionType.QueuedConnection)
        QTimer.singleShot(NO_TRAY_NOTICE_MS, say)  # no model loads (the first run)
        return None

    quit_app = partial(quit_parley, app, window)
    tray = Tray(window, window.open_quick_ask, window.new_tab, quit_app, parent=window)
    window.host.model_loaded.connect(tray.set_model)
    window.tray_notice.connect(lambda text: tray.message("Parley", text))
    window.quit_requested.connect(quit_app)
    window.keep_in_tray = True
    app.setQuitOnLastWindowClosed(False)
    tray.show()
    return tray


def quit_parley(app: QApplication, window: MainWindow) -> None:
    """Quit (the tray's Quit, Ctrl+C, SIGTERM): answers being written are stored first."""
    window.close_for_quit()
    app.quit()


def install_hotkey(hotkey: GlobalHotkey, settings: Settings) -> str:
    """Register the quick-ask shortcut; returns the note for the settings panel."""
    text = settings.get_str("quick_ask.hotkey").strip()
    if not text:
        hotkey.unregister()
        return "No global shortcut is set."
    problem = hotkey.register(text)
    if problem is None:
        return f"{text} opens Quick ask from anywhere."
    log.info("quick-ask shortcut not registered: %s", problem)
    return f"Not registered here — {problem}."


def read_layout(path: Path) -> dict[str, object]:
    """The window's size, position and sidebar width from the last run ({} if none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_layout(path: Path, state: Mapping[str, object]) -> None:
    """Replace the layout file in one step: a crash while writing leaves the old one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_file = path.with_name(path.name + ".tmp")
        partial_file.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial_file, path)
    except OSError as exc:  # a read-only profile keeps the default layout next time
        log.warning("window layout not saved: %s", exc)


LAYOUT_SAVE_MS = 5000


def autosave_layout(window: MainWindow, path: Path, interval_ms: int = LAYOUT_SAVE_MS) -> QTimer:
    """Write the window's layout whenever it changed, every few seconds (it is also written
    on quit): after a crash or a power cut the chats that were open come back, with what was
    typed in them."""
    written = [""]

    def save() -> None:
        state = window.layout_state()
        text = json.dumps(state, sort_keys=True)
        if text != written[0]:
            write_layout(path, state)
            written[0] = text

    timer = QTimer(window)
    timer.setInterval(interval_ms)
    timer.timeout.connect(save)
    timer.start()
    return timer


def keychain_notice(feedback: FeedbackService) -> str | None:
    """What the status bar says at start about where API tokens are kept: only for someone
    who submits feedback (Settings ▸ Feedback shows it next to the token for everyone)."""
    return feedback.tokens.notice if feedback.config().enabled else None


def on_command(window: MainWindow, command: str) -> None:
    """What a second start asked for (see desktop.services.single_instance)."""
    if command == "quick-ask":
        window.open_quick_ask()
    else:
        window.present()


def run_app(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns the exit code."""
    args = list(sys.argv if argv is None else argv)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(args)
    app.setApplicationName("Parley")
    app.setOrganizationName("Parley")
    # One Parley per user: a second start hands its request to the running one and exits.
    instance = server_name()
    if forward(instance, command_for(args)):
        return 0
    server = InstanceServer(instance)
    server.listen()
    app.setWindowIcon(app_icon())
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
    from desktop.services.feedback_service import FeedbackService

    feedback = FeedbackService(history, settings)
    hotkey = GlobalHotkey()
    hotkey_state = ["not registered"]
    window = build_window(
        history, host, notifier, settings, feedback, hotkey_note=lambda: hotkey_state[0]
    )
    hotkey.activated.connect(window.open_quick_ask)
    hotkey_state[0] = install_hotkey(hotkey, settings)

    def hotkey_changed(_change: object) -> None:
        hotkey_state[0] = install_hotkey(hotkey, settings)
        from desktop.ui.settings_dialog import SettingsDialog

        dialog = window.settings_dialog
        if isinstance(dialog, SettingsDialog) and dialog.isVisible():  # says how this one went
            dialog.set_field_note("quick_ask.hotkey", hotkey_state[0])

    settings.subscribe(hotkey_changed, keys=["quick_ask.hotkey"])
    tray = install_tray(app, window, settings)
    server.command.connect(lambda command: on_command(window, command))
    layout_file = data_dir() / "window.json"
    layout = read_layout(layout_file)
    window.restore_layout(layout)
    app.aboutToQuit.connect(lambda: write_layout(layout_file, window.layout_state()))
    window.show()
    QTimer.singleShot(0, lambda: window.restore_chats(layout))  # the window shows first
    autosave_layout(window, layout_file)
    if "--quick-ask" in args:
        QTimer.singleShot(0, window.open_quick_ask)
    for notice in [*settings.notices, *feedback.filter_notices]:
        window.notify(notice)

    def token_notice() -> None:  # once the keychain search (on a thread) is done
        if not feedback.tokens_ready():
            QTimer.singleShot(50, token_notice)
        elif (notice := keychain_notice(feedback)) is not None:
            window.notify(notice)

    QTimer.singleShot(0, token_notice)
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

    quit_signals = QuitOnSignals(partial(quit_parley, app, window), app)  # Ctrl+C, SIGTERM
    try:
        return app.exec()
    finally:
        quit_signals.uninstall()
        hotkey.close()
        server.close()
        if tray is not None:
            tray.hide()
        host.shutdown()
        feedback.shutdown()
        history.close()
        theme.close()
        hooks.uninstall()
