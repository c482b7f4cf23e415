"""Export -> import gives back the same trees: every branch, status, model, params, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.feedback import FeedbackStore
from desktop.store import Store
from desktop.store.transcripts import TreeConversation, read_conversation, read_conversations
from desktop.transcripts import export_conversations, import_file
from desktop.transcripts.export import Format
from tests.store.conftest import check_database


def _by_uid(store: Store) -> dict[str, TreeConversation]:
    ids = [c.id for c in store.list_conversations()]
    return {c.uid: c for c in read_conversations(store, ids)}


@pytest.mark.parametrize("fmt", ["parley-json", "chatgpt-json"])
def test_round_trip_keeps_identical_trees(
    fmt: Format, store: Store, other_store: Store, filled: list[int], tmp_path: Path
) -> None:
    original = read_conversations(store, filled)
    assert original[0].branch_count == 4  # the tree really has branches to lose
    assert sum(m.rating is not None for m in original[0].messages) == 2  # and ratings
    target = export_conversations(store, filled, fmt, tmp_path / f"out-{fmt}.json")

    result = import_file(other_store, target)

    assert (result.added, result.merged, result.unchanged) == (2, 0, 0)
    assert result.messages == sum(len(c.messages) for c in original)
    imported = _by_uid(other_store)
    for conversation in original:
        back = imported[conversation.uid]
        # The streaming answer comes back as interrupted: an import never streams.
        expected_messages = tuple(
            m if m.status != "streaming" else _with_status(m, "interrupted")
            for m in conversation.messages
        )
        assert back == _replace(conversation, messages=expected_messages)
    check_database(other_store.path)
    ratings = FeedbackStore(other_store)
    try:  # the feedback module reads the imported ratings like its own
        assert sorted(r.rating or 0 for r in ratings.all_feedback()) == [-1, 1]
    finally:
        ratings.close()


def _with_status(message: object, status: str) -> object:
    from dataclasses import replace

    return replace(message, status=status)  # type: ignore[type-var]


def _replace(conversation: TreeConversation, **changes: object) -> TreeConversation:
    from dataclasses import replace

    return replace(conversation, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["parley-json", "chatgpt-json"])
def test_reimport_adds_nothing(
    fmt: Format, store: Store, filled: list[int], tmp_path: Path
) -> None:
    target = export_conversations(store, filled, fmt, tmp_path / "out.json")
    before = _by_uid(store)

    result = import_file(store, target)

    assert (result.added, result.merged, result.unchanged, result.messages) == (0, 0, 2, 0)
    assert _by_uid(store) == before
    assert len(store.list_conversations()) == 2


def test_reimport_brings_in_only_new_branches(
    store: Store, other_store: Store, filled: list[int], tmp_path: Path
) -> None:
    first = export_conversations(store, filled[1:], "chatgpt-json", tmp_path / "a.json")
    import_file(other_store, first)
    # The conversation continues on the first machine, then is exported again.
    plain = read_conversation(store, filled[1])
    last = store.get_conversation(filled[1]).current_leaf_id
    store.add_message(filled[1], last, "user", "and a follow-up")
    store.regenerate(last or 0, "m")
    second = export_conversations(store, filled[1:], "chatgpt-json", tmp_path / "b.json")

    result = import_file(other_store, second)

    assert (result.added, result.merged, result.messages) == (0, 1, 2)
    back = _by_uid(other_store)[plain.uid]
    assert len(back.messages) == len(plain.messages) + 2
    assert len(other_store.list_conversations()) == 1


def test_imported_conversations_are_searchable(
    store: Store, other_store: Store, filled: list[int], tmp_path: Path
) -> None:
    target = export_conversations(store, filled, "chatgpt-json", tmp_path / "c.json")
    import_file(other_store, target)
    hits = other_store.search("rust")
    assert [h.snippet for h in hits if h.message_id is not None]
    assert any("Rust" in h.snippet for h in hits)
    assert other_store.search("tricky")[0].message_id is None  # the title is indexed too


def test_parley_json_is_versioned_and_complete(
    store: Store, filled: list[int], tmp_path: Path
) -> None:
    target = export_conversations(store, filled[:1], "parley-json", tmp_path / "p.json")
    document = json.loads(target.read_text(encoding="utf-8"))
    assert (document["format"], document["version"]) == ("parley-transcripts", 1)
    [conversation] = document["conversations"]
    assert conversation["folder"] == "Work"
    assert conversation["pinned"] is True
    assert conversation["system_prompt"] == "You are terse."
    statuses = {m["status"] for m in conversation["messages"]}
    assert statuses == {"complete", "stopped", "error", "streaming"}
    ratings = [m["rating"] for m in conversation["messages"] if m["rating"]]
    assert sorted((r["rating"], r["comment"]) for r in ratings) == [(-1, ""), (1, "nice")]
    assert {r["ideal_answer"] for r in ratings} == {None, "def fib(n): return n"}
    assert all(r["context"]["model"] == "smollm2-135m-instruct" for r in ratings)
    stats = [m["stats"] for m in conversation["messages"] if m["stats"]]
    assert {"decode_tok_s": 91.5, "generated_tokens": 31, "ttft_s": 0.077} in stats


def test_chatgpt_export_has_chatgpt_shape(store: Store, filled: list[int], tmp_path: Path) -> None:
    target = export_conversations(store, filled[:1], "chatgpt-json", tmp_path)
    assert target.name == "conversations.json"
    [conversation] = json.loads(target.read_text(encoding="utf-8"))
    mapping = conversation["mapping"]
    roots = [k for k, node in mapping.items() if node["parent"] is None]
    assert len(roots) == 1
    assert mapping[roots[0]]["message"] is None
    for key, node in mapping.items():
        for child in node["children"]:
            assert mapping[child]["parent"] == key
        if node["message"] is not None:
            assert node["message"]["author"]["role"] in ("user", "assistant")
            assert isinstance(node["message"]["content"]["parts"][0], str)
    # current_node is the branch on screen, walking up to the root.
    node, path = conversation["current_node"], []
    while mapping[node]["message"] is not None:
        path.append(mapping[node]["message"]["content"]["parts"][0])
        node = mapping[node]["parent"]
    assert path[-1] == "Write `fib` in Python"
    assert path[0].startswith("```python")
