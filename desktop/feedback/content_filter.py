"""The local content filter: which categories a text falls into, and what to do about it.

A :class:`ContentFilter` only detects (category, score, evidence); the :class:`Moderator` turns
detections into flags with the action the settings give each category (allow / warn / block)
and checks the user's input and the model's output as the settings say.

Two filters ship: :class:`RuleBasedFilter` (editable rule lists per category, the default) and
:class:`OnnxClassifierFilter`, which runs a text classifier exported to ONNX from a model folder
through the same interface.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from desktop.config.feedback import CATEGORIES, FilterAction, RuleError, fold, parse_rules
from desktop.config.settings import Settings

if TYPE_CHECKING:  # numpy loads with the ONNX classifier, not with the window
    import numpy as np

from desktop.feedback.records import (
    ACTIONS,
    CATEGORY_KEYS,
    Flag,
    ModerationResult,
    Source,
)


@dataclass(frozen=True)
class Detection:
    category: str
    score: float
    """0..1: how sure the filter is (rules say 1)."""
    evidence: str = ""
    """What in the text triggered it (the matched words), for the banner's tooltip."""


class ContentFilter(Protocol):
    """Anything that finds categories in a text."""

    @property
    def name(self) -> str: ...

    def detect(self, text: str) -> list[Detection]: ...


class FilterError(Exception):
    """A filter cannot be set up (bad rule, unusable model folder); one line for the user."""


# ---------------------------------------------------------------- rules


class RuleBasedFilter:
    """Flags a category when any of its rules matches."""

    name = "rules"

    def __init__(self, rules: Mapping[str, str]) -> None:
        """``rules`` maps a category to its rule list (the text of the setting)."""
        self._rules: dict[str, list[re.Pattern[str]]] = {}
        for category, text in rules.items():
            try:
                self._rules[category] = parse_rules(text)
            except RuleError as error:
                raise FilterError(f"rules for {category}: {error}") from None

    def detect(self, text: str) -> list[Detection]:
        folded, origin = fold(text)
        found: list[Detection] = []
        for category, patterns in self._rules.items():
            for pattern in patterns:
                match = pattern.search(folded)
                if match is None:
                    continue
                start, end = match.span()
                evidence = text[origin[start] : origin[end - 1] + 1] if end > start else ""
                found.append(Detection(category, 1.0, evidence))
                break
        return found


# ---------------------------------------------------------------- ONNX classifier

CLASSIFIER_CONFIG = "parley_filter.json"


def _sigmoid(x: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    import numpy as np

    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)


def _softmax(x: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    import numpy as np

    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float32)


class OnnxClassifierFilter:
    """A sequence classifier exported to ONNX, loaded from a model folder:

    ``model.onnx``        inputs ``input_ids`` (int64 [batch, tokens]) and optionally
                          ``attention_mask`` / ``token_type_ids``; first output: logits
                          [batch, labels]
    ``tokenizer.json``    a Hugging Face ``tokenizers`` file
    ``config.json``       ``id2label`` (and ``problem_type``: ``multi_label_classification``
                          gives sigmoid scores, anything else softmax), as transformers writes it
    ``parley_filter.json`` optional: ``{"labels": {"<label>": "<category>"}, "threshold": 0.5,
                          "max_tokens": 512}``; labels named like a category map to it directly,
                          other labels are ignored.

    Nothing in the folder is executed except the ONNX graph itself on the CPU.
    """

    def __init__(self, folder: Path, *, threshold: float | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.name = f"onnx:{self.folder.name}"
        model = self.folder / "model.onnx"
        for required in (model, self.folder / "tokenizer.json", self.folder / "config.json"):
            if not required.is_file():
                raise FilterError(f"the classifier folder {self.folder} has no {required.name}")
        try:
            config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
            extra_path = self.folder / CLASSIFIER_CONFIG
            extra = (
                json.loads(extra_path.read_text(encoding="utf-8")) if extra_path.is_file() else {}
            )
            id2label = {int(k): str(v) for k, v in dict(config["id2label"]).items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FilterError(f"cannot read the classifier's configuration ({error})") from None
        self.multi_label = config.get("problem_type") == "multi_label_classification"
        mapping: dict[str, str] = dict(extra.get("labels", {}))
        self.categories: dict[int, str] = {}
        for index, label in id2label.items():
            category = mapping.get(label, label if label in CATEGORY_KEYS else None)
            if category is not None:
                if category not in CATEGORY_KEYS:
                    raise FilterError(f"label {label!r} maps to unknown category {category!r}")
                self.categories[index] = category
        if not self.categories:
            raise FilterError("none of the classifier's labels maps to a content-filter category")
        self.threshold = float(threshold if threshold is not None else extra.get("threshold", 0.5))
        self.max_tokens = int(extra.get("max_tokens", 512))
        try:
            self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.session = ort.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            # ORT and tokenizers raise their own exception types for damaged files.
            raise FilterError(f"cannot load the classifier in {self.folder} ({error})") from None
        self.input_names = {i.name for i in self.session.get_inputs()}
        if "input_ids" not in self.input_names:
            raise FilterError("the classifier has no input_ids input")

    def scores(self, text: str) -> dict[str, float]:
        """The probability of each mapped category."""
        import numpy as np

        encoding = self.tokenizer.encode(text)
        ids = encoding.ids[: self.max_tokens] or [0]
        feed: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {
            "input_ids": np.asarray([ids], dtype=np.int64)
        }
        if "attention_mask" in self.input_names:
            mask = encoding.attention_mask[: self.max_tokens] or [0]
            feed["attention_mask"] = np.asarray([mask], dtype=np.int64)
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros((1, len(ids)), dtype=np.int64)
        logits = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)[0]
        probabilities = _sigmoid(logits) if self.multi_label else _softmax(logits)
        best: dict[str, float] = {}
        for index, category in self.categories.items():
            best[category] = max(best.get(category, 0.0), float(probabilities[index]))
        return best

    def detect(self, text: str) -> list[Detection]:
        return [
            Detection(category, score)
            for category, score in self.scores(text).items()
            if score >= self.threshold
        ]


# ---------------------------------------------------------------- policy


def _validate_action(category: str, action: str) -> FilterAction:
    for known in ACTIONS:
        if known == action:
            return known
    raise ValueError(f"unknown action {action!r} for {category}")


class Moderator:
    """Runs the filters on a text and applies the action of each category found."""

    def __init__(
        self,
        filters: Sequence[ContentFilter],
        actions: Mapping[str, str] | None = None,
        *,
        check_input: bool = True,
        check_output: bool = True,
    ) -> None:
        self.filters = list(filters)
        chosen = dict(actions or {})
        self.actions: dict[str, FilterAction] = {
            c.key: _validate_action(c.key, chosen.get(c.key, c.default_action)) for c in CATEGORIES
        }
        self.check_input = check_input
        self.check_output = check_output

    def checks(self, source: Source) -> bool:
        return self.check_input if source == "input" else self.check_output

    def check(self, text: str, source: Source) -> ModerationResult:
        """Every category any filter found (strongest score per category), with its action.
        Nothing when this source is not checked."""
        if not self.checks(source) or not text.strip():
            return ModerationResult(source)
        best: dict[str, Flag] = {}
        for content_filter in self.filters:
            for detection in content_filter.detect(text):
                action = self.actions.get(detection.category, "warn")
                previous = best.get(detection.category)
                if previous is None or detection.score > previous.score:
                    best[detection.category] = Flag(
                        detection.category,
                        action,
                        detection.score,
                        detection.evidence,
                        content_filter.name,
                    )
        order = {c: i for i, c in enumerate(CATEGORY_KEYS)}
        flags = sorted(best.values(), key=lambda f: order.get(f.category, len(order)))
        return ModerationResult(source, tuple(flags))

    def stream_screen(self) -> StreamScreen:
        """A screen for one answer as it streams (see :class:`StreamScreen`)."""
        return StreamScreen(self)


# An answer is screened as it streams: each new piece with this much of what came before it
# (a rule's words may straddle two pieces). The whole answer each time took 6.9 ms a look at
# 4,000 characters; a window of ~200, 0.3 ms.
SCREEN_OVERLAP = 160


class StreamScreen:
    """``blocks(piece)``: whether an answer being written is to be blocked, looking at each
    new ``piece`` with the end of what came before it, before it is shown (the window and
    the terminal stop it there; the finished answer is then moderated as any other)."""

    def __init__(self, moderator: Moderator) -> None:
        self._moderator = moderator
        self._recent = ""

    def blocks(self, piece: str) -> bool:
        window = self._recent[-SCREEN_OVERLAP:] + piece
        self._recent = window
        return self._moderator.check(window, "output").blocked


def moderator_from_settings(settings: Settings) -> tuple[Moderator, list[str]]:
    """The moderator the settings describe, and notices for the user (a classifier folder that
    cannot be loaded leaves the rules working and says why)."""
    rules = {c.key: settings.get_str(f"filter.rules.{c.key}") for c in CATEGORIES}
    filters: list[ContentFilter] = [RuleBasedFilter(rules)]
    notices: list[str] = []
    folder = settings.get_str("filter.classifier")
    if folder:
        try:
            filters.append(
                OnnxClassifierFilter(
                    Path(folder).expanduser(),
                    threshold=settings.get_float("filter.classifier_threshold"),
                )
            )
        except FilterError as error:
            notices.append(f"The content-filter classifier is not used: {error}.")
    actions = {c.key: settings.get_str(f"filter.action.{c.key}") for c in CATEGORIES}
    moderator = Moderator(
        filters,
        actions,
        check_input=settings.get_bool("filter.check_input"),
        check_output=settings.get_bool("filter.check_output"),
    )
    return moderator, notices
