"""GGUF -> bundle: every supported tensor type against an independent numpy forward pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from desktop.convert import gguf_to_onnx
from desktop.convert.errors import ConversionError, UnsupportedModelError
from desktop.convert.gguf_to_onnx import convert_gguf
from desktop.engine.engine import load_engine
from tests.ggufs import TinySpec, write_tiny_gguf
from tests.models import TinyModels
from tests.reference import ReferenceLlama

IDS = [1, 70, 101, 108, 108, 111, 264, 44, 32, 119, 111, 114, 108, 100, 2, 10]


def engine_logits(bundle: Path, ids: list[int]) -> np.ndarray:
    """Per-position logits through the engine's decoder, one token at a time."""
    engine = load_engine(bundle, "cpu", threads=1)
    rows = [engine.decoder.forward(ids[: i + 1], i).copy() for i in range(len(ids))]
    return np.stack(rows)


@pytest.mark.parametrize("weight_type", ["F32", "F16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q6_K"])
def test_logits_match_reference_for_every_tensor_type(
    tiny_models: TinyModels, weight_type: str
) -> None:
    gguf, bundle = tiny_models.get(TinySpec(weight_type=weight_type))
    expected = ReferenceLlama(gguf).logits(IDS)
    got = engine_logits(bundle, IDS)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 2e-4 * scale
    assert (got.argmax(-1) == expected.argmax(-1)).all()


@pytest.mark.parametrize(
    "spec",
    [
        TinySpec(n_heads=4, n_kv_heads=1),  # multi-query
        TinySpec(n_heads=4, n_kv_heads=4),  # plain multi-head
        TinySpec(tied=False, embedding_type="Q4_1"),  # separate LM head, Q4_1 embedding
        TinySpec(arch="qwen2", weight_type="Q8_0"),  # q/k/v biases, half-split rotary
    ],
    ids=["mqa", "mha", "untied-q4_1-embedding", "qwen2"],
)
def test_attention_layouts_and_variants(tiny_models: TinyModels, spec: TinySpec) -> None:
    gguf, bundle = tiny_models.get(spec)
    expected = ReferenceLlama(gguf).logits(IDS)
    got = engine_logits(bundle, IDS)
    assert np.abs(got - expected).max() <= 2e-4 * np.abs(expected).max()


def test_int8_activations_stay_close_to_reference(tiny_models: TinyModels) -> None:
    """The default (fast) graph quantizes activations like llama.cpp: close, not exact."""
    gguf, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"), int8=True)
    expected = ReferenceLlama(gguf).logits(IDS)
    got = engine_logits(bundle, IDS)
    assert np.abs(got - expected).max() <= 0.05 * np.abs(expected).max()
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.9


def test_bundle_files_and_manifest(tiny_models: TinyModels) -> None:
    _gguf, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"))
    names = {p.name for p in bundle.iterdir()}
    assert {
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "generation_config.json",
        "parley.json",
    } <= names
    manifest = json.loads((bundle / "parley.json").read_text())
    assert manifest["graph"] == "parley-gqa-v1"
    assert manifest["source"]["kind"] == "gguf"
    assert len(manifest["source"]["sha256"]) == 64
    assert "Q4_1" in manifest["precision"]
    config = json.loads((bundle / "config.json").read_text())
    assert config["num_key_value_heads"] == 2
    assert json.loads((bundle / "tokenizer_config.json").read_text())["chat_template"]


# -- bad input: one clear error, nothing left behind ---------------------------------------
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello, I am text")
    with pytest.raises(ConversionError, match="not a GGUF file"):
        convert_gguf(bad, tmp_path / "out" / "m")
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("kept", [1 / 50, 1 / 3, 2 / 3, 0.99])
def test_truncated_file(tmp_path: Path, kept: float) -> None:
    """Cut in its metadata or in its tensors: one sentence a user can act on, never numpy's
    words ("cannot reshape array of size …", "When changing to a larger dtype …")."""
    good = write_tiny_gguf(tmp_path / "good.gguf", TinySpec(weight_type="Q4_0"))
    data = good.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(ConversionError) as caught:
        convert_gguf(cut, tmp_path / "out" / "m")
    message = str(caught.value)
    assert re.match(r"cut\.gguf is (cut short or damaged|truncated)", message), message
    assert "array" not in message
    assert "dtype" not in message
    assert _leftovers(tmp_path / "out") == []


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(arch="gpt2"))
    with pytest.raises(UnsupportedModelError, match="architecture 'gpt2'"):
        convert_gguf(path, tmp_path / "out" / "m")


def test_unsupported_tensor_type_is_named(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(weight_type="Q5_0"))
    with pytest.raises(UnsupportedModelError, match="Q5_0"):
        convert_gguf(path, tmp_path / "out" / "m")
    assert _leftovers(tmp_path / "out") == []


def test_missing_tokenizer_metadata(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(), drop_keys=("tokenizer.ggml.merges",))
    with pytest.raises(ConversionError, match=r"tokenizer\.ggml\.merges"):
        convert_gguf(path, tmp_path / "out" / "m")


def test_disk_full_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(weight_type="Q8_0"))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf_to_onnx.onnx, "save_model", full)
    with pytest.raises(ConversionError, match="No space left on device"):
        convert_gguf(path, tmp_path / "out" / "m")
    assert _leftovers(tmp_path / "out") == []


def test_interrupt_leaves_nothing(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(weight_type="Q8_0"))

    def interrupt(stage: str, fraction: float) -> None:
        if stage == "build" and fraction >= 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_gguf(path, tmp_path / "out" / "m", progress=interrupt)
    assert _leftovers(tmp_path / "out") == []


def test_progress_reaches_every_stage(tmp_path: Path) -> None:
    path = write_tiny_gguf(tmp_path / "a.gguf", TinySpec(weight_type="Q8_0"))
    seen: dict[str, float] = {}
    convert_gguf(path, tmp_path / "m", progress=lambda s, f: seen.__setitem__(s, f))
    assert seen == {"build": 1.0, "write": 1.0, "hash": 1.0}
