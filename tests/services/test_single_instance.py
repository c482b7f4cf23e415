"""Single instance: a later start signals the running app over a local socket."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from pytestqt.qtbot import QtBot

from desktop.services.single_instance import InstanceServer, command_for, forward, server_name


def unique() -> str:
    return f"parley-test-{uuid.uuid4().hex[:12]}"


def test_a_second_start_hands_its_command_to_the_running_app(qtbot: QtBot) -> None:
    name = unique()
    server = InstanceServer(name)
    assert server.listen()
    try:
        received: list[str] = []
        server.command.connect(received.append)
        assert forward(name, "quick-ask")
        qtbot.waitUntil(lambda: received == ["quick-ask"], timeout=3000)
        assert forward(name, "show")
        qtbot.waitUntil(lambda: received == ["quick-ask", "show"], timeout=3000)
    finally:
        server.close()


def test_nothing_is_running_so_the_start_goes_on(qtbot: QtBot) -> None:
    assert not forward(unique(), "show", timeout_ms=200)


def test_unknown_commands_are_ignored(qtbot: QtBot) -> None:
    name = unique()
    server = InstanceServer(name)
    assert server.listen()
    try:
        received: list[str] = []
        server.command.connect(received.append)
        assert forward(name, "rm -rf /")
        assert forward(name, "show")
        qtbot.waitUntil(lambda: received == ["show"], timeout=3000)
    finally:
        server.close()


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes leave no file behind")
def test_a_stale_socket_left_by_a_crash_does_not_block_the_next_start(
    qtbot: QtBot, tmp_path: Path
) -> None:
    name = unique()
    path = Path(QDir.tempPath()) / name
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a socket file nobody listens on: what a crash leaves
    dead.close()
    assert path.exists()
    assert not forward(name, "show", timeout_ms=200)
    server = InstanceServer(name)
    try:
        assert server.listen()
        received: list[str] = []
        server.command.connect(received.append)
        assert forward(name, "show")
        qtbot.waitUntil(lambda: received == ["show"], timeout=3000)
    finally:
        server.close()


def test_the_command_follows_the_flag() -> None:
    assert command_for(["parley", "--quick-ask"]) == "quick-ask"
    assert command_for(["parley"]) == "show"


def test_another_data_folder_gets_another_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = server_name()
    assert before.startswith("parley-")
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "other"))
    assert server_name() != before
