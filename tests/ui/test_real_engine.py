"""The window driven by the real engine (ONNX Runtime) on a tiny generated model, end to end."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.engine.engine import Engine, load_engine
from desktop.engine.types import GREEDY, ChatMessage, Finished, TextDelta
from desktop.services.chat_session import ChatDefaults
from desktop.services.engine_host import EngineHost
from desktop.store import Store, group_for_sidebar
from desktop.ui.main_window import MainWindow, ModelActions
from desktop.ui.message_view import MessageWidget
from tests.ggufs import TinySpec
from tests.models import TinyModels

PARAMS = dataclasses.replace(GREEDY, max_new_tokens=24)
PROMPT = "Tell me about the sea."


@pytest.fixture
def host() -> Iterator[EngineHost]:
    h = EngineHost()
    yield h
    assert h.shutdown()


def test_a_prompt_streams_the_engines_answer_into_the_view_and_the_store(
    qtbot: QtBot, tiny_models: TinyModels, store: Store, host: EngineHost
) -> None:
    # untied: a random model with tied embeddings repeats its last token ("\n") forever
    _gguf, bundle = tiny_models.get(TinySpec(weight_type="Q8_0", tied=False))
    loaded: list[Engine] = []

    def load(folder: Path) -> Engine:
        engine = load_engine(folder, "cpu", threads=1)
        loaded.append(engine)
        return engine

    defaults = ChatDefaults("", PARAMS)
    window = MainWindow(store, host, lambda: defaults, ModelActions(load=load), group_for_sidebar)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(host.model_loaded, timeout=60000):
        window.load_model(bundle)
    assert window.model_label.text() == loaded[0].info.name
    assert window.provider_label.text() == "CPU"

    # what the engine answers on its own, for the same messages and settings (greedy)
    reference = load_engine(bundle, "cpu", threads=1)
    events = list(reference.generate([ChatMessage("user", PROMPT)], PARAMS))
    expected = "".join(e.text for e in events if isinstance(e, TextDelta))
    end = events[-1]
    assert isinstance(end, Finished)
    assert expected.strip()  # the tiny model says something: the comparison below can fail

    tab = window.current_tab()
    assert tab is not None
    streamed: list[str] = []
    tab.session.delta.connect(lambda _id, text: streamed.append(text))
    tab.composer.setPlainText(PROMPT)
    with qtbot.waitSignal(tab.session.answer_finished, timeout=60000) as done:
        tab.send()
    message_id, status, stats = done.args
    assert status == "complete"
    assert "".join(streamed) == expected

    widget = tab.view.message_widgets()[-1]
    assert widget.message_id == message_id
    qtbot.waitUntil(lambda: not widget._finishing, timeout=10000)
    assert widget.text == expected
    # the streamed parts show the same as the answer rendered in one go
    whole = MessageWidget(0, "assistant", expected, "complete", (1, 1), None, widget._palette)
    qtbot.addWidget(whole)
    assert widget.plain_text() == whole.plain_text()
    assert f"{stats.generated_tokens} tokens" in widget.stats_label.text()

    stored = store.get_message(message_id)
    assert stored.status == "complete"
    assert stored.content == expected
    assert stored.stats is not None
    assert stored.stats["generated_tokens"] == end.stats.generated_tokens
    assert stored.stats["prompt_tokens"] == end.stats.prompt_tokens
    assert stored.stats["finish_reason"] == end.reason
    assert stored.stats["decode_tok_s"] > 0
    assert [m.role for m in store.current_path(stored.conversation_id)] == ["user", "assistant"]
    window.close()


def test_continue_after_the_length_limit_goes_on_in_the_same_message(
    qtbot: QtBot, tiny_models: TinyModels, store: Store, host: EngineHost
) -> None:
    """Through the whole stack (session, worker, engine, store) on a real ONNX model: an
    answer cut at 6 tokens gets more tokens in the same message. (Token-for-token equality
    with the uncut answer is checked on the starter model: a random model's text holds
    broken UTF-8 that does not tokenize back to the same ids.)"""
    _gguf, bundle = tiny_models.get(TinySpec(weight_type="Q8_0", tied=False))
    defaults = ChatDefaults("", dataclasses.replace(PARAMS, max_new_tokens=6))
    engine = load_engine(bundle, "cpu", threads=1)
    window = MainWindow(
        store, host, lambda: defaults, ModelActions(load=lambda _f: engine), group_for_sidebar
    )
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(host.model_loaded, timeout=60000):
        window.load_model(bundle)
    tab = window.current_tab()
    assert tab is not None
    tab.composer.setPlainText(PROMPT)
    with qtbot.waitSignal(tab.session.answer_finished, timeout=60000) as done:
        tab.send()
    message_id = done.args[0]
    cut = store.get_message(message_id)
    assert cut.stats is not None
    assert (cut.stats["finish_reason"], cut.stats["generated_tokens"]) == ("length", 6)
    widget = tab.view.message_widgets()[-1]
    assert widget.continue_button.isVisible()

    with qtbot.waitSignal(tab.session.answer_finished, timeout=60000):
        widget.continue_button.click()
    more = store.get_message(message_id)
    assert more.content.startswith(cut.content)
    assert len(more.content) > len(cut.content)
    assert more.stats is not None
    assert more.stats["generated_tokens"] == 12
    assert store.current_path(more.conversation_id)[-1].id == message_id
    shown = tab.view.message_widgets()[-1]
    assert shown.message_id == message_id
    qtbot.waitUntil(lambda: shown.text == more.content, timeout=10000)
    window.close()


def test_a_stored_chat_is_read_while_its_question_is_typed(
    qtbot: QtBot, tiny_models: TinyModels, store: Store, host: EngineHost
) -> None:
    """The real engine: the first key of a question in an old chat has the worker read the
    chat, and the answer then starts from the cached chat (its statistics say so)."""
    _gguf, bundle = tiny_models.get(TinySpec(weight_type="Q8_0", tied=False))
    chat = store.create_conversation("An old chat")
    asked = store.add_message(chat.id, None, "user", PROMPT)
    store.add_message(chat.id, asked.id, "assistant", "The sea is wide and deep. " * 6)
    defaults = ChatDefaults("", PARAMS)
    loaded: list[Engine] = []

    def load(folder: Path) -> Engine:
        engine = load_engine(folder, "cpu", threads=1)
        loaded.append(engine)
        return engine

    window = MainWindow(store, host, lambda: defaults, ModelActions(load=load), group_for_sidebar)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(host.model_loaded, timeout=60000):
        window.load_model(bundle)
    tab = window.open_conversation(chat.id)
    qtbot.waitUntil(lambda: not host._jobs, timeout=10000)  # the load job done
    tab.composer.setFocus()
    qtbot.keyClicks(tab.composer, "And the rivers?")
    engine = loaded[0]
    qtbot.waitUntil(lambda: len(engine.decoder.cached) > 20, timeout=20000)  # read meanwhile
    read = len(engine.decoder.cached)
    with qtbot.waitSignal(tab.session.answer_finished, timeout=60000) as done:
        tab.send()
    _message_id, status, stats = done.args
    assert status == "complete"
    assert stats.reused_prompt_tokens >= read - 1, "the answer started from the chat read"
