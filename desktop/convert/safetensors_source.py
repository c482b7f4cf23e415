"""A Hugging Face checkpoint folder of the Llama family (config.json + safetensors), read
without torch, quantized and fed to the same graph builder as the GGUF path.

Nothing in the folder is executed: weights come only from ``*.safetensors`` (never pickles),
and a config that asks for remote code (``auto_map``, ``trust_remote_code``) is refused.

Hugging Face stores Q/K rows for rotate-half ("neox") rotary embeddings, so the spec says
``rope_interleaved=False`` and the weights are used as they are (the GGUF converter permutes
them for llama.cpp's interleaved rotary; nothing here does).

Quantization (``precision``):

- ``int4``: linear layers 4-bit, block 32, asymmetric ``w = s * (q - zp)`` with integer zero
  points (MatMulNBits reads them natively: no extra ops per token); per tensor, float offsets
  (``quantize_offset``, the Q4_1 form) replace them where they at least halve the squared
  error, i.e. for weights that already lie on a 4-bit grid. The embedding table (also the tied
  LM head) and an untied LM head stay 8-bit symmetric, as llama.cpp's Q4 files keep them.
  Measured on SmolLM2-135M (bench/bench_byom.py): see the numbers there.
- ``int8``: everything 8-bit symmetric, block 32 (the Q8_0 form).
- ``fp32``: dense float weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from desktop.convert.errors import ConversionError, UnsupportedModelError
from desktop.convert.gguf_source import LlamaSpec
from desktop.convert.gguf_to_onnx import (
    CONVERTER_VERSION,
    Progress,
    _no_progress,
    _write_json,
    save_graph,
    staged_folder,
)
from desktop.convert.graph import GRAPH_SIGNATURE, LayerWeights, build_graph
from desktop.convert.quant import Linear, _pack_nibbles, dequantize
from desktop.convert.validate import validate_bundle

F32 = npt.NDArray[np.float32]
Precision = Literal["int4", "int8", "fp32"]
PRECISIONS: tuple[Precision, ...] = ("int4", "int8", "fp32")

BLOCK = 32
# Measured on SmolLM2-135M-Instruct's weights (bench/bench_byom.py, top-1 agreement / mean KL
# against fp32 on 160 tokens): integer zero points 66.9% / 0.43, symmetric 63.1% / 0.41 (those
# weights sit on Q4_1's grid, which neither can hold), with float offsets where they halve the
# error 95.6% / 0.0047 (the GGUF path: 96.9% / 0.0042). Asymmetric wins on top-1.
INT4_SYMMETRIC = False
INT4_OFFSETS = True  # float offsets for tensors where they at least halve the error

_MODEL_TYPES = {"llama", "mistral", "qwen2"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


# -- safety checks ----------------------------------------------------------------------------
def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"{folder.name} has no config.json") from None
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{folder.name}: config.json is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise ConversionError(f"{folder.name}: config.json is not a JSON object")
    return data


def refuse_code_and_pickles(folder: Path, config: dict[str, Any]) -> list[Path]:
    """The checkpoint's ``*.safetensors`` files; refuses remote code and pickle-only folders
    with a message that says why."""
    for cfg_name in ("config.json", "tokenizer_config.json"):
        cfg = config if cfg_name == "config.json" else _optional_json(folder / cfg_name)
        if "auto_map" in cfg or cfg.get("trust_remote_code"):
            raise ConversionError(
                f"{folder.name} needs remote code ('auto_map'/'trust_remote_code' in {cfg_name}):"
                " Parley never runs Python code that comes with a model"
            )
    code = next(iter(sorted(folder.glob("*.py"))), None)
    if code is not None:
        raise ConversionError(
            f"{folder.name} contains {code.name}: Parley never runs Python code that comes "
            "with a model (remote code is refused)"
        )
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise ConversionError(
                f"{folder.name} has only pickled weights ({pickles[0]}): loading a pickle can "
                "run arbitrary code, so Parley never does; convert the checkpoint to "
                "safetensors first"
            )
        raise ConversionError(f"{folder.name} contains no *.safetensors weights")
    return files


def _optional_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path.parent.name}: {path.name} is unreadable: {exc}") from exc
    return data if isinstance(data, dict) else {}


def is_llama_family(config: dict[str, Any]) -> bool:
    return config.get("model_type") in _MODEL_TYPES


# -- quantization -----------------------------------------------------------------------------
def quantize(w: F32, bits: int, *, symmetric: bool, block: int = BLOCK) -> Linear:
    """Round-to-nearest block quantization of ``w`` [N, K] (y = x @ w.T) for MatMulNBits."""
    N, K = w.shape
    nb = -(-K // block)
    wb = np.pad(w.astype(np.float32), ((0, 0), (0, nb * block - K))).reshape(N, nb, block)
    if bits == 8:
        if not symmetric:
            raise ValueError("8-bit blocks are symmetric")
        d = np.abs(wb).max(-1) / 127.0
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
        q = np.clip(np.rint(wb * inv[..., None]), -127, 127).astype(np.int16) + 128
        return Linear(N, K, 8, block, q.astype(np.uint8), d.astype(np.float32))
    if bits != 4:
        raise ValueError(f"{bits}-bit blocks are not supported")
    if symmetric:
        # The value of largest magnitude maps to -8 (as llama.cpp's Q4_0): the full range is used.
        idx = np.abs(wb).argmax(-1)
        m = np.take_along_axis(wb, idx[..., None], -1)[..., 0]
        d = m / -8.0
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
        q = np.clip(np.rint(wb * inv[..., None]) + 8, 0, 15).astype(np.uint8)
        return Linear(N, K, 4, block, _pack_nibbles(q), d.astype(np.float32))
    lo, hi = wb.min(-1), wb.max(-1)
    s = (hi - lo) / 15.0
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    zp = np.clip(np.rint(-lo * inv), 0, 15)
    q = np.clip(np.rint(wb * inv[..., None]) + zp[..., None], 0, 15).astype(np.uint8)
    zp8 = zp.astype(np.uint8)
    if nb % 2:
        zp8 = np.pad(zp8, ((0, 0), (0, 1)))
    return Linear(
        N, K, 4, block, _pack_nibbles(q), s.astype(np.float32), zero_points=_pack_nibbles(zp8)
    )


def quantize_offset(w: F32, block: int = BLOCK) -> Linear:
    """4-bit blocks with a float minimum, ``w = s * q + m`` (llama.cpp's Q4_1 form), carried by
    the graph as ``s * (q - 8)`` plus the correction ``blocksum(x) @ (m + 8 s)``. Exact for
    weights that already lie on such a grid (a dequantized Q4_1 checkpoint); two extra small
    MatMuls per projection."""
    N, K = w.shape
    wb = w.astype(np.float32).reshape(N, K // block, block)
    lo, hi = wb.min(-1), wb.max(-1)
    s = (hi - lo) / 15.0
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    q = np.clip(np.rint((wb - lo[..., None]) * inv[..., None]), 0, 15).astype(np.uint8)
    corr = np.ascontiguousarray((lo + 8.0 * s).T, dtype=np.float32)
    return Linear(N, K, 4, block, _pack_nibbles(q), s.astype(np.float32), corr)


def _int4(w: F32) -> Linear:
    """Integer zero points (fastest) unless float offsets at least halve the squared error,
    which happens when the weights already sit on a 4-bit grid with float minimums."""
    zp = quantize(w, 4, symmetric=INT4_SYMMETRIC)
    if not INT4_OFFSETS or w.shape[1] % BLOCK:
        return zp
    off = quantize_offset(w)
    err_zp = float(((dequantize(zp).T - w) ** 2).mean())
    err_off = float(((dequantize(off).T - w) ** 2).mean())
    return off if err_off < 0.5 * err_zp else zp


def make_linear(w: F32, precision: Precision, *, role: str = "linear") -> Linear:
    """``role``: "linear" for the layers' projections, "embedding"/"lm_head" for the tables
    that stay 8-bit at int4."""
    if precision == "fp32":
        return Linear(w.shape[0], w.shape[1], dense=np.ascontiguousarray(w.T, dtype=np.float32))
    if precision == "int8" or role != "linear":
        return quantize(w, 8, symmetric=True)
    return _int4(w)


def describe(precision: Precision) -> dict[str, str]:
    if precision == "fp32":
        return {"linear": "fp32", "embedding": "fp32"}
    if precision == "int8":
        return {"linear": "8-bit symmetric, block 32", "embedding": "8-bit symmetric, block 32"}
    kind = "symmetric" if INT4_SYMMETRIC else "asymmetric (integer zero points)"
    return {
        "linear": f"4-bit {kind}, block 32; float offsets where they halve the error",
        "embedding": "8-bit symmetric, block 32",
    }


# -- the checkpoint ---------------------------------------------------------------------------
class SafetensorsSource:
    """A Llama-family checkpoint folder; tensors are read one at a time, as float32."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ConversionError(f"{folder}: no such folder")
        self.folder = folder
        self.config = read_config(folder)
        self.files = refuse_code_and_pickles(folder, self.config)
        self._where: dict[str, Path] = {}
        from safetensors import safe_open

        for f in self.files:
            try:
                with safe_open(str(f), "np") as handle:
                    for key in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                        self._where[key] = f
            except Exception as exc:  # safetensors raises its own error types on bad headers
                raise ConversionError(f"{f.name} is damaged or not safetensors: {exc}") from exc
        self.spec = self._read_spec()
        self._check_tokenizer()
        self.freq_factors = self._freq_factors()

    def _check_tokenizer(self) -> None:
        """The tokenizer's ids must fit the embedding: one from another model gave ids past
        ``vocab_size``, which the graph reads without complaint and the accuracy check
        then failed on with an index error."""
        path = self.folder / "tokenizer.json"
        if not path.is_file():
            return
        from tokenizers import Tokenizer

        try:
            size = Tokenizer.from_file(str(path)).get_vocab_size(with_added_tokens=True)
        except Exception as exc:  # tokenizers raises its own exception type
            raise ConversionError(f"{self.folder.name}: tokenizer.json is damaged: {exc}") from exc
        if size > self.spec.vocab:
            raise ConversionError(
                f"{self.folder.name}: its tokenizer has {size:,} tokens but config.json says "
                f"vocab_size {self.spec.vocab:,}: the two do not belong together"
            )

    # spec --------------------------------------------------------------------------------
    def _get(self, key: str) -> Any:
        if key not in self.config or self.config[key] is None:
            raise ConversionError(f"{self.folder.name}: config.json lacks '{key}'")
        return self.config[key]

    def _read_spec(self) -> LlamaSpec:
        c = self.config
        model_type = str(c.get("model_type", "?"))
        if model_type not in _MODEL_TYPES:
            raise UnsupportedModelError(
                f"model type '{model_type}' is not converted natively (supported: "
                f"{', '.join(sorted(_MODEL_TYPES))}); other architectures go through optimum"
            )
        act = c.get("hidden_act", "silu")
        if act != "silu":
            raise UnsupportedModelError(f"activation '{act}' is not supported (expected silu)")
        if c.get("mlp_bias"):
            raise UnsupportedModelError("MLP biases are not supported")
        hidden = int(self._get("hidden_size"))
        n_heads = int(self._get("num_attention_heads"))
        head_dim = int(c.get("head_dim") or hidden // n_heads)
        if self.has("model.layers.0.self_attn.o_proj.bias"):
            raise UnsupportedModelError("an output-projection bias is not supported")
        ctx = int(c.get("max_position_embeddings") or 2048)
        window = c.get("sliding_window")
        if window and c.get("use_sliding_window", True) and int(window) < ctx:
            ctx = int(window)  # attention is exact up to the window; the graph stops there
        vocab = int(self._get("vocab_size"))
        name = str(c.get("_name_or_path") or self.folder.name)
        return LlamaSpec(
            arch=model_type,
            name=Path(name).name or self.folder.name,
            n_layers=int(self._get("num_hidden_layers")),
            hidden=hidden,
            ffn=int(self._get("intermediate_size")),
            n_heads=n_heads,
            n_kv_heads=int(c.get("num_key_value_heads") or n_heads),
            head_dim=head_dim,
            vocab=vocab,
            context_length=ctx,
            rope_theta=float(c.get("rope_theta", 10000.0)),
            rms_eps=float(c.get("rms_norm_eps", 1e-6)),
            rope_interleaved=False,
            tied_embeddings=not self.has("lm_head.weight"),
            attn_bias=self.has("model.layers.0.self_attn.q_proj.bias"),
        )

    def _freq_factors(self) -> F32 | None:
        """Rotary scaling as divisors of the inverse frequencies (what ``rotary_cache`` takes)."""
        rs = self.config.get("rope_scaling")
        if not rs:
            return None
        kind = rs.get("rope_type", rs.get("type", "default"))
        half = self.spec.head_dim // 2
        if kind == "default":
            return None
        if kind == "linear":
            return np.full(half, float(rs["factor"]), np.float32)
        if kind == "llama3":
            inv = 1.0 / (
                self.spec.rope_theta ** (np.arange(0, half, dtype=np.float64) * 2 / (2 * half))
            )
            factor, lo_f, hi_f = (
                float(rs["factor"]),
                float(rs["low_freq_factor"]),
                float(rs["high_freq_factor"]),
            )
            old = float(rs["original_max_position_embeddings"])
            wavelen = 2 * math.pi / inv
            smooth = np.clip((old / wavelen - lo_f) / (hi_f - lo_f), 0.0, 1.0)
            scaled = (1 - smooth) * inv / factor + smooth * inv
            return (inv / scaled).astype(np.float32)
        raise UnsupportedModelError(f"rotary scaling '{kind}' is not supported")

    # tensors -----------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._where

    def tensor(self, name: str) -> F32:
        path = self._where.get(name)
        if path is None:
            raise ConversionError(f"{self.folder.name}: tensor '{name}' is missing")
        from safetensors import safe_open

        try:
            with safe_open(str(path), "np") as handle:
                data = handle.get_tensor(name)
        except Exception as exc:  # truncated data surfaces only when a tensor is read
            raise ConversionError(f"{path.name}: tensor '{name}' is unreadable: {exc}") from exc
        if data.dtype.kind != "f" and str(data.dtype) != "bfloat16":
            raise UnsupportedModelError(
                f"tensor '{name}' is {data.dtype}; only float checkpoints are converted"
            )
        return np.asarray(data, dtype=np.float32)

    def matrix(self, name: str, rows: int, cols: int) -> F32:
        w = self.tensor(name)
        if w.shape != (rows, cols):
            raise ConversionError(
                f"{self.folder.name}: tensor '{name}' has shape {list(w.shape)}, "
                f"config.json implies {[rows, cols]}"
            )
        return w

    def layer(self, i: int) -> dict[str, F32]:
        """Float weights of layer ``i``: q k v o gate up down (as [out, in]), norms, biases."""
        s = self.spec
        p = f"model.layers.{i}."
        qd, kvd = s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim
        shapes = {
            "q": ("self_attn.q_proj", qd, s.hidden),
            "k": ("self_attn.k_proj", kvd, s.hidden),
            "v": ("self_attn.v_proj", kvd, s.hidden),
            "o": ("self_attn.o_proj", s.hidden, qd),
            "gate": ("mlp.gate_proj", s.ffn, s.hidden),
            "up": ("mlp.up_proj", s.ffn, s.hidden),
            "down": ("mlp.down_proj", s.hidden, s.ffn),
        }
        w = {k: self.matrix(p + n + ".weight", r, c) for k, (n, r, c) in shapes.items()}
        w["attn_norm"] = self.tensor(p + "input_layernorm.weight")
        w["ffn_norm"] = self.tensor(p + "post_attention_layernorm.weight")
        if s.attn_bias:
            for n in "qkv":
                w[n + "_bias"] = self.tensor(p + f"self_attn.{n}_proj.bias")
        return w

    def embedding(self) -> F32:
        return self.matrix("model.embed_tokens.weight", self.spec.vocab, self.spec.hidden)

    def lm_head(self) -> F32:
        if self.spec.tied_embeddings:
            return self.embedding()
        return self.matrix("lm_head.weight", self.spec.vocab, self.spec.hidden)

    def final_norm(self) -> F32:
        return self.tensor("model.norm.weight")

    # conversion --------------------------------------------------------------------------
    def layer_weights(self, i: int, precision: Precision) -> LayerWeights:
        w = self.layer(i)
        bias = None
        if self.spec.attn_bias:
            bias = np.concatenate([w["q_bias"], w["k_bias"], w["v_bias"]])
        return LayerWeights(
            attn_norm=w["attn_norm"],
            ffn_norm=w["ffn_norm"],
            qkv=[make_linear(np.concatenate([w["q"], w["k"], w["v"]]), precision)],
            qkv_bias=bias,
            o=make_linear(w["o"], precision),
            gate_up=[make_linear(np.concatenate([w["gate"], w["up"]]), precision)],
            down=make_linear(w["down"], precision),
        )

    # reference ---------------------------------------------------------------------------
    def reference_logits(
        self, ids: list[int], progress: Callable[[float], None] = lambda f: None
    ) -> F32:
        """Logits of every position from the unquantized weights: a plain numpy forward pass
        that holds one layer at a time (the yardstick of the accuracy report)."""
        s = self.spec
        S, D, H, KV = len(ids), s.head_dim, s.n_heads, s.n_kv_heads
        h = self.embedding()[ids].astype(np.float32)
        half = D // 2
        inv = 1.0 / (s.rope_theta ** (np.arange(0, half, dtype=np.float64) * 2 / D))
        if self.freq_factors is not None:
            inv = inv / self.freq_factors
        ang = np.arange(S, dtype=np.float64)[:, None] * inv[None]
        cos, sin = np.cos(ang)[:, None].astype(np.float32), np.sin(ang)[:, None].astype(np.float32)

        def rope(x: F32) -> F32:
            a, b = x[..., :half], x[..., half:]
            return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)

        def rms(x: F32, g: F32) -> F32:
            y: F32 = x / np.sqrt((x * x).mean(-1, keepdims=True) + s.rms_eps) * g
            return y

        mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
        for i in range(s.n_layers):
            w = self.layer(i)
            x = rms(h, w["attn_norm"])
            q, k, v = x @ w["q"].T, x @ w["k"].T, x @ w["v"].T
            if s.attn_bias:
                q, k, v = q + w["q_bias"], k + w["k_bias"], v + w["v_bias"]
            q = rope(q.reshape(S, H, D))
            k = np.repeat(rope(k.reshape(S, KV, D)), H // KV, axis=1)
            v = np.repeat(v.reshape(S, KV, D), H // KV, axis=1)
            att = np.einsum("qhd,khd->hqk", q, k) / np.float32(np.sqrt(D)) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            h = h + np.einsum("hqk,khd->qhd", att, v).reshape(S, H * D) @ w["o"].T
            x = rms(h, w["ffn_norm"])
            g, u = x @ w["gate"].T, x @ w["up"].T
            h = h + ((g / (1 + np.exp(-g))) * u) @ w["down"].T
            progress((i + 1) / s.n_layers)
        out: F32 = (rms(h, self.final_norm()) @ self.lm_head().T).astype(np.float32)
        return out


# -- folder -> bundle -------------------------------------------------------------------------
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def copy_tokenizer_files(folder: Path, dest: Path) -> None:
    """The tokenizer and chat template exactly as the checkpoint has them. A chat template kept
    in ``chat_template.jinja`` (newer transformers) is put into ``tokenizer_config.json``, where
    the engine reads it."""
    if not (folder / "tokenizer.json").is_file():
        raise UnsupportedModelError(
            f"{folder.name} has no tokenizer.json (a fast tokenizer); a SentencePiece-only "
            "tokenizer.model is not supported"
        )
    for name in (*TOKENIZER_FILES, "generation_config.json", "chat_template.jinja"):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, dest / name)
    template_file = folder / "chat_template.jinja"
    tok_config = _optional_json(folder / "tokenizer_config.json")
    if template_file.is_file() and "chat_template" not in tok_config:
        tok_config["chat_template"] = template_file.read_text(encoding="utf-8")
        _write_json(dest / "tokenizer_config.json", tok_config)


def _sha256_files(files: list[Path], progress: Progress) -> str:
    """One digest over the weight files in name order (each file's name, then its bytes)."""
    h = hashlib.sha256()
    total = max(sum(f.stat().st_size for f in files), 1)
    done = 0
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
                done += len(chunk)
                progress("read", done / total)
    return h.hexdigest()


def convert_safetensors(
    folder: Path,
    dest: Path,
    *,
    precision: Precision = "int4",
    name: str | None = None,
    progress: Progress = _no_progress,
    int8_activations: bool = True,
) -> Path:
    """Convert the checkpoint ``folder`` into the bundle folder ``dest`` (which must not exist).

    Stages: read (checks, hashing), quantize (layer by layer; "build" at fp32), write,
    validate (greedy smoke test and the accuracy report). Everything happens in a temporary
    sibling folder renamed into place at the very end: a failure, a cancel (the progress
    callback raising) or Ctrl-C leaves nothing behind.
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"precision '{precision}' is unknown (use {', '.join(PRECISIONS)})")
    if dest.exists():
        raise ConversionError(f"{dest} already exists")
    progress("read", 0.0)
    src = SafetensorsSource(folder)
    spec = src.spec
    with staged_folder(dest) as tmp:
        copy_tokenizer_files(folder, tmp)
        sha = _sha256_files(src.files, progress)
        stage = "build" if precision == "fp32" else "quantize"
        progress(stage, 0.0)
        embedding = make_linear(src.embedding(), precision, role="embedding")
        if embedding.dense is None and spec.hidden % BLOCK:
            embedding = make_linear(src.embedding(), "fp32")
        lm_head = (
            embedding
            if spec.tied_embeddings
            else make_linear(src.lm_head(), precision, role="lm_head")
        )
        model = build_graph(
            spec,
            embedding,
            lambda i: src.layer_weights(i, precision),
            src.final_norm(),
            lm_head,
            freq_factors=src.freq_factors,
            accuracy_level=4 if int8_activations else 0,
            progress=lambda i: progress(stage, (i + 1) / spec.n_layers),
        )
        progress("write", 0.0)
        save_graph(model, tmp)
        del model
        config = dict(src.config)
        config["head_dim"] = spec.head_dim
        config["max_position_embeddings"] = spec.context_length
        _write_json(tmp / "config.json", config)
        manifest: dict[str, Any] = {
            "name": name or dest.name,
            "display_name": spec.name,
            "family": spec.arch,
            "source": {
                "kind": "safetensors",
                "file": folder.name,
                "files": [f.name for f in src.files],
                "sha256": sha,
                "dtype": str(src.config.get("torch_dtype", "unknown")),
            },
            "precision": precision,
            "quantization": describe(precision),
            "graph": GRAPH_SIGNATURE,
            "converter_version": CONVERTER_VERSION,
            "context_length": spec.context_length,
            "license": str(src.config.get("license", "unknown")),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        _write_json(tmp / "parley.json", manifest)
        progress("write", 1.0)
        accuracy = validate_bundle(
            tmp,
            # its layers report in (and so Cancel, which the progress call raises, is heard)
            lambda ids: src.reference_logits(ids, lambda f: progress("validate", 0.7 + 0.3 * f)),
            f"{spec.name} unquantized ({manifest['source']['dtype']}), numpy",
            progress,
        )
        if accuracy is not None:
            manifest["accuracy"] = accuracy.to_json()
            _write_json(tmp / "parley.json", manifest)
    return dest
