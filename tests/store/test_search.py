"""Full-text search over titles and messages: accents folded, snippets with highlights,
prefix matching while typing, and no error whatever the user types."""

from __future__ import annotations

import pytest

from desktop.store import Store
from desktop.store.fts import HIGHLIGHT_END, HIGHLIGHT_START, build_match, parse_snippet
from tests.store.conftest import check_database


@pytest.fixture
def history(store: Store) -> dict[str, int]:
    ids: dict[str, int] = {}
    zurich = store.create_conversation("Weekend in Zürich")
    q = store.add_message(zurich.id, None, "user", "Where do I get the best café crème?")
    a = store.add_message(
        zurich.id, q.id, "assistant", "Café Schober near the Bahnhofstrasse is a classic."
    )
    ids |= {"zurich": zurich.id, "zurich_q": q.id, "zurich_a": a.id}
    code = store.create_conversation("Python help")
    q = store.add_message(code.id, None, "user", "How do I reverse a list in Python?")
    a = store.add_message(code.id, q.id, "assistant", "Use reversed(items) or items[::-1].")
    ids |= {"code": code.id, "code_q": q.id, "code_a": a.id}
    long = store.create_conversation("Essay")
    text = " ".join(["filler"] * 200 + ["needle"] + ["filler"] * 200)
    ids["essay_q"] = store.add_message(long.id, None, "user", text).id
    ids["essay"] = long.id
    return ids


def _messages(store: Store, query: str) -> list[int | None]:
    return [hit.message_id for hit in store.search(query) if hit.message_id is not None]


def test_accents_and_case_are_folded_both_ways(store: Store, history: dict[str, int]) -> None:
    assert _messages(store, "cafe ") == [history["zurich_a"], history["zurich_q"]]
    assert _messages(store, "CAFÉ ") == [history["zurich_a"], history["zurich_q"]]
    assert _messages(store, "creme") == [history["zurich_q"]]
    titles = [h.conversation_id for h in store.search("zurich") if h.message_id is None]
    assert titles == [history["zurich"]]


def test_hits_carry_a_plain_snippet_with_highlights(store: Store, history: dict[str, int]) -> None:
    (hit,) = store.search("bahnhofstrasse")
    assert hit.conversation_id == history["zurich"]
    assert hit.conversation_title == "Weekend in Zürich"
    assert hit.message_id == history["zurich_a"]
    assert hit.role == "assistant"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["Bahnhofstrasse"]
    assert HIGHLIGHT_START not in hit.snippet
    assert HIGHLIGHT_END not in hit.snippet


def test_a_long_message_gives_a_short_snippet_around_the_match(
    store: Store, history: dict[str, int]
) -> None:
    (hit,) = store.search("needle")
    assert hit.message_id == history["essay_q"]
    assert len(hit.snippet) < 200
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["needle"]


def test_title_hits_come_first(store: Store, history: dict[str, int]) -> None:
    hits = store.search("python")
    assert (hits[0].conversation_id, hits[0].message_id) == (history["code"], None)
    assert [h.snippet[s:e] for h in hits[:1] for s, e in h.highlights] == ["Python"]
    assert _messages(store, "python") == [history["code_q"]]


def test_all_words_must_match(store: Store, history: dict[str, int]) -> None:
    assert _messages(store, "reverse list") == [history["code_q"]]
    assert _messages(store, "reverse café") == []


def test_phrases_exclusions_and_prefixes(store: Store, history: dict[str, int]) -> None:
    assert _messages(store, '"best café"') == [history["zurich_q"]]
    assert _messages(store, '"café best"') == []
    assert _messages(store, "café -schober") == [history["zurich_q"]]
    assert _messages(store, "bahn") == [history["zurich_a"]]  # the word being typed
    assert _messages(store, "bahn ") == []  # a finished word matches whole words only
    assert _messages(store, "bahn* ") == [history["zurich_a"]]
    assert _messages(store, '"best caf') == [history["zurich_q"]]  # phrase being typed
    assert _messages(store, "-schober") == []  # nothing to look for


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        '"',
        '""',
        '"""',
        "'",
        "-",
        "--",
        "*",
        "**",
        "AND",
        "OR",
        "NOT",
        "NEAR",
        "NEAR(café crème)",
        "café OR",
        "(café",
        "café)",
        "café AND OR NOT",
        "content:café",
        "^café",
        "{content}: café",
        'café" OR "1"="1',
        "café'; DROP TABLE messages; --",
        "c++",
        "items[::-1]",
        "\x00",
        "\x02café\x03",
        "🙂 café",
        "a" * 10_000,
    ],
)
def test_any_input_is_safe(store: Store, history: dict[str, int], query: str) -> None:
    hits = store.search(query)
    assert isinstance(hits, list)
    assert len(store.list_conversations()) == 3  # and nothing was harmed


def test_operators_typed_by_the_user_are_plain_words(store: Store) -> None:
    c = store.create_conversation("ops")
    m = store.add_message(c.id, None, "user", "Do not stop near the door or the gate")
    assert _messages(store, "not near or") == [m.id]
    assert _messages(store, "c++ ") == []


def test_build_match_quotes_every_term() -> None:
    assert build_match("cafe") == '("cafe"*)'
    assert build_match("cafe ") == '("cafe")'
    assert build_match('NEAR(a b) -x "y z"') == '("NEAR(a" AND "b)" AND "y z") NOT "x"'
    assert build_match('say "hi') == '("say" AND "hi"*)'
    assert build_match('a"b') == '("a""b"*)'
    assert build_match("x") == '("x")'  # one letter: no prefix, that would match half the index
    assert build_match("-only -excluded") is None
    assert build_match("?! ...") is None


def test_parse_snippet() -> None:
    marked = (
        f"…the  {HIGHLIGHT_START}café{HIGHLIGHT_END}\n is {HIGHLIGHT_START}good{HIGHLIGHT_END}…"
    )
    text, spans = parse_snippet(marked)
    assert text == "…the café is good…"
    assert [text[s:e] for s, e in spans] == ["café", "good"]


def test_search_follows_edits_deletes_and_streaming(store: Store) -> None:
    c = store.create_conversation("Renamed later")
    q = store.add_message(c.id, None, "user", "original wording")
    answer = store.begin_assistant(c.id, q.id, "m")
    store.append_partial(answer.id, "a partial zeppelin")
    assert _messages(store, "zeppelin") == [answer.id]
    store.finish(answer.id, "complete", content="a final airship")
    assert _messages(store, "zeppelin") == []
    assert _messages(store, "airship") == [answer.id]
    store.rename_conversation(c.id, "Balloons")
    assert [h.conversation_id for h in store.search("balloons")] == [c.id]
    assert store.search("renamed") == []
    copy = store.duplicate_conversation(c.id)
    assert {h.conversation_id for h in store.search("airship")} == {c.id, copy.id}
    store.purge(store.delete_conversations(c.id))
    assert {h.conversation_id for h in store.search("airship")} == {copy.id}
    check_database(store.path)


def test_the_limit_is_respected(store: Store) -> None:
    c = store.create_conversation("many")
    parent = None
    for i in range(30):
        parent = store.add_message(c.id, parent, "user", f"word number {i}").id
    assert len(store.search("word", limit=10)) == 10
    hits = store.search("word", limit=5)
    assert [h.message_id for h in hits] == [parent, parent - 1, parent - 2, parent - 3, parent - 4]
    assert store.search("word", limit=0) == []


def test_a_query_of_symbols_only_is_looked_for_as_written(store: Store) -> None:
    c = store.create_conversation("Rust & C")
    arrow = store.add_message(c.id, None, "user", "What does -> mean in a signature?")
    amp = store.add_message(c.id, arrow.id, "assistant", "It is the return type. `&` borrows.")
    emoji = store.add_message(c.id, amp.id, "user", "thanks 🙂")
    gone = store.create_conversation("deleted")
    store.add_message(gone.id, None, "user", "also -> here")
    store.delete_conversations(gone.id)

    assert _messages(store, "->") == [arrow.id]
    assert _messages(store, " & ") == [amp.id]
    assert _messages(store, "🙂") == [emoji.id]
    assert _messages(store, "=>") == []
    (title,) = [h for h in store.search("&") if h.message_id is None]
    assert [title.snippet[s:e] for s, e in title.highlights] == ["&"]
    (hit,) = [h for h in store.search("->") if h.message_id is not None]
    assert (hit.conversation_id, hit.role, hit.conversation_title) == (c.id, "user", "Rust & C")
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["->"]


def test_words_inside_chinese_and_japanese_text_are_found(store: Store) -> None:
    c = store.create_conversation("日本の旅行")
    tokyo = store.add_message(c.id, None, "user", "東京は日本の首都です。Python で書く")
    beijing = store.add_message(c.id, tokyo.id, "assistant", "北京是中国的首都。")
    store.add_message(c.id, beijing.id, "user", "Osaka is nice")

    assert _messages(store, "東京") == [tokyo.id]
    assert _messages(store, "日本") == [tokyo.id], "a word in the middle of a sentence"
    assert _messages(store, "首都") == [beijing.id, tokyo.id]
    assert _messages(store, "日本 首都") == [tokyo.id], "every term, in any place"
    assert _messages(store, "中国 python") == []
    assert _messages(store, "首都 python") == [tokyo.id], "with a word the index answers"
    assert _messages(store, "首都 -python") == [beijing.id]
    (title,) = [h for h in store.search("旅行") if h.message_id is None]
    assert [title.snippet[s:e] for s, e in title.highlights] == ["旅行"]
    (hit,) = [h for h in store.search("日本") if h.message_id is not None]
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["日本"]


def test_a_symbol_far_into_a_long_message_gets_a_short_snippet(store: Store) -> None:
    c = store.create_conversation("long")
    text = " ".join(["words"] * 300 + ["a && b"] + ["more"] * 300)
    m = store.add_message(c.id, None, "user", text)
    (hit,) = store.search("&&")
    assert hit.message_id == m.id
    assert len(hit.snippet) < 130
    assert hit.snippet.startswith("…")
    assert hit.snippet.endswith("…")
    assert "a && b" in hit.snippet
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["&&"]


def test_search_limit_holds_for_symbols(store: Store) -> None:
    c = store.create_conversation("many")
    parent = None
    for i in range(30):
        parent = store.add_message(c.id, parent, "user", f"{i} + {i}").id
    hits = store.search("+", limit=10)
    assert len(hits) == 10
    assert [h.message_id for h in hits] == sorted((h.message_id for h in hits), reverse=True)


def test_a_symbol_search_comes_in_steps_that_end_with_every_hit(store: Store) -> None:
    c = store.create_conversation("steps")
    parent = None
    planted = []
    for i in range(6000):
        text = f"line {i} -> {i + 1}" if i % 1000 == 0 else f"line {i}"
        parent = store.add_message(c.id, parent, "user", text).id
        if i % 1000 == 0:
            planted.append(parent)
    steps = list(store.search_in_steps("->", step_s=0.0))  # the smallest step each time
    assert len(steps) > 1
    assert [finished for _hits, finished in steps] == [False] * (len(steps) - 1) + [True]
    sizes = [len(hits) for hits, _finished in steps]
    assert sizes == sorted(sizes)  # each step adds to what came before
    assert [h.message_id for h in steps[-1][0]] == planted[::-1]
    assert steps[-1][0] == store.search("->")
    ((found, finished),) = store.search_in_steps("line 5")  # words: the index, one step
    assert finished
    assert found


def test_a_term_made_mostly_of_symbols_must_be_there_as_written(store: Store) -> None:
    c = store.create_conversation("Python")
    slicing = store.add_message(c.id, None, "user", "Why does items[::-1] reverse a list?")
    numbered = store.add_message(c.id, slicing.id, "assistant", "1. It steps by -1 from the end.")
    cpp = store.create_conversation("Languages")
    plus = store.add_message(cpp.id, None, "user", "Is C++ faster than C?")
    store.add_message(cpp.id, plus.id, "assistant", "C is older. See the C# docs too.")

    assert _messages(store, "[::-1]") == [slicing.id], "not every message with a 1 in it"
    assert _messages(store, "c++ ") == [plus.id], "not every C"
    assert _messages(store, "C# ") == [plus.id + 1]
    assert numbered.id in _messages(store, "1 "), "the digit alone still finds them all"
    (hit,) = [h for h in store.search("[::-1]") if h.message_id is not None]
    assert "items[::-1]" in hit.snippet
    titles = [h.conversation_id for h in store.search("c++") if h.message_id is None]
    assert titles == [], "no title holds c++"


def test_a_symbol_term_is_what_the_snippet_shows_and_marks(store: Store) -> None:
    c = store.create_conversation("Lists in Python 3.11 or C++")
    long = " ".join(["filler 1"] * 40 + ["so items[::-1] reverses;"] + ["1 more"] * 40)
    m = store.add_message(c.id, None, "user", long)
    (hit,) = [h for h in store.search("[::-1]") if h.message_id is not None]
    assert hit.message_id == m.id
    assert "items[::-1] reverses" in hit.snippet, "the snippet is around the term itself"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["[::-1]"], "not every other 1"
    (title,) = [h for h in store.search("python c++") if h.message_id is None]
    assert [title.snippet[s:e] for s, e in title.highlights] == ["Python", "C++"]


def test_titles_with_symbols_fill_half_the_results_as_words_do(store: Store) -> None:
    for i in range(30):
        store.create_conversation(f"C++ question {i}")
        store.create_conversation(f"Cooking {i}")
    titles = [h for h in store.search("c++", limit=50) if h.message_id is None]
    assert len(titles) == 25
    assert all("C++" in h.conversation_title for h in titles)
    assert len([h for h in store.search("question", limit=50) if h.message_id is None]) == 25
