"""The API token lives in the keychain, or in memory only, never in Parley's files."""

from __future__ import annotations

import keyring.backend
import keyring.errors
import pytest

from desktop.config.paths import data_dir
from desktop.config.settings import Settings
from desktop.feedback import FeedbackDraft, FeedbackStore, TokenStore
from desktop.feedback.submission import SubmissionConfig, queue
from desktop.feedback.tokens import NO_KEYCHAIN_NOTICE, SERVICE
from desktop.store import Store
from tests.feedback.conftest import make_chat

ENDPOINT = "https://feedback.example.com/v1/records"
SECRET = "tok-5ecret-9f8e7d6c5b4a"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keychain that keeps passwords in a dict: the tests never touch the real one."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not found")


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("the keychain is locked")


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_the_token_goes_to_the_keychain_per_endpoint(memory_keyring: MemoryKeyring) -> None:
    tokens = TokenStore()  # picks up the keychain set for this test
    assert tokens.persistent
    assert tokens.notice is None
    tokens.set(ENDPOINT, SECRET)
    assert memory_keyring.passwords == {(SERVICE, ENDPOINT): SECRET}
    assert TokenStore().get(ENDPOINT) == SECRET  # survives a restart (a new TokenStore)
    assert tokens.get("https://other.example.com/") is None  # never sent elsewhere
    tokens.forget(ENDPOINT)
    assert memory_keyring.passwords == {}
    tokens.forget(ENDPOINT)  # forgetting twice is fine
    assert not tokens.has_token(ENDPOINT)


def test_without_a_keychain_the_token_is_kept_in_memory_and_the_user_is_told() -> None:
    from keyring.backends import fail

    tokens = TokenStore(fail.Keyring())
    assert not tokens.persistent
    assert tokens.notice == NO_KEYCHAIN_NOTICE
    tokens.set(ENDPOINT, SECRET)
    assert tokens.get(ENDPOINT) == SECRET
    assert TokenStore(fail.Keyring()).get(ENDPOINT) is None  # gone after a restart


def test_a_failing_keychain_falls_back_to_memory_and_says_so() -> None:
    tokens = TokenStore(BrokenKeyring())
    assert tokens.persistent
    tokens.set(ENDPOINT, SECRET)
    assert not tokens.persistent
    assert tokens.notice is not None
    assert "the keychain is locked" in tokens.notice
    assert tokens.get(ENDPOINT) == SECRET


def test_a_plaintext_keychain_is_not_trusted() -> None:
    plaintext = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})()
    tokens = TokenStore(plaintext)
    assert not tokens.persistent
    tokens.set(ENDPOINT, SECRET)
    assert plaintext.passwords == {}


def test_empty_tokens_and_missing_endpoints_are_refused() -> None:
    tokens = TokenStore(MemoryKeyring())
    with pytest.raises(ValueError, match="empty"):
        tokens.set(ENDPOINT, "  ")
    with pytest.raises(ValueError, match="endpoint address"):
        tokens.set("", SECRET)


def test_the_token_is_never_written_to_parleys_files() -> None:
    from keyring.backends import fail

    settings = Settings.load()
    settings.update({"submission.enabled": True, "submission.endpoint": ENDPOINT})
    settings.save()
    tokens = TokenStore(fail.Keyring())
    tokens.set(ENDPOINT, SECRET)
    with Store.open() as store:
        feedback = FeedbackStore(store)
        chat = make_chat(store)
        record = feedback.rate(chat.a1.id, FeedbackDraft(-1, comment="uses the token?"))
        queue(feedback, record, SubmissionConfig.from_settings(settings))
        feedback.close()
    files = [p for p in data_dir().rglob("*") if p.is_file()]
    assert any(p.name == "settings.json" for p in files)
    assert any(p.name.startswith("history.sqlite3") for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert tokens.get(ENDPOINT) == SECRET
