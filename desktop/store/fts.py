"""From what a user types into the search field to an FTS5 query, and from FTS5 snippets
to plain text with highlight ranges.

Users type words, "quoted phrases", ``-excluded`` words and ``prefix*`` words, and they type
them imperfectly (an unbalanced quote, a lone ``-``, ``AND``/``OR``/``NEAR`` as ordinary
words, parentheses, colons). Every term is passed to FTS5 as a quoted string, so nothing the
user types can be read as FTS5 syntax, and no input raises.

A query with no word in it at all ("&", "->", "🙂") has nothing for FTS5 to look up (its
tokenizer keeps only letters and digits), so it is looked for as written instead:
:func:`literal_needles` and :func:`literal_snippet`. So is a word in a script written
without spaces (Chinese, Japanese): the index holds only whole runs of such characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"

# A quoted phrase (the closing quote may be missing), or a run of non-space characters.
_TOKEN = re.compile(r'(-?)"([^"]*)("?)|(\S+)')


@dataclass(frozen=True)
class _Term:
    text: str
    negated: bool
    prefix: bool
    phrase: bool
    open_ended: bool = False
    """A word, or a phrase whose closing quote has not been typed yet: still being typed."""


def _has_word(text: str) -> bool:
    """True when the unicode61 tokenizer would find at least one token in ``text``."""
    return any(ch.isalnum() for ch in text)


# Scripts written without spaces between words: Han, Hiragana, Katakana (and their
# extensions), Hangul syllables. The unicode61 tokenizer makes one token of a whole run of
# them ("東京は日本の首都です"), so a word inside a sentence ("日本") is never a token or a
# token's start; such terms are looked for as written instead.
_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002fa1f]"
)


def unspaced(text: str) -> bool:
    """Whether ``text`` holds a character of a script written without spaces."""
    return _UNSPACED.search(text) is not None


def _parse(query: str) -> list[_Term]:
    terms: list[_Term] = []
    for match in _TOKEN.finditer(query):
        if match.group(4) is None:
            closed = match.group(3) == '"'
            negated = bool(match.group(1))
            terms.append(_Term(match.group(2), negated, False, phrase=True, open_ended=not closed))
            continue
        word = match.group(4)
        negated = word.startswith("-")
        word = word.lstrip("-")
        prefix = word.endswith("*")
        word = word.rstrip("*")
        terms.append(_Term(word, negated, prefix, phrase=False, open_ended=True))
    return [t for t in terms if _has_word(t.text)]


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def build_match(query: str, min_auto_prefix: int = 2) -> str | None:
    """The FTS5 MATCH expression for a user's query, or ``None`` when it has nothing to look
    for (empty, only punctuation, or only excluded words).

    All terms must match (AND); ``-word`` excludes; ``word*`` is a prefix; the last word is a
    prefix too while it is being typed (from ``min_auto_prefix`` characters on), so results
    appear as the user types. Quoted phrases match exactly once their closing quote is typed."""
    terms = _parse(query)
    # terms in scripts written without spaces are matched as written (literal_terms)
    positive = [t for t in terms if not t.negated and not unspaced(t.text)]
    if not positive:
        return None
    last = terms[-1]  # the word being typed, if it is not an excluded one
    parts: list[str] = []
    for term in positive:
        prefix = term.prefix or (
            term is last
            and term.open_ended
            and sum(ch.isalnum() for ch in term.text) >= min_auto_prefix
            and query.rstrip() == query  # a trailing space means the word is finished
        )
        parts.append(_quote(term.text) + ("*" if prefix else ""))
    expression = "(" + " AND ".join(parts) + ")"
    for term in terms:
        if term.negated:
            expression += " NOT " + _quote(term.text) + ("*" if term.prefix else "")
    return expression


def literal_terms(query: str) -> list[str]:
    """Terms of ``query`` made as much of symbols as of letters and digits ("[::-1]", "c++",
    "C#", "<b>"), lower-cased: the index holds only their letters and digits ("1", "c"), so
    a message must also contain them as written to match. Excluded terms are left out."""
    found: list[str] = []
    for term in _parse(query):
        symbols = sum(not ch.isalnum() and not ch.isspace() for ch in term.text)
        if term.negated:
            continue
        if (symbols and symbols >= sum(ch.isalnum() for ch in term.text)) or unspaced(term.text):
            found.append(term.text.lower())
    return found


def other_terms(query: str) -> list[str]:
    """The terms of ``query`` that :func:`literal_terms` leaves out, lower-cased, excluded
    ones apart: what a snippet built around the literal terms also marks."""
    literals = literal_terms(query)
    return [
        t.text.lower() for t in _parse(query) if not t.negated and t.text.lower() not in literals
    ]


def literal_needles(query: str) -> tuple[list[str], list[str]]:
    """What to look for as written, and what must not be there (lower-cased), when the
    full-text index has nothing to answer with: the whole query when it is made only of
    symbols, punctuation or emoji (which the index does not hold), or its terms when each
    is written in a script without spaces ("日本 首都 -東京"). Nothing to look for (empty
    lists) when the index answers, or the query is blank."""
    needle = query.strip()
    if not needle or any(ch < " " for ch in needle):
        return [], []
    if not _has_word(needle):
        return [needle.lower()], []
    if build_match(query) is not None:
        return [], []
    return literal_terms(query), [t.text.lower() for t in _parse(query) if t.negated]


def literal_snippet(
    text: str,
    needles: str | Sequence[str],
    context: int = 48,
    *,
    ignore_case: bool = False,
    words: Sequence[str] = (),
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A snippet of ``text`` on one line around the first of ``needles`` (about ``context``
    characters each side, "…" where it is cut), and the ranges of every needle in it, like
    :func:`parse_snippet`'s; also of ``words`` where a word begins with one (a query's other
    terms). ``ignore_case`` for needles and words searched in lower case."""
    flags = re.IGNORECASE if ignore_case else 0
    ordered = [needles] if isinstance(needles, str) else sorted(needles, key=len, reverse=True)
    literal = "|".join(re.escape(n) for n in ordered if n)
    first = re.search(literal, text, flags) if literal else None
    if first is None:
        return parse_snippet(text[: 2 * context])
    at, stop = first.span()
    start = max(0, at - context)
    end = min(len(text), stop + context)
    if start > 0 and (space := text.find(" ", start, at)) >= 0:
        start = space + 1  # begin on a whole word
    if end < len(text) and (space := text.rfind(" ", stop, end)) >= 0:
        end = space
    marks = "|".join([literal, *(r"(?<!\w)" + re.escape(w) for w in words if w)])
    marked = re.sub(
        marks, lambda m: HIGHLIGHT_START + m.group(0) + HIGHLIGHT_END, text[start:end], flags=flags
    )
    snippet, spans = parse_snippet(marked)
    if start > 0:
        snippet = "…" + snippet
        spans = tuple((a + 1, b + 1) for a, b in spans)
    if end < len(text):
        snippet += "…"
    return snippet, spans


def parse_snippet(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Split an FTS5 ``snippet()`` made with :data:`HIGHLIGHT_START`/:data:`HIGHLIGHT_END`
    into plain text on one line and the ``(start, end)`` ranges to highlight."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    start: int | None = None
    pending_space = False
    for ch in marked:
        if ch == HIGHLIGHT_START:
            if pending_space and out:
                out.append(" ")
                length += 1
            pending_space = False
            start = length
        elif ch == HIGHLIGHT_END:
            if start is not None and length > start:
                spans.append((start, length))
            start = None
        elif ch.isspace():
            pending_space = True
        else:
            if pending_space and out:
                out.append(" ")
                length += 1
            pending_space = False
            out.append(ch)
            length += 1
    return "".join(out), tuple(spans)
