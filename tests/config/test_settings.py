from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from desktop.config.paths import data_dir
from desktop.config.settings import (
    CURRENT_SCHEMA_VERSION,
    Migration,
    SettingError,
    Settings,
    SettingsChange,
    SettingsFileError,
    rename_key,
    settings_path,
)
from desktop.engine.types import SamplingParams


def write_file(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_lives_in_the_data_dir_and_starts_with_defaults() -> None:
    assert settings_path() == data_dir() / "settings.json"
    settings = Settings.load()
    assert settings.path == settings_path()
    assert settings.notices == []
    assert settings.get("sampling.temperature") == 0.7
    assert settings.get("history.location") == str(data_dir())
    assert not settings.path.exists(), "loading must not create the file"


def test_get_unknown_key_is_a_setting_error() -> None:
    with pytest.raises(SettingError, match="no such setting"):
        Settings().get("sampling.nope")
    with pytest.raises(SettingError, match="no such setting"):
        Settings().set("sampling.nope", 1)


def test_set_validates_and_keeps_the_old_value_when_refused() -> None:
    settings = Settings()
    settings.set("sampling.temperature", 1.5)
    with pytest.raises(SettingError) as info:
        settings.set("sampling.temperature", 6)
    assert info.value.reason == "must be between 0 and 5"
    assert str(info.value) == "sampling.temperature: must be between 0 and 5"
    assert settings.get("sampling.temperature") == 1.5


def test_update_is_all_or_nothing() -> None:
    settings = Settings()
    with pytest.raises(SettingError):
        settings.update({"sampling.top_k": 10, "sampling.top_p": 0})
    assert settings.get("sampling.top_k") == 40


def test_typed_getters() -> None:
    settings = Settings()
    assert settings.get_int("sampling.top_k") == 40
    assert settings.get_float("sampling.top_p") == 0.95
    assert settings.get_str("appearance.theme") == "system"
    assert settings.history_dir() == data_dir()
    with pytest.raises(TypeError):
        settings.get_int("sampling.top_p")
    with pytest.raises(TypeError):
        settings.get_bool("sampling.top_k")


def test_save_load_round_trip() -> None:
    settings = Settings.load()
    settings.update(
        {
            "sampling.temperature": 0.0,
            "sampling.seed": 1234,
            "model.device": "cpu",
            "chat.default_system_prompt": "Answer in French.\nBe brief: ünïcödé ✓",
            "history.location": str(data_dir() / "elsewhere"),
        }
    )
    settings.save()
    again = Settings.load()
    assert again.notices == []
    for option in settings.options:
        assert again.get(option.key) == settings.get(option.key), option.key
    document = json.loads(settings.path.read_text(encoding="utf-8"))
    assert document["schema_version"] == CURRENT_SCHEMA_VERSION
    # Only what the user set is written, so new defaults reach everyone else.
    assert set(document["values"]) == {
        "sampling.temperature",
        "sampling.seed",
        "model.device",
        "chat.default_system_prompt",
        "history.location",
    }


def test_value_set_to_the_default_is_still_remembered_and_reset_forgets_it() -> None:
    settings = Settings()
    settings.set("sampling.top_k", 40)
    settings.save()
    assert "sampling.top_k" in json.loads(settings.path.read_text())["values"]
    settings.reset("sampling.top_k")
    settings.save()
    assert "sampling.top_k" not in json.loads(settings.path.read_text())["values"]


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    settings.set("sampling.top_k", 7)
    settings.save()
    before = settings.path.read_bytes()

    replaced: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: str) -> None:
        replaced.append((str(src), str(dst)))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    settings.set("sampling.top_k", 8)
    with pytest.raises(SettingsFileError, match="No space left on device"):
        settings.save()
    monkeypatch.undo()

    assert settings.path.read_bytes() == before
    # The new content went to a temporary file in the same folder (so the rename is atomic),
    # and that file was cleaned up.
    ((src, dst),) = replaced
    assert Path(src).parent == settings.path.parent
    assert Path(dst) == settings.path
    assert sorted(p.name for p in settings.path.parent.iterdir()) == ["settings.json"]


def test_save_to_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = Settings(blocker / "settings.json")
    with pytest.raises(SettingsFileError, match="Could not save the settings"):
        settings.save()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"values": {}}',
        b'{"schema_version": "one", "values": {}}',
        b'{"schema_version": 1, "values": [1]}',
    ],
)
def test_corrupt_file_is_backed_up_and_defaults_used(content: bytes) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    settings = Settings.load()
    assert settings.get("sampling.top_k") == 40
    backups = list(path.parent.glob("settings.json.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == content
    assert not path.exists()
    (notice,) = settings.notices
    assert backups[0].name in notice
    assert "defaults are in use" in notice
    # Saving afterwards writes a good file and keeps the backup.
    settings.save()
    assert Settings.load().notices == []
    assert backups[0].exists()


def test_two_corrupt_files_in_the_same_second_get_two_backups() -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"{")
    Settings.load()
    path.write_bytes(b"}")
    Settings.load()
    backups = sorted(p.read_bytes() for p in path.parent.glob("settings.json.corrupt-*"))
    assert backups == [b"{", b"}"]


def test_a_refused_value_in_the_file_falls_back_to_its_default() -> None:
    write_file(
        settings_path(),
        {"schema_version": 1, "values": {"sampling.temperature": 99, "sampling.top_k": 5}},
    )
    settings = Settings.load()
    assert settings.get("sampling.temperature") == 0.7
    assert settings.get("sampling.top_k") == 5
    (notice,) = settings.notices
    assert "Temperature" in notice
    assert "between 0 and 5" in notice


def test_unknown_keys_are_kept_but_ignored(caplog: pytest.LogCaptureFixture) -> None:
    write_file(
        settings_path(),
        {"schema_version": 1, "values": {"plugin.colour": "teal", "sampling.top_k": 3}},
    )
    with caplog.at_level(logging.WARNING, logger="desktop.config.settings"):
        settings = Settings.load()
    assert any("plugin.colour" in r.getMessage() for r in caplog.records)
    assert settings.notices == []
    with pytest.raises(SettingError):
        settings.get("plugin.colour")
    settings.set("sampling.top_k", 4)
    settings.save()
    values = json.loads(settings_path().read_text())["values"]
    assert values == {"plugin.colour": "teal", "sampling.top_k": 4}


def test_file_from_a_newer_version_keeps_its_version() -> None:
    write_file(settings_path(), {"schema_version": 99, "values": {"sampling.top_k": 3}})
    settings = Settings.load()
    assert settings.get("sampling.top_k") == 3
    assert "newer Parley" in settings.notices[0]
    settings.save()
    # Writing a lower version would make the newer app run its migrations a second time.
    assert json.loads(settings_path().read_text())["schema_version"] == 99


def test_migration_renames_a_key_from_an_older_version() -> None:
    migrations = (
        Migration(
            1, "temperature got its section", rename_key("temperature", "sampling.temperature")
        ),
        Migration(
            2, "max tokens moved", rename_key("sampling.max_tokens", "generation.max_new_tokens")
        ),
    )
    write_file(
        settings_path(),
        {"schema_version": 1, "values": {"temperature": 0.3, "sampling.max_tokens": 99}},
    )
    settings = Settings.load(migrations=migrations)
    assert settings.schema_version == 3
    assert settings.notices == []
    assert settings.get("sampling.temperature") == 0.3
    assert settings.get("generation.max_new_tokens") == 99
    settings.save()
    document = json.loads(settings_path().read_text())
    assert document == {
        "schema_version": 3,
        "values": {"generation.max_new_tokens": 99, "sampling.temperature": 0.3},
    }


def test_migrations_already_applied_are_not_run_again() -> None:
    calls: list[int] = []

    def step(n: int) -> Migration:
        def apply(values: dict[str, object]) -> dict[str, object]:
            calls.append(n)
            return values

        return Migration(n, f"step {n}", apply)

    write_file(settings_path(), {"schema_version": 2, "values": {}})
    Settings.load(migrations=(step(1), step(2), step(3)))
    assert calls == [2, 3]


def test_rename_key_keeps_a_value_already_under_the_new_key() -> None:
    assert rename_key("a", "b")({"a": 1, "b": 2}) == {"b": 2}
    assert rename_key("a", "b")({"c": 1}) == {"c": 1}


def test_subscribers_learn_what_changed_and_whether_to_reload() -> None:
    settings = Settings()
    seen: list[SettingsChange] = []
    unsubscribe = settings.subscribe(seen.append)

    settings.set("sampling.temperature", 0.2)
    settings.set("sampling.temperature", 0.2)  # no change, no call
    settings.update({"model.device": "cpu", "sampling.top_k": 1})
    with pytest.raises(SettingError):
        settings.set("sampling.top_k", -5)
    assert seen == [
        SettingsChange(frozenset({"sampling.temperature"}), needs_reload=False),
        SettingsChange(frozenset({"model.device", "sampling.top_k"}), needs_reload=True),
    ]

    unsubscribe()
    settings.set("sampling.temperature", 0.3)
    assert len(seen) == 2
    unsubscribe()  # twice is harmless


def test_subscriber_with_keys_only_hears_about_those() -> None:
    settings = Settings()
    seen: list[SettingsChange] = []
    settings.subscribe(seen.append, keys={"appearance.theme", "appearance.font_size"})
    settings.set("sampling.top_k", 3)
    settings.update({"appearance.theme": "dark", "model.threads": 2})
    assert seen == [SettingsChange(frozenset({"appearance.theme"}), needs_reload=False)]


def test_a_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings()
    seen: list[SettingsChange] = []

    def broken(change: SettingsChange) -> None:
        raise RuntimeError("boom")

    settings.subscribe(broken)
    settings.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="desktop.config.settings"):
        settings.set("sampling.top_k", 3)
    assert len(seen) == 1
    assert any("subscriber failed" in r.getMessage() for r in caplog.records)


def test_reset_section() -> None:
    settings = Settings()
    seen: list[SettingsChange] = []
    settings.update(
        {"sampling.temperature": 0.1, "generation.max_new_tokens": 5, "model.device": "cpu"}
    )
    settings.subscribe(seen.append)
    settings.reset_section("generation")
    assert settings.get("sampling.temperature") == 0.7
    assert settings.get("generation.max_new_tokens") == 1024
    assert settings.get("model.device") == "cpu"
    assert seen == [
        SettingsChange(
            frozenset({"sampling.temperature", "generation.max_new_tokens"}), needs_reload=False
        )
    ]
    with pytest.raises(SettingError, match="section"):
        settings.reset_section("nowhere")


def test_sampling_kwargs_build_engine_params() -> None:
    settings = Settings()
    params = SamplingParams(**settings.sampling_kwargs())
    params.validate()
    assert params == SamplingParams(
        temperature=0.7,
        top_k=40,
        top_p=0.95,
        min_p=0.05,
        repetition_penalty=1.1,
        seed=None,
        max_new_tokens=1024,
    )
    settings.update({"sampling.temperature": 0, "sampling.seed": 42})
    params = SamplingParams(**settings.sampling_kwargs())
    assert params.temperature == 0.0  # greedy
    assert params.seed == 42
    assert params.trim_context, "by default the oldest turns are left out"
    settings.update({"context.policy": "stop"})  # "Stop and tell me" reaches the engine
    assert not SamplingParams(**settings.sampling_kwargs()).trim_context


def test_every_allowed_extreme_is_accepted_by_the_engine() -> None:
    """The schema bounds and the engine's own validation must agree."""
    settings = Settings()
    for key in (
        "sampling.temperature",
        "sampling.top_k",
        "sampling.top_p",
        "sampling.min_p",
        "sampling.repetition_penalty",
        "generation.max_new_tokens",
    ):
        option = settings.option(key)
        for bound in (option.minimum, option.maximum):
            assert bound is not None
            exclusive = option.min_exclusive if bound == option.minimum else option.max_exclusive
            value = bound + (0.001 if bound == option.minimum else -0.001) if exclusive else bound
            settings.set(key, value if option.type == "float" else int(value))
            SamplingParams(**settings.sampling_kwargs()).validate()
        settings.reset(key)
