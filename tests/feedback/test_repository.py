"""Feedback records in the history database: linked to the message and what produced it,
changeable, withdrawable, gone with their conversation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desktop.feedback import FeedbackDraft, FeedbackStore, ModerationResult
from desktop.feedback.records import Flag, Turn
from desktop.store import NotFoundError, Store
from tests.feedback.conftest import Chat
from tests.store.conftest import DATA, load_sql


def test_a_rating_keeps_the_exact_context_that_produced_the_answer(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    answer = chat.alternatives[0]
    record = feedback.rate(
        answer.id,
        FeedbackDraft(-1, ("made_up_facts",), "Sydney is not the capital.", "Canberra."),
    )
    assert record.rating == -1
    assert record.reasons == ("made_up_facts",)
    assert record.ideal_answer == "Canberra."
    assert record.response == "Sydney."
    assert record.context.model == "tiny-model"
    assert record.context.params == {"temperature": 0.9, "seed": 11}
    assert record.context.prompt == (
        Turn("system", "Be brief."),
        Turn("user", "Capital of France?"),
        Turn("assistant", "Paris."),
        Turn("user", "And of Australia?"),
    )
    # The snapshot survives a later change of the conversation's system prompt.
    store.set_system_prompt(chat.conversation_id, "Be verbose.")
    again = feedback.rating_for(answer.id)
    assert again is not None
    assert again.context.prompt[0] == Turn("system", "Be brief.")


def test_the_context_leaves_out_what_the_content_filter_kept_from_the_model(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    """A blocked message never reached the model: the context of later answers, and so the
    exported preference pairs, must not claim it did."""
    blocked = ModerationResult("input", (Flag("violence", "block", 1.0),))
    warned = ModerationResult("output", (Flag("hate", "warn", 1.0),))
    feedback.record_moderation(chat.q1.id, blocked)
    feedback.record_moderation(chat.a1.id, warned)
    assert feedback.blocked_among([chat.q1.id, chat.a1.id, chat.q2.id]) == {chat.q1.id}
    record = feedback.rate(chat.alternatives[0].id, FeedbackDraft(1, (), "", None))
    assert record.context.prompt == (
        Turn("system", "Be brief."),
        Turn("assistant", "Paris."),  # warned: the model did see it
        Turn("user", "And of Australia?"),
    )
    ranked = [a.id for a in chat.alternatives[:2]]
    comparison = feedback.record_comparison(ranked, ranked)
    assert Turn("user", "Capital of France?") not in comparison.context.prompt


def test_a_rating_keeps_the_answer_it_was_given_for_when_the_answer_is_continued(
    tmp_path: Path, store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    from desktop.feedback import export
    from desktop.feedback.validate import VALIDATORS

    answer = store.add_message(
        chat.conversation_id,
        chat.q2.id,
        "assistant",
        "Canberra is the capital, in the",
        stats={"finish_reason": "length"},  # cut off by the answer length limit
    )
    feedback.rate(answer.id, FeedbackDraft(-1, ("other",), "It stops mid-sentence."))
    store.resume(answer.id)  # "Continue": the model goes on in the same message
    store.finish(answer.id, "complete", {"finish_reason": "stop"}, answer.content + " ACT.")
    assert store.get_message(answer.id).content.endswith("in the ACT.")
    record = feedback.rating_for(answer.id)
    assert record is not None
    assert record.response == "Canberra is the capital, in the", "what the user rated"
    path = tmp_path / "ratings.jsonl"
    export(feedback, "ratings", path)
    rows = VALIDATORS["ratings"](path)
    assert [r["response"] for r in rows if r["id"] == record.uid] == [record.response]


def test_the_system_prompt_recorded_at_generation_wins_over_a_later_change(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    """The chat's system prompt changed after the answer was written and before it was
    rated: the record holds the prompt the model was given, kept apart from the sampling
    parameters."""
    answer = store.add_message(
        chat.conversation_id,
        chat.q2.id,
        "assistant",
        "Canberra.",
        model="tiny-model",
        params={"temperature": 0.2, "system_prompt": "Answer in one word."},
    )
    store.set_system_prompt(chat.conversation_id, "Be verbose.")
    record = feedback.rate(answer.id, FeedbackDraft(1, ("correct",)))
    assert record.context.prompt[0] == Turn("system", "Answer in one word.")
    assert record.context.system_prompt == "Answer in one word."
    assert record.context.params == {"temperature": 0.2}
    # Recorded as "no system prompt": none, whatever the chat has now.
    bare = store.add_message(
        chat.conversation_id,
        chat.q2.id,
        "assistant",
        "Canberra!",
        params={"temperature": 0.2, "system_prompt": None},
    )
    assert feedback.context_for(bare.id).prompt[0] == Turn("user", "Capital of France?")


def test_changing_a_rating_updates_the_one_record_and_counts_revisions(
    feedback: FeedbackStore, chat: Chat
) -> None:
    answer = chat.alternatives[1]
    first = feedback.rate(answer.id, FeedbackDraft(1, ("correct",)))
    second = feedback.rate(answer.id, FeedbackDraft(-1, ("too_verbose",), "meh"))
    assert second.id == first.id
    assert second.uid == first.uid
    assert (second.rating, second.reasons, second.comment) == (-1, ("too_verbose",), "meh")
    assert second.revision == first.revision + 1
    assert feedback.ratings_for([answer.id, chat.a1.id]) == {answer.id: -1}


def test_withdrawn_feedback_leaves_listings_and_can_be_given_again(
    feedback: FeedbackStore, chat: Chat
) -> None:
    answer = chat.alternatives[2]
    record = feedback.rate(answer.id, FeedbackDraft(1))
    withdrawn = feedback.withdraw(record.id)
    assert withdrawn.withdrawn
    assert feedback.rating_for(answer.id) is None
    assert list(feedback.all_feedback()) == []
    assert feedback.ratings_for([answer.id]) == {}
    back = feedback.rate(answer.id, FeedbackDraft(-1))
    assert back.id == record.id
    assert not back.withdrawn
    assert [r.id for r in feedback.all_feedback()] == [record.id]


def test_an_unchanged_or_empty_ideal_answer_is_not_stored(
    feedback: FeedbackStore, chat: Chat
) -> None:
    answer = chat.alternatives[1]
    assert feedback.rate(answer.id, FeedbackDraft(1, ideal_answer="Canberra.")).ideal_answer is None
    assert feedback.rate(answer.id, FeedbackDraft(1, ideal_answer="  ")).ideal_answer is None
    edited = feedback.rate(answer.id, FeedbackDraft(1, ideal_answer="Canberra (ACT)."))
    assert edited.ideal_answer == "Canberra (ACT)."


def test_bad_ratings_are_refused(feedback: FeedbackStore, chat: Chat) -> None:
    with pytest.raises(ValueError, match="rate answers"):
        feedback.rate(chat.q1.id, FeedbackDraft(1))
    with pytest.raises(ValueError, match="1 or -1"):
        feedback.rate(chat.a1.id, FeedbackDraft(0))
    with pytest.raises(ValueError, match="unknown feedback reasons: nonsense"):
        feedback.rate(chat.a1.id, FeedbackDraft(-1, ("nonsense",)))
    with pytest.raises(NotFoundError):
        feedback.rate(999, FeedbackDraft(1))


def test_filter_events_and_reports_are_linked(feedback: FeedbackStore, chat: Chat) -> None:
    result = ModerationResult(
        "input",
        (
            Flag("harassment", "warn", 1.0, "idiot", "rules"),
            Flag("violence", "allow", 0.6, "", "onnx:tiny"),
        ),
    )
    events = feedback.record_moderation(chat.q2.id, result)
    assert [(e.category, e.action, e.source, e.filter) for e in events] == [
        ("harassment", "warn", "input", "rules"),
        ("violence", "allow", "input", "onnx:tiny"),
    ]
    assert feedback.moderation_for([chat.q2.id, chat.q1.id]) == {chat.q2.id: events}

    wrong = feedback.report_false_positive(events[0].id, "It was a joke between friends.")
    assert (wrong.kind, wrong.category, wrong.moderation_event_id) == (
        "false_positive",
        "harassment",
        events[0].id,
    )
    missed = feedback.report_false_negative(chat.alternatives[0].id, "hate")
    assert (missed.kind, missed.category, missed.rating) == ("false_negative", "hate", None)
    assert [r.id for r in feedback.filter_reports(chat.q2.id)] == [wrong.id]
    with pytest.raises(ValueError, match="unknown content-filter category"):
        feedback.report_false_negative(chat.a1.id, "rudeness")


def test_a_report_on_the_users_own_message_has_it_as_the_last_turn_and_no_answer(
    feedback: FeedbackStore, chat: Chat
) -> None:
    from desktop.feedback.payloads import describe_payload, feedback_payload

    missed = feedback.report_false_negative(chat.q2.id, "hate")
    assert missed.response is None, "not the user's message passed off as the answer"
    assert [(t.role, t.content) for t in missed.context.prompt] == [
        ("system", "Be brief."),
        ("user", "Capital of France?"),
        ("assistant", chat.a1.content),
        ("user", "And of Australia?"),
    ]
    lines = dict(describe_payload(feedback_payload(missed, "conversation")))
    assert "Answer" not in lines
    assert "Model" not in lines
    assert lines["Report"] == "should have been flagged as Hate"
    wrong = feedback.report_false_positive(
        feedback.record_moderation(chat.q2.id, ModerationResult("input", (
            Flag("harassment", "warn", 1.0, "x", "rules"),)))[0].id
    )  # fmt: skip
    assert dict(describe_payload(feedback_payload(wrong, "conversation")))["Report"] == (
        "wrongly flagged as Harassment"
    )
    rated = feedback.rate(chat.a1.id, FeedbackDraft(-1, ("made_up_facts", "too_verbose")))
    lines = dict(describe_payload(feedback_payload(rated, "conversation")))
    assert lines["Reasons"] == "Made up facts / incorrect, Too verbose / repetitive"


def test_a_comparison_stores_the_ranking_and_shows_the_best_branch(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    ids = [m.id for m in chat.alternatives]
    ranking = [ids[2], ids[1], ids[0]]
    record = feedback.record_comparison(ids, ranking, comment="ACT is more precise")
    assert not record.all_bad
    assert record.chosen_id == ids[2]
    assert [i.message_id for i in record.ranked()] == ranking
    assert [i.rank for i in record.items] == [3, 2, 1]
    assert record.items[0].params == {"temperature": 0.9, "seed": 11}
    assert record.context.prompt[-1] == Turn("user", "And of Australia?")
    assert store.get_conversation(chat.conversation_id).current_leaf_id == ids[2]

    bad = feedback.record_comparison(ids[:2], None)
    assert bad.all_bad
    assert bad.chosen_id is None
    assert all(i.rank is None for i in bad.items)
    assert store.get_conversation(chat.conversation_id).current_leaf_id == ids[2]


def test_ranking_answers_again_replaces_the_earlier_ranking_of_them(
    feedback: FeedbackStore, chat: Chat
) -> None:
    ids = [m.id for m in chat.alternatives]
    first = feedback.record_comparison(ids, [ids[0], ids[1], ids[2]])
    again = feedback.record_comparison(ids[:2], [ids[1], ids[0]])  # changed their mind
    assert [c.id for c in feedback.all_comparisons()] == [again.id], "not both, contradicting"
    assert feedback.get_comparison(first.id).withdrawn_at is not None


def test_a_ranking_that_shares_one_answer_with_an_earlier_one_leaves_it_standing(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    """The best answer's own alternatives, ranked (or all bad) in their turn, judge no pair
    the first ranking judged: its preferences stay, in the exports and on the endpoint."""
    ids = [m.id for m in chat.alternatives]
    first = feedback.record_comparison(ids, [ids[1], ids[2], ids[0]])
    more = [
        store.add_message(chat.conversation_id, chat.q2.id, "assistant", t, model="tiny-model")
        for t in ("Canberra!", "It is Canberra.")
    ]
    later = feedback.record_comparison([ids[1], *(m.id for m in more)], None)  # all bad
    assert {c.id for c in feedback.all_comparisons()} == {first.id, later.id}


def test_comparisons_need_two_to_four_answers_to_one_prompt(
    feedback: FeedbackStore, chat: Chat
) -> None:
    ids = [m.id for m in chat.alternatives]
    with pytest.raises(ValueError, match="2 to 4"):
        feedback.record_comparison(ids[:1], ids[:1])
    with pytest.raises(ValueError, match="same prompt"):
        feedback.record_comparison([ids[0], chat.a1.id], [ids[0], chat.a1.id])
    with pytest.raises(ValueError, match="exactly the answers"):
        feedback.record_comparison(ids[:2], [ids[0], ids[2]])


def test_deleting_a_conversation_deletes_its_feedback(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    feedback.rate(chat.a1.id, FeedbackDraft(1))
    feedback.record_comparison([m.id for m in chat.alternatives[:2]], None)
    token = store.delete_conversations(chat.conversation_id)
    assert list(feedback.all_feedback()) == []  # in the trash: left out of exports
    assert list(feedback.all_comparisons()) == []
    store.undo_delete(token)
    assert len(list(feedback.all_feedback())) == 1
    store.delete_conversations(chat.conversation_id)
    store.purge_deleted()
    db = sqlite3.connect(str(store.path))
    for table in ("feedback", "comparisons", "comparison_items"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    db.close()


def test_feedback_found_damaged_is_one_clear_error_and_the_file_is_copied_first(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    from desktop.store import DatabaseCorrupt

    feedback.rate(chat.a1.id, FeedbackDraft(1))
    db = sqlite3.connect(str(store.path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'feedback'").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with store.path.open("r+b") as file:  # the feedback table's page, and nothing else
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)
    damaged = store.path.read_bytes()

    reader = FeedbackStore(store)  # a connection of its own, as the window's service has
    try:
        with pytest.raises(DatabaseCorrupt) as caught:
            reader.rating_for(chat.a1.id)
    finally:
        reader.close()
    error = caught.value
    assert error.backup is not None, "the damaged file is kept before anything else happens"
    assert error.backup.read_bytes() == damaged
    assert str(error.backup) in str(error)


def test_the_feedback_store_follows_a_moved_history(
    tmp_path: Path, store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    feedback.rate(chat.a1.id, FeedbackDraft(1))
    store.move_to(tmp_path / "elsewhere")
    assert feedback.rating_for(chat.a1.id) is not None
    feedback.rate(chat.alternatives[0].id, FeedbackDraft(-1))
    assert feedback.database().path == tmp_path / "elsewhere" / store.path.name


def test_a_version_2_database_keeps_its_feedback_on_open(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    load_sql(path, DATA / "history_v2.sql")
    with Store.open(path) as store:
        feedback = FeedbackStore(store)
        rating = feedback.rating_for(2)
        assert rating is not None
        assert (rating.uid, rating.rating, rating.reasons) == (
            "f-0001",
            -1,
            ("made_up_facts", "too_verbose"),
        )
        assert rating.ideal_answer == "Try Sprüngli on Paradeplatz."
        assert rating.context.prompt[-1] == Turn(
            "user", "Where can I get a good café crème in Zürich?"
        )
        assert feedback.rating_for(3) is None  # withdrawn
        (report,) = feedback.filter_reports(4)
        assert (report.kind, report.category, report.moderation_event_id) == (
            "false_positive",
            "violence",
            1,
        )
        comparison = feedback.get_comparison(1)
        assert [i.message_id for i in comparison.ranked()] == [3, 2]
        (item,) = feedback.outbox.items()
        assert (item.idempotency_key, item.state, item.attempts, item.last_status) == (
            "idem-0001",
            "pending",
            2,
            503,
        )
        feedback.close()


def test_the_listing_says_each_record_in_words_newest_first_with_its_submission_state(
    store: Store, feedback: FeedbackStore, chat: Chat
) -> None:
    ids = [m.id for m in chat.alternatives]
    rating = feedback.rate(chat.a1.id, FeedbackDraft(-1, ("made_up_facts", "too_verbose"), "no"))
    missed = feedback.report_false_negative(chat.alternatives[0].id, "hate")
    ranking = feedback.record_comparison(ids, [ids[1], ids[2], ids[0]])
    feedback.queue_feedback(rating, {"id": rating.uid}, review=False)
    entries = feedback.listing()
    assert [(e.record, e.record_id) for e in entries] == [
        ("comparison", ranking.id),
        ("feedback", missed.id),
        ("feedback", rating.id),
    ]
    assert [e.summary for e in entries] == [
        "Ranked 3 answers",
        "Should have been flagged: Hate",
        "Bad: made up facts / incorrect, too verbose / repetitive",
    ]
    assert entries[0].message_id == ids[1], "a ranking opens at the answer ranked best"
    assert [e.sent for e in entries] == [None, None, "pending"]
    assert {e.conversation_title for e in entries} == {"Capitals"}
    assert entries[2].comment == "no"

    all_bad = feedback.record_comparison(ids[:2], None)
    assert feedback.listing()[0].summary == "All 2 answers bad"
    assert feedback.listing()[0].message_id == ids[0]
    feedback.withdraw(rating.id)
    feedback.withdraw_comparison(all_bad.id)  # it had replaced the ranking of the same answers
    assert [(e.record, e.record_id) for e in feedback.listing()] == [("feedback", missed.id)]
    store.delete_conversations(chat.conversation_id)
    assert feedback.listing() == []
