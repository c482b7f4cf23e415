"""The Markdown renderer of chat messages (desktop/ui/markdown.py)."""

from __future__ import annotations

import re

import pytest

from desktop.ui.markdown import MarkdownRenderer


def links(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="([^"]*)">([^<]*)</a>', html)


@pytest.fixture(scope="module")
def renderer() -> MarkdownRenderer:
    return MarkdownRenderer()


def test_bare_web_addresses_become_links_as_on_github(renderer: MarkdownRenderer) -> None:
    html = renderer.render(
        "See https://example.com/a_b?x=1. or www.python.org, and write to me@site.com."
    ).html
    assert links(html) == [
        ("https://example.com/a_b?x=1", "https://example.com/a_b?x=1"),
        ("http://www.python.org", "www.python.org"),
        ("mailto:me@site.com", "me@site.com"),
    ]


def test_file_names_and_dotted_words_stay_text(renderer: MarkdownRenderer) -> None:
    # each ends in a real top-level domain (.py Paraguay, .md Moldova, .sh, .rs, .net)
    html = renderer.render("Edit main.py and notes.md, run build.sh, see lib.rs on ASP.NET.").html
    assert links(html) == []
    assert "main.py" in html
    assert "ASP.NET" in html


def test_addresses_in_code_and_escaped_addresses_stay_text(renderer: MarkdownRenderer) -> None:
    html = renderer.render("`https://in.code.example` and http\\://escaped.org").html
    assert links(html) == []
    assert "https://in.code.example" in html


def test_a_written_link_is_not_linked_twice(renderer: MarkdownRenderer) -> None:
    html = renderer.render("[https://a.org](https://b.org)").html
    assert links(html) == [("https://b.org", "https://a.org")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the sentence's punctuation and an unmatched parenthesis end the address
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar)) or https://x.org/a.",
            [
                (
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                ),
                ("https://x.org/a", "https://x.org/a"),
            ],
        ),
        (
            '"https://q.example/?a=1&b=2", then **www.bold.example**!',
            [
                ("https://q.example/?a=1&amp;b=2", "https://q.example/?a=1&amp;b=2"),
                ("http://www.bold.example", "www.bold.example"),
            ],
        ),
        ("a.b+c@ex-ample.co.uk.", [("mailto:a.b+c@ex-ample.co.uk", "a.b+c@ex-ample.co.uk")]),
        # not addresses
        ("www. alone, www.x, http:// nothing, foo@bar, user@-", []),
        ("glued:https://no.example", []),  # as on GitHub: an address starts after a space
    ],
)
def test_where_a_bare_address_begins_and_ends(
    renderer: MarkdownRenderer, text: str, expected: list[tuple[str, str]]
) -> None:
    assert links(renderer.render(text).html) == expected


def test_every_address_of_a_long_answer_is_linked(renderer: MarkdownRenderer) -> None:
    text = ("A line with https://example.com/x and main.py and a@b.example in it.\n\n") * 300
    assert len(links(renderer.render(text).html)) == 600
