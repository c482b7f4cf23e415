from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.engine.types import SamplingParams
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.store import Store, group_for_sidebar
from desktop.ui.main_window import MainWindow, ModelActions
from tests.fakes import FakeEngine, no_thread_left_running

Progress = Callable[[str, float], None]


@pytest.fixture(autouse=True)
def _no_qthread_leak(qapp: object) -> Iterator[None]:
    with no_thread_left_running():
        yield


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(replies=["Hello there, human.", "Another answer.", "A third answer."])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "history.sqlite3")
    yield s
    s.close()


class FakeInstaller:
    """Stands in for desktop.convert.starter.install_starter: reports the three stages and
    honours cancel; ``block`` makes it wait for a cancel."""

    def __init__(self, folder: Path, block: bool = False) -> None:
        self.folder = folder
        self.block = block
        self.stages: list[str] = []

    def __call__(self, progress: Progress, cancel: threading.Event) -> Path:
        for stage in ("download", "verify", "convert"):  # as install_starter reports
            self.stages.append(stage)
            progress(stage, 0.5)
            if self.block and cancel.wait(5):
                raise RuntimeError("cancelled")
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder


@pytest.fixture
def installer(tmp_path: Path) -> FakeInstaller:
    return FakeInstaller(tmp_path / "models" / "starter")


@pytest.fixture
def make_window(
    qtbot: QtBot, store: Store, engine: FakeEngine, installer: FakeInstaller
) -> Iterator[Callable[..., MainWindow]]:
    hosts: list[EngineHost] = []
    windows: list[MainWindow] = []
    loaded: list[Path] = []

    def load(folder: Path) -> FakeEngine:
        loaded.append(folder)
        return engine

    def make(load_model: bool = True, system_prompt: str = "") -> MainWindow:
        host = EngineHost()
        hosts.append(host)
        defaults = ChatDefaults(system_prompt, SamplingParams(seed=0))
        window = MainWindow(
            store,
            host,
            lambda: defaults,
            ModelActions(load=load, install=installer),
            group_for_sidebar,
        )
        window.loaded_folders = loaded  # type: ignore[attr-defined]
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        if load_model:
            with qtbot.waitSignal(host.model_loaded, timeout=5000):
                window.load_model(Path("fake-model"))
        else:
            window.show_welcome(True)
        return window

    yield make
    for window in windows:
        window.close()
    for host in hosts:
        assert host.shutdown()


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()
