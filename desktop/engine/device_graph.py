"""The GPU variant of a Parley graph, derived in memory when a bundle is opened on CUDA.

ONNX Runtime's CUDA kernels for ``GroupQueryAttention`` and ``GatherBlockQuantized`` exist
for float16 (and bfloat16) only, so the float32 graph that serves the CPU cannot run there.
Rather than store a second graph in every bundle, the float32 graph is rewritten when the
session is created:

- every float32 initializer (scales, norms, rotary caches, dense weights) becomes float16,
  handed to ONNX Runtime as in-memory initializers; the 4- and 8-bit weight blocks stay
  where they are, read from the bundle's own data file;
- each Q4_1-style offset correction (``MatMulNBits(x) + blocksum(x) @ C``, three extra
  kernels per linear layer, see ``desktop/convert/quant.py``) folds into a float16 zero
  point of its ``MatMulNBits``: ``d * (q - zp)`` with ``zp = 2**(bits-1) - C / d`` is the
  same weight. ONNX Runtime's CPU kernel reads float zero points slowly (the float32 graph
  keeps the exact correction there), its CUDA kernel at full speed: on an H100 the decode
  step went from 497 to 680 tokens/s with the same accuracy against float32 (mean KL
  0.0077 against 0.0079; ``bench/gpu/diagnose.py``). A tensor with a zero scale keeps its
  correction (no zero point can express its offset);
- the KV cache inputs and outputs become float16 (half the device memory);
- ``logits`` stays float32 (a Cast at the end), so sampling is unchanged;
- a ``next_token`` output (ArgMax of the logits, int64 [1, 1]) lets greedy decoding copy
  eight bytes back per token instead of the whole vocabulary row.

Nothing is written to disk; a read-only bundle (the installer's starter model) works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

if TYPE_CHECKING:
    from onnx import GraphProto, NodeProto, TensorProto

NEXT_TOKEN = "next_token"
_EXTERNAL_FOLDER = "session.model_external_initializers_file_folder_path"
_IN_MEMORY = "parley-in-memory"  # never read: the initializer is supplied as an OrtValue
_FP16_MAX = float(np.finfo(np.float16).max)


class DeviceGraphError(ValueError):
    """The graph cannot be turned into its float16 variant (the reason is for the user)."""


@dataclass(frozen=True)
class DeviceGraph:
    """A serialized float16 graph plus what ``SessionOptions`` needs to load it."""

    model: bytes
    folder: Path
    names: tuple[str, ...]
    values: tuple[ort.OrtValue, ...]  # must outlive the session created from them

    def configure(self, options: ort.SessionOptions) -> None:
        options.add_session_config_entry(_EXTERNAL_FOLDER, str(self.folder))
        options.add_external_initializers(list(self.names), list(self.values))


def _placeholder(name: str, shape: tuple[int, ...]) -> TensorProto:
    from onnx import TensorProto

    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.FLOAT16
    tensor.dims.extend(shape)
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", _IN_MEMORY
    return tensor


def half_precision(model_file: Path, *, fold_offsets: bool = True) -> DeviceGraph:
    """Rewrite the float32 Parley graph in ``model_file`` as described in the module doc
    (``fold_offsets=False`` keeps the exact corrections: ``bench/gpu/diagnose.py``)."""
    import onnx  # only the GPU path needs it; keep it off the CPU engine's import time
    from onnx import TensorProto, helper, numpy_helper

    folder = model_file.parent
    try:
        model = onnx.load(str(model_file), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and OSError alike
        raise DeviceGraphError(f"{model_file.name} is unreadable: {exc}") from exc
    graph = model.graph
    if fold_offsets:
        _fold_offsets(graph, folder)
    names: list[str] = []
    values: list[ort.OrtValue] = []
    initializers: list[TensorProto] = []
    for tensor in graph.initializer:
        if tensor.data_type != TensorProto.FLOAT:
            initializers.append(tensor)
            continue
        array = numpy_helper.to_array(tensor, base_dir=str(folder))
        if array.size and float(np.abs(array).max()) > _FP16_MAX:
            raise DeviceGraphError(f"{tensor.name} holds values beyond float16's range")
        half = np.ascontiguousarray(array.astype(np.float16))
        names.append(tensor.name)
        values.append(ort.OrtValue.ortvalue_from_numpy(half))
        initializers.append(_placeholder(tensor.name, tuple(half.shape)))
    del graph.initializer[:]
    graph.initializer.extend(initializers)

    for value in [*graph.input, *graph.output]:
        kind = value.type.tensor_type
        if kind.elem_type == TensorProto.FLOAT and value.name != "logits":
            kind.elem_type = TensorProto.FLOAT16
    final = [node for node in graph.node if list(node.output) == ["logits"]]
    if len(final) != 1:
        raise DeviceGraphError("not a Parley graph: no single node writes 'logits'")
    raw = final[0].input[0]
    graph.node.remove(final[0])
    graph.node.append(helper.make_node("Cast", [raw], ["logits"], "logits_fp32", to=1))
    graph.node.append(
        helper.make_node("ArgMax", ["logits"], [NEXT_TOKEN], NEXT_TOKEN, axis=-1, keepdims=0)
    )
    graph.output.append(helper.make_tensor_value_info(NEXT_TOKEN, TensorProto.INT64, [1, 1]))
    return DeviceGraph(model.SerializeToString(), folder, tuple(names), tuple(values))


def _fold_offsets(graph: GraphProto, folder: Path) -> int:
    """Fold every ``Add(MatMulNBits(x), MatMul(MatMul(x, E), C))`` into the MatMulNBits as
    float zero points (module doc); returns how many were folded."""
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    dropped: list[NodeProto] = []
    folded = 0
    for add in [n for n in graph.node if n.op_type == "Add" and len(n.input) == 2]:
        base, corr = (producer.get(name) for name in add.input)
        if base is None or corr is None or base.op_type != "MatMulNBits":
            continue
        if corr.op_type != "MatMul" or corr.input[1] not in inits or len(base.input) > 3:
            continue
        sums = producer.get(corr.input[0])
        if sums is None or sums.op_type != "MatMul" or sums.input[0] != base.input[0]:
            continue
        if base.input[2] not in inits:
            continue
        bits = next((a.i for a in base.attribute if a.name == "bits"), 4)
        scales = numpy_helper.to_array(inits[base.input[2]], base_dir=str(folder))
        offsets = numpy_helper.to_array(inits[corr.input[1]], base_dir=str(folder))
        d = scales.astype(np.float32).reshape(scales.shape[0], -1)  # [N, K/block]
        c = offsets.astype(np.float32).T.reshape(d.shape)  # [K/block, N] -> [N, K/block]
        if not (d != 0).all():
            continue
        zero_points = 2.0 ** (bits - 1) - c / d
        if not np.isfinite(zero_points).all() or np.abs(zero_points).max() > _FP16_MAX:
            continue
        name = f"{base.input[1]}.float_zero_points"  # the weight's name: unique
        graph.initializer.append(
            numpy_helper.from_array(zero_points.reshape(scales.shape).astype(np.float32), name)
        )
        base.input.append(name)
        for node in readers.get(add.output[0], []):  # they read the MatMulNBits directly
            for i, value in enumerate(node.input):
                if value == add.output[0]:
                    node.input[i] = base.output[0]
        dropped += [add, corr]
        readers[sums.output[0]].remove(corr)
        if not readers[sums.output[0]]:
            dropped.append(sums)
        folded += 1
    if any(out.name in {node.output[0] for node in dropped} for out in graph.output):
        raise DeviceGraphError("not a Parley graph: a correction is a graph output")
    for node in dropped:
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return folded
