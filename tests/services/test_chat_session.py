from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.engine.types import SamplingParams
from desktop.services.chat_session import ChatDefaults, ChatSession
from desktop.services.engine_host import EngineHost
from desktop.services.history import History
from desktop.store import Store
from tests.fakes import FakeEngine, MemoryHistory, word_tokenizer


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(replies=["first answer", "second answer", "third answer"])


@pytest.fixture
def host(qtbot: QtBot, engine: FakeEngine) -> Iterator[EngineHost]:
    h = EngineHost()
    with qtbot.waitSignal(h.model_loaded, timeout=5000):
        h.load(lambda: engine)
    yield h
    assert h.shutdown()


@pytest.fixture(params=["sqlite", "memory"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[History]:
    """The real SQLite store, and the in-memory double the widget tests may use."""
    if request.param == "memory":
        yield MemoryHistory()
        return
    store = Store.open(tmp_path / "history.sqlite3")
    yield store
    store.close()


def make_session(history: History, host: EngineHost, prompt: str = "") -> ChatSession:
    return ChatSession(history, host, lambda: ChatDefaults(prompt, SamplingParams(seed=1)))


def answer(qtbot: QtBot, session: ChatSession, action: object) -> int:
    with qtbot.waitSignal(session.answer_finished, timeout=5000) as blocker:
        assert callable(action)
        assert action()
    message_id = blocker.args[0]
    assert isinstance(message_id, int)
    return message_id


def contents(session: ChatSession) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in session.path()]


def test_send_stores_the_prompt_and_the_streamed_answer(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    session = make_session(history, host, prompt="Be brief.")
    states: list[str] = []
    session.state_changed.connect(states.append)
    answer(qtbot, session, lambda: session.send("  What is Parley?  "))
    assert contents(session) == [
        ("user", "What is Parley?", "complete"),
        ("assistant", "first answer", "complete"),
    ]
    assert states == ["waiting", "streaming", "idle"]
    assert session.title() == "What is Parley?"
    sent = engine.calls[0]
    assert [(m.role, m.content) for m in sent] == [
        ("system", "Be brief."),
        ("user", "What is Parley?"),
    ]
    stats = session.path()[-1].stats
    assert stats is not None
    assert stats["generated_tokens"] == 2
    # What produced it is recorded with it: sampling and the system prompt as sent.
    params = session.path()[-1].params
    assert params is not None
    assert params["seed"] == 1
    assert params["system_prompt"] == "Be brief."


def test_the_answer_is_streaming_in_the_store_before_the_first_token(
    qtbot: QtBot, history: History, engine: FakeEngine
) -> None:
    gate = threading.Event()
    engine.gate = gate
    host = EngineHost()
    try:
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            host.load(lambda: engine)
        session = make_session(history, host)
        assert session.send("hello")
        assert contents(session)[-1] == ("assistant", "", "streaming")
        with qtbot.waitSignal(session.answer_finished, timeout=5000):
            gate.set()
    finally:
        assert host.shutdown()


def test_stop_while_waiting_for_another_tab_ends_at_once_and_keeps_no_empty_answer(
    qtbot: QtBot, history: History, engine: FakeEngine
) -> None:
    from desktop.services.chat_session import DISCARDED

    gate = threading.Event()
    engine.replies = ["first", "second", "kept answer", "other"]
    host = EngineHost()
    try:
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            host.load(lambda: engine)
        waiting = make_session(history, host)
        answer(qtbot, waiting, lambda: waiting.send("one"))
        kept = waiting.path()[-1]
        engine.gate = gate
        busy = make_session(history, host)
        assert busy.send("a long one")  # the other tab: the model is busy with it
        qtbot.waitUntil(lambda: busy.state == "streaming", timeout=5000)
        ended: list[str] = []
        waiting.answer_finished.connect(lambda _id, status, _stats: ended.append(status))
        assert waiting.send("two")
        assert waiting.state == "waiting"
        waiting.stop()
        assert ended == [DISCARDED], "at once, not when the other answer is over"
        assert waiting.state == "idle"
        assert contents(waiting)[-1] == ("user", "two", "complete"), "the question is last"
        # Regenerate, stopped while waiting: the answer it was to replace is shown again
        assert waiting.regenerate(kept.id) is not False
        waiting.stop()
        assert ended == [DISCARDED, DISCARDED]
        assert kept.id in [m.id for m in waiting.path()], "its branch is shown"
        assert len(history.siblings(kept.id).ids) == 1
        with qtbot.waitSignal(busy.answer_finished, timeout=5000):
            gate.set()
        qtbot.wait(50)
        assert ended == [DISCARDED, DISCARDED]
        assert len(engine.calls) == 2, "the stopped ones never reached the model"
    finally:
        assert host.shutdown()


def test_partial_text_is_flushed_while_streaming(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    engine.replies = [" w" * 60]
    engine.delay_s = 0.02  # 1.2 s in all: at least two flushes
    session = make_session(history, host)
    flushed: list[str] = []
    original = history.append_partial

    def spy(message_id: int, text: str) -> None:
        flushed.append(text)
        original(message_id, text)

    history.append_partial = spy  # type: ignore[method-assign]
    answer(qtbot, session, lambda: session.send("long please"))
    assert len(flushed) >= 1
    assert all(t != " w" * 60 and (" w" * 60).startswith(t) for t in flushed)


def test_stop_keeps_the_partial_answer_as_stopped(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    engine.replies = [" tok" * 500]
    engine.delay_s = 0.005
    session = make_session(history, host)
    received: list[str] = []
    session.delta.connect(lambda _mid, text: received.append(text))
    with qtbot.waitSignal(session.answer_finished, timeout=5000) as blocker:
        session.send("go")
        qtbot.waitUntil(lambda: len(received) >= 2, timeout=5000)
        session.stop()
    assert blocker.args[1] == "stopped"
    _role, text, status = contents(session)[-1]
    assert status == "stopped"
    assert 0 < len(text) < len(" tok" * 500)
    assert text == "".join(received)


def test_regenerate_and_edit_make_branches_that_can_be_switched(
    qtbot: QtBot, host: EngineHost, history: History
) -> None:
    session = make_session(history, host)
    first = answer(qtbot, session, lambda: session.send("question"))
    second = answer(qtbot, session, session.regenerate)
    assert session.sibling_position(second) == (2, 2)
    assert contents(session)[-1][1] == "second answer"
    assert session.switch(second, -1)
    assert [m.id for m in session.path()][-1] == first
    assert contents(session)[-1][1] == "first answer"
    assert not session.switch(first, -1)

    user_id = session.path()[0].id
    answer(qtbot, session, lambda: session.edit(user_id, "better question"))
    path = contents(session)
    assert path == [
        ("user", "better question", "complete"),
        ("assistant", "third answer", "complete"),
    ]
    new_user = session.path()[0].id
    assert session.sibling_position(new_user) == (2, 2)
    assert session.switch(new_user, -1)
    assert contents(session)[0][1] == "question"
    # the old branch is intact, with both of its answers
    assert contents(session)[-1][1] in {"first answer", "second answer"}
    assert session.sibling_position(session.path()[-1].id)[1] == 2


def test_context_trim_is_recorded_on_the_answer(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    engine.trim = 4
    session = make_session(history, host)
    trims: list[tuple[int, int]] = []
    session.trimmed.connect(lambda mid, n: trims.append((mid, n)))
    message_id = answer(qtbot, session, lambda: session.send("hi"))
    assert trims == [(message_id, 4)]
    stats = session.path()[-1].stats
    assert stats is not None
    assert stats["context_trimmed"] == 4


def test_engine_error_marks_the_answer(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    engine.fail_with = "the model ran out of memory"
    session = make_session(history, host)
    errors: list[str] = []
    session.error.connect(errors.append)
    answer(qtbot, session, lambda: session.send("hi"))
    assert contents(session)[-1][2] == "error"
    assert errors == ["the model ran out of memory"]


def test_chat_overrides_reach_the_engine_and_bad_values_are_refused(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    session = make_session(history, host, prompt="default prompt")
    session.set_chat_settings("You are a pirate.", {"max_new_tokens": 1})
    with pytest.raises(ValueError, match="unknown"):
        session.set_chat_settings(None, {"bogus": 1})
    assert session.title() == "New chat"
    with qtbot.waitSignal(session.title_changed, timeout=2000) as titled:
        answer(qtbot, session, lambda: session.send("Tell me about your ship"))
    assert titled.args == ["Tell me about your ship"], "named after its first message as others"
    assert session.title() == "Tell me about your ship"
    assert engine.calls[-1][0].content == "You are a pirate."
    assert contents(session)[-1][1] == "first"  # one token only
    with pytest.raises(ValueError, match="temperature"):
        session.set_chat_settings(None, {"temperature": 9.0})


def test_a_second_send_while_busy_is_refused(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    engine.delay_s = 0.01
    session = make_session(history, host)
    with qtbot.waitSignal(session.answer_finished, timeout=5000):
        assert session.send("one")
        assert not session.send("two")
    assert [m.content for m in session.path() if m.role == "user"] == ["one"]


def test_without_a_model_nothing_is_sent_and_the_reason_is_given(
    qtbot: QtBot, history: History
) -> None:
    host = EngineHost()
    try:

        def broken() -> FakeEngine:
            raise OSError("model.onnx.data is incomplete")

        with qtbot.waitSignal(host.model_failed, timeout=5000):
            host.load(broken)
        qtbot.waitUntil(lambda: host.unavailable() is not None, timeout=5000)
        session = make_session(history, host)
        with qtbot.waitSignal(session.refused, timeout=1000) as blocker:
            assert not session.send("hello?")
        assert blocker.args == ["No model is loaded: model.onnx.data is incomplete"]
        assert session.path() == [], "no prompt stored, no failed answer"
        assert session.state == "idle"
    finally:
        assert host.shutdown()


def test_a_full_disk_at_the_end_of_an_answer_leaves_the_chat_usable_and_saves_later(
    qtbot: QtBot, host: EngineHost, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from desktop.store.errors import DiskFull

    full = [True]
    real_finish, real_partial = history.finish, history.append_partial

    def finish(*args: object, **kwargs: object) -> object:
        if full[0]:
            raise DiskFull("The disk holding the history is full.", Path("h"))
        return real_finish(*args, **kwargs)  # type: ignore[arg-type]

    def append_partial(*args: object, **kwargs: object) -> object:
        if full[0]:
            raise DiskFull("The disk holding the history is full.", Path("h"))
        return real_partial(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(history, "finish", finish)
    monkeypatch.setattr(history, "append_partial", append_partial)
    session = make_session(history, host)
    session._retry.setInterval(20)
    errors: list[str] = []
    session.error.connect(errors.append)
    message_id = answer(qtbot, session, lambda: session.send("hi"))
    assert session.state == "idle", "not stuck in 'streaming' behind a full disk"
    assert errors[-1].endswith("The answer stays on screen and is saved once it can be.")
    shown = session.path()[-1]
    assert (shown.id, shown.content, shown.status) == (message_id, "first answer", "complete")
    assert history.get_message(message_id).status == "streaming", "not stored yet"
    full[0] = False
    qtbot.waitUntil(lambda: history.get_message(message_id).status == "complete", timeout=2000)
    assert history.get_message(message_id).content == "first answer"
    answer(qtbot, session, lambda: session.send("again"))  # and the chat goes on
    assert contents(session)[-1] == ("assistant", "second answer", "complete")


def test_a_message_longer_than_the_window_stays_with_the_user(
    qtbot: QtBot, history: History, tmp_path: Path
) -> None:
    folder = word_tokenizer(tmp_path)  # one token a word
    engine = FakeEngine(replies=["short answer"], context_length=1000, path=folder)
    host = EngineHost()
    try:
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            host.load(lambda: engine)
        # answers of 512 tokens, but the engine keeps at most a quarter of the window for
        # them (250 here): the window must not refuse what the engine would read
        session = make_session(history, host)
        with qtbot.waitSignal(session.refused, timeout=1000) as blocker:
            assert not session.send("word " * 800)
        assert blocker.args == [
            "This message is 800 tokens; FakeLM-1M reads at most 1,000, 250 of them kept for "
            "the answer. Shorten it or send it in parts."
        ]
        assert session.path() == []
        assert engine.calls == []
        answer(qtbot, session, lambda: session.send("word " * 700))  # fits: sent
        assert contents(session)[-1] == ("assistant", "short answer", "complete")
    finally:
        assert host.shutdown()


def test_a_message_left_without_an_answer_can_be_answered(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    """The app quit (or the disk filled) between storing the message and starting its
    answer: the chat ends with the user's message, and "Answer" asks for its answer."""
    conversation = history.create_conversation("Left over")
    asked = history.add_message(conversation.id, None, "user", "Still there?")
    session = ChatSession(
        history, host, lambda: ChatDefaults("", SamplingParams(seed=1)), conversation.id
    )
    assert not session.answer(asked.id + 1)  # only the last message, and only a user's
    answer(qtbot, session, lambda: session.answer(asked.id))
    assert contents(session) == [
        ("user", "Still there?", "complete"),
        ("assistant", "first answer", "complete"),
    ]
    assert [m.content for m in engine.calls[0]] == ["Still there?"]
    assert not session.answer(asked.id)  # answered now: it is no longer the last message


def test_an_answer_records_the_model_that_wrote_it_not_the_one_loaded_when_asked(
    qtbot: QtBot, host: EngineHost, history: History, engine: FakeEngine
) -> None:
    """Asked while another model loads (the status bar's switch), an answer waits for it on
    the worker and is written by it: that is the model the history must name (feedback
    exports link a rating to it)."""
    session = make_session(history, host)
    answer(qtbot, session, lambda: session.send("before"))
    assert session.path()[-1].model == "FakeLM-1M"
    gate = threading.Event()
    other = FakeEngine(replies=["from the other model"], name="OtherLM-2M")
    host.load(lambda: (gate.wait(5), other)[1])
    with qtbot.waitSignal(session.answer_finished, timeout=5000):
        assert session.send("during the switch")  # no model loaded yet: it waits
        gate.set()
    assert [(m.content, m.model) for m in session.path() if m.role == "assistant"] == [
        ("first answer", "FakeLM-1M"),
        ("from the other model", "OtherLM-2M"),
    ]


def test_an_answer_stopped_by_closing_its_tab_keeps_how_many_tokens_it_had(
    qtbot: QtBot, history: History, tmp_path: Path
) -> None:
    folder = word_tokenizer(tmp_path)  # one token a word
    engine = FakeEngine(replies=[" word" * 400], path=folder)
    engine.delay_s = 0.005
    host = EngineHost()
    try:
        with qtbot.waitSignal(host.model_loaded, timeout=5000):
            host.load(lambda: engine)
        session = make_session(history, host)
        assert session.send("go on")
        qtbot.waitUntil(lambda: session.streaming_text.count("word") >= 5, timeout=5000)
        session.close()  # the tab closes (or the app quits) while it is written
        answer = session.path()[-1]
        assert answer.status == "stopped"
        assert answer.stats is not None
        assert answer.stats["generated_tokens"] == answer.content.count("word") > 0
    finally:
        assert host.shutdown()
