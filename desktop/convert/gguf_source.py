"""Read a GGUF file: metadata as plain Python values, architecture numbers, raw tensors.

Everything that can go wrong with a user's file becomes a ``ConversionError`` with one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.convert.errors import ConversionError, UnsupportedModelError

GGUF_MAGIC = b"GGUF"

# Architectures that share the Llama graph. rope_interleaved: llama.cpp's "normal" rope rotates
# adjacent pairs (the HF->GGUF converter permutes Q/K rows for it); "neox" rotates halves.
_ARCHS: dict[str, dict[str, Any]] = {
    "llama": {"rope_interleaved": True},
    "mistral": {"rope_interleaved": True},
    "qwen2": {"rope_interleaved": False},
}


@dataclass(frozen=True)
class RawTensor:
    name: str
    type_name: str  # GGML type name: F32, F16, Q4_0, Q4_1, Q8_0, ...
    rows: int  # output features (N) for a linear layer
    cols: int  # input features (K)
    data: npt.NDArray[Any]  # as stored: float array, or uint8 [rows, bytes_per_row]


@dataclass(frozen=True)
class LlamaSpec:
    arch: str
    name: str
    n_layers: int
    hidden: int
    ffn: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    context_length: int
    rope_theta: float
    rms_eps: float
    rope_interleaved: bool
    tied_embeddings: bool
    attn_bias: bool


class GGUFSource:
    """A GGUF file opened for conversion (memory-mapped; nothing is read twice)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise ConversionError(f"{path}: no such file")
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != GGUF_MAGIC:
            raise ConversionError(f"{path.name} is not a GGUF file (it does not start with 'GGUF')")
        try:
            from gguf import GGUFReader

            self._reader = GGUFReader(str(path))
        except Exception as exc:  # gguf raises bare ValueError/IndexError on damaged files
            # A file cut short (an interrupted download or copy) fails where the reader
            # shapes metadata or tensors from the bytes left, in numpy's words ("cannot
            # reshape array of size …"), which mean nothing to a user: the size on disk and
            # what to do. (The reader's own words stay in the exception's cause.)
            size = path.stat().st_size / 1e6
            raise ConversionError(
                f"{path.name} is cut short or damaged ({size:.1f} MB on disk): it ends, or "
                "stops making sense, before its last tensor; download or copy it again"
            ) from exc
        self.meta: Mapping[str, Any] = self._read_meta()
        self._tensors = {t.name: t for t in self._reader.tensors}
        self.spec = self._read_spec()

    def _read_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for key, field in self._reader.fields.items():
            if key.startswith("GGUF."):
                continue
            try:
                meta[key] = field.contents()
            except Exception as exc:  # a field whose bytes do not decode
                raise ConversionError(f"{self.path.name}: metadata '{key}' is unreadable") from exc
        return meta

    def _get(self, key: str, default: Any = None) -> Any:
        value = self.meta.get(key, default)
        if value is None:
            raise ConversionError(f"{self.path.name}: required metadata '{key}' is missing")
        return value

    def _read_spec(self) -> LlamaSpec:
        arch = str(self._get("general.architecture"))
        if arch not in _ARCHS:
            supported = ", ".join(sorted(_ARCHS))
            raise UnsupportedModelError(
                f"architecture '{arch}' is not supported (supported: {supported})"
            )
        p = f"{arch}."
        hidden = int(self._get(p + "embedding_length"))
        n_heads = int(self._get(p + "attention.head_count"))
        n_kv = self.meta.get(p + "attention.head_count_kv", n_heads)
        head_dim = int(self.meta.get(p + "attention.key_length", hidden // n_heads))
        rot = int(self.meta.get(p + "rope.dimension_count", head_dim))
        if rot != head_dim:
            raise UnsupportedModelError(
                f"partial rotary embeddings ({rot} of {head_dim} dims) are not supported"
            )
        if "token_embd.weight" not in self._tensors:
            raise ConversionError(f"{self.path.name}: tensor 'token_embd.weight' is missing")
        emb = self._tensors["token_embd.weight"]
        vocab = int(emb.shape[1]) if len(emb.shape) > 1 else 0
        name = self.meta.get("general.name") or self.path.stem
        return LlamaSpec(
            arch=arch,
            name=str(name),
            n_layers=int(self._get(p + "block_count")),
            hidden=hidden,
            ffn=int(self._get(p + "feed_forward_length")),
            n_heads=n_heads,
            n_kv_heads=int(n_kv),
            head_dim=head_dim,
            vocab=vocab,
            context_length=int(self.meta.get(p + "context_length", 2048)),
            rope_theta=float(self.meta.get(p + "rope.freq_base", 10000.0)),
            rms_eps=float(self._get(p + "attention.layer_norm_rms_epsilon")),
            rope_interleaved=bool(_ARCHS[arch]["rope_interleaved"]),
            tied_embeddings="output.weight" not in self._tensors,
            attn_bias="blk.0.attn_q.bias" in self._tensors,
        )

    def has(self, name: str) -> bool:
        return name in self._tensors

    def tensor(self, name: str) -> RawTensor:
        t = self._tensors.get(name)
        if t is None:
            raise ConversionError(f"{self.path.name}: tensor '{name}' is missing")
        shape = [int(x) for x in t.shape]  # GGUF order: innermost first (cols, rows)
        cols = shape[0]
        rows = math.prod(shape[1:]) if len(shape) > 1 else 1
        data = t.data
        expected = _expected_nbytes(t.tensor_type.name, rows, cols)
        if expected is not None and data.nbytes != expected:
            raise ConversionError(
                f"{self.path.name} is truncated: tensor '{name}' has {data.nbytes} of "
                f"{expected} bytes"
            )
        return RawTensor(name, t.tensor_type.name, rows, cols, data)

    def vector(self, name: str) -> npt.NDArray[np.float32]:
        """A 1-D float tensor (norm weights, biases, rope factors) as float32."""
        raw = self.tensor(name)
        if raw.type_name not in ("F32", "F16"):
            raise UnsupportedModelError(f"tensor '{name}' of type {raw.type_name} (expected F32)")
        return np.asarray(raw.data, dtype=np.float32).reshape(-1)


_BLOCK_BYTES = {
    "Q4_0": (32, 18),
    "Q4_1": (32, 20),
    "Q8_0": (32, 34),
    "Q4_K": (256, 144),
    "Q6_K": (256, 210),
}


def _expected_nbytes(type_name: str, rows: int, cols: int) -> int | None:
    if type_name == "F32":
        return rows * cols * 4
    if type_name == "F16":
        return rows * cols * 2
    if type_name in _BLOCK_BYTES:
        block, nbytes = _BLOCK_BYTES[type_name]
        return rows * (cols // block) * nbytes
    return None
