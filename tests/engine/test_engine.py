"""The engine on real ONNX Runtime with tiny generated models."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop.engine import engine as engine_module
from desktop.engine.decoder import SharedKVDecoder
from desktop.engine.engine import Engine, load_engine
from desktop.engine.integrity import size_text
from desktop.engine.session import EngineLoadError
from desktop.engine.types import (
    GREEDY,
    ChatMessage,
    ContextTrimmed,
    Event,
    Finished,
    PromptProgress,
    SamplingParams,
    TextDelta,
)
from tests.ggufs import TinySpec
from tests.models import TinyModels
from tests.reference import ReferenceLlama

PROMPT = [1, 117, 115, 101, 114, 10, 72, 105, 33, 2, 10, 1, 97, 115, 115, 10]


def greedy(n: int) -> SamplingParams:
    return SamplingParams(**{**GREEDY.__dict__, "max_new_tokens": n})


def run(events: object) -> tuple[list[int], str, Finished, list[Event]]:
    ids: list[int] = []
    text: list[str] = []
    finished: Finished | None = None
    seen: list[Event] = []
    for ev in events:  # type: ignore[attr-defined]
        seen.append(ev)
        if isinstance(ev, TextDelta):
            if ev.token_id >= 0:
                ids.append(ev.token_id)
            text.append(ev.text)
        elif isinstance(ev, Finished):
            finished = ev
    assert finished is not None
    assert isinstance(seen[-1], Finished)
    return ids, "".join(text), finished, seen


@pytest.fixture(scope="module")
def tiny(tiny_models: TinyModels) -> tuple[Path, Engine]:
    gguf, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"))
    return gguf, load_engine(bundle, "cpu", threads=1)


def test_greedy_sequence_equals_reference(tiny: tuple[Path, Engine]) -> None:
    gguf, engine = tiny
    ref = ReferenceLlama(gguf)
    expected: list[int] = []
    seq = list(PROMPT)
    for _ in range(12):
        nxt = int(ref.logits(seq)[-1].argmax())
        if nxt in engine.stop_ids:
            break
        expected.append(nxt)
        seq.append(nxt)
    ids, text, fin, _ = run(engine.generate_ids(PROMPT, greedy(12)))
    assert ids == expected
    assert fin.reason == ("length" if len(expected) == 12 else "stop")
    assert text == engine.tokenizer.decode(ids)
    assert fin.stats.prompt_tokens == len(PROMPT)
    assert fin.stats.generated_tokens == len(ids)
    assert fin.stats.provider == "CPUExecutionProvider"


def test_prefix_reuse_gives_the_logits_of_a_fresh_run(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    first, _, _, _ = run(engine.generate_ids(PROMPT, greedy(6)))
    follow_up = [*PROMPT, *first, 2, 10, 1, 117, 10, 104, 105, 2, 10, 1, 97, 10]
    reused = engine.decoder.forward(follow_up, len(PROMPT) + len(first) - 1).copy()
    engine.decoder.reset()
    fresh = engine.decoder.forward(follow_up, 0).copy()
    np.testing.assert_allclose(reused, fresh, rtol=0, atol=1e-5 * np.abs(fresh).max())
    assert reused.argmax() == fresh.argmax()


def test_follow_up_turn_reuses_the_cache(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    engine.decoder.reset()
    a, _, fin_a, _ = run(engine.generate_ids(PROMPT, greedy(5)))
    assert fin_a.stats.reused_prompt_tokens == 0
    follow_up = [*PROMPT, *a, 2, 10, 1, 97, 10]
    b, _, fin_b, _ = run(engine.generate_ids(follow_up, greedy(5)))
    # everything but the last sampled token, whose keys were never computed
    assert fin_b.stats.reused_prompt_tokens == len(PROMPT) + len(a) - 1
    engine.decoder.reset()
    fresh, _, _, _ = run(engine.generate_ids(follow_up, greedy(5)))
    assert b == fresh


def test_cancel_is_honoured_within_one_token(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    cancel = threading.Event()
    deltas = 0
    finished = None
    for ev in engine.generate_ids(PROMPT, greedy(50), cancel):
        if isinstance(ev, TextDelta) and ev.token_id >= 0:
            deltas += 1
            if deltas == 3:
                cancel.set()
        elif isinstance(ev, Finished):
            finished = ev
    assert finished is not None
    assert finished.reason == "cancelled"
    assert deltas == 3


def test_stop_string_ends_the_answer_and_is_not_shown(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    _, text, _, _ = run(engine.generate_ids(PROMPT, greedy(24)))
    assert len(text) >= 6
    stop = text[3:5]
    cut = text.index(stop)
    _, stopped, fin, _ = run(
        engine.generate_ids(PROMPT, SamplingParams(**{**greedy(24).__dict__, "stop": (stop,)}))
    )
    assert stopped == text[:cut]
    assert fin.reason == "stop"


def test_max_new_tokens_gives_length(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    ids, _, fin, _ = run(engine.generate_ids(PROMPT, greedy(2)))
    assert len(ids) <= 2
    if len(ids) == 2:
        assert fin.reason == "length"


def test_an_answer_that_loops_ends_early_as_repetition(
    tiny: tuple[Path, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny model's greedy answer falls into a loop at once (as the starter model does
    with tables): with a short span to notice it in, the answer ends there, text kept."""
    from functools import partial

    from desktop.engine import engine as engine_module
    from desktop.engine.repetition import RepetitionGuard

    _, engine = tiny
    full, _, fin, _ = run(engine.generate_ids(PROMPT, greedy(200)))
    assert fin.reason == "length"  # the real span (256 tokens) is more than this window has
    monkeypatch.setattr(engine_module, "RepetitionGuard", partial(RepetitionGuard, min_span=16))
    ids, text, fin, _ = run(engine.generate_ids(PROMPT, greedy(200)))
    assert fin.reason == "repetition"
    assert 16 <= len(ids) < 200
    assert ids == full[: len(ids)]  # what was written stays as it was
    assert fin.stats.generated_tokens == len(ids)
    assert text


def test_seeded_sampling_is_reproducible(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    params = SamplingParams(
        temperature=5.0, top_k=0, top_p=1.0, min_p=0.0, seed=7, max_new_tokens=10
    )
    a, _, _, _ = run(engine.generate_ids(PROMPT, params))
    b, _, _, _ = run(engine.generate_ids(PROMPT, params))
    c, _, _, _ = run(engine.generate_ids(PROMPT, SamplingParams(**{**params.__dict__, "seed": 8})))
    assert a == b
    assert a != c


def test_chat_messages_use_the_template(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    ids = engine.encode_chat([ChatMessage("user", "hi")])
    assert engine.tokenizer.decode(ids, skip_special_tokens=False) == (
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    _, _, fin, _ = run(engine.generate([ChatMessage("user", "hi")], greedy(4)))
    assert fin.reason in ("length", "stop")


def _overflowing_chat(tiny_models: TinyModels) -> tuple[Any, list[ChatMessage]]:
    """An engine with a 96-token window and a chat of four long turns that overflows it."""
    _, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"))
    engine = load_engine(bundle, "cpu", threads=1, max_context=96)
    long = "the " * 12
    messages = [ChatMessage("system", "be brief")]
    for i in range(4):
        messages += [ChatMessage("user", f"{i} {long}"), ChatMessage("assistant", long)]
    messages.append(ChatMessage("user", "last"))
    return engine, messages


def test_context_overflow_drops_oldest_turns_after_the_system_prompt(
    tiny_models: TinyModels,
) -> None:
    engine, messages = _overflowing_chat(tiny_models)
    _, _, fin, events = run(engine.generate(messages, greedy(8)))
    trimmed = [e for e in events if isinstance(e, ContextTrimmed)]
    assert len(trimmed) == 1
    assert trimmed[0].dropped_messages >= 2
    assert fin.reason in ("length", "stop")
    assert fin.stats.prompt_tokens <= 96 - 8
    # the system prompt survives, the oldest turns are gone
    kept = engine.tokenizer.decode(
        engine.encode_chat([messages[0], *messages[1 + trimmed[0].dropped_messages :]])
    )
    assert "be brief" in kept
    assert "0 the" not in kept


def test_with_trimming_off_a_chat_too_long_for_the_window_answers_nothing_and_says_why(
    tiny_models: TinyModels,
) -> None:
    """Settings ▸ When the chat is too long ▸ Stop and tell me: no turn is left out."""
    import dataclasses

    from desktop.engine.engine import CONTEXT_FULL

    engine, messages = _overflowing_chat(tiny_models)
    params = dataclasses.replace(greedy(8), trim_context=False)
    ids, text, fin, events = run(engine.generate(messages, params))
    assert (ids, text) == ([], "")
    assert not [e for e in events if isinstance(e, ContextTrimmed)]
    assert fin.reason == "error"
    assert fin.error == CONTEXT_FULL
    assert fin.stats.prompt_tokens > 96, "how long the chat is, for the message"
    _, _, fits, _ = run(engine.generate(messages[-3:], params))  # a chat that fits: as ever
    assert fits.reason in ("length", "stop")


def test_a_single_message_too_long_for_the_window_is_an_error(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"))
    engine = load_engine(bundle, "cpu", threads=1, max_context=64)
    _, _, fin, _ = run(engine.generate([ChatMessage("user", "word " * 80)], greedy(4)))
    assert fin.reason == "error"
    assert fin.error is not None
    assert "too long" in fin.error


def test_invalid_parameters_end_as_an_error_event(tiny: tuple[Path, Engine]) -> None:
    _, engine = tiny
    _, _, fin, _ = run(engine.generate([ChatMessage("user", "x")], SamplingParams(top_p=0.0)))
    assert fin.reason == "error"
    assert fin.error is not None
    assert "top_p" in fin.error


def bundle_copy(tiny_models: TinyModels, folder: Path) -> Path:
    """A copy of a tiny bundle to break (the cached one is shared by every test)."""
    import shutil

    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    shutil.copytree(bundle, folder)
    return folder


def test_corrupt_model_file_is_one_clear_error(tiny_models: TinyModels, tmp_path: Path) -> None:
    broken = bundle_copy(tiny_models, tmp_path / "broken")
    (broken / "model.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(EngineLoadError, match=r"^model\.onnx is damaged \(it is not a readable"):
        load_engine(broken, "cpu")


def test_a_weights_file_cut_short_is_named_with_its_sizes(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    broken = bundle_copy(tiny_models, tmp_path / "broken")
    data = broken / "model.onnx.data"
    whole = data.stat().st_size
    with data.open("r+b") as f:  # what a full disk or an interrupted copy leaves
        f.truncate(whole // 2)
    with pytest.raises(EngineLoadError) as caught:
        load_engine(broken, "cpu")
    message = str(caught.value)
    assert message.startswith("model.onnx.data is incomplete: ")
    assert f"{size_text(whole // 2)} of the {size_text(whole)} the model needs" in message
    data.unlink()
    with pytest.raises(EngineLoadError, match=r"^model\.onnx\.data is missing$"):
        load_engine(broken, "cpu")


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_weights_overwritten_in_place_end_the_answer_with_a_clear_error(
    tiny_models: TinyModels, tmp_path: Path, temperature: float
) -> None:
    broken = bundle_copy(tiny_models, tmp_path / "broken")
    data = broken / "model.onnx.data"
    data.write_bytes(b"\xff" * data.stat().st_size)  # every float NaN, the size still right
    engine = load_engine(broken, "cpu", threads=1)
    params = SamplingParams(**{**greedy(4).__dict__, "temperature": temperature, "seed": 1})
    ids, _, fin, _ = run(engine.generate([ChatMessage("user", "x")], params))
    assert (ids, fin.reason) == ([], "error")
    assert fin.error is not None
    assert "invalid numbers (NaN): its weights file is probably damaged" in fin.error


def test_missing_tokenizer_is_one_clear_error(tiny_models: TinyModels, tmp_path: Path) -> None:
    broken = bundle_copy(tiny_models, tmp_path / "broken")
    (broken / "tokenizer.json").unlink()
    with pytest.raises(EngineLoadError, match=r"no tokenizer\.json"):
        load_engine(broken, "cpu")


def test_kv_cache_grows_with_the_conversation_and_keeps_its_contents(
    tiny_models: TinyModels,
) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    engine = load_engine(bundle, "cpu", threads=1)
    decoder = engine.decoder
    assert isinstance(decoder, SharedKVDecoder)
    decoder.reset()
    decoder._allocate(16)  # start tiny so the test crosses several doublings
    ids = [int(i % 250) + 1 for i in range(100)]
    grown = decoder.forward(ids[:10], 0).copy()
    n = 10
    while n + 7 <= len(ids):  # turns of 7 tokens, each reusing the cache
        n += 7
        grown = decoder.forward(ids[:n], len(decoder.cached)).copy()
    assert decoder.capacity >= n > 16
    decoder.reset()
    fresh = decoder.forward(ids[:n], 0)
    np.testing.assert_allclose(grown, fresh, rtol=0, atol=1e-4 * np.abs(fresh).max())


def test_warm_up_leaves_no_cached_tokens(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    engine = load_engine(bundle, "cpu", threads=1)
    engine.warm_up()
    assert list(engine.decoder.cached) == []
    _, _, fin, _ = run(engine.generate_ids(PROMPT, greedy(3)))
    assert fin.stats.reused_prompt_tokens == 0


def test_recommended_sampling_travels_from_the_bundle_to_model_info(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    import json
    import shutil

    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    copy = tmp_path / "m"
    shutil.copytree(bundle, copy)
    config = json.loads((copy / "generation_config.json").read_text())
    assert "temperature" not in config  # a GGUF recommends nothing; Parley invents nothing
    config.update(temperature=0.2, top_p=0.9, do_sample=True)
    (copy / "generation_config.json").write_text(json.dumps(config))
    info = load_engine(copy, "cpu", threads=1).info
    assert dict(info.sampling) == {"temperature": 0.2, "top_p": 0.9}


def test_a_long_prompt_is_read_in_parts_that_report_progress_and_can_be_stopped(
    tiny: tuple[Path, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, engine = tiny
    prompt = [*PROMPT, *(list(range(3, 40)) * 2)]  # 90 tokens
    engine.decoder.reset()
    whole, _, _, _ = run(engine.generate_ids(prompt, greedy(6)))

    monkeypatch.setattr(engine_module, "PREFILL_CHUNK", 16)
    engine.decoder.reset()
    parts, _, fin, seen = run(engine.generate_ids(prompt, greedy(6)))
    assert parts == whole, "the same answer as from one run"
    progress = [(e.done, e.total) for e in seen if isinstance(e, PromptProgress)]
    assert progress == [(16, 90), (32, 90), (48, 90), (64, 90), (80, 90)]
    first_text = next(i for i, e in enumerate(seen) if isinstance(e, TextDelta))
    assert all(isinstance(e, PromptProgress) for e in seen[:first_text])
    assert fin.stats.prompt_tokens == 90

    # Stop while it reads: it ends at once, and what was read is reused by the next try.
    engine.decoder.reset()
    cancel = threading.Event()
    events = []
    for event in engine.generate_ids(prompt, greedy(6), cancel):
        events.append(event)
        if isinstance(event, PromptProgress) and event.done == 32:
            cancel.set()
    assert [type(e) for e in events] == [PromptProgress, PromptProgress, Finished]
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "cancelled"
    again, _, fin_again, _ = run(engine.generate_ids(prompt, greedy(6)))
    assert fin_again.stats.reused_prompt_tokens == 32
    assert again == whole


def test_a_chat_read_ahead_of_its_question_is_not_read_again(
    tiny: tuple[Path, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, engine = tiny
    history = [
        ChatMessage("system", "be brief"),
        ChatMessage("user", "hello there " * 8),
        ChatMessage("assistant", "hi " * 10),
    ]
    question = [*history, ChatMessage("user", "and now?")]
    engine.decoder.reset()
    fresh, _, fin_fresh, _ = run(engine.generate(question, greedy(5)))
    assert fin_fresh.stats.reused_prompt_tokens == 0

    engine.decoder.reset()
    read = engine.prefill(history, greedy(5))  # while the question is being typed
    assert read == len(engine.encode_text(engine.template.render(history, False)))
    ahead, _, fin, _ = run(engine.generate(question, greedy(5)))
    assert fin.stats.reused_prompt_tokens == read, "only the new message is read"
    assert ahead == fresh, "the same answer as from a fresh read"
    assert engine.prefill(history, greedy(5)) == read, "read already: nothing to do"

    # A question that arrives stops it between parts; what was read stays.
    monkeypatch.setattr(engine_module, "PREFILL_CHUNK", 8)
    engine.decoder.reset()
    cancel = threading.Event()
    forward = engine.decoder.forward

    def one_part_then_stop(ids: list[int], start: int) -> object:
        cancel.set()
        return forward(ids, start)

    monkeypatch.setattr(engine.decoder, "forward", one_part_then_stop)
    assert engine.prefill(history, greedy(5), cancel) == 8
    assert len(engine.decoder.cached) == 8


def test_a_chat_that_will_be_cut_is_not_read_ahead(tiny_models: TinyModels) -> None:
    engine, messages = _overflowing_chat(tiny_models)
    assert engine.prefill(messages[:-1], greedy(4)) == 0  # where it is cut depends on the question
    assert list(engine.decoder.cached) == []
