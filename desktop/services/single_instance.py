"""One Parley per user: a second start (``parley``, ``parley --quick-ask``) hands its request to
the running app over a local socket (QLocalServer) and exits.

The protocol is one line of UTF-8 per connection: ``show`` or ``quick-ask``. The server name is
per user and per data folder, so a test or a second profile (``PARLEY_DATA_DIR``) has its own.
"""

from __future__ import annotations

import getpass
import hashlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop.config.paths import data_dir

log = logging.getLogger(__name__)

COMMANDS = ("show", "quick-ask")
CONNECT_MS = 500


def server_name() -> str:
    """A name unique to this user and data folder (sockets live in a shared namespace)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "user"
    digest = hashlib.sha1(f"{user}\0{data_dir()}".encode()).hexdigest()[:12]
    return f"parley-{digest}"


def command_for(args: list[str]) -> str:
    return "quick-ask" if "--quick-ask" in args else "show"


def forward(name: str, command: str, timeout_ms: int = CONNECT_MS) -> bool:
    """Send ``command`` to a running Parley; False when none answers."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write((command + "\n").encode())
    ok = socket.waitForBytesWritten(timeout_ms)
    socket.disconnectFromServer()
    if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
        socket.waitForDisconnected(timeout_ms)
    return ok


class InstanceServer(QObject):
    """Listens for later starts; ``command(str)`` fires with what they asked for."""

    command = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._accept)
        self._buffers: dict[QLocalSocket, bytes] = {}

    def listen(self) -> bool:
        """Start listening. A socket file left by a Parley that crashed is removed first (only
        call this after :func:`forward` found no running instance)."""
        if self._server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)
        if self._server.listen(self.name):
            return True
        log.warning("single-instance server not started: %s", self._server.errorString())
        return False

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            self._buffers[socket] = b""
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(lambda s=socket: self._done(s))

    def _read(self, socket: QLocalSocket) -> None:
        data = self._buffers.get(socket, b"") + bytes(socket.readAll().data())
        *lines, rest = data.split(b"\n")
        self._buffers[socket] = rest[:256]  # a line is a word; never grow without bound
        for line in lines:
            text = line.decode("utf-8", "replace").strip()
            if text in COMMANDS:
                self.command.emit(text)
            else:
                log.warning("ignored an unknown single-instance command %r", text[:40])

    def _done(self, socket: QLocalSocket) -> None:
        self._read(socket)
        self._buffers.pop(socket, None)
        socket.deleteLater()
