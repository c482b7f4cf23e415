"""The settings schema: every option Parley has, declared once.

Each :class:`Option` names its key, the settings page it lives on, its type, default, bounds or
choices, a label and a description (the tooltip), and whether a change only takes effect after the
model is reloaded. The settings file, validation, the settings panel and ``parley`` commands are all
built from this one table; adding an option means adding one entry to :data:`OPTIONS`.

No Qt here: the panel in ``desktop/ui/settings_dialog.py`` reads this module, never the reverse.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from desktop.config.feedback import (
    CATEGORIES,
    DEFAULT_RULES,
    check_classifier_folder,
    check_endpoint,
    check_rules,
)
from desktop.config.paths import data_dir

OptionType = Literal["bool", "int", "float", "str", "choice", "path", "text"]
Value = bool | int | float | str

# QSpinBox holds a C int; a seed above this could not be shown or typed in the panel.
INT32_MAX = 2**31 - 1


class SettingError(ValueError):
    """A value was refused. ``reason`` is one line meant for the user, e.g. "must be between 0
    and 5"; ``str(error)`` prefixes the key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Section:
    """One page of the settings panel."""

    name: str
    title: str
    description: str


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Option:
    key: str
    section: str
    type: OptionType
    default: Value | Callable[[], Value]
    label: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Choice, ...] = ()
    # Text shown instead of the minimum, which then has a special meaning ("0" threads = automatic).
    special_minimum: str | None = None
    step: float = 1.0
    decimals: int = 2
    needs_reload: bool = False
    # Extra check for str/text/path values: returns a reason when the value is not acceptable.
    check: Callable[[str], str | None] | None = field(default=None, compare=False)
    unit: str = ""
    # Shown in an empty text field (what an empty value means).
    placeholder: str = ""

    def default_value(self) -> Value:
        """The default, computed now for options whose default depends on the environment."""
        return self.default() if callable(self.default) else self.default

    def validate(self, value: object) -> Value:
        """Return ``value`` in this option's canonical type, or raise :class:`SettingError`."""
        checked = self._coerce(value)
        if self.type in ("int", "float"):
            assert isinstance(checked, int | float)
            self._check_bounds(checked)
        elif self.type == "choice" and checked not in {c.value for c in self.choices}:
            names = ", ".join(c.value for c in self.choices)
            raise SettingError(self.key, f"must be one of {names}")
        if self.check is not None and isinstance(checked, str):
            reason = self.check(checked)
            if reason is not None:
                raise SettingError(self.key, reason)
        return checked

    def from_text(self, text: str) -> Value:
        """Parse a value typed as text (command line), then validate it."""
        raw: object = text
        stripped = text.strip()
        if self.type == "bool":
            lowered = stripped.lower()
            if lowered in ("true", "yes", "on", "1"):
                raw = True
            elif lowered in ("false", "no", "off", "0"):
                raw = False
            else:
                raise SettingError(self.key, "must be true or false")
        elif self.type == "int":
            try:
                raw = int(stripped)
            except ValueError:
                raise SettingError(self.key, "must be a whole number") from None
        elif self.type == "float":
            try:
                raw = float(stripped)
            except ValueError:
                raise SettingError(self.key, "must be a number") from None
        return self.validate(raw)

    def describe_bounds(self) -> str:
        """The allowed range as the user reads it, e.g. "greater than 0 and at most 1"."""
        lo, hi = self.minimum, self.maximum
        low = (
            None
            if lo is None
            else f"{'greater than' if self.min_exclusive else 'at least'} {_fmt(lo)}"
        )
        high = (
            None if hi is None else f"{'less than' if self.max_exclusive else 'at most'} {_fmt(hi)}"
        )
        if lo is not None and hi is not None and not self.min_exclusive and not self.max_exclusive:
            text = f"between {_fmt(lo)} and {_fmt(hi)}"
        else:
            text = " and ".join(part for part in (low, high) if part) or "any number"
        if self.special_minimum is not None and lo is not None:
            text += f" ({_fmt(lo)} = {self.special_minimum.lower()})"
        return text

    def _coerce(self, value: object) -> Value:
        # bool is a subclass of int in Python: refuse it explicitly for numeric options.
        if self.type == "bool":
            if not isinstance(value, bool):
                raise SettingError(self.key, "must be true or false")
            return value
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingError(self.key, "must be a whole number")
            if isinstance(value, float):
                if not value.is_integer():
                    raise SettingError(self.key, "must be a whole number")
                return int(value)
            return value
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingError(self.key, "must be a number")
            number = float(value)
            if not math.isfinite(number):
                raise SettingError(self.key, "must be a finite number")
            return number
        if not isinstance(value, str):
            raise SettingError(self.key, "must be text")
        if self.type == "path":
            if not value.strip():
                raise SettingError(self.key, "must name a folder")
            path = Path(value).expanduser()
            if not path.is_absolute():
                raise SettingError(self.key, "must be an absolute path")
            return os.path.normpath(path)
        if self.type == "str" and ("\n" in value or "\r" in value):
            raise SettingError(self.key, "must be a single line")
        return value

    def _check_bounds(self, number: float) -> None:
        lo, hi = self.minimum, self.maximum
        too_low = lo is not None and (number <= lo if self.min_exclusive else number < lo)
        too_high = hi is not None and (number >= hi if self.max_exclusive else number > hi)
        if too_low or too_high:
            raise SettingError(self.key, f"must be {self.describe_bounds()}")


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _default_history_location() -> str:
    return str(data_dir())


_FILTER_ACTIONS = (
    Choice("allow", "Allow"),
    Choice("warn", "Warn (show a banner)"),
    Choice("block", "Block"),
)


_MODIFIERS = {"ctrl", "alt", "shift", "meta", "super", "cmd", "option"}
# A shortcut taken from every program needs one of these: Ctrl (or Cmd) and Shift alone are
# the programs' own (Ctrl+Q quits most of them, Ctrl+Shift+T reopens a browser tab).
_GLOBAL_MODIFIERS = {"alt", "meta", "super", "option"}


def _check_hotkey(text: str) -> str | None:
    """``Ctrl+Alt+Space``: modifiers joined by ``+`` and one key; empty means none. The
    reasons finish the sentence "Quick-ask shortcut …"."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split("+")]
    if any(not p for p in parts):
        return "must be modifiers and a key joined by +, e.g. Ctrl+Alt+Space"
    *mods, key = parts
    unknown = [m for m in mods if m.lower() not in _MODIFIERS]
    if unknown:
        return f"has an unknown modifier, {unknown[0]!r} (use Ctrl, Alt, Shift or Meta)"
    if key.lower() in _MODIFIERS:
        return "must end with a key, e.g. Space"
    if not {m.lower() for m in mods} & _GLOBAL_MODIFIERS:
        return (
            "needs Alt or Meta (the Super key) too: it is taken from every program, and "
            "Ctrl or Shift with a key is theirs (Ctrl+Q quits most of them)"
        )
    return None


def _filter_options() -> tuple[Option, ...]:
    """The content filter: what to check, one action and one rule list per category."""
    options = [
        Option(
            key="filter.check_input",
            section="content_filter",
            type="bool",
            default=True,
            label="Check my messages",
            description="Run the content filter on what you send before the model answers.",
        ),
        Option(
            key="filter.check_output",
            section="content_filter",
            type="bool",
            default=True,
            label="Check the answers",
            description="Run the content filter on the model's answers.",
        ),
    ]
    for category in CATEGORIES:
        options.append(
            Option(
                key=f"filter.action.{category.key}",
                section="content_filter",
                type="choice",
                default=category.default_action,
                choices=_FILTER_ACTIONS,
                label=category.label,
                description=(
                    f"{category.description} Allow: no banner. Warn: a banner on the message. "
                    "Block: your message is not sent, or the answer is hidden."
                ),
            )
        )
    for category in CATEGORIES:
        options.append(
            Option(
                key=f"filter.rules.{category.key}",
                section="content_filter",
                type="text",
                default=DEFAULT_RULES.get(category.key, ""),
                check=check_rules,
                label=f"Rules: {category.label.lower()}",
                description=(
                    f"Words and phrases that flag {category.label.lower()}, one per line "
                    "(whole words; case and accents ignored). A line starting with re: is a "
                    "regular expression; lines starting with # are comments."
                ),
            )
        )
    options += [
        Option(
            key="filter.classifier",
            section="content_filter",
            type="str",
            default="",
            check=check_classifier_folder,
            placeholder="None: rules only",
            label="Classifier model folder",
            description=(
                "A folder with a text classifier exported to ONNX (model.onnx, tokenizer.json, "
                "config.json with id2label). Its labels named like the categories are used "
                "together with the rules. Empty: rules only."
            ),
        ),
        Option(
            key="filter.classifier_threshold",
            section="content_filter",
            type="float",
            default=0.5,
            minimum=0.0,
            maximum=1.0,
            min_exclusive=True,
            step=0.05,
            decimals=2,
            label="Classifier threshold",
            description="The classifier flags a category when its score is at least this.",
        ),
    ]
    return tuple(options)


def _submission_options() -> tuple[Option, ...]:
    """Sending feedback to a team's endpoint (off until the user turns it on). The API token
    is not a setting: it lives in the system keychain."""
    return (
        Option(
            key="submission.enabled",
            section="feedback",
            type="bool",
            default=False,
            label="Submit my feedback",
            description=(
                "Send ratings, comparisons and filter reports to the endpoint below. Off: "
                "feedback stays on this computer (it can still be exported)."
            ),
        ),
        Option(
            key="submission.endpoint",
            section="feedback",
            type="str",
            default="",
            check=check_endpoint,
            placeholder="https://feedback.example.com/v1/records",
            label="Endpoint address",
            description=(
                "Where feedback is sent (HTTPS). The API token is kept in the system "
                "keychain: set it on this page."
            ),
        ),
        Option(
            key="submission.context",
            section="feedback",
            type="choice",
            default="conversation",
            choices=(
                Choice("conversation", "The conversation up to the answer"),
                Choice("turn", "Only my last message and the answer"),
            ),
            label="Send along",
            description="Which turns of the conversation go with each record.",
        ),
        Option(
            key="submission.auto_send",
            section="feedback",
            type="bool",
            default=False,
            label="Send without asking",
            description=(
                "Off: every record waits in the outbox until you have seen exactly what will "
                "be sent and approved it. On: the first one still waits for you; the rest go "
                "as you give them."
            ),
        ),
    )


SECTIONS: tuple[Section, ...] = (
    Section("model", "Model", "Which model answers and where it runs."),
    Section(
        "generation",
        "Generation",
        "Defaults for new chats: how the next word is chosen and how long answers may be.",
    ),
    Section("chat", "Chat", "The default system prompt and how messages are sent."),
    Section("appearance", "Appearance", "Theme and text size."),
    Section("history", "History", "Where conversations are stored."),
    Section(
        "content_filter",
        "Content filter",
        "What the local content filter looks for, and what happens when it finds it.",
    ),
    Section("feedback", "Feedback", "Sending your feedback to a team's endpoint (optional)."),
)

OPTIONS: tuple[Option, ...] = (
    # --- model -----------------------------------------------------------------------------
    Option(
        key="model.default",
        section="model",
        type="str",
        default="",
        label="Default model",
        description=(
            "The installed model that answers. Empty: the one set as default in File ▸ "
            "Models… (else the first installed)."
        ),
        placeholder="As set in File ▸ Models…",  # chosen here, it loads at once
    ),
    Option(
        key="model.device",
        section="model",
        type="choice",
        default="auto",
        choices=(
            Choice("auto", "Automatic"),
            Choice("cuda", "CUDA (NVIDIA GPU)"),
            Choice("directml", "DirectML (Windows GPU)"),
            Choice("cpu", "CPU"),
        ),
        label="Device",
        description=(
            "Where the model runs. Automatic tries CUDA, then DirectML, then the CPU; "
            "the status bar shows what is really used and why."
        ),
        needs_reload=True,
    ),
    Option(
        key="model.threads",
        section="model",
        type="int",
        default=0,
        minimum=0,
        maximum=256,
        special_minimum="Automatic",
        label="CPU threads",
        description="How many CPU threads the model may use. 0 picks a number for this machine.",
        needs_reload=True,
    ),
    Option(
        key="model.context_length",
        section="model",
        type="int",
        default=8192,
        minimum=512,
        maximum=131072,
        unit="tokens",
        label="Context length",
        description=(
            "How much of a conversation the model keeps in mind, in tokens, up to what the "
            "model supports. Longer costs memory: on a GPU the cache for the whole length is "
            "reserved when the model loads."
        ),
        needs_reload=True,
    ),
    # --- generation ------------------------------------------------------------------------
    Option(
        key="sampling.temperature",
        section="generation",
        type="float",
        default=0.7,
        minimum=0.0,
        maximum=5.0,
        step=0.05,
        decimals=2,
        label="Temperature",
        description=(
            "Randomness of the answer. 0 always picks the most likely word (greedy); "
            "higher values give more varied text."
        ),
    ),
    Option(
        key="sampling.top_k",
        section="generation",
        type="int",
        default=40,
        minimum=0,
        maximum=1000,
        special_minimum="Off",
        label="Top-k",
        description="Choose only among the k most likely words. 0 turns this limit off.",
    ),
    Option(
        key="sampling.top_p",
        section="generation",
        type="float",
        default=0.95,
        minimum=0.0,
        maximum=1.0,
        min_exclusive=True,
        step=0.01,
        decimals=3,
        label="Top-p",
        description=(
            "Choose among the most likely words whose probabilities add up to p. 1 turns this off."
        ),
    ),
    Option(
        key="sampling.min_p",
        section="generation",
        type="float",
        default=0.05,
        minimum=0.0,
        maximum=1.0,
        max_exclusive=True,
        step=0.01,
        decimals=3,
        label="Min-p",
        description=(
            "Drop words less likely than this fraction of the most likely word. 0 turns this off."
        ),
    ),
    Option(
        key="sampling.repetition_penalty",
        section="generation",
        type="float",
        default=1.1,
        minimum=0.5,
        maximum=3.0,
        step=0.05,
        decimals=2,
        label="Repetition penalty",
        description="Values above 1 make the model less likely to repeat itself. 1 turns this off.",
    ),
    Option(
        key="sampling.seed",
        section="generation",
        type="int",
        default=-1,
        minimum=-1,
        maximum=INT32_MAX,
        special_minimum="Random",
        label="Seed",
        description=(
            "Start of the random number sequence. The same seed and prompt give the same answer; "
            "-1 picks a new seed every time."
        ),
    ),
    Option(
        key="generation.max_new_tokens",
        section="generation",
        type="int",
        default=1024,
        minimum=1,
        maximum=32768,
        unit="tokens",
        label="Maximum answer length",
        description="The longest answer, in tokens (a token is about three quarters of a word).",
    ),
    Option(
        key="context.policy",
        section="generation",
        type="choice",
        default="drop_oldest",
        choices=(
            Choice("drop_oldest", "Leave out the oldest turns"),
            Choice("stop", "Stop and tell me"),
        ),
        label="When the chat is too long",
        description=(
            "What happens when a conversation no longer fits the model's context window. "
            "The system prompt is always kept; a marker shows where turns were left out."
        ),
    ),
    # --- chat ------------------------------------------------------------------------------
    Option(
        key="chat.default_system_prompt",
        section="chat",
        type="text",
        default="You are a helpful assistant.",
        label="Default system prompt",
        description=(
            "Instructions given to the model at the start of every new chat. "
            "Each chat can change its own."
        ),
    ),
    Option(
        key="input.send_key",
        section="chat",
        type="choice",
        default="enter",
        choices=(
            Choice("enter", "Enter sends, Shift+Enter adds a line"),
            Choice("ctrl_enter", "Ctrl+Enter sends, Enter adds a line"),
        ),
        label="Send with",
        description="Which key sends a message from the input box.",
    ),
    Option(
        key="quick_ask.hotkey",
        section="chat",
        type="str",
        default="Ctrl+Alt+Space",
        label="Quick-ask shortcut",
        description=(
            "The key combination that opens the quick-ask window from anywhere. Parley "
            "registers it itself on X11; Wayland does not let applications do that, and on "
            "Windows and macOS Parley does not do it yet. There, bind the command "
            "`parley --quick-ask` to this key in your desktop's keyboard-shortcut settings "
            "(GNOME: Settings > Keyboard > Custom Shortcuts; KDE: Shortcuts > Custom; Windows: "
            "a shortcut's Properties > Shortcut key): a running Parley opens Quick ask at once. "
            "The note under the field says which applies here."
        ),
        check=_check_hotkey,
    ),
    Option(
        key="quick_ask.tray",
        section="chat",
        type="bool",
        default=True,
        label="Keep Parley in the tray",
        description=(
            "Show a tray icon (Quick ask, New chat, Show/Hide, Quit); closing the window then "
            "keeps Parley running in the tray. Where the desktop has no tray, everything stays "
            "in the window."
        ),
    ),
    # --- appearance ------------------------------------------------------------------------
    Option(
        key="appearance.theme",
        section="appearance",
        type="choice",
        default="system",
        choices=(
            Choice("system", "Same as the system"),
            Choice("light", "Light"),
            Choice("dark", "Dark"),
        ),
        label="Theme",
        description="Light or dark colours. Both meet the WCAG AA contrast level for text.",
    ),
    Option(
        key="appearance.font_size",
        section="appearance",
        type="int",
        default=10,
        minimum=8,
        maximum=32,
        unit="pt",
        label="Text size",
        description="Size of all text in the window, in points.",
    ),
    # --- history ---------------------------------------------------------------------------
    Option(
        key="history.location",
        section="history",
        type="path",
        default=_default_history_location,
        label="History location",
        description=(
            "The folder that holds the conversation database. "
            "Changing it moves the files to the new folder."
        ),
    ),
    # --- content filter and feedback submission --------------------------------------------
    *_filter_options(),
    *_submission_options(),
)


def schema_errors(sections: tuple[Section, ...], options: tuple[Option, ...]) -> list[str]:
    """Mistakes in a schema declaration: duplicate keys, unknown sections, invalid defaults.
    Empty for a sound schema (a test asserts this for the real one)."""
    errors: list[str] = []
    section_names = {s.name for s in sections}
    seen: set[str] = set()
    for option in options:
        if option.key in seen:
            errors.append(f"{option.key}: declared twice")
        seen.add(option.key)
        if option.section not in section_names:
            errors.append(f"{option.key}: unknown section {option.section!r}")
        if option.type == "choice" and not option.choices:
            errors.append(f"{option.key}: a choice option needs choices")
        if not option.label or not option.description:
            errors.append(f"{option.key}: needs a label and a description")
        try:
            option.validate(option.default_value())
        except SettingError as exc:
            errors.append(f"{option.key}: default refused: {exc.reason}")
    return errors


def options_by_key(options: tuple[Option, ...]) -> Mapping[str, Option]:
    return {option.key: option for option in options}
