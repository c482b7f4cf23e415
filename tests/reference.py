"""An independent Llama forward pass in numpy, from weights dequantized by the ``gguf`` package.

It shares no code with the converter or the engine: it reads the GGUF itself, follows
llama.cpp's definition of the model, and recomputes everything for every call. Slow and
obviously correct is the point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from gguf import GGUFReader
from gguf.quants import dequantize

F32 = npt.NDArray[np.float32]


class ReferenceLlama:
    def __init__(self, path: Path) -> None:
        r = GGUFReader(str(path))
        self.meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
        arch = self.meta["general.architecture"]
        p = arch + "."
        self.n_layers = int(self.meta[p + "block_count"])
        self.hidden = int(self.meta[p + "embedding_length"])
        self.n_heads = int(self.meta[p + "attention.head_count"])
        self.n_kv = int(self.meta.get(p + "attention.head_count_kv", self.n_heads))
        self.head_dim = self.hidden // self.n_heads
        self.eps = float(self.meta[p + "attention.layer_norm_rms_epsilon"])
        self.theta = float(self.meta.get(p + "rope.freq_base", 10000.0))
        self.neox = arch == "qwen2"
        self.w: dict[str, F32] = {}
        for t in r.tensors:
            a = dequantize(t.data, t.tensor_type).astype(np.float64)
            self.w[t.name] = a.reshape([int(x) for x in reversed(t.shape)])
        if "output.weight" not in self.w:
            self.w["output.weight"] = self.w["token_embd.weight"]

    def _rms(self, x: F32, g: F32) -> F32:
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * g

    def _rope(self, x: F32, pos: npt.NDArray[np.int64]) -> F32:
        d = self.head_dim
        inv = 1.0 / self.theta ** (np.arange(0, d, 2) / d)
        ang = pos[:, None] * inv[None]  # [S, d/2]
        cos, sin = np.cos(ang)[:, None], np.sin(ang)[:, None]  # [S, 1, d/2]
        if self.neox:
            a, b = x[..., : d // 2], x[..., d // 2 :]
            return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    def logits(self, ids: list[int]) -> F32:
        """Logits for every position, [S, vocab]."""
        w = self.w
        S, D, H, KV = len(ids), self.head_dim, self.n_heads, self.n_kv
        pos = np.arange(S)
        h = w["token_embd.weight"][ids]
        mask = np.triu(np.full((S, S), -np.inf), 1)
        for i in range(self.n_layers):
            p = f"blk.{i}."
            x = self._rms(h, w[p + "attn_norm.weight"])
            q = x @ w[p + "attn_q.weight"].T
            k = x @ w[p + "attn_k.weight"].T
            v = x @ w[p + "attn_v.weight"].T
            if p + "attn_q.bias" in w:
                q, k, v = (
                    q + w[p + "attn_q.bias"],
                    k + w[p + "attn_k.bias"],
                    v + w[p + "attn_v.bias"],
                )
            q = self._rope(q.reshape(S, H, D), pos)
            k = self._rope(k.reshape(S, KV, D), pos)
            v = v.reshape(S, KV, D)
            rep = H // KV
            k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
            att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(D) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum("hqk,khd->qhd", att, v).reshape(S, H * D)
            h = h + o @ w[p + "attn_output.weight"].T
            x = self._rms(h, w[p + "ffn_norm.weight"])
            g = x @ w[p + "ffn_gate.weight"].T
            u = x @ w[p + "ffn_up.weight"].T
            h = h + ((g / (1 + np.exp(-g))) * u) @ w[p + "ffn_down.weight"].T
        return (self._rms(h, w["output_norm.weight"]) @ w["output.weight"].T).astype(np.float32)
