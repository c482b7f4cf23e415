"""Other architectures through optimum: a tiny GPT-2 exported, quantized, run by the engine's
concatenated-KV decoder. Needs the optional extra ``convert`` (torch); skipped with the reason
otherwise. What needs no torch (the refusal without optimum, the Gemm rewrite) always runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from desktop.convert import optimum_export
from desktop.convert.errors import ConversionError
from desktop.convert.library import ModelLibrary
from desktop.convert.optimum_export import export_checkpoint, gemm_to_matmul
from desktop.convert.validate import compare
from desktop.engine.decoder import ConcatKVDecoder, reusable
from desktop.engine.engine import load_engine
from desktop.engine.types import GREEDY, Finished, TextDelta
from tests.checkpoints import vocab_size, write_tokenizer

IDS = [1, 70, 101, 108, 108, 111, 264, 44, 32, 119, 111, 114, 108, 100, 2, 10]


def _tiny_gpt2(folder: Path) -> Any:
    torch = pytest.importorskip("torch", reason="torch is not installed (extra 'convert')")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("optimum.exporters.onnx", reason="optimum-onnx is not installed")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=vocab_size(), n_positions=128, n_embd=64, n_layer=2, n_head=4
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # larger weights than GPT-2's init, so logits are not near-uniform
        for p in model.parameters():
            p.mul_(8.0 if p.dim() > 1 else 1.0)
    model.save_pretrained(folder)
    write_tokenizer(folder)
    return model


class GPT2:
    def __init__(self, root: Path) -> None:
        self.folder = root / "tiny-gpt2"
        self.model = _tiny_gpt2(self.folder)
        self._bundles: dict[str, Path] = {}
        self.root = root

    def bundle(self, precision: str) -> Path:
        if precision not in self._bundles:
            self._bundles[precision] = export_checkpoint(
                self.folder,
                self.root / f"gpt2-{precision}",
                precision=precision,  # type: ignore[arg-type]
            )
        return self._bundles[precision]

    def logits(self, ids: list[int]) -> np.ndarray:
        import torch

        with torch.no_grad():
            out: np.ndarray = self.model(torch.tensor([ids])).logits[0].numpy()
        return out


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> GPT2:
    return GPT2(tmp_path_factory.mktemp("optimum"))


def engine_logits(bundle: Path, ids: list[int]) -> np.ndarray:
    engine = load_engine(bundle, "cpu", threads=1)
    return np.stack([engine.decoder.forward(ids[: i + 1], i).copy() for i in range(len(ids))])


def test_fp32_export_matches_transformers_token_by_token(gpt2: GPT2) -> None:
    bundle = gpt2.bundle("fp32")
    engine = load_engine(bundle, "cpu")
    assert engine.bundle.kind == "optimum"
    assert isinstance(engine.decoder, ConcatKVDecoder)
    expected = gpt2.logits(IDS)
    got = engine_logits(bundle, IDS)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    manifest = json.loads((bundle / "parley.json").read_text())
    assert manifest["graph"] == "optimum-text-generation-with-past"
    assert manifest["source"]["exporter"] == "optimum"
    assert not (bundle / "export").exists()


def test_int4_export_is_quantized_and_reports_accuracy(gpt2: GPT2) -> None:
    bundle = gpt2.bundle("int4")
    model = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
    ops = [n.op_type for n in model.graph.node]
    # Every projection (GPT-2's Conv1D layers export as Gemm) and the LM head: 4 per layer + 1.
    assert ops.count("MatMulNBits") == 2 * 4 + 1
    assert "Gemm" not in ops
    acc = json.loads((bundle / "parley.json").read_text())["accuracy"]
    assert acc["reference"].startswith("the same export in fp32")
    mine = compare(gpt2.logits(IDS), engine_logits(bundle, IDS), "transformers")
    assert mine.top1_agreement >= 0.8
    assert mine.mean_kl <= 0.1
    assert 0 < acc["mean_kl"] <= 0.1


def test_prefix_reuse_equals_fresh_run(gpt2: GPT2) -> None:
    engine = load_engine(gpt2.bundle("fp32"), "cpu")
    dec = engine.decoder
    first = IDS[:10]
    dec.forward(first, 0)
    second = [*IDS[:6], 200, 201, 44]
    start = reusable(dec, second)
    assert start == 6
    reused = dec.forward(second, start).copy()
    dec.reset()
    fresh = dec.forward(second, 0).copy()
    assert np.allclose(reused, fresh, atol=1e-5)
    assert np.allclose(fresh, gpt2.logits(second)[-1], atol=1e-4 * np.abs(fresh).max())


def test_streaming_and_cancel(gpt2: GPT2) -> None:
    import dataclasses

    engine = load_engine(gpt2.bundle("int4"), "cpu")
    params = dataclasses.replace(GREEDY, max_new_tokens=6)
    events = list(engine.generate_ids(IDS[:5], params))
    tokens = [e.token_id for e in events if isinstance(e, TextDelta) and e.token_id >= 0]
    assert isinstance(events[-1], Finished)
    assert len(tokens) == events[-1].stats.generated_tokens
    cancel = threading.Event()
    stream = engine.generate_ids(IDS[:5], dataclasses.replace(GREEDY, max_new_tokens=50), cancel)
    seen = 0
    for event in stream:
        if isinstance(event, TextDelta):
            seen += 1
            cancel.set()
        if isinstance(event, Finished):
            assert event.reason in ("cancelled", "stop")
    assert seen <= 1
    # Same greedy tokens as a second run that reuses the prompt's cache.
    again = [
        e.token_id
        for e in engine.generate_ids(IDS[:5], params)
        if isinstance(e, TextDelta) and e.token_id >= 0
    ]
    assert again == tokens


def test_cancel_during_export_leaves_nothing(gpt2: GPT2, tmp_path: Path) -> None:
    lib = ModelLibrary(tmp_path / "models")

    class CancelledError(Exception):
        pass

    for stage in ("build", "quantize", "validate"):

        def cancel(s: str, fraction: float, stage: str = stage) -> None:
            if s == stage and fraction >= 0.5:
                raise CancelledError

        with pytest.raises(CancelledError):
            lib.import_path(gpt2.folder, progress=cancel)
        assert sorted(p.name for p in lib.root.iterdir()) == []


# -- no torch needed ------------------------------------------------------------------------
def test_without_optimum_the_message_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(b"")
    write_tokenizer(folder)
    monkeypatch.setattr(
        optimum_export,
        "optimum_available",
        lambda: "optimum export needs the optional 'convert' extra: pip install x",
    )
    with pytest.raises(
        ConversionError, match=r"'gpt2' models are converted through optimum.*convert"
    ):
        ModelLibrary(tmp_path / "models").import_path(folder)
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_gemm_rewrite_keeps_the_function() -> None:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    W = rng.standard_normal((8, 5)).astype(np.float32)  # transB=1: [N, K]
    C = rng.standard_normal(8).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "C"], ["y"], "g", transB=1)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(C, "C")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert gemm_to_matmul(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add"]
    x = rng.standard_normal((3, 5)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.allclose(sess.run(None, {"x": x})[0], x @ W.T + C, atol=1e-5)
