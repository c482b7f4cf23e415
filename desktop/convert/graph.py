"""Build the decoder graph: ONNX with ONNX Runtime contrib operators.

One layer::

    x  = SkipSimplifiedLayerNorm(prev_out, residual)        (the first layer: plain RMSNorm)
    qkv = MatMulNBits(x, Wqkv) [+ blocksum(x) @ Cqkv]       q|k|v fused
    a  = GroupQueryAttention(q, k, v, past, rotary inside)  KV buffers shared past/present
    o  = MatMulNBits(a, Wo) [+ correction]
    x2 = SkipSimplifiedLayerNorm(o, residual)
    gu = MatMulNBits(x2, Wgate|up) [+ correction]           gate|up fused
    out = MatMulNBits(silu(gate) * up, Wdown) [+ correction]

Logits are computed for the last position only (a 1,500-token prompt would otherwise produce
a 295 MB logits tensor for one useful row).

Inputs: ``input_ids`` int64 [1, S]; ``past_key_values.{i}.key|value`` float [1, kvH, Smax, D]
(bound to the same buffers as the ``present.*`` outputs); ``seqlens_k`` int32 [1] = total - 1;
``total_sequence_length`` int32 scalar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from desktop.convert.gguf_source import LlamaSpec
from desktop.convert.quant import Linear

MS = "com.microsoft"
GRAPH_SIGNATURE = "parley-gqa-v1"  # same I/O contract; packed QKV is internal


@dataclass
class _Builder:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _block_sum: dict[int, str] = field(default_factory=dict)

    def name(self, base: str) -> str:
        n, i = base, 1
        while n in self._names:
            n, i = f"{base}_{i}", i + 1
        self._names.add(n)
        return n

    def init(self, name: str, array: npt.NDArray[np.generic]) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], n_out: int = 1, domain: str = "", **attrs: Any
    ) -> list[str]:
        base = self.name(op_type)
        outs = [f"{base}/out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, base, domain=domain, **attrs))
        return outs

    def block_sum_matrix(self, K: int, block: int) -> str:
        """``[K, K/block]`` of ones on each block: ``x @ E`` sums x over every block."""
        if K not in self._block_sum:
            E = np.zeros((K, K // block), np.float32)
            E[np.arange(K), np.arange(K) // block] = 1.0
            self._block_sum[K] = self.init(f"block_sum_{K}", E)
        return self._block_sum[K]

    def linear(self, x: str, lin: Linear, name: str, accuracy_level: int) -> str:
        if lin.dense is not None:
            return self.op("MatMul", [x, self.init(name + ".weight", lin.dense)])[0]
        assert lin.packed is not None
        assert lin.scales is not None
        inputs = [
            x,
            self.init(name + ".qweight", lin.packed),
            self.init(name + ".scales", lin.scales),
        ]
        if lin.zero_points is not None:
            inputs.append(self.init(name + ".zero_points", lin.zero_points))
        y = self.op(
            "MatMulNBits",
            inputs,
            domain=MS,
            K=lin.K,
            N=lin.N,
            bits=lin.bits,
            block_size=lin.block_size,
            accuracy_level=accuracy_level,
        )[0]
        if lin.correction is None:
            return y
        sums = self.op("MatMul", [x, self.block_sum_matrix(lin.K, lin.block_size)])[0]
        corr = self.op("MatMul", [sums, self.init(name + ".offsets", lin.correction)])[0]
        return self.op("Add", [y, corr])[0]


@dataclass(frozen=True)
class LayerWeights:
    attn_norm: npt.NDArray[np.float32]
    ffn_norm: npt.NDArray[np.float32]
    qkv: list[Linear]  # fused [qkv] or separate [q, k, v]
    qkv_bias: npt.NDArray[np.float32] | None
    o: Linear
    gate_up: list[Linear]  # fused [gate|up] or separate [gate, up]
    down: Linear


def rotary_cache(
    spec: LlamaSpec, max_len: int, freq_factors: npt.NDArray[np.float32] | None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    half = spec.head_dim // 2
    inv_freq = 1.0 / (spec.rope_theta ** (np.arange(0, half, dtype=np.float64) * 2 / spec.head_dim))
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors.astype(np.float64)
    angles = np.outer(np.arange(max_len, dtype=np.float64), inv_freq)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def build_graph(
    spec: LlamaSpec,
    embedding: Linear,
    layers: Callable[[int], LayerWeights],
    final_norm: npt.NDArray[np.float32],
    lm_head: Linear,
    *,
    freq_factors: npt.NDArray[np.float32] | None = None,
    accuracy_level: int = 4,
    progress: Callable[[int], None] = lambda i: None,
) -> onnx.ModelProto:
    b = _Builder()
    _H, D, kvH = spec.hidden, spec.head_dim, spec.n_kv_heads
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "sequence_length"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, spec.vocab])]

    # Embedding lookup straight from the quantized table (shared with a tied LM head).
    emb_data = (
        b.init("token_embd.qweight", embedding.packed) if embedding.packed is not None else ""
    )
    if embedding.dense is not None:
        table = b.init("token_embd.weight", np.ascontiguousarray(embedding.dense.T))
        h = b.op("Gather", [table, "input_ids"])[0]
    else:
        assert embedding.scales is not None
        h = _embedding_lookup(b, embedding, emb_data)

    cos, sin = rotary_cache(spec, spec.context_length, freq_factors)
    cos_name, sin_name = b.init("cos_cache", cos), b.init("sin_cache", sin)
    one = b.init("one_i64", np.array([1], np.int64))

    x = b.op(
        "SimplifiedLayerNormalization",
        [h, b.init("blk.0.attn_norm", layers(0).attn_norm)],
        axis=-1,
        epsilon=spec.rms_eps,
        stash_type=1,
    )[0]
    residual = h
    for i in range(spec.n_layers):
        w = layers(i)
        p = f"blk.{i}"
        # Attention.
        if len(w.qkv) == 1:
            qkv = b.linear(x, w.qkv[0], p + ".attn_qkv", accuracy_level)
            if w.qkv_bias is not None:
                qkv = b.op("Add", [qkv, b.init(p + ".attn_qkv.bias", w.qkv_bias)])[0]
            # Packed q|k|v goes to GroupQueryAttention as is: no Split op.
            q, k, v = qkv, "", ""
        else:
            q, k, v = (
                b.linear(x, lin, f"{p}.attn_{n}", accuracy_level)
                for lin, n in zip(w.qkv, "qkv", strict=True)
            )
            if w.qkv_bias is not None:
                parts = np.split(w.qkv_bias, [spec.n_heads * D, spec.n_heads * D + kvH * D])
                q, k, v = (
                    b.op("Add", [t, b.init(f"{p}.attn_{n}.bias", bias)])[0]
                    for t, n, bias in zip((q, k, v), "qkv", parts, strict=True)
                )
        past_k, past_v = f"past_key_values.{i}.key", f"past_key_values.{i}.value"
        pres_k, pres_v = f"present.{i}.key", f"present.{i}.value"
        for name in (past_k, past_v):
            inputs.append(
                helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, [1, kvH, "max_sequence_length", D]
                )
            )
        for name in (pres_k, pres_v):
            outputs.append(
                helper.make_tensor_value_info(
                    name, TensorProto.FLOAT, [1, kvH, "max_sequence_length", D]
                )
            )
        attn = b.name(p + ".attn")
        b.nodes.append(
            helper.make_node(
                "GroupQueryAttention",
                [q, k, v, past_k, past_v, "seqlens_k", "total_sequence_length", cos_name, sin_name],
                [attn, pres_k, pres_v],
                attn,
                domain=MS,
                num_heads=spec.n_heads,
                kv_num_heads=kvH,
                do_rotary=1,
                rotary_interleaved=int(spec.rope_interleaved),
                scale=float(1.0 / np.sqrt(D)),
            )
        )
        o = b.linear(attn, w.o, p + ".attn_output", accuracy_level)
        x2, _, _, residual = b.op(
            "SkipSimplifiedLayerNormalization",
            [o, residual, b.init(p + ".ffn_norm", w.ffn_norm)],
            4,
            domain=MS,
            epsilon=spec.rms_eps,
        )
        # Feed-forward (SwiGLU).
        if len(w.gate_up) == 1:
            gu = b.linear(x2, w.gate_up[0], p + ".ffn_gate_up", accuracy_level)
            gate, up = b.op(
                "Split",
                [gu, b.init(p + ".gu_split", np.array([spec.ffn, spec.ffn], np.int64))],
                2,
                axis=-1,
            )
        else:
            gate = b.linear(x2, w.gate_up[0], p + ".ffn_gate", accuracy_level)
            up = b.linear(x2, w.gate_up[1], p + ".ffn_up", accuracy_level)
        silu = b.op("Mul", [gate, b.op("Sigmoid", [gate])[0]])[0]
        act = b.op("Mul", [silu, up])[0]
        down = b.linear(act, w.down, p + ".ffn_down", accuracy_level)
        if i + 1 < spec.n_layers:
            next_norm = b.init(f"blk.{i + 1}.attn_norm", layers(i + 1).attn_norm)
            x, _, _, residual = b.op(
                "SkipSimplifiedLayerNormalization",
                [down, residual, next_norm],
                4,
                domain=MS,
                epsilon=spec.rms_eps,
            )
        else:
            x = down
        progress(i)

    # Final norm and LM head on the last position only.
    starts, ends = (
        b.init("last_start", np.array([-1], np.int64)),
        b.init("last_end", np.array([np.iinfo(np.int64).max], np.int64)),
    )
    last_x = b.op("Slice", [x, starts, ends, one])[0]
    last_res = b.op("Slice", [residual, starts, ends, one])[0]
    normed = b.op(
        "SkipSimplifiedLayerNormalization",
        [last_x, last_res, b.init("output_norm", final_norm)],
        1,
        domain=MS,
        epsilon=spec.rms_eps,
    )[0]
    lm = lm_head
    if lm is embedding and embedding.packed is not None:
        # Tied weights: the LM head reads the same quantized table as the embedding.
        assert lm.scales is not None
        head_inputs = [normed, emb_data, b.init("lm_head.scales", lm.scales)]
        if lm.zero_points is not None:
            head_inputs.append(b.init("lm_head.zero_points", lm.zero_points))
        logits = b.op(
            "MatMulNBits",
            head_inputs,
            domain=MS,
            K=lm.K,
            N=lm.N,
            bits=lm.bits,
            block_size=lm.block_size,
            accuracy_level=accuracy_level,
        )[0]
        if lm.correction is not None:
            sums = b.op("MatMul", [normed, b.block_sum_matrix(lm.K, lm.block_size)])[0]
            corr = b.op("MatMul", [sums, b.init("lm_head.offsets", lm.correction)])[0]
            logits = b.op("Add", [logits, corr])[0]
    else:
        logits = b.linear(normed, lm, "lm_head", accuracy_level)
    b.nodes.append(helper.make_node("Identity", [logits], ["logits"], "logits_out"))

    inputs += [
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [1]),
        helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
    ]
    graph = helper.make_graph(b.nodes, "parley-decoder", inputs, outputs, b.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
        producer_name="parley",
    )
    model.ir_version = 8
    return model


def _embedding_lookup(b: _Builder, emb: Linear, data: str) -> str:
    """Gather rows of the quantized table and dequantize only those rows."""
    assert emb.scales is not None
    assert emb.packed is not None
    assert emb.zero_points is None, "quantized embeddings are symmetric (default zero point)"
    assert emb.packed.shape[-1] * (8 // emb.bits) == emb.block_size
    # Data stays [V, K/block, block] (the layout MatMulNBits needs for a tied LM head), so the
    # quantized axis is the last one and each of its "blocks" is one whole GGUF block.
    nb = emb.K // emb.block_size
    scales = b.init("token_embd.scales", emb.scales.reshape(emb.N, nb, 1))
    blocks = b.op(
        "GatherBlockQuantized",
        [data, "input_ids", scales],
        domain=MS,
        bits=emb.bits,
        block_size=emb.block_size,
        gather_axis=0,
        quantize_axis=2,
    )[0]  # [1, S, K/block, block]
    if emb.correction is not None:
        # Q4_1-style offsets: one per block, [V, K/block, 1] broadcast over the block.
        offsets = b.init("token_embd.offsets", np.ascontiguousarray(emb.correction.T)[..., None])
        blocks = b.op("Add", [blocks, b.op("Gather", [offsets, "input_ids"])[0]])[0]
    return b.op("Reshape", [blocks, b.init("emb_shape", np.array([1, -1, emb.K], np.int64))])[0]
