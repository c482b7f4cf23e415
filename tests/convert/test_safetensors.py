"""Hugging Face Llama-family checkpoints (safetensors, no torch) -> bundle.

Parity with an independent numpy forward pass always runs; parity with transformers runs where
torch is installed (the optional ``convert`` extra).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from desktop import cli
from desktop.convert.errors import ConversionError, UnsupportedModelError
from desktop.convert.library import ModelLibrary
from desktop.convert.quant import dequantize
from desktop.convert.safetensors_source import convert_safetensors, quantize
from desktop.convert.validate import compare
from desktop.engine.engine import load_engine
from desktop.engine.types import GREEDY, ChatMessage, Finished, TextDelta
from tests.checkpoints import TinyHF, write_tiny_llama
from tests.reference_hf import ReferenceHF

IDS = [1, 70, 101, 108, 108, 111, 264, 44, 32, 119, 111, 114, 108, 100, 2, 10]


def engine_logits(bundle: Path, ids: list[int]) -> np.ndarray:
    """Per-position logits through the engine's decoder, one token at a time."""
    engine = load_engine(bundle, "cpu", threads=1)
    return np.stack([engine.decoder.forward(ids[: i + 1], i).copy() for i in range(len(ids))])


def _convert(tmp: Path, spec: TinyHF, precision: str = "fp32", **kw: Any) -> tuple[Path, Path]:
    folder = write_tiny_llama(tmp / "checkpoint", spec)
    bundle = convert_safetensors(folder, tmp / "bundle", precision=precision, **kw)  # type: ignore[arg-type]
    return folder, bundle


# -- exact parity at fp32 ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        TinyHF(),
        TinyHF(n_heads=4, n_kv_heads=4, tied=False),
        TinyHF(n_heads=4, n_kv_heads=1),
        TinyHF(model_type="qwen2"),
        TinyHF(model_type="mistral"),
        TinyHF(dtype="bfloat16"),
        TinyHF(dtype="float16", tied=False),
    ],
    ids=["gqa-tied", "mha-untied", "mqa", "qwen2-bias", "mistral", "bf16", "f16-untied"],
)
def test_fp32_logits_match_independent_reference(tmp_path: Path, spec: TinyHF) -> None:
    folder, bundle = _convert(tmp_path, spec, int8_activations=False)
    expected = ReferenceHF(folder).logits(IDS)
    got = engine_logits(bundle, IDS)
    assert np.abs(got - expected).max() <= 2e-4 * np.abs(expected).max()
    assert (got.argmax(-1) == expected.argmax(-1)).all()


# -- the quantized graph computes exactly its own (dequantized) weights -------------------------
def _unpack(inits: dict[str, np.ndarray], name: str, N: int, K: int) -> np.ndarray:
    """Float weights [N, K] of one MatMulNBits initializer set, decoded here independently."""
    q, scales = inits[name + ".qweight"], inits[name + ".scales"].reshape(N, -1)
    nb = scales.shape[1]
    bits = 4 if q.shape[-1] == 16 else 8
    if bits == 4:
        vals = np.stack([q & 15, q >> 4], -1).reshape(N, nb, 32).astype(np.float64)
    else:
        vals = q.reshape(N, nb, 32).astype(np.float64)
    zp: Any = 2 ** (bits - 1)
    if name + ".zero_points" in inits:
        z = inits[name + ".zero_points"]
        zp = np.stack([z & 15, z >> 4], -1).reshape(N, -1)[:, :nb, None]
    return (scales[..., None] * (vals - zp)).reshape(N, -1)[:, :K]


def _dequantized_weights(bundle: Path, spec: TinyHF, vocab: int) -> dict[str, np.ndarray]:
    model = onnx.load(str(bundle / "model.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    H, F = spec.hidden, spec.ffn
    D = H // spec.n_heads
    qd, kvd = spec.n_heads * D, spec.n_kv_heads * D
    emb_q = inits["token_embd.qweight"].reshape(vocab, -1).astype(np.float64) - 128
    emb = (emb_q.reshape(vocab, -1, 32) * inits["token_embd.scales"].reshape(vocab, -1, 1)).reshape(
        vocab, H
    )
    w: dict[str, np.ndarray] = {"model.embed_tokens.weight": emb}
    for i in range(spec.n_layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        qkv = _unpack(inits, b + "attn_qkv", qd + 2 * kvd, H)
        gu = _unpack(inits, b + "ffn_gate_up", 2 * F, H)
        w[p + "self_attn.q_proj.weight"] = qkv[:qd]
        w[p + "self_attn.k_proj.weight"] = qkv[qd : qd + kvd]
        w[p + "self_attn.v_proj.weight"] = qkv[qd + kvd :]
        w[p + "self_attn.o_proj.weight"] = _unpack(inits, b + "attn_output", H, qd)
        w[p + "mlp.gate_proj.weight"] = gu[:F]
        w[p + "mlp.up_proj.weight"] = gu[F:]
        w[p + "mlp.down_proj.weight"] = _unpack(inits, b + "ffn_down", H, F)
        w[p + "input_layernorm.weight"] = inits[b + "attn_norm"]
        w[p + "post_attention_layernorm.weight"] = inits[b + "ffn_norm"]
    w["model.norm.weight"] = inits["output_norm"]
    return w


@pytest.mark.parametrize("precision", ["int4", "int8"])
def test_quantized_graph_computes_its_own_weights(tmp_path: Path, precision: str) -> None:
    spec = TinyHF()
    folder, bundle = _convert(tmp_path, spec, precision, int8_activations=False)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    weights = _dequantized_weights(bundle, spec, vocab)
    expected = ReferenceHF(folder, weights).logits(IDS)
    got = engine_logits(bundle, IDS)
    assert np.abs(got - expected).max() <= 2e-4 * np.abs(expected).max()
    # ... and those weights are the checkpoint's, up to the quantization step.
    original = ReferenceHF(folder).w["model.layers.0.mlp.down_proj.weight"]
    err = np.abs(weights["model.layers.0.mlp.down_proj.weight"] - original).max()
    assert 0 < err <= (0.1 if precision == "int4" else 0.01) * np.abs(original).max()


@pytest.mark.parametrize("K", [96, 80])  # an odd number of blocks; a padded last block
def test_zero_points_layout_in_matmulnbits(K: int) -> None:
    import onnxruntime as ort

    rng = np.random.default_rng(1)
    N = 24
    w = rng.standard_normal((N, K)).astype(np.float32) + 0.5  # skewed: zero points differ
    lin = quantize(w, 4, symmetric=False)
    assert lin.zero_points is not None
    inputs = [
        "x",
        numpy_helper.from_array(lin.packed, "B").name,
        "scales",
        "zp",
    ]
    node = helper.make_node(
        "MatMulNBits", inputs, ["y"], domain="com.microsoft", K=K, N=N, bits=4, block_size=32
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, N])],
        [
            numpy_helper.from_array(lin.packed, "B"),
            numpy_helper.from_array(lin.scales, "scales"),
            numpy_helper.from_array(lin.zero_points, "zp"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((2, K)).astype(np.float32)
    got = sess.run(None, {"x": x})[0]
    assert np.allclose(got, x @ dequantize(lin), atol=1e-4)
    assert np.abs(dequantize(lin).T - w).max() <= 0.6 * float(lin.scales.max())


def test_asymmetric_int4_is_more_accurate_than_symmetric_on_skewed_blocks() -> None:
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((64, 256)) * 0.05 + 0.02).astype(np.float32)
    errs = {
        sym: float(np.sqrt(((dequantize(quantize(w, 4, symmetric=sym)).T - w) ** 2).mean()))
        for sym in (True, False)
    }
    assert errs[False] < errs[True]
    err8 = np.abs(dequantize(quantize(w, 8, symmetric=True)).T - w).max()
    assert err8 <= np.abs(w).max() / 127


# -- accuracy report, validation, manifest ----------------------------------------------------
def test_accuracy_report_and_manifest(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    reports = {}
    for precision in ("int4", "int8", "fp32"):
        bundle = convert_safetensors(folder, tmp_path / precision, precision=precision)  # type: ignore[arg-type]
        manifest = json.loads((bundle / "parley.json").read_text())
        assert manifest["precision"] == precision
        assert manifest["graph"] == "parley-gqa-v1"
        assert manifest["source"]["kind"] == "safetensors"
        assert len(manifest["source"]["sha256"]) == 64
        acc = manifest["accuracy"]
        assert acc["tokens"] >= 32
        assert "unquantized" in acc["reference"]
        reports[precision] = acc
        # The stored numbers are what the bundle really does against the original weights.
        ids = load_engine(bundle, "cpu").encode_text("Hello there, general Kenobi")
        mine = compare(
            ReferenceHF(folder).logits(ids).astype(np.float32), engine_logits(bundle, ids), ""
        )
        assert mine.mean_kl < 10 * max(acc["mean_kl"], 1e-6)
    assert reports["fp32"]["top1_agreement"] == 1.0
    assert reports["fp32"]["mean_kl"] < 1e-4
    assert reports["int8"]["top1_agreement"] >= 0.95
    assert reports["int4"]["top1_agreement"] >= 0.5  # random weights: flat, fragile top-1
    assert reports["fp32"]["mean_kl"] < reports["int8"]["mean_kl"] < reports["int4"]["mean_kl"]


def test_tokenizer_files_kept_as_they_are(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
    (folder / "chat_template.jinja").write_text(template)
    bundle = convert_safetensors(folder, tmp_path / "b", precision="int8")
    assert (bundle / "tokenizer.json").read_bytes() == (folder / "tokenizer.json").read_bytes()
    tok_config = json.loads((bundle / "tokenizer_config.json").read_text())
    # tests.checkpoints writes a ChatML template into tokenizer_config.json: that one wins.
    original = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["chat_template"] == original["chat_template"]
    engine = load_engine(bundle, "cpu")
    events = list(
        engine.generate([ChatMessage("user", "hi")], dataclasses.replace(GREEDY, max_new_tokens=5))
    )
    assert isinstance(events[-1], Finished)
    assert events[-1].reason in ("length", "stop")
    assert any(isinstance(e, TextDelta) for e in events) or events[-1].reason == "stop"


def test_chat_template_from_jinja_file(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    template = tok_config.pop("chat_template")
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (folder / "chat_template.jinja").write_text(template)
    bundle = convert_safetensors(folder, tmp_path / "b", precision="int8")
    assert json.loads((bundle / "tokenizer_config.json").read_text())["chat_template"] == template


def test_rope_scaling_llama3_and_refusal_of_unknown_kinds(tmp_path: Path) -> None:
    scaling = (
        ("rope_type", "llama3"),
        ("factor", 8.0),
        ("low_freq_factor", 1.0),
        ("high_freq_factor", 4.0),
        ("original_max_position_embeddings", 64),
    )
    _, bundle = _convert(tmp_path, TinyHF(rope_scaling=scaling), int8_activations=False)
    plain = write_tiny_llama(tmp_path / "plain", TinyHF())
    got, unscaled = engine_logits(bundle, IDS), ReferenceHF(plain).logits(IDS)
    # Same weights (same seed), different rotary: the scaled model must differ somewhere ...
    assert np.abs(got - unscaled).max() > 1e-3
    # ... and its accuracy report (against the numpy forward with the same scaling) is exact.
    acc = json.loads((bundle / "parley.json").read_text())["accuracy"]
    assert acc["top1_agreement"] == 1.0
    assert acc["mean_kl"] < 1e-5
    yarn = write_tiny_llama(
        tmp_path / "yarn", TinyHF(rope_scaling=(("rope_type", "yarn"), ("factor", 4.0)))
    )
    with pytest.raises(UnsupportedModelError, match="rotary scaling 'yarn'"):
        convert_safetensors(yarn, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- refusals ---------------------------------------------------------------------------------
def _edit_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _library_files(lib: ModelLibrary) -> list[str]:
    return sorted(p.name for p in lib.root.iterdir()) if lib.root.exists() else []


@pytest.mark.parametrize(
    "case", ["auto_map", "trust_remote_code", "python_file", "tokenizer_auto_map"]
)
def test_remote_code_is_refused(tmp_path: Path, case: str) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    if case == "auto_map":
        _edit_config(folder, auto_map={"AutoModelForCausalLM": "modeling_x.MyModel"})
    elif case == "trust_remote_code":
        _edit_config(folder, trust_remote_code=True)
    elif case == "python_file":
        (folder / "modeling_x.py").write_text("import os\n")
    else:
        tok = json.loads((folder / "tokenizer_config.json").read_text())
        tok["auto_map"] = {"AutoTokenizer": ["tok.MyTok", None]}
        (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="never runs Python code"):
        lib.import_path(folder)
    assert lib.names() == []


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match=r"pytorch_model\.bin.*arbitrary code"):
        lib.import_path(folder)
    assert lib.names() == []
    (folder / "pytorch_model.bin").rename(folder / "PYTORCH_MODEL.BIN")  # from a FAT drive
    with pytest.raises(ConversionError, match=r"PYTORCH_MODEL\.BIN.*arbitrary code"):
        lib.import_path(folder)


def test_pickles_next_to_safetensors_are_ignored_never_read(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    (folder / "pytorch_model.bin").write_bytes(b"not even a pickle")
    model = ModelLibrary(tmp_path / "models").import_path(folder, precision="int8")
    assert not (model.path / "pytorch_model.bin").exists()


def test_other_architecture_without_optimum_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.convert import optimum_export

    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    _edit_config(folder, model_type="gpt_neox")
    monkeypatch.setattr(
        optimum_export, "optimum_available", lambda: "optimum export needs the optional extra"
    )
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="'gpt_neox' models are converted through optimum"):
        lib.import_path(folder)
    assert _library_files(lib) == []


# -- progress, cancel, atomicity --------------------------------------------------------------
def test_progress_stages_in_order(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    seen: list[tuple[str, float]] = []
    convert_safetensors(folder, tmp_path / "b", progress=lambda s, f: seen.append((s, f)))
    order = list(dict.fromkeys(s for s, _ in seen))
    assert order == ["read", "quantize", "write", "validate"]
    finals = {s: f for s, f in seen}
    assert all(finals[s] == 1.0 for s in order)
    checking = [f for s, f in seen if s == "validate"]
    assert checking == sorted(checking), "the accuracy check only moves forward"
    # the unquantized reference (the slow part on a large model) reports each layer, so
    # Cancel is heard while it runs, not only after it
    assert len([f for f in checking if 0.7 < f < 1.0]) >= TinyHF().n_layers - 1


@pytest.mark.parametrize("stage", ["read", "quantize", "write", "validate"])
def test_cancel_leaves_nothing_behind(tmp_path: Path, stage: str) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    lib = ModelLibrary(tmp_path / "models")

    class CancelledError(Exception):
        pass

    def cancel(s: str, fraction: float) -> None:
        if s == stage and fraction >= 0.5:
            raise CancelledError

    with pytest.raises(CancelledError):
        lib.import_path(folder, progress=cancel)
    assert _library_files(lib) == []
    # A later import of the same folder works.
    assert lib.import_path(folder, precision="int8").name == "checkpoint"


def test_validation_failure_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.convert import safetensors_source

    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    real = safetensors_source.SafetensorsSource.final_norm

    def broken(self: safetensors_source.SafetensorsSource) -> np.ndarray:
        return real(self) * np.float32("nan")

    monkeypatch.setattr(safetensors_source.SafetensorsSource, "final_norm", broken)
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="non-finite logits"):
        lib.import_path(folder)
    assert _library_files(lib) == []


# -- CLI --------------------------------------------------------------------------------------
def test_cli_import_with_precision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    assert cli.main(["models", "import", str(folder), "--precision", "int8", "--name", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "Imported tiny" in out
    assert "top-1 agreement" in out
    assert cli.main(["models", "info", "tiny"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["precision"] == "int8"
    assert 0.0 <= info["accuracy"]["top1_agreement"] <= 1.0


def test_the_same_checkpoint_at_another_precision_goes_beside_the_first(tmp_path: Path) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    lib = ModelLibrary(tmp_path / "models")
    lib.import_path(folder, precision="int4")
    second = lib.import_path(folder, precision="int8")  # the window has no name field
    assert (second.name, second.manifest["precision"]) == ("checkpoint-int8", "int8")
    assert lib.names() == ["checkpoint", "checkpoint-int8"]
    with pytest.raises(ConversionError, match="'checkpoint' is already installed"):
        lib.import_path(folder, "checkpoint", precision="fp32")  # a name given is kept


def test_a_tokenizer_from_another_model_is_refused_before_anything_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its ids past vocab_size ran through the graph unchecked, and the accuracy check
    ended in an IndexError traceback."""
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    _edit_config(folder, vocab_size=8)
    lib = ModelLibrary(tmp_path / "models")
    with pytest.raises(ConversionError, match="vocab_size 8: the two do not belong together"):
        lib.import_path(folder)
    assert _library_files(lib) == []
    assert cli.main(["models", "import", str(folder)]) == cli.EXIT_ERROR
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("parley: error: checkpoint: its tokenizer has")


def test_cli_refusal_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    _edit_config(folder, auto_map={"AutoModel": "x.Y"})
    assert cli.main(["models", "import", str(folder)]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("parley: error:")
    assert "remote code" in err
    assert "\n" not in err


# -- transformers parity (optional extra) -----------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [
        TinyHF(),
        TinyHF(model_type="qwen2", tied=False),
        TinyHF(
            rope_scaling=(
                ("rope_type", "llama3"),
                ("factor", 8.0),
                ("low_freq_factor", 1.0),
                ("high_freq_factor", 4.0),
                ("original_max_position_embeddings", 64),
            )
        ),
    ],
    ids=["llama", "qwen2", "llama3-rope"],
)
def test_logits_match_transformers(tmp_path: Path, spec: TinyHF) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (extra 'convert')")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    folder = write_tiny_llama(tmp_path / "checkpoint", spec)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch.float32, local_files_only=True
    ).eval()
    with torch.no_grad():
        expected = model(torch.tensor([IDS])).logits[0].numpy()
    # fp32: the same numbers; int8 (weights and, by default, activations): close. Random
    # weights give flat distributions, so top-1 ties flip easily; the KL says more.
    for precision, tol, min_top1, max_kl in (("fp32", 2e-4, 1.0, 1e-6), ("int8", 0.05, 0.8, 0.01)):
        bundle = convert_safetensors(folder, tmp_path / precision, precision=precision)  # type: ignore[arg-type]
        got = engine_logits(bundle, IDS)
        assert np.abs(got - expected).max() <= tol * np.abs(expected).max()
        acc = compare(expected, got, "transformers")
        assert acc.top1_agreement >= min_top1
        assert acc.mean_kl <= max_kl
