"""Messages form a tree: regenerate and edit add siblings, every branch is kept, and the
< n/m > switcher moves between them."""

from __future__ import annotations

import pytest

from desktop.store import Store


def _contents(store: Store, conversation_id: int) -> list[str]:
    return [m.content for m in store.current_path(conversation_id)]


def test_a_linear_conversation(store: Store) -> None:
    c = store.create_conversation()
    q1 = store.add_message(c.id, None, "user", "q1")
    a1 = store.add_message(c.id, q1.id, "assistant", "a1")
    q2 = store.add_message(c.id, a1.id, "user", "q2")
    assert store.get_conversation(c.id).current_leaf_id == q2.id
    assert _contents(store, c.id) == ["q1", "a1", "q2"]
    assert [m.id for m in store.path_to(a1.id)] == [q1.id, a1.id]
    assert [m.id for m in store.children(q1.id)] == [a1.id]
    for entry in store.thread(c.id):
        assert (entry.siblings.index, entry.siblings.total) == (0, 1)
        assert entry.siblings.previous_id is None
        assert entry.siblings.next_id is None


def test_regenerate_keeps_the_old_answer(store: Store) -> None:
    c = store.create_conversation()
    q = store.add_message(c.id, None, "user", "tell me a joke")
    first = store.add_message(c.id, q.id, "assistant", "joke one")
    second = store.regenerate(first.id, "model-b", {"temperature": 1.2})
    assert (second.parent_id, second.status, second.content) == (q.id, "streaming", "")
    assert (second.model, second.params) == ("model-b", {"temperature": 1.2})
    store.finish(second.id, "complete", content="joke two")

    assert _contents(store, c.id) == ["tell me a joke", "joke two"]
    siblings = store.siblings(second.id)
    assert (siblings.index, siblings.total, siblings.ids) == (1, 2, (first.id, second.id))
    assert siblings.previous_id == first.id
    assert siblings.next_id is None

    assert store.switch_branch(first.id) == first.id
    assert _contents(store, c.id) == ["tell me a joke", "joke one"]
    assert store.thread(c.id)[-1].siblings.index == 0

    with pytest.raises(ValueError, match="not an assistant"):
        store.regenerate(q.id, "m")


def test_editing_a_user_message_starts_a_branch(store: Store) -> None:
    c = store.create_conversation()
    q1 = store.add_message(c.id, None, "user", "q1")
    a1 = store.add_message(c.id, q1.id, "assistant", "a1")
    q2 = store.add_message(c.id, a1.id, "user", "q2 with a typo")
    a2 = store.add_message(c.id, q2.id, "assistant", "a2")
    store.add_message(c.id, a2.id, "user", "q3")

    edited = store.edit_user_message(q2.id, "q2 fixed")
    assert edited.parent_id == a1.id
    assert store.get_conversation(c.id).current_leaf_id == edited.id
    answer = store.begin_assistant(c.id, edited.id, "m")
    store.finish(answer.id, "complete", content="a2 fixed")
    assert _contents(store, c.id) == ["q1", "a1", "q2 fixed", "a2 fixed"]

    thread = store.thread(c.id)
    assert [(e.siblings.index, e.siblings.total) for e in thread] == [
        (0, 1),
        (0, 1),
        (1, 2),
        (0, 1),
    ]
    # Switching back to the old question follows its branch down to its latest leaf.
    store.switch_branch(q2.id)
    assert _contents(store, c.id) == ["q1", "a1", "q2 with a typo", "a2", "q3"]

    with pytest.raises(ValueError, match="not a user message"):
        store.edit_user_message(a1.id, "x")


def test_switching_follows_the_most_recent_leaf(store: Store) -> None:
    c = store.create_conversation()
    q = store.add_message(c.id, None, "user", "q")
    a = store.add_message(c.id, q.id, "assistant", "a")
    early = store.add_message(c.id, a.id, "user", "early follow-up")
    late = store.add_message(c.id, a.id, "user", "late follow-up")
    other = store.regenerate(a.id, "m")
    store.finish(other.id, "complete", content="other answer")
    assert store.switch_branch(a.id) == late.id
    store.switch_branch(early.id)
    assert _contents(store, c.id) == ["q", "a", "early follow-up"]


def test_several_first_messages_are_siblings(store: Store) -> None:
    c = store.create_conversation()
    first = store.add_message(c.id, None, "user", "hello")
    again = store.edit_user_message(first.id, "hello again")
    assert again.parent_id is None
    assert store.siblings(first.id).ids == (first.id, again.id)
    assert _contents(store, c.id) == ["hello again"]


def test_add_message_without_selecting_keeps_the_branch_shown(store: Store) -> None:
    c = store.create_conversation()
    q = store.add_message(c.id, None, "user", "q")
    store.add_message(c.id, q.id, "assistant", "hidden", select=False)
    assert _contents(store, c.id) == ["q"]


def test_a_parent_from_another_conversation_is_refused(store: Store) -> None:
    c1, c2 = store.create_conversation(), store.create_conversation()
    q = store.add_message(c1.id, None, "user", "q")
    with pytest.raises(ValueError, match="belongs to conversation"):
        store.add_message(c2.id, q.id, "assistant", "a")
    with pytest.raises(ValueError, match="unknown role"):
        store.add_message(c1.id, q.id, "robot", "a")  # type: ignore[arg-type]
