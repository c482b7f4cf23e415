"""bench/bound_decode.py's graph surgery, on a tiny Q4_1 model (the timing itself is a
benchmark, never a test)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from bench.bound_decode import decode_tok_s, decoder, strip_corrections, weight_bytes_per_token
from tests.ggufs import TinySpec
from tests.models import TinyModels


def test_cutting_the_q4_1_corrections_leaves_a_graph_that_runs(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q4_1"))
    before = Counter(n.op_type for n in onnx.load(str(bundle / "model.onnx")).graph.node)
    cut = strip_corrections(bundle, tmp_path / "cut")
    after = Counter(n.op_type for n in onnx.load(str(tmp_path / "cut" / "model.onnx")).graph.node)
    assert cut >= 4, "q|k|v, o, gate|up and down of every layer carry one"
    assert before["MatMul"] - after["MatMul"] == 2 * cut
    assert before["Add"] - after["Add"] == cut
    assert after["MatMulNBits"] == before["MatMulNBits"]
    prompt = [1, 2, 3, 4]
    assert decode_tok_s(decoder(tmp_path / "cut", 1), prompt, 4) > 0
    exact = decoder(bundle, 1).forward(prompt, 0)
    assert np.isfinite(exact).all()
    assert weight_bytes_per_token(tmp_path / "cut") < weight_bytes_per_token(bundle)
