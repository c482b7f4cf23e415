from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import pytest

from desktop.engine.prompt import ChatTemplate, PromptError, fit_context
from desktop.engine.types import ChatMessage


def test_default_template_is_chatml() -> None:
    out = ChatTemplate(None).render([ChatMessage("user", "hi")])
    assert out == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_template_runs_in_a_sandbox() -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(PromptError):
        ChatTemplate(evil).render([ChatMessage("user", "x")])


def test_raise_exception_from_template_is_a_prompt_error() -> None:
    tpl = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}"
    with pytest.raises(PromptError, match="user first"):
        ChatTemplate(tpl).render([ChatMessage("assistant", "x")])


def test_fit_context_keeps_system_and_last_message() -> None:
    msgs = (
        [ChatMessage("system", "S")]
        + [ChatMessage("user" if i % 2 == 0 else "assistant", "w" * 10) for i in range(6)]
        + [ChatMessage("user", "last")]
    )

    def encode(ms: object) -> list[int]:
        return [0] * sum(len(m.content) for m in ms)  # type: ignore[attr-defined]

    fitted = fit_context(msgs, encode, budget=30)
    assert fitted.dropped_messages == 4
    assert len(fitted.ids) <= 30


def test_fit_context_refuses_a_message_larger_than_the_window() -> None:
    with pytest.raises(PromptError, match="the message is too long"):
        fit_context([ChatMessage("user", "x" * 50)], lambda ms: [0] * 50, budget=10)


def test_a_system_prompt_that_takes_the_window_is_named_not_the_message() -> None:
    def encode(ms: object) -> list[int]:
        return [0] * sum(len(m.content) for m in ms)  # type: ignore[attr-defined]

    huge = [ChatMessage("system", "s" * 12_000), ChatMessage("user", "Say hi")]
    with pytest.raises(PromptError, match=r"the system prompt is too long .*Settings ▸ Chat"):
        fit_context(huge, encode, budget=7_000)


def test_fit_context_keeps_the_question_of_an_answer_being_continued() -> None:
    msgs = [ChatMessage("user" if i % 2 == 0 else "assistant", "w" * 10) for i in range(6)]

    def encode(ms: object) -> list[int]:
        return [0] * sum(len(m.content) for m in ms)  # type: ignore[attr-defined]

    fitted = fit_context(msgs, encode, budget=20)
    assert fitted.dropped_messages == 4  # the last question and the answer being continued
    with pytest.raises(PromptError, match="too long"):
        fit_context(msgs, encode, budget=19)


def _fit_one_exchange_at_a_time(
    messages: list[ChatMessage], encode: Callable[[Sequence[ChatMessage]], list[int]], budget: int
) -> tuple[int, int] | None:
    """The policy as first written: drop, encode, repeat. (dropped, tokens); None: too long."""
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])
    keep = 2 if len(rest) >= 2 and rest[-1].role == "assistant" else 1
    dropped = 0
    while True:
        ids = encode([*system, *rest])
        if len(ids) <= budget:
            return dropped, len(ids)
        if len(rest) <= keep:
            return None
        rest.pop(0)
        dropped += 1
        while len(rest) > keep and rest[0].role == "assistant":
            rest.pop(0)
            dropped += 1


def test_fit_context_finds_what_dropping_one_exchange_at_a_time_finds_in_few_encodings() -> None:
    rng = random.Random(7)
    calls = 0

    def encode(ms: Sequence[ChatMessage]) -> list[int]:
        nonlocal calls
        calls += 1
        return [0] * sum(4 + len(m.content) for m in ms)  # the template's marks, the text

    for _ in range(300):
        n = rng.randint(1, 60)
        roles = [rng.choice(["user", "assistant", "user"]) for _ in range(n)]
        messages = [ChatMessage(r, "w" * rng.randint(0, 40)) for r in roles]  # type: ignore[arg-type]
        if rng.random() < 0.5:
            messages.insert(0, ChatMessage("system", "s" * rng.randint(0, 30)))
        budget = rng.randint(5, 1500)
        expected = _fit_one_exchange_at_a_time(messages, encode, budget)
        calls = 0
        if expected is None:
            with pytest.raises(PromptError, match="too long"):
                fit_context(messages, encode, budget)
            continue
        fitted = fit_context(messages, encode, budget)
        assert (fitted.dropped_messages, len(fitted.ids)) == expected
        assert calls <= 2 + math.ceil(math.log2(n + 1)), "bisection, not one per exchange"
