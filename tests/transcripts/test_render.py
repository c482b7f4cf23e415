"""Human-readable exports, and the HTML export's safety: model text can never run or load."""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from desktop.store import Store
from desktop.store.transcripts import TreeConversation, TreeMessage, read_conversation
from desktop.transcripts import export_bytes, export_conversations
from desktop.transcripts.export import safe_filename, with_extension
from desktop.transcripts.render import CSP, blocks, to_html, to_markdown, to_text

HOSTILE = (
    "Look: <script>alert(1)</script> and <img src=http://evil/x.png onerror=alert(2)> "
    '<a href="https://evil/">link</a> <iframe src="//evil/"></iframe> '
    '<link rel=stylesheet href="http://evil/s.css"> <style>@import url(http://evil/i.css)</style>'
    '\n\n```html\n<script src="http://evil/code.js"></script>\n```\n'
    "</div></main><script>alert(3)</script>"
)


TITLE = "Hostile <script>alert(0)</script>"


def _conversation(content: str, title: str = TITLE) -> TreeConversation:
    return TreeConversation(
        uid="c",
        title=title,
        created_at=1.7e9,
        updated_at=1.7e9,
        messages=(
            TreeMessage("q", None, "user", content, created_at=1.7e9),
            TreeMessage("a", "q", "assistant", content, model="<b>model</b>", created_at=1.7e9 + 1),
        ),
        system_prompt="<script>alert(4)</script>",
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.handlers: list[str] = []
        self.csp: list[str] = []
        self.text: list[str] = []
        self.style_text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "action", "formaction", "srcset", "poster", "data"):
                self.urls.append((tag, name, value or ""))
            if name.startswith("on"):
                self.handlers.append(name)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == (
            "content-security-policy"
        ):
            self.csp.append(values.get("content") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style_text if self._in_style else self.text).append(data)


def test_html_export_of_hostile_text_is_inert() -> None:
    page = to_html(_conversation(HOSTILE))
    parsed = _Collector()
    parsed.feed(page)
    parsed.close()

    active = {"script", "img", "iframe", "link", "object", "embed", "a", "base", "form"}
    assert active.isdisjoint(parsed.tags)
    assert parsed.urls == []  # no src/href at all, so nothing remote
    assert parsed.handlers == []
    assert parsed.csp == [CSP]
    assert "script-src" not in CSP
    assert "default-src 'none'" in CSP
    assert parsed.tags.count("style") == 1  # only our stylesheet
    assert "http" not in "".join(parsed.style_text)
    # The text is all there, as text.
    shown = "".join(parsed.text)
    assert "<script>alert(1)</script>" in shown
    assert "<img src=http://evil/x.png onerror=alert(2)>" in shown
    assert '<script src="http://evil/code.js"></script>' in shown
    assert "<b>model</b>" in shown


def test_html_shows_markdown_as_the_window_does_and_links_as_text() -> None:
    text = (
        "Some **bold** and *soft* words:\n\n- first item\n- second item\n\n"
        "| Name | Age |\n|------|-----|\n| Ada | 36 |\n\n"
        "See [the docs](https://example.com/docs) or ![a cat](http://evil/cat.png)."
    )
    page = to_html(_conversation(text))
    assert "<strong>bold</strong>" in page
    assert "<em>soft</em>" in page
    assert "<li>first item</li>" in page
    assert "<th>Name</th>" in page
    assert "<td>Ada</td>" in page
    assert "**" not in page
    assert "|------|" not in page
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.urls == [], "no link or picture refers to the network"
    shown = "".join(parsed.text)
    assert "the docs (https://example.com/docs)" in shown
    assert "a cat (http://evil/cat.png)" in shown


def test_html_highlights_code_and_keeps_whitespace() -> None:
    text = "Intro with `inline`:\n\n```python\ndef f(x):\n    return x  # note\n```\nAfter."
    page = to_html(_conversation(text, "Code"))
    assert '<span class="k">def</span>' in page  # Pygments classes
    assert '<span class="c1"># note</span>' in page
    assert "<code>inline</code>" in page
    assert '<div class="lang">python</div>' in page
    assert ".hl .k" in page  # the highlight colours are in the page itself


def test_fenced_blocks_split() -> None:
    parts = list(blocks("a\n```js\nx()\n```\nb\n~~~\nraw\n~~~\n```\nunclosed"))
    assert parts == [
        (None, "a"),
        ("js", "x()"),
        (None, "b"),
        ("", "raw"),
        ("", "unclosed"),
    ]


def test_markdown_and_text_show_the_branch_on_screen(store: Store, filled: list[int]) -> None:
    conversation = read_conversation(store, filled[0])
    markdown = to_markdown(conversation)
    text = to_text(conversation)
    for rendered in (markdown, text):
        assert "Write `fib` in Python" in rendered
        assert "return n if n < 2" in rendered  # the answer on screen
        assert "out of memory" not in rendered  # a branch not on screen
        assert "4 branches" in rendered
        assert "You are terse." in rendered
    assert markdown.startswith("# Résumé of <b>tricky</b> things ✓\n")
    assert "## Assistant · smollm2-135m-instruct" in markdown


def test_several_conversations_make_a_zip(store: Store, filled: list[int], tmp_path: Path) -> None:
    again = store.create_conversation("Plain")  # the same title twice
    ids = [*filled, again.id]
    target = export_conversations(store, ids, "markdown", tmp_path)
    assert target.suffix == ".zip"
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        assert names == ["Plain (2).md", "Plain.md", "Résumé of b tricky b things ✓.md"]
        assert b"Two paragraphs." in archive.read("Plain.md")


def test_json_formats_hold_several_conversations_in_one_file(
    store: Store, filled: list[int]
) -> None:
    data = export_bytes([read_conversation(store, i) for i in filled], "chatgpt-json")
    assert not zipfile.is_zipfile(io.BytesIO(data))
    assert data.lstrip().startswith(b"[")


def test_pdf_needs_a_renderer(store: Store, filled: list[int]) -> None:
    with pytest.raises(ValueError, match="PDF renderer"):
        export_bytes([read_conversation(store, filled[1])], "pdf")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ('a/b\\c:d*e?f"g<h>i|j', "a b c d e f g h i j"),
        ("CON", "chat CON"),
        ("...", "chat"),
        ("x" * 300, "x" * 80),
        ("line\nbreak\ttab", "line break tab"),
        (
            "What is the capital of France, and why is it th…",
            "What is the capital of France, and why is it th",
        ),
    ],
)
def test_safe_filename(title: str, expected: str) -> None:
    assert safe_filename(title) == expected


@pytest.mark.parametrize(
    ("name", "suffix", "expected"),
    [
        ("notes", ".html", "notes.html"),
        ("notes.md", ".html", "notes.html"),
        ("notes.html", ".html", "notes.html"),
        ("backup.parley.json", ".md", "backup.md"),
        ("chats.zip", ".parley.json", "chats.parley.json"),
        ("v1.2 notes", ".txt", "v1.2 notes.txt"),
        (".md", ".txt", ".md.txt"),
    ],
)
def test_a_name_typed_for_another_format_gets_this_ones_extension(
    name: str, suffix: str, expected: str
) -> None:
    assert with_extension(Path("out") / name, suffix) == Path("out") / expected


def test_export_writes_with_normal_permissions(
    store: Store, filled: list[int], tmp_path: Path
) -> None:
    import os

    target = export_conversations(store, filled[:1], "text", tmp_path / "out" / "t.txt")
    mode = target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["t.txt"]  # no temporary left behind


def test_markdown_closes_a_code_block_an_answer_left_open(tmp_path: Path) -> None:
    """An answer cut off inside a code block must not turn the rest of the file into code."""
    from markdown_it import MarkdownIt

    store = Store.open(tmp_path / "h.sqlite3")
    try:
        chat = store.create_conversation("Cut off")
        q = store.add_message(chat.id, None, "user", "code?")
        a = store.add_message(chat.id, q.id, "assistant", "Here:\n\n```python\nprint(1)")
        store.add_message(chat.id, a.id, "user", "and then?")
        markdown = to_markdown(read_conversation(store, chat.id))
    finally:
        store.close()
    assert "print(1)\n```\n" in markdown
    tokens = MarkdownIt().parse(markdown)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[-1] == "You", "the question after the cut-off code is a heading again"
