"""Tiny random Hugging Face checkpoint folders, written with numpy and safetensors (no torch).

The tokenizer is the byte-level BPE of ``tests.ggufs`` (rebuilt by the GGUF converter's
tokenizer code), so chat templates and the engine's tokenization run for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from desktop.convert.tokenizer import build_tokenizer_files
from tests.ggufs import CHATML, vocab


@dataclass(frozen=True)
class TinyHF:
    model_type: str = "llama"
    n_layers: int = 2
    hidden: int = 128
    ffn: int = 256
    n_heads: int = 4
    n_kv_heads: int = 2
    context: int = 256
    tied: bool = True
    dtype: str = "float32"  # float32, float16, bfloat16
    rope_scaling: tuple[tuple[str, Any], ...] | None = None
    seed: int = 0
    scale: float = 0.08
    embed_scale: float = 1.5  # logits spread enough that quantization error shows in the KL


@cache
def _tokenizer() -> tuple[str, dict[str, Any], int | None, list[int]]:
    tokens, types = vocab()
    from tests.ggufs import MERGES

    meta = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": MERGES,
        "tokenizer.ggml.bos_token_id": tokens.index("<|im_start|>"),
        "tokenizer.ggml.eos_token_id": tokens.index("<|im_end|>"),
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": CHATML,
    }
    files = build_tokenizer_files(meta)
    return files.tokenizer_json, files.tokenizer_config, files.bos_token_id, files.eos_token_ids


def vocab_size() -> int:
    return len(vocab()[0])


def write_tokenizer(folder: Path) -> dict[str, Any]:
    tok_json, tok_config, bos, eos = _tokenizer()
    (folder / "tokenizer.json").write_text(tok_json, encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config), encoding="utf-8")
    return {"bos_token_id": bos, "eos_token_id": eos[0] if len(eos) == 1 else eos}


def _cast(a: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        import ml_dtypes

        return a.astype(ml_dtypes.bfloat16)
    return a.astype(dtype)


def write_tiny_llama(folder: Path, spec: TinyHF = TinyHF()) -> Path:
    """A random Llama/Mistral/Qwen2 checkpoint in Hugging Face layout (one safetensors file)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    H, F, V = spec.hidden, spec.ffn, vocab_size()
    D = H // spec.n_heads
    s = spec.scale

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * s).astype(np.float32)

    t: dict[str, np.ndarray] = {"model.embed_tokens.weight": mat(V, H) * spec.embed_scale}
    for i in range(spec.n_layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(H)).astype(np.float32)
        t[p + "post_attention_layernorm.weight"] = (1 + 0.1 * rng.standard_normal(H)).astype(
            np.float32
        )
        t[p + "self_attn.q_proj.weight"] = mat(spec.n_heads * D, H)
        t[p + "self_attn.k_proj.weight"] = mat(spec.n_kv_heads * D, H)
        t[p + "self_attn.v_proj.weight"] = mat(spec.n_kv_heads * D, H)
        if spec.model_type == "qwen2":
            for n, rows in (("q", spec.n_heads), ("k", spec.n_kv_heads), ("v", spec.n_kv_heads)):
                t[p + f"self_attn.{n}_proj.bias"] = (0.1 * rng.standard_normal(rows * D)).astype(
                    np.float32
                )
        t[p + "self_attn.o_proj.weight"] = mat(H, spec.n_heads * D)
        t[p + "mlp.gate_proj.weight"] = mat(F, H)
        t[p + "mlp.up_proj.weight"] = mat(F, H)
        t[p + "mlp.down_proj.weight"] = mat(H, F)
    t["model.norm.weight"] = np.ones(H, np.float32)
    if not spec.tied:
        t["lm_head.weight"] = mat(V, H) * spec.embed_scale
    save_file({k: _cast(v, spec.dtype) for k, v in t.items()}, str(folder / "model.safetensors"))
    ids = write_tokenizer(folder)
    arch = {
        "llama": "LlamaForCausalLM",
        "mistral": "MistralForCausalLM",
        "qwen2": "Qwen2ForCausalLM",
    }
    config: dict[str, Any] = {
        "architectures": [arch[spec.model_type]],
        "model_type": spec.model_type,
        "hidden_size": H,
        "intermediate_size": F,
        "num_hidden_layers": spec.n_layers,
        "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": spec.context,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": V,
        "tie_word_embeddings": spec.tied,
        "torch_dtype": spec.dtype,
        "attention_bias": False,
        **ids,
    }
    if spec.rope_scaling is not None:
        config["rope_scaling"] = dict(spec.rope_scaling)
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder
