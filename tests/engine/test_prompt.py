from __future__ import annotations

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
    with pytest.raises(PromptError, match="too long"):
        fit_context([ChatMessage("user", "x" * 50)], lambda ms: [0] * 50, budget=10)


def test_fit_context_keeps_the_question_of_an_answer_being_continued() -> None:
    msgs = [ChatMessage("user" if i % 2 == 0 else "assistant", "w" * 10) for i in range(6)]

    def encode(ms: object) -> list[int]:
        return [0] * sum(len(m.content) for m in ms)  # type: ignore[attr-defined]

    fitted = fit_context(msgs, encode, budget=20)
    assert fitted.dropped_messages == 4  # the last question and the answer being continued
    with pytest.raises(PromptError, match="too long"):
        fit_context(msgs, encode, budget=19)
