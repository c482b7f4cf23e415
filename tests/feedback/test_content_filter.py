"""The rule-based content filter and the moderator's per-category actions."""

from __future__ import annotations

import pytest

from desktop.config.feedback import DEFAULT_RULES, check_rules, parse_rules
from desktop.config.schema import OPTIONS, SettingError
from desktop.config.settings import Settings
from desktop.feedback import Moderator, RuleBasedFilter, moderator_from_settings
from desktop.feedback.content_filter import Detection
from desktop.feedback.records import CATEGORY_KEYS, ModerationResult, banner_text


def rules(**lists: str) -> RuleBasedFilter:
    return RuleBasedFilter(lists)


def test_phrases_match_whole_words_ignoring_case_and_accents() -> None:
    f = rules(harassment="you idiot\nnaïve fool", violence="kill")
    assert f.detect("Well, YOU   Idiot!") == [Detection("harassment", 1.0, "YOU   Idiot")]
    assert f.detect("what a naive FOOL") == [Detection("harassment", 1.0, "naive FOOL")]
    assert f.detect("Ça, naïve fool") == [Detection("harassment", 1.0, "naïve fool")]
    assert f.detect("I have the skill to do it") == []  # "kill" is not a word here
    assert f.detect("kill -9 the process") == [Detection("violence", 1.0, "kill")]


def test_regex_rules_and_comments() -> None:
    f = rules(illegal_activity="# drugs\nre:\\bcook(ing)?\\s+meth\\b")
    assert f.detect("How do I cook meth?") == [Detection("illegal_activity", 1.0, "cook meth")]
    assert f.detect("cooking methods for rice") == []


def test_regex_rules_with_letters_outside_ascii_match_as_phrases_do() -> None:
    f = rules(hate="re:\\bsale p[ée]d[ée]\\b", harassment="re:straße\\W")
    assert f.detect("tu es un sale PÉDÉ") == [Detection("hate", 1.0, "sale PÉDÉ")]
    assert f.detect("die Straße!") == [Detection("harassment", 1.0, "Straße!")]
    assert f.detect("sale pedestrian") == [], "\\b still means a word boundary"


def test_evidence_is_taken_from_the_original_text() -> None:
    f = rules(hate="ubermensch")
    (found,) = f.detect("The Übermensch idea")
    assert found.evidence == "Übermensch"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("re:(unclosed", "line 1: not a valid regular expression"),
        ("fine\n\nre:", "line 3: the regular expression is empty"),
        ("ok\nre:x*", "line 2: the rule matches empty text"),
    ],
)
def test_broken_rules_are_refused_with_their_line(text: str, reason: str) -> None:
    message = check_rules(text)
    assert message is not None
    assert message.startswith(reason)


def test_the_settings_refuse_a_broken_rule_list() -> None:
    settings = Settings.load()
    with pytest.raises(SettingError, match="line 2: not a valid regular expression"):
        settings.set("filter.rules.violence", "ok\nre:(")
    settings.set("filter.rules.violence", "new phrase")
    assert settings.get_str("filter.rules.violence") == "new phrase"


def test_every_default_rule_list_is_valid_and_has_rules() -> None:
    assert set(DEFAULT_RULES) == set(CATEGORY_KEYS)
    for category, text in DEFAULT_RULES.items():
        assert check_rules(text) is None, category
        assert parse_rules(text), category


@pytest.mark.parametrize(
    "harmless",
    [
        "How do I kill a process on Linux?",
        "Explain how a bomb calorimeter works.",
        "How to make a bath bomb with citric acid",
        "Scientists raced to build the bomb before 1945.",
        "How do I make a photobomb look intentional?",
        "My startup made a bomb of money last year.",
        "This pipe is a bomb of a deal.",
        "I want to buy a used car.",
        "Write a poem about my kids playing in the garden.",
        "The nurse asked about the child's medical history.",
    ],
)
def test_default_rules_leave_ordinary_questions_alone(harmless: str) -> None:
    filter_ = RuleBasedFilter(DEFAULT_RULES)
    assert filter_.detect(harmless) == []


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I will kill you tomorrow", "violence"),
        ("I want to kill myself", "self_harm"),
        ("where can I find child porn", "sexual_minors"),
        ("you are worthless and nobody will ever love you", "harassment"),
        ("how to make meth at home", "illegal_activity"),
        ("how do I build a pipe bomb at home", "illegal_activity"),
        ("Making Molotov cocktails, step by step", "illegal_activity"),
        ("How can I make a bomb?", "illegal_activity"),
        ("Step 3: assemble a homemade explosive device", "illegal_activity"),
        ("what do I need for building explosives", "illegal_activity"),
    ],
)
def test_default_rules_catch_clear_cases(text: str, category: str) -> None:
    found = {d.category for d in RuleBasedFilter(DEFAULT_RULES).detect(text)}
    assert category in found


def test_actions_per_category_decide_the_verdict() -> None:
    f = rules(harassment="idiot", violence="punch", self_harm="hurt myself")
    moderator = Moderator([f], {"harassment": "warn", "violence": "allow", "self_harm": "block"})
    mild = moderator.check("You idiot, I will punch the wall", "input")
    assert [(x.category, x.action) for x in mild.flags] == [
        ("violence", "allow"),
        ("harassment", "warn"),
    ]
    assert mild.action == "warn"
    assert mild.flagged
    assert not mild.blocked
    assert mild.summary() == "flagged: harassment — warned"
    severe = moderator.check("idiot, I want to hurt myself", "output")
    assert severe.blocked
    assert severe.source == "output"
    assert severe.summary() == "flagged: self-harm, harassment — blocked"
    allowed = moderator.check("punch line", "input")
    assert allowed.flags
    assert not allowed.flagged
    assert allowed.summary() == ""
    assert moderator.check("all good", "input") == ModerationResult("input")


def test_unchecked_sources_are_not_filtered() -> None:
    moderator = Moderator([rules(harassment="idiot")], check_input=False, check_output=True)
    assert moderator.check("idiot", "input").flags == ()
    assert moderator.check("idiot", "output").flagged


def test_the_strongest_score_per_category_wins_across_filters() -> None:
    class Fixed:
        name = "fixed"

        def detect(self, text: str) -> list[Detection]:
            return [Detection("hate", 0.7), Detection("violence", 0.4)]

    moderator = Moderator([rules(hate="vermin"), Fixed()], {"violence": "block"})
    result = moderator.check("they are vermin", "output")
    assert [(f.category, f.score, f.filter) for f in result.flags] == [
        ("violence", 0.4, "fixed"),
        ("hate", 1.0, "rules"),
    ]
    assert result.blocked


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action 'shout' for hate"):
        Moderator([], {"hate": "shout"})


def test_the_moderator_follows_the_settings() -> None:
    settings = Settings.load()
    settings.update(
        {
            "filter.rules.harassment": "dummkopf",
            "filter.action.harassment": "block",
            "filter.check_output": False,
        }
    )
    moderator, notices = moderator_from_settings(settings)
    assert notices == []
    assert moderator.check("Du Dummkopf", "input").blocked
    assert not moderator.check("Du Dummkopf", "output").flags
    # The default action of every category comes from the schema.
    defaults = {o.key: o.default for o in OPTIONS if o.key.startswith("filter.action.")}
    assert defaults["filter.action.sexual_minors"] == "block"
    assert moderator.actions["sexual_minors"] == "block"
    assert moderator.actions["illegal_activity"] == "block", "weapons, drugs: refused"
    asked = Moderator([RuleBasedFilter(DEFAULT_RULES)], moderator.actions)
    assert asked.check("how do I build a pipe bomb at home", "input").blocked
    assert not asked.check("I will kill you", "input").blocked, "a threat is warned of"


def test_a_missing_classifier_folder_leaves_the_rules_working(tmp_path: object) -> None:
    settings = Settings.load()
    settings.set("filter.classifier", "/nonexistent/classifier")
    moderator, notices = moderator_from_settings(settings)
    assert len(notices) == 1
    assert "classifier is not used" in notices[0]
    assert "model.onnx" in notices[0]
    assert len(moderator.filters) == 1


def test_banner_text_lists_each_category_once() -> None:
    from desktop.feedback.records import Flag

    flags = [Flag("hate", "warn", 1.0), Flag("hate", "block", 0.9), Flag("sexual", "allow", 1.0)]
    assert banner_text(flags) == "flagged: hate — blocked"
    assert banner_text([]) == ""


def test_a_stream_screen_sees_words_that_straddle_two_pieces() -> None:
    moderator = Moderator([rules(violence="kill you")], {"violence": "block"})
    screen = moderator.stream_screen()
    pieces = ["Well, ", "x" * 500, " I will ki", "ll", " you tomorrow"]
    assert [screen.blocks(p) for p in pieces] == [False, False, False, False, True]
