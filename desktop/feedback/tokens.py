"""The submission endpoint's API token: kept in the OS keychain, never in Parley's files.

Tokens are stored per endpoint address, so a token saved for one endpoint is never sent to
another. When the system has no usable keychain (no backend, or only one that writes plain
text files), the token is kept in memory for this run of the app only and :attr:`notice` says
so; it is never written to disk.
"""

from __future__ import annotations

import logging

import keyring
import keyring.backend
import keyring.errors

logger = logging.getLogger(__name__)

SERVICE = "Parley feedback submission"

NO_KEYCHAIN_NOTICE = (
    "No system keychain is available, so the API token is kept only until Parley quits; "
    "it is not saved anywhere. Enter it again after a restart."
)


def _usable(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why ``backend`` cannot keep a secret safely, or ``None`` if it can."""
    module = type(backend).__module__
    name = type(backend).__name__
    if module.startswith("keyring.backends.fail") or module.startswith("keyring.backends.null"):
        return "no keychain backend is installed"
    if module.startswith("keyrings.alt") and ("Plaintext" in name or "file" in module):
        return f"the only keychain backend ({name}) would write the token to a file"
    children = getattr(backend, "backends", None)
    if module.startswith("keyring.backends.chainer") and not children:
        return "no keychain backend is installed"
    return None


class TokenStore:
    """Get, set and forget the API token of an endpoint."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._memory: dict[str, str] = {}
        why = _usable(self._backend)
        self.persistent = why is None
        self.notice: str | None = None if why is None else NO_KEYCHAIN_NOTICE
        if why is not None:
            logger.info("API tokens stay in memory: %s", why)

    def _fall_back(self, error: Exception) -> None:
        logger.warning("The keychain failed (%s); the API token stays in memory", error)
        self.persistent = False
        self.notice = (
            f"The system keychain failed ({error}), so the API token is kept only until Parley "
            "quits; it is not saved anywhere."
        )

    def get(self, endpoint: str) -> str | None:
        if endpoint in self._memory or not self.persistent:
            return self._memory.get(endpoint)
        try:
            return self._backend.get_password(SERVICE, endpoint)
        except keyring.errors.KeyringError as error:
            self._fall_back(error)
            return None

    def set(self, endpoint: str, token: str) -> None:
        if not endpoint:
            raise ValueError("set the endpoint address before its API token")
        if not token.strip():
            raise ValueError("the API token is empty")
        if self.persistent:
            try:
                self._backend.set_password(SERVICE, endpoint, token)
            except keyring.errors.KeyringError as error:
                self._fall_back(error)
            else:
                self._memory.pop(endpoint, None)
                return
        self._memory[endpoint] = token

    def forget(self, endpoint: str) -> None:
        self._memory.pop(endpoint, None)
        if not self.persistent:
            return
        try:
            self._backend.delete_password(SERVICE, endpoint)
        except keyring.errors.PasswordDeleteError:
            pass  # there was none
        except keyring.errors.KeyringError as error:
            self._fall_back(error)

    def has_token(self, endpoint: str) -> bool:
        return bool(endpoint) and self.get(endpoint) is not None
