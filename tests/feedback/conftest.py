"""Feedback fixtures: a real history database with a small conversation to rate."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from desktop.feedback import FeedbackStore
from desktop.store import Message, Store


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.open()
    yield opened
    opened.close()


@pytest.fixture
def feedback(store: Store) -> Iterator[FeedbackStore]:
    opened = FeedbackStore(store)
    yield opened
    opened.close()


@dataclass
class Chat:
    """system prompt; user "q1" -> answer a1; user "q2" -> three alternative answers."""

    conversation_id: int
    q1: Message
    a1: Message
    q2: Message
    alternatives: list[Message]


def make_chat(store: Store) -> Chat:
    conversation = store.create_conversation("Capitals", system_prompt="Be brief.")
    q1 = store.add_message(conversation.id, None, "user", "Capital of France?")
    a1 = store.add_message(
        conversation.id,
        q1.id,
        "assistant",
        "Paris.",
        model="tiny-model",
        params={"temperature": 0.7, "seed": 1},
    )
    q2 = store.add_message(conversation.id, a1.id, "user", "And of Australia?")
    alternatives = [
        store.add_message(
            conversation.id,
            q2.id,
            "assistant",
            text,
            model="tiny-model",
            params={"temperature": temperature, "seed": seed},
        )
        for text, temperature, seed in (
            ("Sydney.", 0.9, 11),
            ("Canberra.", 0.7, 12),
            ("Canberra, in the ACT.", 1.1, 13),
        )
    ]
    return Chat(conversation.id, q1, a1, q2, alternatives)


@pytest.fixture
def chat(store: Store) -> Chat:
    return make_chat(store)
