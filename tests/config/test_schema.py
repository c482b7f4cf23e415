from __future__ import annotations

import math

import pytest

from desktop.config.paths import data_dir
from desktop.config.schema import OPTIONS, SECTIONS, Option, SettingError, schema_errors

BY_KEY = {o.key: o for o in OPTIONS}


def test_declared_schema_is_sound() -> None:
    assert schema_errors(SECTIONS, OPTIONS) == []


def test_schema_errors_catches_declaration_mistakes() -> None:
    bad = (
        Option("a.x", "a", "int", 5, "X", "x", minimum=0, maximum=3),
        Option("a.x", "nowhere", "choice", "q", "X", ""),
    )
    errors = schema_errors(SECTIONS, bad)
    assert any("default refused" in e for e in errors)
    assert any("declared twice" in e for e in errors)
    assert any("unknown section" in e for e in errors)
    assert any("needs choices" in e for e in errors)
    assert any("label and a description" in e for e in errors)


def test_every_section_has_options_and_every_option_a_section() -> None:
    names = [s.name for s in SECTIONS]
    assert len(set(names)) == len(names)
    for section in SECTIONS:
        assert any(o.section == section.name for o in OPTIONS), section.name


@pytest.mark.parametrize(
    ("key", "default"),
    [
        ("model.device", "auto"),
        ("model.threads", 0),
        ("model.context_length", 8192),
        ("sampling.temperature", 0.7),
        ("sampling.top_k", 40),
        ("sampling.top_p", 0.95),
        ("sampling.min_p", 0.05),
        ("sampling.repetition_penalty", 1.1),
        ("sampling.seed", -1),
        ("generation.max_new_tokens", 1024),
        ("context.policy", "drop_oldest"),
        ("appearance.theme", "system"),
        ("input.send_key", "enter"),
    ],
)
def test_defaults_from_the_issue(key: str, default: object) -> None:
    assert BY_KEY[key].default_value() == default


def test_history_location_defaults_to_the_data_dir() -> None:
    assert BY_KEY["history.location"].default_value() == str(data_dir())


def test_reload_flags() -> None:
    reload_keys = {o.key for o in OPTIONS if o.needs_reload}
    assert reload_keys == {  # the default model is loaded as soon as it is chosen
        "model.device",
        "model.threads",
        "model.context_length",
    }


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("sampling.temperature", [0, 0.0, 5, 2.5], [-0.01, 5.01, math.nan, math.inf]),
        ("sampling.top_k", [0, 1000], [-1, 1001, 3.5]),
        ("sampling.top_p", [0.001, 1.0], [0.0, 1.01]),
        ("sampling.min_p", [0.0, 0.999], [1.0, -0.1]),
        ("sampling.repetition_penalty", [0.5, 3.0], [0.49, 3.01]),
        ("sampling.seed", [-1, 0, 2**31 - 1], [-2, 2**31]),
        ("model.threads", [0, 1, 256], [-1, 257]),
        ("model.context_length", [512, 131072], [511, 131073, 0]),
        ("generation.max_new_tokens", [1, 32768], [0, 32769]),
        ("appearance.font_size", [8, 32], [7, 33]),
        ("model.device", ["auto", "cuda", "directml", "cpu"], ["gpu", "", 1]),
        ("context.policy", ["drop_oldest", "stop"], ["truncate"]),
        ("input.send_key", ["enter", "ctrl_enter"], ["shift_enter"]),
    ],
)
def test_bounds_enforced(key: str, good: list[object], bad: list[object]) -> None:
    option = BY_KEY[key]
    for value in good:
        assert option.validate(value) == value
    for value in bad:
        with pytest.raises(SettingError) as info:
            option.validate(value)
        assert info.value.key == key
        assert "\n" not in str(info.value)


def test_types_are_strict() -> None:
    with pytest.raises(SettingError, match="whole number"):
        BY_KEY["sampling.top_k"].validate(True)
    with pytest.raises(SettingError, match="number"):
        BY_KEY["sampling.temperature"].validate("0.5")
    with pytest.raises(SettingError, match="text"):
        BY_KEY["chat.default_system_prompt"].validate(3)
    with pytest.raises(SettingError, match="single line"):
        BY_KEY["model.default"].validate("a\nb")
    # JSON has no int/float distinction that users care about: 1 is a fine temperature, 4.0 a
    # fine top-k.
    assert BY_KEY["sampling.temperature"].validate(1) == 1.0
    assert isinstance(BY_KEY["sampling.temperature"].validate(1), float)
    assert BY_KEY["sampling.top_k"].validate(4.0) == 4


def test_reasons_name_the_range() -> None:
    with pytest.raises(SettingError) as info:
        BY_KEY["sampling.temperature"].validate(9)
    assert info.value.reason == "must be between 0 and 5"
    with pytest.raises(SettingError) as info:
        BY_KEY["sampling.top_p"].validate(0)
    assert info.value.reason == "must be greater than 0 and at most 1"
    with pytest.raises(SettingError) as info:
        BY_KEY["sampling.min_p"].validate(1)
    assert info.value.reason == "must be at least 0 and less than 1"
    with pytest.raises(SettingError) as info:
        BY_KEY["model.threads"].validate(300)
    assert info.value.reason == "must be between 0 and 256 (0 = automatic)"


def test_path_must_be_absolute(tmp_path: object) -> None:
    option = BY_KEY["history.location"]
    with pytest.raises(SettingError, match="absolute"):
        option.validate("relative/folder")
    with pytest.raises(SettingError, match="folder"):
        option.validate("  ")
    assert option.validate(f"{tmp_path}/a/../b") == f"{tmp_path}/b"


def test_from_text() -> None:
    assert BY_KEY["sampling.top_k"].from_text(" 12 ") == 12
    assert BY_KEY["sampling.temperature"].from_text("0.25") == 0.25
    with pytest.raises(SettingError, match="whole number"):
        BY_KEY["sampling.top_k"].from_text("twelve")
    with pytest.raises(SettingError, match="between"):
        BY_KEY["sampling.temperature"].from_text("7")
    flag = Option("a.flag", "model", "bool", False, "Flag", "A flag.")
    assert flag.from_text("yes") is True
    assert flag.from_text("off") is False
    with pytest.raises(SettingError, match="true or false"):
        flag.from_text("maybe")


def test_custom_check_for_text_options() -> None:
    url = Option(
        "submit.url",
        "model",
        "str",
        "",
        "Endpoint",
        "Where feedback is sent.",
        check=lambda v: None if v == "" or v.startswith("https://") else "must start with https://",
    )
    assert url.validate("https://example.org") == "https://example.org"
    with pytest.raises(SettingError, match="https://"):
        url.validate("http://example.org")
