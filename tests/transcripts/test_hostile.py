"""Malformed, huge and hostile files: one clear line, and the history is left unchanged."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop.store import KnownError, Store
from desktop.transcripts import MAX_BYTES, TranscriptError, import_file
from desktop.transcripts.safejson import check_depth
from tests.transcripts.conftest import snapshot
from tests.transcripts.test_chatgpt_import import chatgpt_export


def _parley(conversations: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    return {"format": "parley-transcripts", "version": version, "conversations": conversations}


def _message(uid: str, parent: str | None, **changes: Any) -> dict[str, Any]:
    return {"uid": uid, "parent": parent, "role": "user", "content": "x", **changes}


def _rated(role: str, rating: int) -> dict[str, Any]:
    message = _message("a", None, role=role, rating={"uid": "r", "rating": rating})
    return _parley([{"uid": "c", "messages": [message]}])


def _chatgpt_with(change: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    data = chatgpt_export()
    change(data[0])
    return data


def _cycle(c: dict[str, Any]) -> None:
    c["mapping"]["u1"]["parent"] = "a2"  # u1 -> a2 -> u1


def _self_parent(c: dict[str, Any]) -> None:
    c["mapping"]["a1"]["parent"] = "a1"


CASES: dict[str, tuple[Any, str]] = {
    "not an export": ({"hello": "world"}, "neither a Parley transcript nor"),
    "a number": (42, "neither a Parley transcript nor"),
    "mapping is a list": (
        _chatgpt_with(lambda c: c.__setitem__("mapping", [])),
        "expected an object, found an array",
    ),
    "role is a number": (
        _chatgpt_with(lambda c: c["mapping"]["u1"]["message"]["author"].__setitem__("role", 7)),
        "'role' must be a string",
    ),
    "parts is a string": (
        _chatgpt_with(lambda c: c["mapping"]["a1"]["message"]["content"].__setitem__("parts", "x")),
        "expected an array, found a string",
    ),
    "create_time is text": (
        _chatgpt_with(lambda c: c["mapping"]["a1"]["message"].__setitem__("create_time", "now")),
        "'create_time' must be a number",
    ),
    "cycle in the mapping": (_chatgpt_with(_cycle), "form a cycle"),
    "node is its own parent": (_chatgpt_with(_self_parent), "form a cycle"),
    "newer parley format": (_parley([], version=2), "newer Parley"),
    "parley wrong role": (
        _parley([{"uid": "c", "messages": [_message("m", None, role="wizard")]}]),
        "'role' must be one of",
    ),
    "parley missing parent": (
        _parley([{"uid": "c", "messages": [_message("m", "ghost")]}]),
        "missing parent",
    ),
    "parley cycle": (
        _parley([{"uid": "c", "messages": [_message("a", "b"), _message("b", "a")]}]),
        "form a cycle",
    ),
    "parley conversation twice": (
        _parley(
            [
                {"uid": "c", "messages": [_message("a", None)]},
                {"uid": "c", "messages": [_message("b", None)]},
            ]
        ),
        "conversations 1 and 2 have the same uid 'c'",
    ),
    "parley duplicate uid": (
        _parley([{"uid": "c", "messages": [_message("a", None), _message("a", None)]}]),
        "appears twice",
    ),
    "parley content not text": (
        _parley([{"uid": "c", "messages": [_message("a", None, content=["x"])]}]),
        "'content' must be a string",
    ),
    "parley rating on a question": (
        _rated("user", 1),
        "only answers (assistant messages) can be rated",
    ),
    "parley rating out of range": (
        _rated("assistant", 5),
        "'rating' must be 1 or -1",
    ),
    "parley duplicate rating uid": (
        _parley(
            [
                {
                    "uid": "c",
                    "messages": [
                        _message("a", None, role="assistant", rating={"uid": "r", "rating": 1}),
                        _message("b", None, role="assistant", rating={"uid": "r", "rating": -1}),
                    ],
                }
            ]
        ),
        "rating 'r' appears twice",
    ),
    "parley leaf not a message": (
        _parley([{"uid": "c", "current_leaf": "zz", "messages": [_message("a", None)]}]),
        "'current_leaf'",
    ),
}


@pytest.fixture
def history(store: Store) -> Store:
    from tests.transcripts.conftest import fill

    fill(store)
    return store


def _assert_rejected(store: Store, path: Path, fragment: str, **kwargs: Any) -> None:
    before = snapshot(store.path)
    with pytest.raises(KnownError) as caught:
        import_file(store, path, **kwargs)
    message = str(caught.value)
    assert fragment in message
    assert message.endswith("nothing was imported") or message.startswith("cannot read")
    assert "\n" not in message
    assert snapshot(store.path) == before


@pytest.mark.parametrize("case", CASES)
def test_malformed_files_change_nothing(case: str, history: Store, tmp_path: Path) -> None:
    value, fragment = CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    _assert_rejected(history, path, fragment)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b" \n\t\n", "is empty"),
        (b'[{"title": "x", "mapping": {', "not valid JSON"),
        (b"\xfe\x00garbage", "not UTF-8"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),  # a UTF-16 mark: read as UTF-16, not JSON
        (b"\xff\xfe\x00\xd8", "not UTF-16"),  # a lone surrogate
        (b'{"format": "parley-transcripts", "version": NaN}', "NaN is not allowed"),
        (b"[" * 200_000 + b"]" * 200_000, "nested more than 64 levels"),
        (b'[{"create_time": ' + b"9" * 5000 + b"}]", "holds a number too long to read"),
    ],
)
def test_unparseable_files_change_nothing(
    content: bytes, fragment: str, history: Store, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    _assert_rejected(history, path, fragment)


def test_moderately_deep_nesting_is_refused_without_recursion(
    history: Store, tmp_path: Path
) -> None:
    deep: Any = "bottom"
    for _ in range(100):  # parses fine, but deeper than any transcript
        deep = {"x": deep}
    data = _chatgpt_with(lambda c: c["mapping"]["a1"]["message"]["metadata"].update(deep=deep))
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    _assert_rejected(history, path, "nested more than 64 levels")


def test_depth_check_is_iterative() -> None:
    deep: Any = []
    for _ in range(100_000):  # far beyond the recursion limit
        deep = [deep]
    with pytest.raises(TranscriptError, match="nested more than 64"):
        check_depth(deep, "x")


def test_a_file_over_the_limit_is_refused_before_reading(history: Store, tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:  # sparse: over 1 GB long, nothing to parse
        f.truncate(MAX_BYTES + 1)
    _assert_rejected(history, path, "larger than the import limit of 1 GB")


def test_a_zip_member_over_the_limit_is_refused(history: Store, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", b" " * (3 * 1024 * 1024) + b"[]")
    _assert_rejected(history, path, "larger than the import limit of 2 MB", max_bytes=2 << 20)


def test_a_zip_without_conversations_is_refused(history: Store, tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("cat.png", b"\x89PNG")
    _assert_rejected(history, path, "contains no conversations.json")


def test_a_zip_cut_short_is_said_to_be_a_damaged_zip(history: Store, tmp_path: Path) -> None:
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as z:
        z.writestr("conversations.json", json.dumps([{"title": "x"}] * 50))
    path = tmp_path / "chatgpt-export.zip"
    path.write_bytes(whole.read_bytes()[:-30])  # a download that stopped early
    _assert_rejected(history, path, "chatgpt-export.zip is a damaged zip file (its end is missing")


def test_missing_file(history: Store, tmp_path: Path) -> None:
    _assert_rejected(history, tmp_path / "nope.json", "cannot read")


def test_two_conversations_sharing_a_message_each_get_their_own(
    history: Store, tmp_path: Path
) -> None:
    """The second conversation reuses a message uid of the first (a chat copied into
    another): both are imported, the second with a uid of its own for it, stable on
    re-import."""
    good = {"uid": "c1", "title": "fine", "messages": [_message("m1", None)]}
    clash = {"uid": "c2", "title": "clash", "messages": [_message("m1", None)]}
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(_parley([good, clash])), encoding="utf-8")
    result = import_file(history, path)
    assert result.added == 2
    again = import_file(history, path)
    assert (again.added, again.unchanged) == (0, 2), "nothing doubled on a second import"
