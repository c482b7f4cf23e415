"""Conversations and folders: create, list for the sidebar, rename, pin, folders, settings,
delete with undo, purge, duplicate with the whole tree, and transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop.store import NotFoundError, Store
from desktop.store.store import default_path


def _chat(store: Store, title: str, turns: int = 1) -> int:
    conversation = store.create_conversation(title)
    parent = None
    for i in range(turns):
        question = store.add_message(conversation.id, parent, "user", f"{title} question {i}")
        answer = store.add_message(conversation.id, question.id, "assistant", f"answer {i}")
        parent = answer.id
    return conversation.id


def test_the_default_database_lives_in_the_data_dir(store: Store) -> None:
    assert store.path == default_path()
    assert store.path.exists()
    assert "parley-data" in str(store.path)  # the test's own data dir, never the user's


def test_a_new_conversation(store: Store) -> None:
    conversation = store.create_conversation(
        "Plans", system_prompt="Be brief.", overrides={"temperature": 0.2, "stop": ["\n\n"]}
    )
    again = store.get_conversation(conversation.id)
    assert again == conversation
    assert again.title == "Plans"
    assert again.system_prompt == "Be brief."
    assert again.overrides == {"temperature": 0.2, "stop": ["\n\n"]}
    assert again.current_leaf_id is None
    assert again.deleted_at is None
    assert not again.pinned
    assert store.current_path(conversation.id) == []
    assert len({store.create_conversation().uid, conversation.uid}) == 2


def test_imports_keep_their_identity_and_time(store: Store) -> None:
    when = datetime(2023, 2, 1, 12, 0, tzinfo=UTC)
    conversation = store.create_conversation("Imported", uid="chatgpt-123", created_at=when)
    message = store.add_message(
        conversation.id, None, "user", "old", uid="chatgpt-msg-1", created_at=when
    )
    assert conversation.uid == "chatgpt-123"
    assert conversation.created_at == when
    assert message.uid == "chatgpt-msg-1"
    assert message.created_at == when


def test_the_sidebar_lists_pinned_first_then_by_last_activity(store: Store) -> None:
    old = _chat(store, "old")
    middle = _chat(store, "middle")
    new = _chat(store, "new")
    assert [c.id for c in store.list_conversations()] == [new, middle, old]

    store.add_message(old, store.get_conversation(old).current_leaf_id, "user", "back again")
    assert [c.id for c in store.list_conversations()] == [old, new, middle]

    store.set_pinned(middle, True)
    listing = store.list_conversations()
    assert [c.id for c in listing] == [middle, old, new]
    assert [c.pinned for c in listing] == [True, False, False]

    store.rename_conversation(new, "renamed")  # renaming is not activity
    assert [c.id for c in store.list_conversations()] == [middle, old, new]
    assert store.get_conversation(new).title == "renamed"


def test_folders(store: Store) -> None:
    work = store.create_folder("Work")
    home = store.create_folder("Home")
    assert [f.name for f in store.list_folders()] == ["Work", "Home"]
    a, b, c = _chat(store, "a"), _chat(store, "b"), _chat(store, "c")
    store.move_to_folder(a, work.id)
    store.move_to_folder(b, work.id)
    store.move_to_folder(c, home.id)
    assert {x.id for x in store.list_conversations(folder_id=work.id)} == {a, b}
    store.move_to_folder(b, None)
    assert [x.id for x in store.list_conversations(folder_id=work.id)] == [a]

    store.rename_folder(work.id, "Job")
    assert [f.name for f in store.list_folders()] == ["Job", "Home"]
    store.delete_folder(work.id)  # its conversations stay, outside any folder
    assert store.get_conversation(a).folder_id is None
    assert len(store.list_conversations()) == 3
    with pytest.raises(NotFoundError):
        store.move_to_folder(c, work.id)


def test_system_prompt_and_overrides_are_replaced(store: Store) -> None:
    conversation = _chat(store, "settings")
    store.set_system_prompt(conversation, "Réponds en français.")
    store.set_overrides(conversation, {"temperature": 1.1, "top_k": 20})
    got = store.get_conversation(conversation)
    assert got.system_prompt == "Réponds en français."
    assert got.overrides == {"temperature": 1.1, "top_k": 20}
    store.set_overrides(conversation, {})
    store.set_system_prompt(conversation, None)
    got = store.get_conversation(conversation)
    assert got.overrides == {}
    assert got.system_prompt is None


def test_unknown_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_conversation(999)
    with pytest.raises(NotFoundError):
        store.rename_conversation(999, "x")
    with pytest.raises(NotFoundError):
        store.get_message(999)
    with pytest.raises(NotFoundError):
        store.add_message(999, None, "user", "nobody home")
    with pytest.raises(NotFoundError):
        store.delete_conversations(999)


def test_delete_and_undo(store: Store) -> None:
    keep, gone1, gone2 = _chat(store, "keep"), _chat(store, "gone1"), _chat(store, "gone2")
    token = store.delete_conversations(gone1, gone2)
    assert [c.id for c in store.list_conversations()] == [keep]
    assert {c.id for c in store.list_conversations(deleted=True)} == {gone1, gone2}
    assert store.get_conversation(gone1).deleted_at is not None
    assert store.search("gone1") == []

    assert store.undo_delete(token) == 2
    assert {c.id for c in store.list_conversations()} == {keep, gone1, gone2}
    assert store.get_conversation(gone1).deleted_at is None
    assert store.undo_delete(token) == 0
    assert [h.conversation_id for h in store.search("gone1 question")] == [gone1]


def test_purge_deletes_for_good(store: Store) -> None:
    keep, gone = _chat(store, "keep", turns=2), _chat(store, "gone", turns=2)
    gone_messages = [m.id for m in store.current_path(gone)]
    token = store.delete_conversations(gone)
    assert store.purge(token) == 1
    assert store.undo_delete(token) == 0
    with pytest.raises(NotFoundError):
        store.get_conversation(gone)
    for message_id in gone_messages:
        with pytest.raises(NotFoundError):
            store.get_message(message_id)
    assert len(store.current_path(keep)) == 4


def test_purge_deleted_respects_the_age(store: Store) -> None:
    a, b = _chat(store, "a"), _chat(store, "b")
    store.delete_conversations(a)
    assert store.purge_deleted(older_than=timedelta(days=30)) == 0
    store.delete_conversations(b)
    assert store.purge_deleted() == 2
    assert store.list_conversations(deleted=True) == []


def test_duplicate_copies_every_branch(store: Store) -> None:
    conversation = store.create_conversation("Original", system_prompt="sys", overrides={"seed": 7})
    q = store.add_message(conversation.id, None, "user", "question")
    a1 = store.add_message(
        conversation.id, q.id, "assistant", "first", model="m", params={"t": 1}, stats={"n": 3}
    )
    store.add_message(conversation.id, a1.id, "user", "follow-up")
    a2 = store.regenerate(a1.id, "m")
    store.finish(a2.id, "complete", content="second")
    store.switch_branch(a1.id)
    store.set_pinned(conversation.id, True)

    copy = store.duplicate_conversation(conversation.id)

    assert copy.id != conversation.id
    assert copy.title == "Original (copy)"
    assert copy.system_prompt == "sys"
    assert copy.overrides == {"seed": 7}
    assert not copy.pinned
    original_path = store.current_path(conversation.id)
    copied_path = store.current_path(copy.id)
    assert [m.content for m in copied_path] == ["question", "first", "follow-up"]
    assert [(m.role, m.content, m.model, m.params, m.stats) for m in copied_path] == [
        (m.role, m.content, m.model, m.params, m.stats) for m in original_path
    ]
    assert not {m.id for m in copied_path} & {m.id for m in original_path}
    assert all(m.conversation_id == copy.id for m in copied_path)
    # The other branch came along too.
    copied_answers = store.siblings(copied_path[1].id)
    assert copied_answers.total == 2
    assert store.get_message(copied_answers.ids[1]).content == "second"
    # The copy is independent.
    store.rename_conversation(copy.id, "Copy")
    store.add_message(copy.id, copied_path[-1].id, "user", "only in the copy")
    assert len(store.current_path(conversation.id)) == 3
    assert store.get_conversation(conversation.id).title == "Original"


def test_branch_in_new_chat_takes_the_path_down_to_the_message_and_nothing_else(
    store: Store,
) -> None:
    folder = store.create_folder("Work")
    conversation = store.create_conversation("Plan", system_prompt="sys", overrides={"seed": 7})
    store.move_to_folder(conversation.id, folder.id)
    q1 = store.add_message(conversation.id, None, "user", "first question")
    a1 = store.add_message(conversation.id, q1.id, "assistant", "first answer", model="m")
    other = store.regenerate(a1.id, "m")  # another version of the same turn
    store.finish(other.id, "complete", content="the other answer")
    store.switch_branch(a1.id)
    q2 = store.add_message(conversation.id, a1.id, "user", "second question")
    store.add_message(conversation.id, q2.id, "assistant", "zebra answer")
    before = [(m.id, m.content) for m in store.current_path(conversation.id)]

    branch = store.branch_conversation(a1.id)

    assert branch.title == "Plan (branch)"
    assert (branch.system_prompt, branch.overrides, branch.folder_id) == ("sys", {"seed": 7},
                                                                          folder.id)  # fmt: skip
    path = store.current_path(branch.id)
    assert [(m.role, m.content, m.model) for m in path] == [
        ("user", "first question", None), ("assistant", "first answer", "m"),
    ]  # fmt: skip
    assert store.siblings(path[1].id).total == 1, "the other version stays behind"
    assert [(m.id, m.content) for m in store.current_path(conversation.id)] == before
    hits = {h.conversation_id for h in store.search("first answer")}
    assert hits == {conversation.id, branch.id}
    assert branch.id not in {h.conversation_id for h in store.search("zebra")}
    follow = store.add_message(branch.id, path[-1].id, "user", "a new way")
    assert store.current_path(branch.id)[-1].id == follow.id
    streaming = store.begin_assistant(conversation.id, before[-1][0], "m")
    with pytest.raises(ValueError, match="still being written"):
        store.branch_conversation(streaming.id)


class _ImportFailedError(Exception):
    pass


def _import_half(store: Store) -> None:
    with store.transaction():
        conversation = store.create_conversation("half imported")
        store.add_message(conversation.id, None, "user", "one")
        raise _ImportFailedError


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    before = store.list_conversations()
    with pytest.raises(_ImportFailedError):
        _import_half(store)
    assert store.list_conversations() == before
    assert store.search("half imported") == []
    # A failure inside an outer transaction only undoes the inner part.
    with store.transaction():
        outer = store.create_conversation("outer")
        with pytest.raises(_ImportFailedError):
            _import_half(store)
    assert [c.title for c in store.list_conversations()] == ["outer"]
    assert store.list_conversations()[0].id == outer.id


def test_data_version_changes_with_writes_of_other_connections_only(store: Store) -> None:
    """How the window notices chats that `parley chat` wrote meanwhile."""
    before = store.data_version()
    store.create_conversation("mine")
    assert store.data_version() == before
    other = Store.open(store.path)
    try:
        other.create_conversation("theirs")
    finally:
        other.close()
    assert store.data_version() != before
