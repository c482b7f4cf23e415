"""The engine's public vocabulary: chat messages, sampling parameters and streamed events.

Everything a front end (CLI, Qt services, tests with a fake engine) needs to talk to an engine
lives here, so that the UI can be built against this interface without loading a model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error", "repetition"]
"""Why an answer ended; ``repetition``: it was looping (see ``engine/repetition.py``)."""


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


def answer_room(context_length: int, max_new_tokens: int) -> int:
    """Tokens of the window kept for the answer: the answer length asked for, but at most a
    quarter of the window, so that a short window with a long answer length still reads a
    question (a 512-token window with answers of 1,024 keeps 128)."""
    return max(1, min(max_new_tokens, context_length // 4))


@dataclass(frozen=True)
class SamplingParams:
    """How to pick the next token. ``temperature == 0`` means greedy decoding."""

    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repetition_penalty: float = 1.1
    seed: int | None = None
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    # A conversation longer than the context window: leave out its oldest turns (and say
    # so), or (False) answer nothing and say that the chat no longer fits.
    trim_context: bool = True

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first parameter that is out of bounds."""
        if not 0.0 <= self.temperature <= 5.0:
            raise ValueError(f"temperature must be within 0..5, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be within (0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p < 1.0:
            raise ValueError(f"min_p must be within [0, 1), got {self.min_p}")
        if not 0.5 <= self.repetition_penalty <= 3.0:
            raise ValueError(
                f"repetition_penalty must be within 0.5..3, got {self.repetition_penalty}"
            )
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


GREEDY = SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, repetition_penalty=1.0)


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int = 0
    reused_prompt_tokens: int = 0  # served from the KV cache of the previous turn
    generated_tokens: int = 0
    ttft_s: float = 0.0  # request start -> first token sampled
    prefill_tok_s: float = 0.0
    decode_tok_s: float = 0.0
    provider: str = ""


@dataclass(frozen=True)
class ContextTrimmed:
    """The conversation did not fit the model's window: this many oldest messages were left out
    (the system prompt is always kept)."""

    dropped_messages: int


@dataclass(frozen=True)
class PromptProgress:
    """A long prompt is being read in parts: ``done`` of its ``total`` tokens are (the cached
    ones included). Sent between the parts, before the first ``TextDelta``."""

    done: int
    total: int


@dataclass(frozen=True)
class TextDelta:
    """One sampled token and the text it completes. ``text`` may be empty while a multi-byte
    character is still incomplete, or while a possible stop string is held back."""

    token_id: int
    text: str


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    stats: GenerationStats = field(default_factory=GenerationStats)
    error: str | None = None


Event = ContextTrimmed | PromptProgress | TextDelta | Finished


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_length: int
    provider: str  # what the session really runs on, e.g. "CPUExecutionProvider"
    fallback_reason: str | None = None  # why the preferred provider was not used
    path: str = ""
    # Sampling the model's authors recommend (generation_config.json), e.g.
    # (("temperature", 0.2), ("top_p", 0.9)); the user's own settings take precedence.
    sampling: tuple[tuple[str, float], ...] = ()


class ChatEngine(Protocol):
    """What the UI and the CLI use. ``generate`` yields events and always ends with one
    ``Finished``; it never raises for model or input problems (they end as ``reason="error"``)."""

    @property
    def info(self) -> ModelInfo: ...

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]: ...
