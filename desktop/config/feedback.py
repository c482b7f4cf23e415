"""What the feedback and content-filter settings are made of: the filter's categories, the
default rule lists, and the checks for rule lists and the submission endpoint.

They live here, in the lowest layer, because the settings schema declares options from them; the
feedback package parses the same values with the same functions, so the two never disagree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

FilterAction = Literal["allow", "warn", "block"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Category:
    """A content-filter category."""

    key: str
    label: str
    description: str
    default_action: FilterAction


CATEGORIES: tuple[Category, ...] = (
    Category(
        "violence", "Violence", "Threats, glorification or instructions for violence.", "warn"
    ),
    Category(
        "self_harm",
        "Self-harm",
        "Encouragement of or instructions for self-harm or suicide.",
        "warn",
    ),
    Category(
        "sexual_minors",
        "Sexual content involving minors",
        "Any sexual content involving children. Blocked by default.",
        "block",
    ),
    Category("sexual", "Sexual content", "Explicit sexual content between adults.", "warn"),
    Category("hate", "Hate", "Attacks on people for who they are (origin, religion, ...).", "warn"),
    Category("harassment", "Harassment", "Insults, bullying or intimidation of a person.", "warn"),
    # Blocked by default: how to build weapons or make drugs is what a chat assistant should
    # refuse to pass on (and a small local model does not refuse by itself).
    Category(
        "illegal_activity",
        "Illegal activity",
        "Help with serious crimes: weapons, drugs, fraud, hacking others. Blocked by default.",
        "block",
    ),
)


# Conservative starting lists; users edit them in the settings. They favour phrases that are
# rarely harmless, so ordinary questions ("how do I kill a process?") are not flagged.
DEFAULT_RULES: Mapping[str, str] = {
    "violence": "\n".join(
        [
            "i will kill you",
            "i'm going to kill you",
            "re:\\b(shoot|stab|behead)\\s+(him|her|them|you|everyone)\\b",
            "mass shooting plan",
        ]
    ),
    "self_harm": "\n".join(
        [
            "kill myself",
            "want to die",
            "end my life",
            "how to commit suicide",
            "re:\\bcut(ting)?\\s+myself\\b",
            "best way to overdose",
        ]
    ),
    "sexual_minors": "\n".join(
        [
            "child porn",
            "child pornography",
            "csam",
            "re:\\b(sexual|sexy|nude|naked)\\b.{0,40}\\b(child|children|minor|minors|kid|kids)\\b",
            "re:\\b(child|children|minor|minors|kid|kids)\\b.{0,40}\\b(sexual|nude|naked)\\b",
        ]
    ),
    "sexual": "\n".join(["explicit sex scene", "porn", "re:\\bnsfw\\b"]),
    "hate": "\n".join(
        [
            "subhuman",
            "re:\\b(all|those)\\s+\\w+\\s+(are|should be)\\s+(vermin|animals|exterminated)\\b",
            "ethnic cleansing is good",
        ]
    ),
    "harassment": "\n".join(
        [
            "you are worthless",
            "you're worthless",
            "nobody will ever love you",
            "shut up, idiot",
            "re:\\byou\\s+(stupid|pathetic|worthless)\\s+(idiot|loser|moron)\\b",
        ]
    ),
    "illegal_activity": "\n".join(
        [
            "how to make a bomb",
            # making one: "make a bomb", "building pipe bombs", "assemble an explosive device"
            # ("a bath bomb", "the film bombed", "a bomb calorimeter" are not)
            "re:\\b(build(s|ing)?|mak(e|es|ing)|assembl(e|es|ing)|construct(s|ing)?)\\s+"
            "(a\\s+|an\\s+|your\\s+own\\s+)?(home-?made\\s+)?"
            "(pipe\\s+bomb|bomb|explosive\\s+device|explosives|ied|molotov\\s+cocktail)s?\\b",
            "how to make meth",
            "cook meth",
            "buy stolen credit cards",
            "launder money",
            "re:\\bhack\\s+(into\\s+)?(my\\s+)?(ex|neighbou?r|someone)'?s?\\s+(account|phone|email)\\b",
        ]
    ),
}

RULE_PREFIX_REGEX = "re:"


def check_endpoint(url: str) -> str | None:
    """Why ``url`` cannot be a submission endpoint, or ``None`` if it can. Empty is allowed
    (submission not set up). HTTPS only; plain ``http://`` only for this computer."""
    if not url:
        return None
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        return f"is not a valid address ({error})"
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    if parts.scheme != "https":
        return "must start with https:// (plain http:// only for localhost)"
    if not parts.hostname:
        return "must name a server, e.g. https://feedback.example.com/v1/records"
    if parts.username or parts.password:
        return "must not contain a user name or password (the API token is set separately)"
    return None


class RuleError(ValueError):
    """A rule list has a broken line; the message names it."""


def fold(text: str) -> tuple[str, list[int]]:
    """``text`` without case and accents, and for each folded character the index of the
    original character it came from (so a match can show the original words)."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            folded = char.lower()
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
        out.append(folded)
        origin.extend([index] * len(folded))
    return "".join(out), origin


def _phrase_pattern(phrase: str) -> str:
    words = fold(phrase)[0].split()
    body = r"\s+".join(re.escape(w) for w in words)
    # Whole words only: "kill" does not match "skill".
    return rf"(?<!\w){body}(?!\w)"


def parse_rules(text: str) -> list[re.Pattern[str]]:
    """One rule per line: a word or phrase (whole words, any case, accents ignored), or
    ``re:`` followed by a regular expression (matched against the lower-cased, accent-free
    text; its own letters outside ASCII are folded alike). Empty lines and lines starting
    with ``#`` are ignored. Raises :class:`RuleError` naming the line of a broken rule."""
    patterns: list[re.Pattern[str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(RULE_PREFIX_REGEX):
            source = line[len(RULE_PREFIX_REGEX) :].strip()
            if not source:
                raise RuleError(f"line {number}: the regular expression is empty")
            # folded as the text is, or "straße" and "pédé" never match: only the letters
            # outside ASCII (ASCII ones are matched in any case; "\\W" must stay as written)
            source = "".join(ch if ch.isascii() else fold(ch)[0] for ch in source)
        else:
            source = _phrase_pattern(line)
        try:
            pattern = re.compile(source, re.IGNORECASE)
        except re.error as error:
            raise RuleError(f"line {number}: not a valid regular expression ({error})") from None
        if pattern.search(""):
            raise RuleError(f"line {number}: the rule matches empty text, so it flags everything")
        patterns.append(pattern)
    return patterns


def check_rules(text: str) -> str | None:
    """The settings' ``check`` hook for a rule list."""
    try:
        parse_rules(text)
    except RuleError as error:
        return str(error)
    return None


def check_classifier_folder(value: str) -> str | None:
    """Empty (no classifier) or an absolute folder path; whether it holds a usable model is
    checked when the filter loads it (the folder may be on a drive that is not mounted now)."""
    if not value:
        return None
    from pathlib import Path

    if not Path(value).expanduser().is_absolute():
        return "must be an absolute folder path, or empty for none"
    return None
