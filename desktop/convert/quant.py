"""Carry GGUF weight blocks over to ONNX Runtime's ``MatMulNBits`` layout, exactly.

``MatMulNBits`` computes ``w = scale * (q - zp)`` per block of the input dimension with an
integer zero point (default ``2**(bits-1)`` when none is given). GGUF types map onto it as:

- Q4_0 ``w = d * (q - 8)``: 4-bit, scale ``d``, default zero point. Exact.
- Q8_0 ``w = d * q`` (q signed): 8-bit, stored ``q + 128``, default zero point 128. Exact.
- Q4_1 ``w = d * q + m``: the offset ``m`` is a float, which integer zero points cannot hold.
  Store ``q`` with scale ``d`` and the default zero point 8, i.e. ``d * (q - 8)``, and add the
  rest, ``(m + 8 d)`` per block, as a correction ``blocksum(x) @ C`` where ``C`` is
  ``[K/32, N]``. Exact up to float rounding; re-quantizing instead was measured to wreck accuracy.
- Q4_K: sub-blocks of 32 with ``w = d*sc*q - dmin*mn``: the same form as Q4_1.
- Q6_K: sub-blocks of 16 with ``w = d*sc*(q - 32)``: 8-bit, block 16, stored ``q - 32 + 128``.
- F32/F16: a dense float matrix.

Float checkpoints quantized by Parley (``safetensors_source``) may carry integer
``zero_points`` instead (asymmetric blocks, ``w = scale * (q - zp)``), which MatMulNBits
reads natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.convert.errors import UnsupportedModelError
from desktop.convert.gguf_source import RawTensor

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

SUPPORTED_TYPES = ("F32", "F16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q6_K")


@dataclass(frozen=True)
class Linear:
    """A weight matrix ``[N, K]`` (y = x @ W.T) ready for the graph builder.

    Quantized: ``packed`` [N, K/block, block*bits/8], ``scales`` [N, K/block], optional
    ``correction`` [K/block, N] added as ``blocksum(x) @ correction``; optional
    ``zero_points`` [N, ceil(K/block * bits / 8)] (4-bit: two per byte, even block in the low
    nibble). Dense: ``dense`` [K, N]. K need not be a multiple of the block: the last block is
    zero-padded in ``packed``.
    """

    N: int
    K: int
    bits: int = 0  # 0 = dense
    block_size: int = 0
    packed: U8 | None = None
    scales: F32 | None = None
    correction: F32 | None = None
    dense: F32 | None = None
    zero_points: U8 | None = None

    @property
    def signature(self) -> tuple[int, int, bool, bool]:
        """Linears with equal signatures can be fused along N."""
        return (
            self.bits,
            self.block_size,
            self.correction is not None,
            self.zero_points is not None,
        )


def _f16(raw: U8) -> F32:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)[..., 0]


def _pack_nibbles(q: U8) -> U8:
    """[..., 2n] values 0..15 -> [..., n] bytes, element 2i in the low nibble (MatMulNBits)."""
    return (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)


def _blocks(raw: RawTensor, block: int, nbytes: int) -> U8:
    data = np.asarray(raw.data, dtype=np.uint8)
    return data.reshape(raw.rows, raw.cols // block, nbytes)


def pack_linear(raw: RawTensor) -> Linear:
    """Convert one GGUF weight tensor ``[rows=N, cols=K]`` without changing any weight."""
    N, K = raw.rows, raw.cols
    t = raw.type_name
    if t in ("F32", "F16"):
        w = np.asarray(raw.data, dtype=np.float32).reshape(N, K)
        return Linear(N, K, dense=np.ascontiguousarray(w.T))
    if t == "Q4_0":
        b = _blocks(raw, 32, 18)
        d = _f16(b[..., 0:2])
        q = np.concatenate([b[..., 2:] & 0x0F, b[..., 2:] >> 4], axis=-1)
        return Linear(N, K, 4, 32, _pack_nibbles(q), d)
    if t == "Q4_1":
        b = _blocks(raw, 32, 20)
        d, m = _f16(b[..., 0:2]), _f16(b[..., 2:4])
        q = np.concatenate([b[..., 4:] & 0x0F, b[..., 4:] >> 4], axis=-1)
        corr = (m + 8.0 * d).T
        return Linear(N, K, 4, 32, _pack_nibbles(q), d, np.ascontiguousarray(corr))
    if t == "Q8_0":
        b = _blocks(raw, 32, 34)
        d = _f16(b[..., 0:2])
        q = (b[..., 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
        return Linear(N, K, 8, 32, np.ascontiguousarray(q), d)
    if t == "Q4_K":
        return _pack_q4_k(raw)
    if t == "Q6_K":
        return _pack_q6_k(raw)
    raise UnsupportedModelError(
        f"tensor '{raw.name}' has type {t}; supported: {', '.join(SUPPORTED_TYPES)}"
    )


def _q4_k_scales(sc: U8) -> tuple[U8, U8]:
    """The 12 packed bytes of a Q4_K super-block -> 8 six-bit scales and 8 six-bit mins."""
    scales = np.empty((*sc.shape[:-1], 8), np.uint8)
    mins = np.empty_like(scales)
    scales[..., :4] = sc[..., 0:4] & 63
    mins[..., :4] = sc[..., 4:8] & 63
    scales[..., 4:] = (sc[..., 8:12] & 0x0F) | ((sc[..., 0:4] >> 6) << 4)
    mins[..., 4:] = (sc[..., 8:12] >> 4) | ((sc[..., 4:8] >> 6) << 4)
    return scales, mins


def _pack_q4_k(raw: RawTensor) -> Linear:
    N, K = raw.rows, raw.cols
    b = _blocks(raw, 256, 144)
    d, dmin = _f16(b[..., 0:2]), _f16(b[..., 2:4])
    sc, mn = _q4_k_scales(b[..., 4:16])
    qs = b[..., 16:].reshape(N, K // 256, 4, 32)  # 4 chunks of 64 values: low then high nibbles
    q = np.stack([qs & 0x0F, qs >> 4], axis=3).reshape(N, K // 32, 32)
    scale = (d[..., None] * sc).reshape(N, K // 32)
    offset = (-dmin[..., None] * mn).reshape(N, K // 32)
    corr = (offset + 8.0 * scale).T
    return Linear(
        N,
        K,
        4,
        32,
        _pack_nibbles(q),
        scale.astype(np.float32),
        np.ascontiguousarray(corr, dtype=np.float32),
    )


def _pack_q6_k(raw: RawTensor) -> Linear:
    N, K = raw.rows, raw.cols
    b = _blocks(raw, 256, 210)
    ql = b[..., 0:128].reshape(N, K // 256, 2, 64)
    qh = b[..., 128:192].reshape(N, K // 256, 2, 32)
    sc = b[..., 192:208].view(np.int8).astype(np.float32)
    d = _f16(b[..., 208:210])
    # Each half of 128 values: four runs of 32 built from ql's nibbles and qh's 2-bit pairs.
    lo = np.concatenate(
        [ql[..., :32] & 0x0F, ql[..., 32:] & 0x0F, ql[..., :32] >> 4, ql[..., 32:] >> 4], axis=-1
    )
    hi = np.concatenate([(qh >> 0) & 3, (qh >> 2) & 3, (qh >> 4) & 3, (qh >> 6) & 3], axis=-1)
    q = (lo | (hi << 4)).reshape(N, K // 16, 16)  # 0..63, w = d * sc * (q - 32)
    stored = (q.astype(np.int16) - 32 + 128).astype(np.uint8)
    scale = (d[..., None] * sc).reshape(N, K // 16)
    return Linear(N, K, 8, 16, np.ascontiguousarray(stored), scale.astype(np.float32))


def fuse(parts: list[Linear]) -> Linear:
    """Concatenate linears that share an input along N (q|k|v, gate|up): one op instead of
    several. All parts must have the same signature."""
    first = parts[0]
    assert all(p.signature == first.signature and p.K == first.K for p in parts)
    N = sum(p.N for p in parts)

    def cat(attr: str, axis: int) -> Any:
        values = [getattr(p, attr) for p in parts]
        return None if values[0] is None else np.concatenate(values, axis=axis)

    return Linear(
        N,
        first.K,
        first.bits,
        first.block_size,
        cat("packed", 0),
        cat("scales", 0),
        cat("correction", 1),
        cat("dense", 1),
        cat("zero_points", 0),
    )


def dequantize(lin: Linear) -> F32:
    """``[K, N]`` float weights as the graph computes them (used by checks and benchmarks)."""
    if lin.dense is not None:
        return lin.dense
    assert lin.packed is not None
    assert lin.scales is not None
    if lin.bits == 4:
        q = np.stack([lin.packed & 0x0F, lin.packed >> 4], axis=-1).reshape(
            lin.N, -1, lin.block_size
        )
    else:
        q = lin.packed.reshape(lin.N, -1, lin.block_size)
    zp: Any = float(2 ** (lin.bits - 1))
    n_blocks = q.shape[1]
    if lin.zero_points is not None:
        z = lin.zero_points
        if lin.bits == 4:
            z = np.stack([z & 0x0F, z >> 4], axis=-1).reshape(lin.N, -1)
        zp = z[:, :n_blocks, None].astype(np.float32)
    w = lin.scales.reshape(lin.N, n_blocks)[..., None] * (q.astype(np.float32) - zp)
    if lin.correction is not None:
        w = w + lin.correction.T[..., None]
    return np.ascontiguousarray(w.reshape(lin.N, -1)[:, : lin.K].T)
