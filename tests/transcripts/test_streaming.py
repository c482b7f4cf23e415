"""Exports far larger than what is held in memory: read a conversation at a time, all of it
imported or none of it, and the text decoded exactly as a whole-file parse would."""

from __future__ import annotations

import codecs
import copy
import io
import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from desktop.store import KnownError, Store
from desktop.store.transcripts import ImportResult, TreeConversation, TreeMessage
from desktop.transcripts import TranscriptError, chatgpt, import_file, importer, safejson
from desktop.transcripts.chatgpt_content import MAX_KINDS, Report
from desktop.transcripts.safejson import JsonStream
from tests.transcripts.conftest import snapshot
from tests.transcripts.test_chatgpt_import import chatgpt_export

# ---------------------------------------------------------------------------- the decoder

VALUES: list[Any] = [
    [],
    [{}],
    [1, 22, 333, -4.5e-6, 12345678901234567890, 0, "", True, False, None, 1.0e100],
    [
        {
            "text": 'naïve café 東京 😀 \u2028 " \\ / \n\t end',
            "numbers": [-0.5e-3, 1.0e2, -0, 7],
            "nested": [[[]], {}, {"k": [1, {"x": "y"}]}],
            "literals": [True, False, None],
        },
        "between",
        {"🙂 key": "value", "": ""},
    ],
]
LAYOUTS = [
    {},
    {"ensure_ascii": False},
    {"indent": 2},
    {"indent": "\t", "ensure_ascii": False, "separators": (" ,\r\n ", " :  ")},
]
CHUNKS = [1, 2, 3, 5, 7, 64, 1 << 20]


def _items(data: bytes, chunk: int, **limits: int) -> list[Any]:
    stream = JsonStream(io.BytesIO(data), "test.json", chunk=chunk, **limits)
    items = list(stream.items("item"))
    stream.end()
    return items


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("value", VALUES)
def test_values_read_in_pieces_are_what_a_whole_parse_gives(
    value: list[Any], layout: dict[str, Any]
) -> None:
    """Cut anywhere (inside a \\u escape, a surrogate pair, a number, a literal, a UTF-8
    character), the text decodes to the same values."""
    data = json.dumps(value, **layout).encode()
    for chunk in CHUNKS:
        assert _items(data, chunk) == json.loads(data), chunk
        assert _items(codecs.BOM_UTF8 + data, chunk) == json.loads(data), chunk


INVALID = [
    "[",
    "[1,",
    "[1 2]",
    '["abc',
    '[{"a": 1,}]',
    '[{"a": "x\ny"}]',
    "[1, 2] x",
    "[1, tru]",
    "[1, -]",
    '[{"a": "\\u12"}]',
    '[{"a": "\\q"}]',
    "\n".join(["["] + [json.dumps({"n": i, "s": "é" * i}) + "," for i in range(60)] + ["{]"]),
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_json_is_reported_where_a_whole_parse_reports_it(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(text)
    expected = f"({parsed.value.msg} at line {parsed.value.lineno}, column {parsed.value.colno})"
    for chunk in CHUNKS:
        with pytest.raises(TranscriptError) as caught:
            _items(text.encode(), chunk)
        assert expected in str(caught.value), chunk


@pytest.mark.parametrize("text", ["", "\n", "  \n\t"])
def test_a_file_of_nothing_or_blank_lines_is_called_empty(text: str) -> None:
    for chunk in CHUNKS:
        with pytest.raises(TranscriptError, match="is empty; nothing was imported"):
            _items(text.encode(), chunk)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_bad_utf8_names_its_byte_in_the_file(chunk: int) -> None:
    data = codecs.BOM_UTF8 + '["é", "ok", "'.encode() + b"\xe2\x82x" + b'"]'
    bad = data.index(b"\xe2")
    with pytest.raises(TranscriptError, match=rf"not UTF-8 text \(byte {bad}\)"):
        _items(data, chunk)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_its_mark_is_read_as_powershell_writes_it(chunk: int, encoding: str) -> None:
    value = VALUES[3]
    data = json.dumps(value, ensure_ascii=False).encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    assert _items(data, chunk) == value


def test_the_bytes_read_are_counted_whatever_the_file_says_its_size_is() -> None:
    data = b"[" + b"1," * 100_000 + b"1]"
    with pytest.raises(TranscriptError, match="larger than the import limit of 64 KB"):
        _items(data, 4096, limit=64 * 1024)


@pytest.mark.parametrize("chunk", [1024, 1 << 20])
def test_one_value_larger_than_the_item_limit_is_refused(chunk: int) -> None:
    data = json.dumps([{"a": "x" * 100}, {"b": "y" * 5000}]).encode()
    with pytest.raises(TranscriptError, match="item 2 is larger than 4 KB"):
        _items(data, chunk, item_limit=4096)


# ---------------------------------------------------------------------------- importing


def _conversation(number: int, text: str = "A cat.") -> dict[str, Any]:
    """``chatgpt_export()``'s conversation with ids of its own."""
    [data] = copy.deepcopy(chatgpt_export())
    data["conversation_id"] = data["id"] = f"conversation-{number}"
    prefix = f"c{number}-"
    mapping: dict[str, Any] = {}
    for key, node in data["mapping"].items():
        node["id"] = prefix + key
        node["parent"] = None if node["parent"] is None else prefix + node["parent"]
        node["children"] = [prefix + child for child in node["children"]]
        if node["message"] is not None:
            node["message"]["id"] = prefix + key
        mapping[prefix + key] = node
    mapping[prefix + "a1"]["message"]["content"]["parts"] = [text]
    data["mapping"] = mapping
    data["current_node"] = prefix + data["current_node"]
    return data


def _write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture
def small_reads(monkeypatch: pytest.MonkeyPatch) -> int:
    """What is read at once made small, so that small files are 'large'."""
    monkeypatch.setattr(safejson, "MAX_ITEM_BYTES", 16 * 1024)
    monkeypatch.setattr(safejson, "CHUNK_BYTES", 1024)
    return 16 * 1024


def test_an_export_many_times_what_is_read_at_once_imports_whole(
    small_reads: int, store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(100)])
    assert path.stat().st_size > 10 * small_reads

    result = import_file(store, path)

    assert (result.added, result.messages) == (100, 500)
    assert len(store.list_conversations()) == 100
    assert import_file(store, path).unchanged == 100


def test_the_file_limit_still_applies(small_reads: int, store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(100)])
    before = snapshot(store.path)
    with pytest.raises(TranscriptError, match="larger than the import limit of 64 KB"):
        import_file(store, path, max_bytes=64 * 1024)
    assert snapshot(store.path) == before


def test_one_conversation_too_large_is_named_and_nothing_is_imported(
    small_reads: int, store: Store, tmp_path: Path
) -> None:
    export = [_conversation(i) for i in range(5)]
    export[3] = _conversation(3, "word " * 5000)
    path = _write(tmp_path / "conversations.json", export)
    with pytest.raises(TranscriptError) as caught:
        import_file(store, path)
    assert str(caught.value) == (
        "conversations.json: conversation 4 is larger than 16 KB, more than is read at once; "
        "nothing was imported"
    )
    assert store.list_conversations() == []


def test_a_bad_last_conversation_is_found_before_anything_is_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = [_conversation(i) for i in range(20)]
    export[-1]["mapping"]["c19-a1"]["message"]["create_time"] = "yesterday"
    path = _write(tmp_path / "conversations.json", export)
    written: list[TreeConversation] = []
    monkeypatch.setattr(importer, "write_conversations", lambda _, batch: written.extend(batch))

    with pytest.raises(TranscriptError, match=r"conversation 20 .*'create_time' must be a number"):
        import_file(store, path)

    assert written == []


def test_a_failure_writing_the_last_conversation_leaves_the_history_unchanged(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up while the last conversation is written: the conversations
    written before it in the same import are undone."""
    from desktop.store import DiskFull
    from desktop.store import transcripts as writer

    import_file(store, _write(tmp_path / "earlier.json", [_conversation(19)]))
    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(25)])
    before = snapshot(store.path)
    real = writer._insert_messages
    calls: list[int] = []

    def fills_up(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 24:
            raise DiskFull("The disk holding the history is full.", store.path)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "_insert_messages", fills_up)
    with pytest.raises(KnownError, match="is full"):
        import_file(store, path)
    assert len(calls) == 24
    assert snapshot(store.path) == before


def test_a_chat_sharing_messages_with_one_imported_before_comes_in_with_its_own(
    store: Store, tmp_path: Path
) -> None:
    """A chat branched into a new one in ChatGPT carries the messages it copied under their
    ids; its original was imported before: one shared message refused the whole export."""
    import_file(store, _write(tmp_path / "earlier.json", [_conversation(19)]))
    export = [_conversation(i) for i in range(20)]
    export[-1]["conversation_id"] = export[-1]["id"] = "a-different-conversation"
    path = _write(tmp_path / "conversations.json", export)
    result = import_file(store, path)
    assert result.added == 20
    assert len(store.list_conversations()) == 21
    again = import_file(store, path)
    assert again.added == 0, "a second import matches it, nothing doubled"


def test_conversations_are_not_all_held_at_once(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoded whole, a file takes several times its size in Python objects; read a
    conversation at a time, the import's Python memory stays far below the file's size."""
    monkeypatch.setattr(safejson, "CHUNK_BYTES", 64 * 1024)
    path = _write(
        tmp_path / "conversations.json",
        [_conversation(i, "Lorem ipsum dolor sit amet. " * 1500) for i in range(80)],
    )
    size = path.stat().st_size
    assert size > 3_000_000

    tracemalloc.start()
    try:
        import_file(store, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < size / 4


def test_a_file_changed_between_the_two_readings_is_refused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(3)])
    settle = chatgpt.SharedIds.settle

    def changed_meanwhile(self: chatgpt.SharedIds) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write("\n")
        settle(self)

    monkeypatch.setattr(chatgpt.SharedIds, "settle", changed_meanwhile)
    with pytest.raises(TranscriptError, match="changed while it was being imported"):
        import_file(store, path)
    assert store.list_conversations() == []


def _parley(count: int, *, header_first: bool = True) -> dict[str, Any]:
    conversations = [
        {
            "uid": f"p{i}",
            "title": f"Chat {i}",
            "messages": [
                {"uid": f"p{i}-q", "parent": None, "role": "user", "content": "q" * 300},
                {"uid": f"p{i}-a", "parent": f"p{i}-q", "role": "assistant", "content": "a"},
            ],
        }
        for i in range(count)
    ]
    header = {"format": "parley-transcripts", "version": 1}
    if header_first:
        return {**header, "conversations": conversations}
    return {"conversations": conversations, **header}  # e.g. keys sorted by a tool


def test_a_large_parley_file_is_read_a_conversation_at_a_time(
    small_reads: int, store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path / "backup.parley.json", _parley(200))
    assert path.stat().st_size > 5 * small_reads
    result = import_file(store, path)
    assert (result.added, result.messages) == (200, 400)


def test_a_parley_file_with_its_header_last_is_read_whole_if_small(
    small_reads: int, store: Store, tmp_path: Path
) -> None:
    result = import_file(store, _write(tmp_path / "small.json", _parley(5, header_first=False)))
    assert (result.added, result.messages) == (5, 10)

    big = _write(tmp_path / "big.json", _parley(200, header_first=False))
    with pytest.raises(TranscriptError, match="not a list of conversations that can be read one"):
        import_file(store, big)
    assert len(store.list_conversations()) == 5


def test_a_newer_parley_file_is_refused_before_its_conversations(
    store: Store, tmp_path: Path
) -> None:
    document = _parley(3)
    document["version"] = 2
    document["conversations"][0]["messages"] = "not what version 1 has"
    with pytest.raises(TranscriptError, match="written by a newer Parley"):
        import_file(store, _write(tmp_path / "newer.json", document))


def test_counts_add_up_over_the_conversations(store: Store, tmp_path: Path) -> None:
    first = import_file(store, _write(tmp_path / "a.json", [_conversation(i) for i in range(3)]))
    grown = [_conversation(i) for i in range(5)]
    grown[0]["mapping"]["c0-a1"]["children"].append("c0-new")
    grown[0]["mapping"]["c0-new"] = copy.deepcopy(grown[0]["mapping"]["c0-a1"])
    grown[0]["mapping"]["c0-new"].update(id="c0-new", parent="c0-a1", children=[])
    grown[0]["mapping"]["c0-new"]["message"]["id"] = "c0-new"

    second = import_file(store, _write(tmp_path / "b.json", grown))

    assert ImportResult(second.added, second.merged, second.unchanged, second.messages) == (
        ImportResult(2, 1, 2, 11)
    )
    assert second.conversation_ids[:3] == first.conversation_ids
    assert len(set(second.conversation_ids)) == 5


def test_shared_ids_go_to_the_oldest_conversation_whatever_the_order() -> None:
    """Against the plain rule: for each id, the conversation with the smallest
    (created_at, uid) keeps it (ties on the time broken by the uid, non-ASCII included)."""
    rng = random.Random(7)
    uids = ["a", "b", "é", "z", "東", "😀", "A"]
    conversations = [
        TreeConversation(
            uid=f"{rng.choice(uids)}{i}",
            title="",
            created_at=float(rng.choice([1, 2, 3])),
            updated_at=0.0,
            messages=tuple(
                TreeMessage(uid=m, parent_uid=None, role="user", content="")
                for m in rng.sample(uids, rng.randint(0, 4))
            ),
        )
        for i in range(40)
    ]
    keeper: dict[str, str] = {}
    for c in sorted(conversations, key=lambda c: (c.created_at, c.uid)):
        for m in c.messages:
            keeper.setdefault(m.uid, c.uid)

    with chatgpt.SharedIds() as shared:
        for c in conversations:
            shared.add(c)
        shared.settle()
        for c in conversations:
            after = shared.unshare(c)
            for before, now in zip(c.messages, after.messages, strict=True):
                assert (now.uid == before.uid) == (keeper[before.uid] == c.uid)


def test_kinds_of_things_left_out_are_counted_in_bounded_memory() -> None:
    report = Report()
    for i in range(MAX_KINDS + 500):
        report.unknown[f"kind-{i}"] += 1
    report.unknown["kind-0"] += 1
    assert len(report.unknown) == MAX_KINDS + 1
    assert (report.unknown["other"], report.unknown["kind-0"]) == (500, 2)
    assert report.unknown.total() == MAX_KINDS + 501


def test_more_conversations_than_any_export_is_refused_before_writing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "MAX_CONVERSATIONS", 3)
    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(4)])
    with pytest.raises(TranscriptError, match="has more than 3 conversations"):
        import_file(store, path)
    assert store.list_conversations() == []


def test_progress_goes_through_both_readings_and_cancel_leaves_nothing(
    small_reads: int, store: Store, tmp_path: Path
) -> None:
    import threading

    from desktop.transcripts import ImportCancelled

    path = _write(tmp_path / "conversations.json", [_conversation(i) for i in range(100)])
    seen: list[tuple[str, float]] = []
    import_file(store, path, progress=lambda stage, done: seen.append((stage, done)))
    for stage in ("checking", "adding"):
        fractions = [done for s, done in seen if s == stage]
        assert len(fractions) == 100  # one call per conversation
        assert fractions == sorted(fractions)
        assert 0 < fractions[0] < 0.5 < fractions[-1] <= 1.0
    assert [s for s, _ in seen] == ["checking"] * 100 + ["adding"] * 100

    again = tmp_path / "more.json"
    _write(again, [_conversation(i) for i in range(100, 200)])
    before = snapshot(store.path)
    cancel = threading.Event()

    def stop_halfway(stage: str, done: float) -> None:
        if stage == "adding" and done > 0.5:
            cancel.set()

    with pytest.raises(ImportCancelled, match="cancelled; nothing was imported"):
        import_file(store, again, progress=stop_halfway, cancel=cancel)
    assert snapshot(store.path) == before
    assert len(store.list_conversations()) == 100
