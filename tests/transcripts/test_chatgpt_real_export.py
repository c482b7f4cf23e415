"""A ChatGPT export as real ones are: web searches with citations, code run in Python, images
made and uploaded, voice, memory, canvas, reasoning, hidden context, content types this
reader does not know, null titles and times. The user sees what ChatGPT showed, in a tree
that stays connected, and is told what was left out."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from desktop.store import Store
from desktop.store.transcripts import ImportResult, TreeConversation, read_conversation
from desktop.transcripts import ImportReport, TranscriptError, import_file, read_file
from tests.transcripts.conftest import snapshot

ROOT = "client-created-root"
HIDDEN = {"is_visually_hidden_from_conversation": True}


class Mapping:
    """Builds a ``mapping`` node by node, each under the one before unless told otherwise."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {
            ROOT: {"id": ROOT, "message": None, "parent": None, "children": []}
        }
        self.last = ROOT
        self.clock = 1_730_000_000.0

    def add(
        self,
        key: str,
        role: str,
        content: dict[str, Any],
        *,
        parent: str | None = None,
        name: str | None = None,
        recipient: str = "all",
        metadata: dict[str, Any] | None = None,
        timed: bool = True,
        **fields: Any,
    ) -> str:
        parent = parent or self.last
        self.clock += 7
        self.nodes[key] = {
            "id": key,
            "message": {
                "id": key,
                "author": {"role": role, "name": name, "metadata": {}},
                "create_time": self.clock if timed else None,
                "update_time": None,
                "content": content,
                "status": "finished_successfully",
                "end_turn": True if role == "assistant" and recipient == "all" else None,
                "weight": 1.0,
                "metadata": metadata or {},
                "recipient": recipient,
                "channel": None,
                **fields,
            },
            "parent": parent,
            "children": [],
        }
        self.nodes[parent]["children"].append(key)
        self.last = key
        return key


def text(*parts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def multimodal(*parts: Any) -> dict[str, Any]:
    return {"content_type": "multimodal_text", "parts": list(parts)}


def code(source: str, language: str = "unknown") -> dict[str, Any]:
    return {
        "content_type": "code",
        "language": language,
        "response_format_name": None,
        "text": source,
    }


def image(file_id: str) -> dict[str, Any]:
    return {
        "content_type": "image_asset_pointer",
        "asset_pointer": f"file-service://{file_id}",
        "size_bytes": 182_344,
        "width": 1024,
        "height": 768,
        "fovea": None,
        "metadata": {"dalle": None, "gizmo": None, "sanitized": True},
    }


def context_start(m: Mapping) -> None:
    """What every real conversation starts with: an empty hidden system message and the
    user's custom instructions, neither shown."""
    m.add("sys", "system", text(""), metadata=HIDDEN, timed=False, weight=0.0)
    m.add(
        "instructions",
        "user",
        {
            "content_type": "user_editable_context",
            "user_profile": "I live in Lyon.",
            "user_instructions": "Answer briefly.",
        },
        metadata={**HIDDEN, "user_context_message_data": {"about_user_message": "Lyon"}},
        timed=False,
    )


def weather() -> dict[str, Any]:
    """A web search: the call, the pages read, a quote, an answer with citation markers."""
    m = Mapping()
    context_start(m)
    m.add("w-q", "user", text("Will it rain in Paris tomorrow?"))
    m.add("w-call", "assistant", code('search("Paris weather tomorrow")'), recipient="browser")
    m.add(
        "w-pages",
        "tool",
        {
            "content_type": "tether_browsing_display",
            "result": "# 【0†Météo Paris†meteo.fr】",
            "summary": None,
            "assets": None,
            "tether_id": None,
        },
        name="browser",
    )
    m.add(
        "w-quote",
        "tool",
        {
            "content_type": "tether_quote",
            "url": "https://meteo.fr/paris",
            "domain": "meteo.fr",
            "text": "Pluie faible",
            "title": "Météo Paris",
        },
        name="browser",
    )
    cite = "\ue200cite\ue202turn0search0\ue201"
    m.add(
        "w-a",
        "assistant",
        text(
            f"Light rain is likely {cite}, around 12 °C in "
            '\ue200entity\ue202["city", "Paris", "capital of France"]\ue201.'
            "\ue200cite\ue202turn0search9\ue201【3†source】 See 【注意】."
        ),
        metadata={
            "model_slug": "gpt-4o",
            "content_references": [
                {
                    "matched_text": cite,
                    "alt": "([Météo-France](https://meteo.fr/paris))",
                    "type": "grouped_webpages",
                    "start_idx": 20,
                    "end_idx": 38,
                },
                {"matched_text": " ", "alt": "", "type": "sources_footnote"},
            ],
        },
    )
    return {
        "title": None,
        "create_time": None,
        "update_time": 1_730_000_500.0,
        "mapping": m.nodes,
        "current_node": "w-a",
        "conversation_id": "6720aaaa-0000-4000-8000-00000000000a",
        "id": "6720aaaa-0000-4000-8000-00000000000a",
        "default_model_slug": "auto",
        "is_archived": False,
    }


def sales() -> dict[str, Any]:
    """An uploaded screenshot and CSV, reasoning, code run in Python with its output, a chart,
    a tool error, then an edit of the question (a second branch)."""
    m = Mapping()
    context_start(m)
    m.add(
        "s-q",
        "user",
        multimodal(image("file-Shot1"), "Plot the sales in this screenshot and the CSV"),
        metadata={
            "attachments": [
                {"id": "file-Shot1", "name": "screenshot.png", "mimeType": "image/png"},
                {"id": "file-Csv2", "name": "sales\n2024.csv", "mimeType": "text/csv"},
            ]
        },
    )
    m.add(
        "s-think",
        "assistant",
        {
            "content_type": "thoughts",
            "thoughts": [{"summary": "Reading the CSV", "content": "The user wants a bar chart."}],
            "source_analysis_msg_id": "x",
        },
        metadata={"model_slug": "o3"},
    )
    m.add(
        "s-recap",
        "assistant",
        {"content_type": "reasoning_recap", "content": "Thought for 9 seconds"},
    )
    m.add(
        "s-code",
        "assistant",
        code("df = pd.read_csv('sales.csv')\ndf.plot.bar()"),
        recipient="python",
    )
    m.add(
        "s-out",
        "tool",
        {"content_type": "execution_output", "text": "<Axes: >"},
        name="python",
        metadata={"aggregate_result": {"status": "success"}},
    )
    m.add("s-chart", "tool", multimodal(image("file-Chart3")), name="python")
    m.add("s-retry", "assistant", code("df.plot.bar(x='month')"), recipient="python")
    m.add(
        "s-err",
        "tool",
        {
            "content_type": "system_error",
            "name": "tool_error",
            "text": "Encountered exception: KeyError 'month'",
        },
        name="python",
    )
    m.add(
        "s-a",
        "assistant",
        text("Here is the chart: sales peak in ``` March."),
        metadata={"model_slug": "o3"},
    )
    m.add("s-q2", "user", text("Only January, please"), parent="instructions")
    m.add("s-a2", "assistant", code("print('January')", "python"), recipient="all")
    return {
        "title": "Sales chart",
        "create_time": 1_730_001_000.0,
        "update_time": None,
        "mapping": m.nodes,
        "current_node": "s-a",
        "conversation_id": "6720bbbb-0000-4000-8000-00000000000b",
        "id": "6720bbbb-0000-4000-8000-00000000000b",
    }


def voice() -> dict[str, Any]:
    """Voice, a memory, an image made with DALL·E, a canvas document, a new content type."""
    m = Mapping()
    context_start(m)
    m.add(
        "v-q",
        "user",
        multimodal(
            {
                "content_type": "audio_transcription",
                "text": "Draw my cat, Miso.",
                "direction": "in",
            },
            {
                "content_type": "audio_asset_pointer",
                "asset_pointer": "sediment://file_a1",
                "format": "wav",
                "size_bytes": 93_000,
            },
        ),
        timed=False,
    )
    m.add("v-bio", "assistant", text("User has a cat named Miso."), recipient="bio")
    m.add("v-bio-done", "tool", text("Model set context updated."), name="bio")
    m.add(
        "v-dalle",
        "assistant",
        code('{"prompt": "a grey cat", "size": "1024x1024"}', "json"),
        recipient="dalle.text2im",
    )
    m.add("v-img", "tool", multimodal(image("file-Cat4")), name="dalle.text2im")
    m.add(
        "v-note",
        "tool",
        text("DALL·E displayed 1 images. Do not repeat the descriptions."),
        name="dalle.text2im",
    )
    m.add("v-a", "assistant", text("Here is Miso!"), metadata={"model_slug": "gpt-4o"})
    m.add("v-q2", "user", text("Write a story about her in a canvas"))
    story = {"name": "Miso", "type": "document", "content": "Once upon a time, Miso..."}
    m.add("v-doc", "assistant", code(json.dumps(story), "json"), recipient="canmore.create_textdoc")
    m.add(
        "v-doc-done",
        "tool",
        text("Successfully created text document 'Miso'"),
        name="canmore.create_textdoc",
    )
    script = {"name": "miso.py", "type": "code/python", "content": "print('```')"}
    m.add("v-doc2", "assistant", code(json.dumps(script)), recipient="canmore.create_textdoc")
    rewrite = {"updates": [{"pattern": ".*", "replacement": "Once upon a time, Miso slept."}]}
    m.add("v-doc3", "assistant", code(json.dumps(rewrite)), recipient="canmore.update_textdoc")
    m.add("v-page", "assistant", {"content_type": "sonic_webpage", "url": "https://x.org"})
    m.add("v-a2", "assistant", text("I wrote the story in the canvas."))
    m.add("v-app", "tool", {"content_type": "computer_output", "screenshot": None}, name="computer")
    return {
        "title": "Miso",
        "create_time": 1_730_002_000.0,
        "update_time": 1_730_002_900.0,
        "mapping": m.nodes,
        "current_node": "v-app",  # a node not shown: the nearest shown one is the leaf
        "conversation_id": "6720cccc-0000-4000-8000-00000000000c",
        "id": "6720cccc-0000-4000-8000-00000000000c",
    }


def export() -> list[dict[str, Any]]:
    return [weather(), sales(), voice()]


def write(tmp_path: Path, value: Any, name: str = "conversations.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def shown(c: TreeConversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in c.shown_branch()]


def test_each_conversation_shows_what_chatgpt_showed(tmp_path: Path) -> None:
    weather_chat, sales_chat, voice_chat = read_file(write(tmp_path, export())).conversations

    assert weather_chat.title == "Will it rain in Paris tomorrow?"  # ChatGPT left it null
    assert (weather_chat.created_at, weather_chat.updated_at) == (1_730_000_500.0,) * 2
    assert shown(weather_chat) == [
        ("user", "Will it rain in Paris tomorrow?"),
        (
            "assistant",
            "Light rain is likely ([Météo-France](https://meteo.fr/paris)), around 12 °C in "
            "Paris. See 【注意】.",
        ),
    ]
    assert shown(sales_chat) == [
        (
            "user",
            "[file: sales 2024.csv]\n\n[image]\n\nPlot the sales in this screenshot and the CSV",
        ),
        ("assistant", "```python\ndf = pd.read_csv('sales.csv')\ndf.plot.bar()\n```"),
        ("tool", "```\n<Axes: >\n```"),
        ("tool", "[image]"),
        ("assistant", "```python\ndf.plot.bar(x='month')\n```"),
        ("tool", "Encountered exception: KeyError 'month'"),
        ("assistant", "Here is the chart: sales peak in ``` March."),
    ]
    assert sales_chat.updated_at == sales_chat.created_at == 1_730_001_000.0
    assert shown(voice_chat) == [
        ("user", "Draw my cat, Miso."),  # the recording itself: its words are the message
        ("tool", "[image]"),
        ("assistant", "Here is Miso!"),
        ("user", "Write a story about her in a canvas"),
        ("assistant", "Once upon a time, Miso..."),
        ("assistant", "````python\nprint('```')\n````"),
        ("assistant", "Once upon a time, Miso slept."),
        ("assistant", "I wrote the story in the canvas."),
    ]


def test_the_tree_stays_connected_around_left_out_nodes(tmp_path: Path) -> None:
    _, sales_chat, voice_chat = read_file(write(tmp_path, export())).conversations
    parent = {m.uid: m.parent_uid for m in sales_chat.messages}

    # Root, system and custom instructions left out: both versions of the question are
    # roots, siblings in the branch switcher; the reasoning's child hangs from the question.
    assert [m.uid for m in sales_chat.messages if m.parent_uid is None] == ["s-q", "s-q2"]
    assert parent["s-code"] == "s-q"
    assert parent["s-a2"] == "s-q2"
    assert sales_chat.branch_count == 2
    assert sales_chat.current_leaf_uid == "s-a"
    # Memory, the image's prompt and the note to the model left out: the image hangs from
    # the question; the leaf on screen (a node not shown) is its nearest shown ancestor.
    voice_parent = {m.uid: m.parent_uid for m in voice_chat.messages}
    assert voice_parent["v-img"] == "v-q"
    assert voice_parent["v-a2"] == "v-doc3"
    assert voice_chat.current_leaf_uid == "v-a2"
    # A message without a time takes its parent's (the conversation's for the first).
    first = voice_chat.messages[0]
    assert (first.uid, first.created_at) == ("v-q", 1_730_002_000.0)


def test_the_user_is_told_what_was_left_out(tmp_path: Path) -> None:
    warnings = read_file(write(tmp_path, export())).warnings

    assert warnings == (
        "Shown as placeholders such as [image] (Parley keeps the text of a chat, not its "
        "files): 3 images, 1 file",
        "Left out 9 tool steps that ChatGPT shows as a status line, not as a message "
        "(searches, memory updates, …): browser (3), bio (2), dalle.text2im (2), "
        "canmore.create_textdoc (1), computer (1)",
        "Left out 1 reasoning step of the model (folded away in ChatGPT)",
        "Left out 1 message of a kind Parley cannot read yet: sonic_webpage (1)",
    )


def test_import_reports_the_warnings_with_the_counts(store: Store, tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("file-Cat4.webp", b"RIFF")
        z.writestr("conversations.json", json.dumps(export()))

    result = import_file(store, archive)

    assert isinstance(result, ImportResult)  # callers reading the counts are unaffected
    assert isinstance(result, ImportReport)
    assert (result.added, result.messages) == (3, 2 + 9 + 8)
    assert len(result.warnings) == 4
    again = import_file(store, archive)
    assert (again.unchanged, again.messages) == (3, 0)
    assert again.warnings == result.warnings  # said again: it is about the file
    sales_id = result.conversation_ids[1]
    assert read_conversation(store, sales_id).current_leaf_uid == "s-a"
    assert [h.conversation_id for h in store.search("KeyError")] == [sales_id]


def test_a_parley_export_comes_back_without_warnings(
    store: Store, other_store: Store, filled: list[int], tmp_path: Path
) -> None:
    from desktop.transcripts import export_conversations

    target = export_conversations(store, filled, "chatgpt-json", tmp_path / "c.json")
    assert import_file(other_store, target).warnings == ()


def test_an_export_of_only_unknown_kinds_imports_its_conversation(tmp_path: Path) -> None:
    m = Mapping()
    m.add("q", "user", text("hello"))
    m.add("n1", "assistant", {"content_type": "super_widget", "widget": {"a": [1, 2]}})
    m.add("n2", "critic", text("hidden critique"))
    m.add("n3", "assistant", {"content_type": "app_pairing_content", "text": None})
    data = {"title": "New", "mapping": m.nodes, "current_node": "n3", "conversation_id": "c"}

    transcript = read_file(write(tmp_path, [data]))

    [conversation] = transcript.conversations
    assert shown(conversation) == [("user", "hello")]
    assert transcript.warnings == (
        "Left out 3 messages of a kind Parley cannot read yet: super_widget (1), "
        "author critic (1), app_pairing_content (1)",
    )


def test_names_in_warnings_are_one_short_line(tmp_path: Path) -> None:
    m = Mapping()
    m.add("q", "user", text("hello"))
    for i in range(7):
        m.add(f"n{i}", "assistant", {"content_type": f"kind{i}\n<b>" + "x" * 100})
    data = {"title": "New", "mapping": m.nodes, "conversation_id": "c"}

    [line] = read_file(write(tmp_path, [data])).warnings

    assert "\n" not in line
    assert "<" not in line
    assert line.endswith(", 2 more")
    assert f"kind0_b_{'x' * 32} (1)" in line


@pytest.mark.parametrize(
    ("title", "question", "expected"),
    [
        (
            None,
            "  How do I\nsort a list   in Python without changing the original one?",
            "How do I sort a list in Python without changing…",
        ),
        ("", None, "Untitled"),
        ("Kept as it is", "Ignored", "Kept as it is"),
    ],
)
def test_an_untitled_conversation_is_titled_like_a_new_chat(
    title: str | None, question: str | None, expected: str, tmp_path: Path
) -> None:
    m = Mapping()
    if question is not None:
        m.add("q", "user", text(question))
    m.add("a", "assistant", text("Use sorted()."))
    data = {"title": title, "mapping": m.nodes, "conversation_id": "c"}

    [conversation] = read_file(write(tmp_path, [data])).conversations

    assert conversation.title == expected
    assert len(conversation.title) <= 48


def test_ids_shared_by_two_conversations_get_one_owner(store: Store, tmp_path: Path) -> None:
    """ "Branch in new chat" copies the messages before the branch: the same node ids in two
    conversations. The older one keeps them, the copy gets uids of its own, whatever the
    order of the file; before, the history refused the whole file."""
    original = sales()
    branched = sales()
    branched["conversation_id"] = branched["id"] = "6720dddd-0000-4000-8000-00000000000d"
    branched["create_time"] = 1_730_009_000.0
    branched["mapping"]["s-a"]["message"]["content"]["parts"] = ["A different answer."]

    forward = read_file(write(tmp_path, [original, branched], "a.json")).conversations
    backward = read_file(write(tmp_path, [branched, original], "b.json")).conversations

    assert forward == backward[::-1]
    kept, copied = forward
    assert "s-q" in {m.uid for m in kept.messages}
    assert not {m.uid for m in kept.messages} & {m.uid for m in copied.messages}
    assert shown(copied)[-1] == ("assistant", "A different answer.")
    assert copied.current_leaf_uid in {m.uid for m in copied.messages} - {"s-a"}
    assert [m.parent_uid is None for m in copied.messages].count(True) == 2

    result = import_file(store, tmp_path / "a.json")
    assert (result.added, result.messages) == (2, 18)
    assert import_file(store, tmp_path / "b.json").unchanged == 2


def test_very_long_node_ids_keep_their_links(tmp_path: Path) -> None:
    m = Mapping()
    long_q, long_a = "q" * 300, "a" * 300
    m.add(long_q, "user", text("hello"))
    m.add(long_a, "assistant", text("hi"))
    m.add("short", "user", text("and?"))
    data = {"title": "Long", "mapping": m.nodes, "current_node": long_a, "conversation_id": "c"}

    [conversation] = read_file(write(tmp_path, [data])).conversations

    q, a, short = conversation.messages
    assert len(q.uid) == len(a.uid) == 64
    assert (a.parent_uid, short.parent_uid) == (q.uid, a.uid)
    assert conversation.current_leaf_uid == a.uid


@pytest.mark.parametrize(
    "call",
    [
        "not json {",
        "[" * 100_000,  # nested beyond the recursion limit
        json.dumps({"updates": [{"pattern": "Miso", "replacement": "Tom"}]}),
        json.dumps(["a list"]),
        json.dumps({"name": "empty", "content": "  "}),
    ],
)
def test_a_canvas_call_that_is_not_a_whole_document_is_a_tool_step(
    call: str, tmp_path: Path
) -> None:
    m = Mapping()
    m.add("q", "user", text("edit it"))
    m.add("c", "assistant", code(call), recipient="canmore.update_textdoc")
    data = {"title": "Canvas", "mapping": m.nodes, "conversation_id": "c"}

    transcript = read_file(write(tmp_path, [data]))

    assert shown(transcript.conversations[0]) == [("user", "edit it")]
    assert "canmore.update_textdoc (1)" in transcript.warnings[0]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda n: n["s-q"]["message"]["content"].__setitem__("parts", "x"), "expected an array"),
        (lambda n: n["s-a"]["message"]["content"]["parts"].append(7), "strings or objects"),
        (lambda n: n["s-a"]["message"].__setitem__("content", None), "expected an object"),
        (lambda n: n["s-a"]["message"]["author"].__setitem__("role", None), "'role' must be"),
        (lambda n: n["s-a"]["message"]["content"].__setitem__("content_type", 3), "content_type"),
    ],
)
def test_malformed_text_among_real_shapes_still_imports_nothing(
    change: Any, fragment: str, history: Store, tmp_path: Path
) -> None:
    data = export()
    change(data[1]["mapping"])
    before = snapshot(history.path)

    with pytest.raises(TranscriptError) as caught:
        import_file(history, write(tmp_path, data))

    assert fragment in str(caught.value)
    assert "node 's-" in str(caught.value)
    assert str(caught.value).endswith("nothing was imported")
    assert snapshot(history.path) == before


@pytest.fixture
def history(store: Store) -> Store:
    from tests.transcripts.conftest import fill

    fill(store)
    return store
