"""Chat template rendering (Jinja sandbox) and the context policy.

The chat template comes from the model file, so it is untrusted: it runs in an
``ImmutableSandboxedEnvironment`` with no access to attributes that could escape it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from desktop.engine.types import ChatMessage

# ChatML, used when a model ships no template of its own.
DEFAULT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class PromptError(ValueError):
    """The conversation cannot be turned into a prompt (one line for the user)."""


def _raise_exception(message: str) -> None:
    raise PromptError(f"the model's chat template refused the conversation: {message}")


class ChatTemplate:
    def __init__(self, source: str | None, special: dict[str, str] | None = None) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_exception
        try:
            self._template = env.from_string(source or DEFAULT_TEMPLATE)
        except TemplateError as exc:
            raise PromptError(f"the model's chat template is invalid: {exc}") from exc
        self._special = dict(special or {})

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        data = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return self._template.render(
                messages=data, add_generation_prompt=add_generation_prompt, **self._special
            )
        except PromptError:
            raise
        except Exception as exc:  # any error inside untrusted template code is the template's
            raise PromptError(f"the model's chat template failed: {exc}") from exc


@dataclass(frozen=True)
class FittedPrompt:
    ids: list[int]
    dropped_messages: int


def fit_context(
    messages: Sequence[ChatMessage],
    encode: Callable[[Sequence[ChatMessage]], list[int]],
    budget: int,
) -> FittedPrompt:
    """Drop the oldest messages after the system prompt until the prompt fits ``budget``
    tokens. The last message always stays (with the question before it when the last is an
    answer being continued); if that does not fit, it is an error.

    Messages go in whole exchanges, so the conversation still starts with a user turn. The
    fewest that make it fit are found by bisection over those cut points (a prompt only
    shrinks as messages go): a few encodings, where dropping one exchange at a time took
    one per exchange (10 s before a 45,000-token chat of 200 turns could start)."""
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])
    keep = 2 if len(rest) >= 2 and rest[-1].role == "assistant" else 1
    cuts = [0]  # where the kept part may start: after whole exchanges
    cut = 0
    while len(rest) - cut > keep:
        cut += 1
        while len(rest) - cut > keep and rest[cut].role == "assistant":
            cut += 1
        cuts.append(cut)

    def encoded(k: int) -> list[int]:
        return encode([*system, *rest[cuts[k] :]])

    ids = encoded(0)
    if len(ids) <= budget:
        return FittedPrompt(ids, 0)
    if len(cuts) > 1:
        ids = encoded(len(cuts) - 1)
    if len(ids) > budget:
        # the message alone may fit: then the system prompt is what does not
        if system and len(encode(system)) > budget // 2:
            raise PromptError(
                f"the system prompt is too long for the model's context window "
                f"({len(encode(system))} of its {budget} tokens, and the message needs room "
                "too); shorten it in Settings ▸ Chat or Chat settings…"
            )
        raise PromptError(
            f"the message is too long for the model's context window "
            f"({len(ids)} tokens, {budget} available)"
        )
    low, high = 1, len(cuts) - 1  # cuts[high] fits (ids), cuts[low - 1] does not
    while low < high:
        middle = (low + high) // 2
        candidate = encoded(middle)
        if len(candidate) <= budget:
            high, ids = middle, candidate
        else:
            low = middle + 1
    return FittedPrompt(ids, cuts[high])


def special_tokens(config: dict[str, Any]) -> dict[str, str]:
    """bos_token/eos_token strings for templates that use them."""
    out: dict[str, str] = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    return out
