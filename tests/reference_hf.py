"""An independent Llama-family forward pass in numpy over a Hugging Face checkpoint folder.

It shares no code with the converter: it reads the safetensors file itself (float64), follows
transformers' definition (rotate-half rotary, grouped-query attention, RMSNorm, SwiGLU, Qwen2's
q/k/v biases) and recomputes everything for every call.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


class ReferenceHF:
    def __init__(self, folder: Path, weights: dict[str, np.ndarray] | None = None) -> None:
        c = json.loads((folder / "config.json").read_text())
        self.n_layers = c["num_hidden_layers"]
        self.n_heads = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads", self.n_heads)
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.n_heads
        self.eps = c["rms_norm_eps"]
        self.theta = c.get("rope_theta", 10000.0)
        if weights is None:
            weights = {}
            for f in sorted(folder.glob("*.safetensors")):
                weights.update(load_file(str(f)))
        self.w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
        self.w.setdefault("lm_head.weight", self.w["model.embed_tokens.weight"])

    def logits(self, ids: list[int]) -> np.ndarray:
        w, S, D = self.w, len(ids), self.head_dim
        H, KV = self.n_heads, self.n_kv
        inv = 1.0 / self.theta ** (np.arange(0, D, 2) / D)
        ang = np.arange(S)[:, None] * inv[None]
        cos = np.concatenate([np.cos(ang)] * 2, -1)[:, None]
        sin = np.concatenate([np.sin(ang)] * 2, -1)[:, None]

        def rotate_half(x: np.ndarray) -> np.ndarray:
            return np.concatenate([-x[..., D // 2 :], x[..., : D // 2]], -1)

        def rms(x: np.ndarray, g: np.ndarray) -> np.ndarray:
            return g * (x / np.sqrt((x**2).mean(-1, keepdims=True) + self.eps))

        h = w["model.embed_tokens.weight"][ids]
        mask = np.triu(np.full((S, S), -np.inf), 1)
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            x = rms(h, w[p + "input_layernorm.weight"])
            qkv = []
            for n in "qkv":
                y = x @ w[p + f"self_attn.{n}_proj.weight"].T
                if p + f"self_attn.{n}_proj.bias" in w:
                    y = y + w[p + f"self_attn.{n}_proj.bias"]
                qkv.append(y)
            q = qkv[0].reshape(S, H, D)
            k = qkv[1].reshape(S, KV, D)
            v = qkv[2].reshape(S, KV, D)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k, v = np.repeat(k, H // KV, 1), np.repeat(v, H // KV, 1)
            att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(D) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att = att / att.sum(-1, keepdims=True)
            o = np.einsum("hqk,khd->qhd", att, v).reshape(S, H * D)
            h = h + o @ w[p + "self_attn.o_proj.weight"].T
            x = rms(h, w[p + "post_attention_layernorm.weight"])
            g = x @ w[p + "mlp.gate_proj.weight"].T
            u = x @ w[p + "mlp.up_proj.weight"].T
            h = h + (g * (1 / (1 + np.exp(-g))) * u) @ w[p + "mlp.down_proj.weight"].T
        return rms(h, w["model.norm.weight"]) @ w["lm_head.weight"].T
