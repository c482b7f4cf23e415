from __future__ import annotations

from desktop.ui.search_results import marked_html, result_rows
from tests.fakes import MemHit as Hit


def test_each_chat_shows_its_title_once_with_its_matching_messages_under_it() -> None:
    hits = [
        Hit(2, "Colours", None, None, "Colours", ((0, 7),)),
        Hit(1, "Paint", 11, "assistant", "red and <blue>", ((8, 14),)),
        Hit(2, "Colours", 21, "user", "name three colours", ((11, 18),)),
        Hit(1, "Paint", 10, "user", "mix blue", ((4, 8),)),
    ]
    rows = result_rows(hits)
    assert [(r.conversation_id, r.message_id, r.text) for r in rows] == [
        (2, None, "Colours"),
        (2, 21, "You: name three colours"),
        (1, None, "Paint"),
        (1, 11, "Assistant: red and <blue>"),
        (1, 10, "You: mix blue"),
    ]
    assert rows[0].html == "<b>Colours</b>"
    assert rows[3].html == "Assistant: red and <b>&lt;blue&gt;</b>", "model text is escaped"


def test_matches_are_bold_and_everything_else_is_escaped() -> None:
    assert marked_html("a <b> c", ((2, 5),)) == "a <b>&lt;b&gt;</b> c"
    assert marked_html("x & y", ()) == "x &amp; y"


def test_a_snippet_shows_the_words_without_the_markdown_marks() -> None:
    from desktop.ui.search_results import plain_snippet

    text = "Run ```python print(x) ``` or **bold** [the docs](https://x.org) and snake_case `code`"
    start = text.index("docs")
    plain, highlights = plain_snippet(text, [(start, start + 4)])
    assert plain == "Run  print(x)  or bold the docs and snake_case code"
    assert [plain[a:b] for a, b in highlights] == ["docs"]
