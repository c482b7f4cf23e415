"""Tiny random Llama-family GGUF files, written with the ``gguf`` package's own writer.

The vocabulary is byte-level BPE (GPT-2 byte alphabet) with a few merges and ChatML control
tokens, so the converter's tokenizer path and the chat template run for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def byte_alphabet() -> list[str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs, strict=True))
    return [chr(table[b]) for b in range(256)]


MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ Ġ"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def vocab() -> tuple[list[str], list[int]]:
    tokens = byte_alphabet() + [m.replace(" ", "") for m in MERGES] + SPECIALS
    types = [1] * (len(tokens) - len(SPECIALS)) + [3] * len(SPECIALS)
    return tokens, types


@dataclass(frozen=True)
class TinySpec:
    weight_type: str = "Q4_1"
    arch: str = "llama"
    n_layers: int = 2
    hidden: int = 256
    ffn: int = 512
    n_heads: int = 4
    n_kv_heads: int = 2
    context: int = 256
    tied: bool = True
    embedding_type: str = "Q8_0"
    seed: int = 0
    scale: float = 0.08


def _random_blocks(kind: str, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Random but valid Q4_K / Q6_K blocks (gguf-py cannot quantize these)."""
    nb = cols // 256
    if kind == "Q4_K":
        raw = rng.integers(0, 256, (rows, nb, 144), dtype=np.uint8)
        raw[..., 0:2] = np.full((rows, nb), 0.002, np.float16).view(np.uint8).reshape(rows, nb, 2)
        raw[..., 2:4] = np.full((rows, nb), 0.001, np.float16).view(np.uint8).reshape(rows, nb, 2)
        return raw.reshape(rows, nb * 144)
    raw = rng.integers(0, 256, (rows, nb, 210), dtype=np.uint8)
    raw[..., 192:208] = rng.integers(-20, 20, (rows, nb, 16), dtype=np.int8).view(np.uint8)
    raw[..., 208:210] = np.full((rows, nb), 0.0005, np.float16).view(np.uint8).reshape(rows, nb, 2)
    return raw.reshape(rows, nb * 210)


def _add(w: GGUFWriter, name: str, array: np.ndarray, kind: str, rng: np.random.Generator) -> None:
    rows, cols = array.shape
    if kind == "F32":
        w.add_tensor(name, array.astype(np.float32))
    elif kind == "F16":
        w.add_tensor(name, array.astype(np.float16))
    elif kind in ("Q4_K", "Q6_K"):
        qtype = GGMLQuantizationType[kind]
        w.add_tensor(name, _random_blocks(kind, rows, cols, rng), raw_dtype=qtype)
    else:
        qtype = GGMLQuantizationType[kind]
        w.add_tensor(name, quantize(array.astype(np.float32), qtype), raw_dtype=qtype)


def write_tiny_gguf(
    path: Path, spec: TinySpec = TinySpec(), *, drop_keys: tuple[str, ...] = ()
) -> Path:
    rng = np.random.default_rng(spec.seed)
    tokens, types = vocab()
    arch = spec.arch
    w = GGUFWriter(str(path), arch)
    w.add_name(f"tiny-{arch}-{spec.weight_type}")
    w.add_block_count(spec.n_layers)
    w.add_context_length(spec.context)
    w.add_embedding_length(spec.hidden)
    w.add_feed_forward_length(spec.ffn)
    w.add_head_count(spec.n_heads)
    w.add_head_count_kv(spec.n_kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(spec.hidden // spec.n_heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    if "tokenizer.ggml.merges" not in drop_keys:
        w.add_token_merges(MERGES)
    w.add_bos_token_id(tokens.index("<|im_start|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    H, F, V = spec.hidden, spec.ffn, len(tokens)
    D = H // spec.n_heads
    s = spec.scale

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * s).astype(np.float32)

    _add(w, "token_embd.weight", mat(V, H) * 10, spec.embedding_type, rng)
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(H)).astype(np.float32))
        _add(w, p + "attn_q.weight", mat(spec.n_heads * D, H), spec.weight_type, rng)
        _add(w, p + "attn_k.weight", mat(spec.n_kv_heads * D, H), spec.weight_type, rng)
        _add(w, p + "attn_v.weight", mat(spec.n_kv_heads * D, H), spec.weight_type, rng)
        if arch == "qwen2":
            for n, rows in (
                ("q", spec.n_heads * D),
                ("k", spec.n_kv_heads * D),
                ("v", spec.n_kv_heads * D),
            ):
                w.add_tensor(
                    p + f"attn_{n}.bias", (0.1 * rng.standard_normal(rows)).astype(np.float32)
                )
        _add(w, p + "attn_output.weight", mat(H, spec.n_heads * D), spec.weight_type, rng)
        _add(w, p + "ffn_gate.weight", mat(F, H), spec.weight_type, rng)
        _add(w, p + "ffn_up.weight", mat(F, H), spec.weight_type, rng)
        _add(w, p + "ffn_down.weight", mat(H, F), spec.weight_type, rng)
    w.add_tensor("output_norm.weight", np.ones(H, np.float32))
    if not spec.tied:
        _add(w, "output.weight", mat(V, H) * 10, spec.weight_type, rng)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
