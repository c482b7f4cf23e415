"""The user's settings: values for the options declared in :mod:`desktop.config.schema`, kept in
``data_dir()/settings.json``.

The file holds only the values the user set (``{"schema_version": N, "values": {"key": value}}``),
so a changed default reaches everyone who never touched it. Older files are brought up to date by
:data:`MIGRATIONS`; keys this version does not know are kept on save and otherwise ignored; a file
that cannot be parsed is moved aside (``settings.json.corrupt-<timestamp>``) and the defaults are
used, with a notice the UI shows. Writes are atomic (temporary file + ``os.replace``).

Subscribers are plain callables (no Qt): they learn which keys changed and whether any of them needs
a model reload. The Qt side adapts them to signals where it needs to.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from desktop.config.paths import data_dir
from desktop.config.schema import (
    OPTIONS,
    SECTIONS,
    Option,
    Section,
    SettingError,
    Value,
    options_by_key,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MIGRATIONS",
    "Migration",
    "SamplingKwargs",
    "SettingError",
    "Settings",
    "SettingsChange",
    "SettingsFileError",
    "rename_key",
    "settings_path",
]

logger = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"

RawValues = dict[str, Any]


@dataclass(frozen=True)
class Migration:
    """Brings the stored values from ``from_version`` to ``from_version + 1``.

    ``apply`` gets the raw ``values`` mapping of the file and returns the new one; it must not
    assume any key exists (the user may never have set it).
    """

    from_version: int
    description: str
    apply: Callable[[RawValues], RawValues]


def rename_key(old: str, new: str) -> Callable[[RawValues], RawValues]:
    """A migration step for an option that was renamed. A value already under the new key wins."""

    def apply(values: RawValues) -> RawValues:
        out = dict(values)
        if old in out:
            moved = out.pop(old)
            out.setdefault(new, moved)
        return out

    return apply


# Append a Migration here whenever an option is renamed or its stored meaning changes; the schema
# version is derived from this list, so the two cannot disagree.
MIGRATIONS: tuple[Migration, ...] = ()

CURRENT_SCHEMA_VERSION = 1 + len(MIGRATIONS)


class SettingsFileError(Exception):
    """The settings file could not be written; the message says why, for the user."""


@dataclass(frozen=True)
class SettingsChange:
    """What changed in one ``set`` / ``update`` / ``reset_section`` call."""

    keys: frozenset[str]
    needs_reload: bool


Subscriber = Callable[[SettingsChange], None]


class SamplingKwargs(TypedDict):
    """Keyword arguments for ``desktop.engine.types.SamplingParams``. The config package may not
    import the engine (the layers contract keeps domain packages independent), so callers write
    ``SamplingParams(**settings.sampling_kwargs())``; mypy checks the names and types match."""

    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repetition_penalty: float
    seed: int | None
    max_new_tokens: int
    trim_context: bool


def settings_path() -> Path:
    return data_dir() / SETTINGS_FILE


_LOGGED: set[str] = set()  # notices already logged by this process


class Settings:
    """Values for every declared option. Use :meth:`load` to read the user's file.

    Not thread-safe: the app uses it from the GUI thread; workers get plain values (for example
    ``sampling_kwargs()``) when a request is queued."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        options: Sequence[Option] = OPTIONS,
        sections: Sequence[Section] = SECTIONS,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self.path = path if path is not None else settings_path()
        self.options: tuple[Option, ...] = tuple(options)
        self.sections: tuple[Section, ...] = tuple(
            s for s in sections if self.section_options(s.name, options)
        )
        self.migrations: tuple[Migration, ...] = tuple(migrations)
        self.schema_version = 1 + len(self.migrations)
        self._by_key: Mapping[str, Option] = options_by_key(self.options)
        self._values: dict[str, Value] = {}
        self._unknown: RawValues = {}
        self._file_version = self.schema_version
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []
        self.notices: list[str] = []
        """Problems found while loading, one sentence each, for the UI to show once."""

    # --- reading ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        options: Sequence[Option] = OPTIONS,
        sections: Sequence[Section] = SECTIONS,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Settings:
        """Read the settings file. Never raises for a bad file: problems end up in ``notices``
        and the defaults are used for whatever could not be read."""
        settings = cls(path, options=options, sections=sections, migrations=migrations)
        settings._read()
        return settings

    def _read(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._notice(
                f"Could not read the settings file {self.path} ({exc.strerror}); "
                "the defaults are in use."
            )
            return
        try:
            document = json.loads(data.decode("utf-8"))
            version, values = self._parse_document(document)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            self._set_aside_corrupt(str(exc))
            return
        if version > self.schema_version:
            self._file_version = version
            self._notice(
                f"The settings file was written by a newer Parley (schema {version}); "
                "settings this version does not know are kept but not used."
            )
        values = self._migrate(version, values)
        for key, raw in values.items():
            option = self._by_key.get(key)
            if option is None:
                logger.warning(
                    "Ignoring unknown setting %r in %s (kept in the file)", key, self.path
                )
                self._unknown[key] = raw
                continue
            try:
                self._values[key] = option.validate(raw)
            except SettingError as exc:
                self._notice(
                    f"The saved value of “{option.label}” was refused ({exc.reason}); "
                    "the default is in use."
                )

    @staticmethod
    def _parse_document(document: object) -> tuple[int, RawValues]:
        if not isinstance(document, dict):
            raise ValueError("the file does not hold a JSON object")
        version = document.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError("schema_version is missing or not a positive whole number")
        values = document.get("values", {})
        if not isinstance(values, dict):
            raise ValueError("values is not a JSON object")
        return version, values

    def _migrate(self, version: int, values: RawValues) -> RawValues:
        for migration in self.migrations:
            if migration.from_version >= version:
                logger.info(
                    "Migrating settings from schema %d: %s",
                    migration.from_version,
                    migration.description,
                )
                values = migration.apply(values)
        return values

    def _set_aside_corrupt(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        counter = 1
        while backup.exists():
            counter += 1
            backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{counter}")
        try:
            os.replace(self.path, backup)
        except OSError as exc:
            self._notice(
                f"The settings file {self.path} is damaged ({reason}) and could not be moved aside "
                f"({exc.strerror}); the defaults are in use."
            )
            return
        self._notice(
            f"The settings file was damaged ({reason}). It was saved as {backup.name} "
            "and the defaults are in use."
        )

    def _notice(self, message: str) -> None:
        if message not in _LOGGED:  # the file is read again (the history's place): said once
            _LOGGED.add(message)
            logger.warning("%s", message)
        self.notices.append(message)

    # --- values ----------------------------------------------------------------------------

    def option(self, key: str) -> Option:
        try:
            return self._by_key[key]
        except KeyError:
            raise SettingError(key, "no such setting") from None

    def section_options(
        self, section: str, options: Iterable[Option] | None = None
    ) -> list[Option]:
        return [o for o in (self.options if options is None else options) if o.section == section]

    def get(self, key: str) -> Value:
        option = self.option(key)
        if key in self._values:
            return self._values[key]
        return option.default_value()

    # Typed getters for callers under mypy; asking for the wrong type is a bug in the caller.
    def get_int(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{key} is not a whole-number setting")
        return value

    def get_float(self, key: str) -> float:
        value = self.get(key)
        if not isinstance(value, float):
            raise TypeError(f"{key} is not a number setting")
        return value

    def get_bool(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise TypeError(f"{key} is not an on/off setting")
        return value

    def get_str(self, key: str) -> str:
        """For str, text, choice and path options."""
        value = self.get(key)
        if not isinstance(value, str):
            raise TypeError(f"{key} is not a text setting")
        return value

    def is_default(self, key: str) -> bool:
        return self.get(key) == self.option(key).default_value()

    def set(self, key: str, value: object) -> None:
        """Validate and store one value; raises :class:`SettingError` with the reason if refused."""
        self.update({key: value})

    def update(self, changes: Mapping[str, object]) -> None:
        """Set several values at once: all are validated first, so either all apply or none."""
        checked = {key: self.option(key).validate(value) for key, value in changes.items()}
        changed = [key for key, value in checked.items() if self.get(key) != value]
        self._values.update(checked)
        self._notify(changed)

    def reset(self, key: str) -> None:
        self.reset_keys([key])

    def reset_section(self, section: str) -> None:
        if section not in {s.name for s in self.sections}:
            raise SettingError(section, "no such settings section")
        self.reset_keys(o.key for o in self.section_options(section))

    def reset_keys(self, keys: Iterable[str]) -> None:
        changed = []
        for key in keys:
            before = self.get(key)
            self._values.pop(key, None)
            if self.get(key) != before:
                changed.append(key)
        self._notify(changed)

    # --- subscribers -----------------------------------------------------------------------

    def subscribe(
        self, callback: Subscriber, keys: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call ``callback`` after values change (only for ``keys`` when given, with only those
        keys in the change). Returns a function that unsubscribes."""
        entry = (callback, None if keys is None else frozenset(keys))
        self._subscribers.append(entry)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(entry)

        return unsubscribe

    def _notify(self, keys: Iterable[str]) -> None:
        changed = frozenset(keys)
        if not changed:
            return
        for callback, wanted in list(self._subscribers):
            subset = changed if wanted is None else changed & wanted
            if not subset:
                continue
            change = SettingsChange(subset, any(self._by_key[k].needs_reload for k in subset))
            try:
                callback(change)
            except Exception:
                # One broken subscriber must not keep the others from learning about the change;
                # the traceback is logged, so the bug is not silent.
                logger.exception("A settings subscriber failed for %s", sorted(subset))

    # --- writing ---------------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        values: RawValues = dict(self._unknown)
        for option in self.options:
            if option.key in self._values:
                values[option.key] = self._values[option.key]
        return {"schema_version": max(self.schema_version, self._file_version), "values": values}

    def save(self) -> None:
        """Write the file atomically. Raises :class:`SettingsFileError` with a clear message."""
        text = json.dumps(self.to_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            atomic_write_text(self.path, text)
        except OSError as exc:
            raise SettingsFileError(
                f"Could not save the settings to {self.path}: {exc.strerror or exc}"
            ) from exc

    # --- conversions -----------------------------------------------------------------------

    def sampling_kwargs(self) -> SamplingKwargs:
        """The default sampling parameters for a new chat, as keyword arguments for
        ``SamplingParams`` (temperature 0 = greedy, seed -1 = a new random seed: ``None``)."""
        seed = self.get_int("sampling.seed")
        return SamplingKwargs(
            temperature=self.get_float("sampling.temperature"),
            top_k=self.get_int("sampling.top_k"),
            top_p=self.get_float("sampling.top_p"),
            min_p=self.get_float("sampling.min_p"),
            repetition_penalty=self.get_float("sampling.repetition_penalty"),
            seed=None if seed == -1 else seed,
            max_new_tokens=self.get_int("generation.max_new_tokens"),
            trim_context=self.get_str("context.policy") == "drop_oldest",
        )

    def history_dir(self) -> Path:
        return Path(self.get_str("history.location"))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new content, never a mix:
    a temporary file in the same folder is written, flushed to disk, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open folders and needs nothing."""
    if os.name != "posix":
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        # Some file systems refuse fsync on folders; the data itself was already synced.
        pass
    finally:
        os.close(dir_fd)
