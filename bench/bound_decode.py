"""What bounds Parley's CPU decode speed: the two measurements behind the misses in RESULTS.md.

    .venv/bin/python bench/bound_decode.py [--rounds 7] [--tokens 128] [--json FILE]

1. **Q4_1 offset corrections** (starter model). A Q4_1 block is ``w = d*q + m``; MatMulNBits
   has only integer zero points, so the converter adds ``blocksum(x) @ C`` after each of the
   four matrices of a layer (DESIGN.md; three small nodes each, 360 in all). This times decode
   of the real bundle against a copy with those corrections cut out of the graph (wrong
   numbers, the same weights and every other node): the difference is what exact Q4_1 costs
   on top of ONNX Runtime's int4 kernel. Both at 2 threads and at 1 thread (if the cost were
   thread hand-offs it would shrink at 1 thread; it does not).
2. **Memory bandwidth** (synthetic ~1B Q4_0, no corrections). Decode reads every weight once per
   token, so ``weight bytes x tok/s`` is the bandwidth it achieves. The ceiling is one
   MatMulNBits node of 256 MB run alone (the int4 kernel streaming weights at its best on this
   machine); ``ceiling / bytes per token`` is the fastest decode possible without reading fewer
   bytes.

Variants run interleaved in rounds, each with its own session (the machine drifts: read the
ratios, not single numbers). Both bundles come from the ``parley bench`` cache.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop import benchmark as b
from desktop.engine.bundle import open_bundle
from desktop.engine.decoder import SharedKVDecoder
from desktop.engine.providers import CPU
from desktop.engine.session import session_options


def session(model: Path, threads: int) -> ort.InferenceSession:
    opts = session_options(CPU, threads)  # the app's own settings
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model), opts, providers=[CPU])


def strip_corrections(src: Path, dst: Path) -> int:
    """Copy bundle ``src`` to ``dst`` with every ``MatMulNBits + (sums @ C)`` Add replaced by
    the MatMulNBits output alone. Returns how many corrections were cut."""
    shutil.copytree(src, dst)
    model = onnx.load(str(src / "model.onnx"), load_external_data=False)
    producer = {out: n for n in model.graph.node for out in n.output}
    drop: set[str] = set()
    rename: dict[str, str] = {}
    for n in model.graph.node:
        if n.op_type != "Add" or len(n.input) != 2:
            continue
        y, corr = (producer.get(i) for i in n.input)
        if y is None or corr is None or y.op_type != "MatMulNBits" or corr.op_type != "MatMul":
            continue
        sums = producer.get(corr.input[0])
        drop |= {n.name, corr.name} | ({sums.name} if sums is not None else set())
        rename[n.output[0]] = n.input[0]
    kept = [n for n in model.graph.node if n.name not in drop]
    for n in kept:
        for i, name in enumerate(n.input):
            n.input[i] = rename.get(name, name)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    onnx.save(model, str(dst / "model.onnx"))
    return len(rename)


def decoder(bundle_dir: Path, threads: int) -> SharedKVDecoder:
    bundle = open_bundle(bundle_dir)
    return SharedKVDecoder(
        session(bundle.model_file, threads),
        kv_heads=bundle.kv_heads,
        head_dim=bundle.head_dim,
        max_length=2048,
        vocab_size=bundle.vocab_size,
    )


def decode_tok_s(dec: SharedKVDecoder, prompt: list[int], tokens: int) -> float:
    dec.reset()
    ids = list(prompt)
    logits = dec.forward(ids, 0)
    t = time.perf_counter()
    for _ in range(tokens):
        ids.append(int(np.argmax(logits)))
        logits = dec.forward(ids, len(ids) - 1)
    return tokens / (time.perf_counter() - t)


def interleaved(
    variants: dict[str, SharedKVDecoder], prompt: list[int], tokens: int, rounds: int
) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for dec in variants.values():
        decode_tok_s(dec, prompt, 8)  # warm-up
    for _ in range(rounds):
        for name, dec in variants.items():
            runs[name].append(decode_tok_s(dec, prompt, tokens))
    return runs


def ratio(runs: dict[str, list[float]], a: str, b_: str) -> float:
    return statistics.median(x / y for x, y in zip(runs[a], runs[b_], strict=True))


def weight_bytes_per_token(bundle_dir: Path) -> int:
    """Bytes of the initializers every decode step reads: the MatMulNBits inputs (weights,
    scales, zero points) and the correction matrices; not the embedding table's rows."""
    model = onnx.load(str(bundle_dir / "model.onnx"), load_external_data=False)
    sizes: dict[str, int] = {}
    for init in model.graph.initializer:
        length = next((int(e.value) for e in init.external_data if e.key == "length"), None)
        sizes[init.name] = length if length is not None else len(init.raw_data)
    read: set[str] = set()
    for n in model.graph.node:
        if n.op_type in ("MatMulNBits", "MatMul"):
            read |= {i for i in n.input[1:] if i in sizes}
    return sum(sizes[name] for name in read)


def bandwidth_probe(threads: int, rounds: int, mb: int = 256) -> float:
    """GB/s of one 4-bit MatMulNBits GEMV over ``mb`` MB of weights (K=2048)."""
    K, block = 2048, 32
    N = mb * 2**20 // (K // 2)
    rng = np.random.default_rng(0)
    qweight = rng.integers(0, 256, (N, K // block, block // 2), dtype=np.uint8)
    scales = rng.random(N * K // block, dtype=np.float32) * 0.01
    node = helper.make_node(
        "MatMulNBits",
        ["x", "w", "s"],
        ["y"],
        domain="com.microsoft",
        K=K,
        N=N,
        bits=4,
        block_size=block,
        accuracy_level=4,
    )
    graph = helper.make_graph(
        [node],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])],
        [onnx.numpy_helper.from_array(qweight, "w"), onnx.numpy_helper.from_array(scales, "s")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.onnx"
        onnx.save(model, str(path), save_as_external_data=True)
        sess = session(path, threads)
    x = rng.standard_normal((1, K)).astype(np.float32)
    nbytes = qweight.nbytes + scales.nbytes
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(5):
            sess.run(None, {"x": x})
        best = max(best, 5 * nbytes / (time.perf_counter() - t) / 1e9)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    cache = b.bench_cache()
    gguf = b.starter_gguf(cache)
    starter = b.parley_bundle(gguf, cache, "starter")
    prompt = list(b.make_job(starter, args.tokens)["prompt_ids"])
    out: dict[str, Any] = {"rounds": args.rounds, "tokens": args.tokens}

    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / "no-corrections"
        out["corrections_cut"] = strip_corrections(starter, stripped)
        for threads in (2, 1):
            runs = interleaved(
                {"exact": decoder(starter, threads), "cut": decoder(stripped, threads)},
                prompt,
                args.tokens,
                args.rounds,
            )
            exact, cut = (statistics.median(runs[k]) for k in ("exact", "cut"))
            out[f"q4_1_threads{threads}"] = {
                "exact_tok_s": exact,
                "cut_tok_s": cut,
                "cut_vs_exact": ratio(runs, "cut", "exact"),
                "correction_ms_per_token": 1e3 / exact - 1e3 / cut,
                "runs": runs,
            }
            print(
                f"starter, {threads} thread(s): exact Q4_1 {exact:.1f} tok/s, corrections cut "
                f"{cut:.1f} tok/s (x{out[f'q4_1_threads{threads}']['cut_vs_exact']:.2f}); "
                f"the corrections cost {1e3 / exact - 1e3 / cut:.2f} ms per token",
                flush=True,
            )

    synth = b.parley_bundle(b.synthetic_gguf(gguf, cache), cache, "synthetic")
    per_token = weight_bytes_per_token(synth)
    runs = interleaved({"synthetic": decoder(synth, 2)}, prompt, 32, max(3, args.rounds // 2))
    tok_s = statistics.median(runs["synthetic"])
    probe = bandwidth_probe(2, args.rounds)
    out["synthetic_1b"] = {
        "weight_mb_per_token": per_token / 1e6,
        "decode_tok_s": tok_s,
        "achieved_gb_s": per_token * tok_s / 1e9,
        "matmulnbits_probe_gb_s": probe,
        "ceiling_tok_s": probe * 1e9 / per_token,
    }
    s = out["synthetic_1b"]
    print(
        f"synthetic 1B: {s['weight_mb_per_token']:.0f} MB of weights per token x "
        f"{tok_s:.1f} tok/s = {s['achieved_gb_s']:.1f} GB/s; one MatMulNBits alone streams "
        f"{probe:.1f} GB/s -> ceiling {s['ceiling_tok_s']:.1f} tok/s",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
