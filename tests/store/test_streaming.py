"""Crash-safe streaming: the answer is committed before the first token, partial text is
committed as it streams, and an answer cut off by a crash comes back as interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop.store import Store
from tests.store.conftest import check_database, raw

REPO = Path(__file__).resolve().parents[2]


def _status_seen_by_another_process(path: Path, message_id: int) -> tuple[str, str]:
    db = raw(path)
    try:
        row = db.execute("SELECT status, content FROM messages WHERE id = ?", (message_id,))
        status, content = row.fetchone()
        return status, content
    finally:
        db.close()


def test_each_step_is_committed(store: Store) -> None:
    c = store.create_conversation()
    q = store.add_message(c.id, None, "user", "Count to three")
    answer = store.begin_assistant(c.id, q.id, "SmolLM2", {"temperature": 0.0})
    assert _status_seen_by_another_process(store.path, answer.id) == ("streaming", "")
    assert store.get_conversation(c.id).current_leaf_id == answer.id

    store.append_partial(answer.id, "One,")
    assert _status_seen_by_another_process(store.path, answer.id) == ("streaming", "One,")
    store.append_partial(answer.id, "One, two,")
    assert _status_seen_by_another_process(store.path, answer.id) == ("streaming", "One, two,")

    done = store.finish(answer.id, "complete", {"tokens": 6, "tok_s": 91.5}, "One, two, three.")
    assert (done.status, done.content, done.stats) == (
        "complete",
        "One, two, three.",
        {"tokens": 6, "tok_s": 91.5},
    )
    assert _status_seen_by_another_process(store.path, answer.id) == (
        "complete",
        "One, two, three.",
    )


def test_stop_keeps_the_text_so_far(store: Store) -> None:
    c = store.create_conversation()
    answer = store.begin_assistant(c.id, None, "m")
    store.append_partial(answer.id, "partial")
    stopped = store.finish(answer.id, "stopped")
    assert (stopped.status, stopped.content, stopped.stats) == ("stopped", "partial", None)


def test_a_finished_answer_takes_no_more_text(store: Store) -> None:
    c = store.create_conversation()
    answer = store.begin_assistant(c.id, None, "m")
    store.finish(answer.id, "error", {"error": "out of memory"})
    with pytest.raises(ValueError, match="error, not streaming"):
        store.append_partial(answer.id, "late token")
    with pytest.raises(ValueError, match="not streaming"):
        store.finish(answer.id, "complete")
    with pytest.raises(ValueError, match="finished message is one of"):
        store.finish(answer.id, "interrupted")  # type: ignore[arg-type]


def test_an_unfinished_answer_is_interrupted_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with Store.open(path) as store:
        c = store.create_conversation()
        q = store.add_message(c.id, None, "user", "Write a poem")
        answer = store.begin_assistant(c.id, q.id, "m")
        store.append_partial(answer.id, "Roses are")
        # The app goes away without finish().

    with Store.open(path, recover=False) as store:
        assert store.interrupted_on_open == []
        assert store.get_message(answer.id).status == "streaming"

    with Store.open(path) as store:
        (interrupted,) = store.interrupted_on_open
        assert (interrupted.id, interrupted.status, interrupted.content) == (
            answer.id,
            "interrupted",
            "Roses are",
        )
        assert store.recover_interrupted() == []
        # "Continue": the same message streams again from its partial text.
        resumed = store.resume(answer.id)
        assert (resumed.status, resumed.content) == ("streaming", "Roses are")
        store.append_partial(answer.id, "Roses are red")
        assert store.finish(answer.id, "complete").content == "Roses are red"
        with pytest.raises(ValueError, match="cannot be continued"):
            store.resume(answer.id)
        with pytest.raises(ValueError, match="cannot be continued"):
            store.resume(q.id)


def test_an_answer_another_connection_streams_is_not_taken_for_abandoned(
    tmp_path: Path,
) -> None:
    """The window and parley chat write to one history at once: each one's recovery leaves
    the other's answers alone until their writer has gone (closed, crashed, killed)."""
    path = tmp_path / "history.sqlite3"
    writer, other = Store.open(path), Store.open(path)
    try:
        c = writer.create_conversation()
        answer = writer.begin_assistant(c.id, None, "m")
        assert other.recover_interrupted() == []
        with Store.open(path) as third:
            assert third.interrupted_on_open == []
        writer.append_partial(answer.id, "still here")
        writer.finish(answer.id, "complete")
        again = writer.begin_assistant(c.id, None, "m")
        assert other.recover_interrupted() == []
        writer.close()  # as a process that ended
        (recovered,) = other.recover_interrupted()
        assert (recovered.id, recovered.status) == (again.id, "interrupted")
        resumed = other.resume(again.id)  # Continue, in the other connection: it holds it now
        assert resumed.status == "streaming"
        with Store.open(path) as third:
            assert third.recover_interrupted() == []
        other.finish(again.id, "complete", None, "done")
        assert list((tmp_path / "history.sqlite3.writing").iterdir()) == [], "no lock left"
    finally:
        writer.close()
        other.close()


def test_an_answer_cut_off_by_its_length_limit_can_be_continued(store: Store) -> None:
    c = store.create_conversation()
    cut = store.begin_assistant(c.id, None, "m")
    store.finish(cut.id, "complete", {"finish_reason": "length"}, "Once upon a")
    assert store.resume(cut.id).status == "streaming"
    store.finish(cut.id, "complete", {"finish_reason": "stop"}, "Once upon a time.")
    with pytest.raises(ValueError, match="cannot be continued"):
        store.resume(cut.id)  # it ended by itself this time


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from desktop.store import Store

    store = Store.open(Path(sys.argv[1]))
    conversation = store.create_conversation("Crash test")
    parent = None
    for i in range(3):
        question = store.add_message(conversation.id, parent, "user", f"question {i}")
        answer = store.begin_assistant(conversation.id, question.id, "fake-model")
        store.append_partial(answer.id, "ans")
        parent = store.finish(answer.id, "complete", {"turn": i}, f"answer {i}").id
    question = store.add_message(conversation.id, parent, "user", "the last question")
    answer = store.begin_assistant(conversation.id, question.id, "fake-model")
    print("BEGIN", conversation.id, answer.id, flush=True)
    text = ""
    n = 0
    while True:  # stream until killed; a bigger write every time
        n += 1
        text += f"<chunk {n}: " + "lorem ipsum " * 8 + ">"
        store.append_partial(answer.id, text)
        print("FLUSHED", n, flush=True)
    """
)


def _expected_text(n: int) -> str:
    return "".join(f"<chunk {i}: " + "lorem ipsum " * 8 + ">" for i in range(1, n + 1))


def test_a_writer_killed_mid_stream_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert child.stdout is not None
    flushed = 0
    try:
        first = child.stdout.readline().split()
        assert first[:1] == ["BEGIN"], child.stderr.read() if child.stderr else ""
        conversation_id, answer_id = int(first[1]), int(first[2])
        while flushed < 150:
            line = child.stdout.readline()
            assert line, "the writer stopped on its own"
            flushed = int(line.split()[1])
        # the window starting meanwhile leaves the answer to the live writer
        with Store.open(path) as window:
            assert window.interrupted_on_open == []
            assert window.recover_interrupted() == []
            assert window.get_message(answer_id).status == "streaming"
    finally:
        child.kill()  # SIGKILL on POSIX: no cleanup, no atexit, mid-write
        remaining, _ = child.communicate(timeout=30)
    if sys.platform != "win32":
        assert child.returncode == -signal.SIGKILL
    for line in remaining.splitlines():  # flushes it reported before dying
        flushed = int(line.split()[1])

    with Store.open(path) as store:
        (interrupted,) = store.interrupted_on_open
        assert interrupted.id == answer_id
        assert interrupted.status == "interrupted"
        # Every flush the writer saw committed is there; at most one more made it.
        content = interrupted.content
        assert content in (_expected_text(flushed), _expected_text(flushed + 1))
        path_contents = [(m.role, m.content, m.status) for m in store.current_path(conversation_id)]
        assert path_contents == [
            ("user", "question 0", "complete"),
            ("assistant", "answer 0", "complete"),
            ("user", "question 1", "complete"),
            ("assistant", "answer 1", "complete"),
            ("user", "question 2", "complete"),
            ("assistant", "answer 2", "complete"),
            ("user", "the last question", "complete"),
            ("assistant", content, "interrupted"),
        ]
        assert [h.message_id for h in store.search(f"chunk {flushed}")][:1] == [answer_id]
    check_database(path)


def test_an_answer_stopped_before_its_first_word_is_taken_back(store: Store) -> None:
    c = store.create_conversation()
    q = store.add_message(c.id, None, "user", "Count to three")
    answer = store.begin_assistant(c.id, q.id, "m")
    assert store.discard_answer(answer.id) == q.id
    assert [m.id for m in store.current_path(c.id)] == [q.id], "the question is last again"
    assert store.recover_interrupted() == [], "nothing left to show as interrupted"
    written = store.begin_assistant(c.id, q.id, "m")
    store.append_partial(written.id, "One,")
    with pytest.raises(ValueError, match="not an answer still empty"):
        store.discard_answer(written.id)  # it has words: it is kept, as stopped
    store.finish(written.id, "stopped")
    with pytest.raises(ValueError, match="not an answer still empty"):
        store.discard_answer(q.id)
    assert [m.id for m in store.children(q.id)] == [written.id]
