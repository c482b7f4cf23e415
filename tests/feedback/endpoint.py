"""A real HTTP endpoint on 127.0.0.1 for the submission tests, speaking the protocol of
``desktop.feedback.submit``: it stores each record once per idempotency key and acknowledges
with the key; ``behaviour`` makes it fail in the ways real endpoints do."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "s3cret-token-for-tests"


@dataclass
class Endpoint:
    url: str
    behaviour: list[str] = field(default_factory=list)
    """What the next requests get, one entry each ("ok" when empty): ok, slow, 500, 503-later,
    401, 422, garbage, redirect."""
    records: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    slow_s: float = 1.5
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stored(self) -> list[Any]:
        return list(self.records.values())


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have given up waiting (the "slow" case).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            key = self.headers.get("Idempotency-Key", "")
            with endpoint.lock:
                endpoint.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                mode = endpoint.behaviour.pop(0) if endpoint.behaviour else "ok"
            if self.path == "/elsewhere":
                self._answer(200, json.dumps({"idempotency_key": key}).encode())
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}" or mode == "401":
                self._answer(401, b'{"error": "invalid token"}')
                return
            if mode == "500":
                self._answer(
                    500, b"<html>Internal Server Error</html>", {"Content-Type": "text/html"}
                )
                return
            if mode == "503-later":
                self._answer(503, b"", {"Retry-After": "120"})
                return
            if mode == "422":
                self._answer(422, b'{"error": "rating must be -1 or 1"}')
                return
            if mode == "garbage":
                self._answer(
                    200, b"<html>Welcome to the hotel Wi-Fi</html>", {"Content-Type": "text/html"}
                )
                return
            if mode == "redirect":
                self._answer(302, b"", {"Location": "/elsewhere"})
                return
            with endpoint.lock:
                # Store once per key: a retry of a record already stored is acknowledged again.
                endpoint.records.setdefault(key, body)
            if mode == "slow":
                time.sleep(endpoint.slow_s)
            self._answer(200, json.dumps({"idempotency_key": key, "status": "stored"}).encode())

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up is part of the tests


@contextmanager
def running_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint(url="")
    server = _Server(("127.0.0.1", 0), _handler(endpoint))
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/records"
    thread = threading.Thread(target=server.serve_forever, name="test-endpoint", daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def dead_url() -> str:
    """An address where nothing listens (a port that was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/records"
