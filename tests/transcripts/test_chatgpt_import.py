"""Reading ChatGPT's own export: structure nodes, hidden messages, branches, attachments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from desktop.store import Store
from desktop.store.transcripts import read_conversation
from desktop.transcripts import import_file, read_file


def _node(
    key: str,
    parent: str | None,
    children: list[str],
    role: str | None = None,
    content: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message = None
    if role is not None:
        message = {
            "id": key,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": extra.pop("create_time", None),
            "update_time": None,
            "content": content,
            "status": extra.pop("status", "finished_successfully"),
            "end_turn": None,
            "weight": 1.0,
            "metadata": extra.pop("metadata", {}),
            "recipient": "all",
        }
    return {"id": key, "message": message, "parent": parent, "children": children}


def _text(*parts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def chatgpt_export() -> list[dict[str, Any]]:
    """Shaped like a real ``conversations.json`` entry (2024-2025 exports)."""
    mapping = {
        "root": _node("root", None, ["sys"]),
        "sys": _node(
            "sys",
            "root",
            ["u1"],
            "system",
            _text(""),
            metadata={"is_visually_hidden_from_conversation": True},
        ),
        "u1": _node(
            "u1",
            "sys",
            ["a1", "a2"],
            "user",
            {
                "content_type": "multimodal_text",
                "parts": [
                    {"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"},
                    "What is in this picture?",
                ],
            },
            create_time=1700000000.5,
        ),
        "a1": _node(
            "a1",
            "u1",
            [],
            "assistant",
            _text("A cat."),
            create_time=1700000001.0,
            metadata={"model_slug": "gpt-4o"},
        ),
        "a2": _node(
            "a2",
            "u1",
            ["t1"],
            "assistant",
            _text("A small grey cat on a sofa."),
            create_time=1700000009.0,
            metadata={"model_slug": "gpt-4o"},
        ),
        "t1": _node(
            "t1",
            "a2",
            ["u2"],
            "assistant",
            {"content_type": "thoughts", "thoughts": [{"summary": "x", "content": "y"}]},
        ),
        "u2": _node("u2", "t1", ["a3"], "user", _text("Write code for it"), create_time=1700000020),
        "a3": _node(
            "a3",
            "u2",
            [],
            "assistant",
            {"content_type": "code", "language": "python", "text": "print('cat')"},
            create_time=1700000021,
            status="in_progress",
            metadata={"model_slug": "o3"},
        ),
    }
    return [
        {
            "title": "Cat picture",
            "create_time": 1700000000.0,
            "update_time": 1700000030.0,
            "mapping": mapping,
            "moderation_results": [],
            "current_node": "a3",
            "plugin_ids": None,
            "conversation_id": "67c0ffee-0000-4000-8000-000000000001",
            "id": "67c0ffee-0000-4000-8000-000000000001",
            "is_archived": False,
        }
    ]


def test_reads_shown_messages_with_branches(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(chatgpt_export()), encoding="utf-8")

    [c] = read_file(path).conversations

    assert c.uid == "67c0ffee-0000-4000-8000-000000000001"
    assert (c.title, c.created_at, c.updated_at) == ("Cat picture", 1700000000.0, 1700000030.0)
    by_uid = {m.uid: m for m in c.messages}
    # The empty root, the hidden system message and the reasoning node are left out; their
    # children hang from the nearest shown ancestor.
    assert set(by_uid) == {"u1", "a1", "a2", "u2", "a3"}
    assert by_uid["u1"].parent_uid is None
    assert by_uid["u2"].parent_uid == "a2"
    assert by_uid["u1"].content == "[image]\n\nWhat is in this picture?"
    assert by_uid["a3"].content == "```python\nprint('cat')\n```"
    assert (by_uid["a3"].status, by_uid["a3"].model) == ("interrupted", "o3")
    assert by_uid["a1"].model == "gpt-4o"
    assert [m.uid for m in c.shown_branch()] == ["u1", "a2", "u2", "a3"]
    assert c.branch_count == 2


def test_import_zip_from_chatgpt(store: Store, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("chat.html", "<html>not this</html>")
        z.writestr("conversations.json", json.dumps(chatgpt_export()))

    result = import_file(store, archive)

    assert (result.added, result.messages) == (1, 5)
    [conversation_id] = result.conversation_ids
    thread = store.thread(conversation_id)
    assert [e.message.content for e in thread][-1].startswith("```python")
    u1 = thread[0].message
    assert [m.content for m in store.children(u1.id)] == ["A cat.", "A small grey cat on a sofa."]
    assert thread[1].siblings.total == 2
    assert read_conversation(store, conversation_id).current_leaf_uid == "a3"
    assert store.search("grey")[0].conversation_id == conversation_id


def test_old_exports_without_ids_get_stable_uids(store: Store, tmp_path: Path) -> None:
    data = chatgpt_export()
    del data[0]["id"], data[0]["conversation_id"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert import_file(store, path).added == 1
    assert import_file(store, path).unchanged == 1  # same derived uid: no duplicate


def test_a_character_cut_in_half_is_replaced_not_a_reason_to_refuse(
    store: Store, tmp_path: Path
) -> None:
    """ChatGPT's exports hold texts cut inside an emoji: a lone "\\ud83d" in the JSON,
    which UTF-8 (and so the history) cannot hold. It becomes U+FFFD; whole emoji stay."""
    data = chatgpt_export()
    data[0]["title"] = "Cat \ud83d picture"
    data[0]["mapping"]["a1"]["message"]["content"]["parts"] = ["A cat \ud83d\ude00 \udc00."]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # json.dumps escapes them as \uXXXX
    assert "\\ud83d" in path.read_text(encoding="utf-8")

    result = import_file(store, path)

    [conversation_id] = result.conversation_ids
    assert store.get_conversation(conversation_id).title == "Cat \ufffd picture"
    texts = [m.content for m in store.children(store.thread(conversation_id)[0].message.id)]
    assert "A cat \U0001f600 \ufffd." in texts
