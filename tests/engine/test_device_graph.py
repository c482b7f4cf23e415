"""The GPU path, checked on the CPU: the float16 graph derived from a bundle, the
device-resident decoder's static bindings, and the provider fallback around them.

CUDA graph capture itself needs an NVIDIA GPU (``bench/bench_gpu.py``); everything it replays
(bindings updated in place, one-token steps on fixed buffers, the on-device ArgMax) runs here
through the same code on the CPU provider."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from desktop.engine import session as session_mod
from desktop.engine.decoder import DeviceDecoder, SharedKVDecoder, reusable
from desktop.engine.device_graph import NEXT_TOKEN, DeviceGraph, DeviceGraphError, half_precision
from desktop.engine.engine import load_engine
from desktop.engine.providers import CPU, CUDA
from desktop.engine.session import create_session
from desktop.engine.types import GREEDY, ChatMessage, PromptProgress, SamplingParams, TextDelta
from tests.ggufs import TinySpec
from tests.models import TinyModels
from tests.starter import starter_bundle_path

# Q4_1 everywhere, embedding included: the starter model's layout (offset corrections and the
# quantized embedding gather both go through the rewrite).
Q41 = TinySpec(weight_type="Q4_1", embedding_type="Q4_1")


def _config(bundle: Path) -> dict[str, int]:
    import json

    cfg = json.loads((bundle / "config.json").read_text())
    return {
        "kv_heads": cfg["num_key_value_heads"],
        "head_dim": cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]),
        "vocab_size": cfg["vocab_size"],
    }


def _cpu_session(source: str | bytes, graph: object = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if graph is not None:
        graph.configure(opts)  # type: ignore[attr-defined]
    return ort.InferenceSession(source, opts, providers=[CPU])


def _snapshot(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in folder.iterdir()}


def test_half_precision_graph_runs_and_matches_float32(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(Q41)
    before = _snapshot(bundle)
    graph = half_precision(bundle / "model.onnx")
    assert _snapshot(bundle) == before, "the bundle must not be written to"
    fp16 = _cpu_session(graph.model, graph)
    fp32 = _cpu_session(str(bundle / "model.onnx"))
    inputs = {i.name: i.type for i in fp16.get_inputs()}
    outputs = {o.name: o.type for o in fp16.get_outputs()}
    assert inputs["past_key_values.0.key"] == "tensor(float16)"
    assert outputs["present.1.value"] == "tensor(float16)"
    assert outputs["logits"] == "tensor(float)"
    assert outputs[NEXT_TOKEN] == "tensor(int64)"

    cfg = _config(bundle)
    half = DeviceDecoder(fp16, max_length=64, device="cpu", **cfg)
    full = SharedKVDecoder(fp32, max_length=64, **cfg)
    prompt = [1, 17, 42, 7, 99, 3, 250, 12]
    a, b = full.forward(prompt, 0).copy(), half.forward(prompt, 0).copy()
    assert np.isfinite(b).all()
    # float16 activations: close, not equal; the same best tokens.
    assert np.abs(a - b).max() <= 0.02 * np.abs(a).max()
    assert set(np.argsort(a)[-3:]) & set(np.argsort(b)[-3:])
    assert half.forward_argmax(prompt, 0) == int(np.argmax(b))


def test_q4_1_offsets_fold_into_float16_zero_points(tiny_models: TinyModels) -> None:
    """The three correction kernels per linear layer are gone from the GPU graph; every
    4-bit MatMulNBits reads float16 zero points instead (and still matches float32, above)."""
    import onnx

    _, bundle = tiny_models.get(Q41)
    fp32 = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
    assert sum(n.op_type == "MatMul" for n in fp32.graph.node) > 0
    graph = half_precision(bundle / "model.onnx")
    model = onnx.load_from_string(graph.model)
    ops = [n.op_type for n in model.graph.node]
    assert "MatMul" not in ops
    assert ops.count("Add") == sum(n.op_type == "Add" for n in fp32.graph.node) - ops.count(
        "MatMulNBits"
    )
    linears = [n for n in model.graph.node if n.op_type == "MatMulNBits"]
    assert linears
    assert all(len(n.input) == 4 for n in linears)
    zero_points = {n.input[3] for n in linears}
    assert zero_points <= set(graph.names)  # in-memory float16 initializers
    assert all(
        v.data_type() == "tensor(float16)"
        for name, v in zip(graph.names, graph.values, strict=True)
        if name in zero_points
    )


def test_a_zero_scale_keeps_its_exact_correction(tiny_models: TinyModels, tmp_path: Path) -> None:
    """No zero point expresses the offset of a block whose scale is 0: that tensor keeps its
    MatMul correction, the others fold, and the graph still matches float32."""
    import shutil

    import onnx
    from onnx import numpy_helper

    _, source = tiny_models.get(Q41)
    bundle = tmp_path / "bundle"
    shutil.copytree(source, bundle)
    model = onnx.load(str(bundle / "model.onnx"))
    first = next(n for n in model.graph.node if n.op_type == "MatMulNBits")
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name == first.input[2]:
            scales = numpy_helper.to_array(tensor).copy()
            scales[0, 0] = 0.0
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(scales, tensor.name))
    (bundle / "model.onnx.data").unlink()
    onnx.save(model, str(bundle / "model.onnx"), save_as_external_data=True,
              location="model.onnx.data")  # fmt: skip

    graph = half_precision(bundle / "model.onnx")
    derived = onnx.load_from_string(graph.model)
    kept = [n for n in derived.graph.node if n.op_type == "MatMulNBits" and len(n.input) == 3]
    assert [n.name for n in kept] == [first.name]
    assert sum(n.op_type == "MatMul" for n in derived.graph.node) == 2  # block sums, offsets
    cfg = _config(bundle)
    half = DeviceDecoder(_cpu_session(graph.model, graph), max_length=64, device="cpu", **cfg)
    full = SharedKVDecoder(_cpu_session(str(bundle / "model.onnx")), max_length=64, **cfg)
    prompt = [1, 17, 42, 7, 99, 3, 250, 12]
    a, b = full.forward(prompt, 0).copy(), half.forward(prompt, 0).copy()
    assert np.abs(a - b).max() <= 0.02 * np.abs(a).max()


def test_a_prompt_runs_in_chunks_of_warmed_lengths() -> None:
    assert DeviceDecoder.chunks(661) == [512, 128, 16, 4, 1]
    assert DeviceDecoder.chunks(1) == [1]
    assert DeviceDecoder.chunks(0) == []
    assert DeviceDecoder.chunks(2500) == [1024, 1024, 256, 128, 64, 4]
    for n in range(1, 300):
        sizes = DeviceDecoder.chunks(n)
        assert sum(sizes) == n
        assert set(sizes) <= set(DeviceDecoder.PREFILL_CHUNKS)


def test_a_chunked_prompt_gives_the_logits_of_one_run(tiny_models: TinyModels) -> None:
    """45 new tokens run as 32 + 8 + 4 + 1 against one run of 45, and the decoder warms
    every chunk length that fits its cache and forgets what it ran."""
    _, bundle = tiny_models.get(Q41)
    cfg = _config(bundle)
    ref = SharedKVDecoder(_cpu_session(str(bundle / "model.onnx")), max_length=64, **cfg)
    dev = DeviceDecoder(
        _cpu_session(str(bundle / "model.onnx")), max_length=64, device="cpu", **cfg
    )
    runs: list[int] = []
    run = dev._run_once

    def counted(ids: list[int], start: int) -> None:
        runs.append(len(ids) - start)
        run(ids, start)

    dev._run_once = counted  # type: ignore[method-assign]
    dev.warm_up()
    assert sorted(set(runs)) == [1, 2, 4, 8, 16, 32]  # 64 does not fit with a step after it
    assert list(dev.cached) == []
    runs.clear()
    prompt = [(7 * i + 3) % 200 + 1 for i in range(45)]
    got = dev.forward(prompt, 0)
    assert runs == [32, 8, 4, 1]
    np.testing.assert_allclose(got, ref.forward(prompt, 0), rtol=1e-5, atol=1e-4)
    assert list(dev.cached) == prompt


def test_device_decoder_equals_the_cpu_decoder_step_for_step(tiny_models: TinyModels) -> None:
    """Same float32 graph, static device-style bindings: prompt (run in chunks of warmed
    lengths), one-token steps, a follow-up that reuses the cache and one that rolls it back
    all give the same logits as one run per feed, up to float rounding."""
    _, bundle = tiny_models.get(Q41)
    cfg = _config(bundle)
    ref = SharedKVDecoder(_cpu_session(str(bundle / "model.onnx")), max_length=64, **cfg)
    dev = DeviceDecoder(
        _cpu_session(str(bundle / "model.onnx")), max_length=64, device="cpu", **cfg
    )
    assert dev.capacity == 64
    ids = [1, 5, 9, 200, 31]
    for _ in range(6):
        start = reusable(ref, ids)
        assert reusable(dev, ids) == start
        expected = ref.forward(ids, start)
        got = dev.forward(ids, start)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        assert int(np.argmax(got)) == int(np.argmax(expected))
        # A step passes the capacity as total_sequence_length (what a captured graph keeps);
        # a prompt chunk its real length. The logits are the same either way.
        total = int(dev._total.numpy())
        assert total == (64 if DeviceDecoder.chunks(len(ids) - start)[-1] == 1 else len(ids))
        ids = [*ids, int(np.argmax(expected))]
    assert list(dev.cached) == list(ref.cached) == ids[:-1]
    # A different follow-up shares only part of the cache: roll back and prefill the rest.
    branch = [*ids[:4], 77, 78, 79]
    start = reusable(dev, branch)
    assert start == 4
    np.testing.assert_allclose(
        dev.forward(branch, start), ref.forward(branch, start), rtol=1e-5, atol=1e-4
    )
    # Without a next_token output the greedy step falls back to argmax on the host.
    step = [*branch, 3]
    assert dev.forward_argmax(step, len(branch)) == int(np.argmax(ref.forward(step, len(branch))))


def test_engine_decodes_greedy_on_the_device_and_samples_on_the_host(
    tiny_models: TinyModels,
) -> None:
    _, bundle = tiny_models.get(Q41)
    engine = load_engine(bundle, "cpu")
    short = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=12)
    expected = [
        e.token_id for e in engine.generate_ids([1, 2, 3, 4], short) if isinstance(e, TextDelta)
    ]
    graph = half_precision(bundle / "model.onnx")
    device = DeviceDecoder(
        _cpu_session(graph.model, graph), max_length=128, device="cpu", **_config(bundle)
    )
    calls = {"argmax": 0, "logits": 0}
    forward, forward_argmax = device.forward, device.forward_argmax

    def counting_forward(ids: list[int], start: int) -> np.ndarray:
        calls["logits"] += 1
        return forward(ids, start)

    def counting_argmax(ids: list[int], start: int) -> int:
        calls["argmax"] += 1
        return forward_argmax(ids, start)

    device.forward = counting_forward  # type: ignore[method-assign]
    device.forward_argmax = counting_argmax  # type: ignore[method-assign]
    engine.decoder = device
    greedy = [
        e.token_id for e in engine.generate_ids([1, 2, 3, 4], short) if isinstance(e, TextDelta)
    ]
    # One device step per token (plus the one that found the stop id, if any); no logits.
    assert calls["logits"] == 0
    assert calls["argmax"] in (len(greedy), len(greedy) + 1)
    # float16 may flip a near tie late in a random model's answer, not its opening.
    assert greedy[:4] == expected[:4]
    sampled = SamplingParams(temperature=0.8, seed=3, max_new_tokens=8)
    list(engine.generate_ids([1, 2, 3, 4], sampled))
    assert calls["logits"] > 0
    penalised = SamplingParams(temperature=0.0, repetition_penalty=1.3, max_new_tokens=4)
    before = calls["logits"]
    list(engine.generate_ids([9, 8, 7], penalised))
    assert calls["logits"] > before, "a repetition penalty needs the logits on the host"


class _OnCuda:
    """A real CPU session that reports CUDA, as a working GPU session would."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)

    def get_providers(self) -> list[str]:
        return [CUDA, CPU]


Answer = Callable[[str | bytes, object], str]


def _onnxruntime_gpu(monkeypatch: pytest.MonkeyPatch, answer: Answer) -> list[tuple[bool, object]]:
    """Stand in for onnxruntime-gpu: CUDA is listed, and each session asks ``answer``
    (the model source, the first provider) what happens: "cpu" runs it on the CPU (what a
    build without CUDA libraries does), "cuda" runs it reporting CUDA; an exception raised
    by ``answer`` is ONNX Runtime refusing. Returns (float16 graph?, provider) per try."""
    monkeypatch.setattr(session_mod.ort, "get_available_providers", lambda: [CUDA, CPU])
    real = session_mod.ort.InferenceSession
    tried: list[tuple[bool, object]] = []

    def fake_session(
        source: str | bytes, opts: ort.SessionOptions, providers: list[object]
    ) -> object:
        tried.append((isinstance(source, bytes), providers[0]))
        outcome = answer(source, providers[0])
        session = real(source, opts, providers=[CPU])
        return _OnCuda(session) if outcome == "cuda" else session

    monkeypatch.setattr(session_mod.ort, "InferenceSession", fake_session)
    return tried


def _gpu_graph(bundle: Path) -> Callable[[], DeviceGraph]:
    return lambda: half_precision(bundle / "model.onnx")


def test_cuda_that_silently_runs_on_the_cpu_gets_the_float32_graph(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime-gpu without CUDA libraries creates the session on the CPU anyway. The
    float16 graph is then dropped and the float32 one loaded, with the reason kept."""
    _, bundle = tiny_models.get(Q41)

    def answer(source: str | bytes, _provider: object) -> str:
        if isinstance(source, bytes):
            os.write(2, b"[E:onnxruntime] Failed to load libcublasLt.so.12: cannot open\n")
        return "cpu"

    tried = _onnxruntime_gpu(monkeypatch, answer)
    result = create_session(bundle / "model.onnx", "auto", device_graph=_gpu_graph(bundle))
    assert tried[0] == (True, (CUDA, {"enable_cuda_graph": "1"}))
    assert tried[1] == (False, CPU)
    assert result.provider == CPU
    assert result.device_graph is None
    assert result.session.get_inputs()[1].type == "tensor(float)"
    assert result.fallback_reason is not None
    assert "libcublasLt" in result.fallback_reason


def test_cuda_graph_can_be_turned_off(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundle = tiny_models.get(Q41)
    monkeypatch.setenv("PARLEY_CUDA_GRAPH", "0")
    tried = _onnxruntime_gpu(monkeypatch, lambda _source, _provider: "cuda")
    result = create_session(bundle / "model.onnx", "cuda", device_graph=_gpu_graph(bundle))
    assert tried == [(True, (CUDA, {}))]
    assert result.provider == CUDA
    assert result.captured is False


def test_a_graph_that_cannot_be_derived_falls_back_with_its_reason(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, bundle = tiny_models.get(Q41)
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(DeviceGraphError, match="unreadable"):
        half_precision(broken)
    tried = _onnxruntime_gpu(monkeypatch, lambda _source, _provider: "cpu")
    result = create_session(
        bundle / "model.onnx", "auto", device_graph=lambda: half_precision(broken)
    )
    assert tried == [(False, CPU)]  # CUDA is not tried without its graph
    assert result.provider == CPU
    assert result.fallback_reason is not None
    assert result.fallback_reason.startswith("CUDA unavailable, running on CPU")
    assert "unreadable" in result.fallback_reason


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x.astype(np.float64) - x.max())
    return z / z.sum()


@pytest.mark.starter
def test_starter_model_through_its_float16_gpu_graph() -> None:
    """The real starter model's derived graph, run by the device decoder (here on the CPU
    provider), teacher-forced over a fixed answer next to the float32 graph. Measured with
    the Q4_1 offsets folded into float16 zero points: 92% top-1 agreement (33 of 36), mean KL
    0.0036 (0.0056 with the corrections kept as MatMuls; float16 activations either way; the
    first token of this answer is a near tie in float32 already: 'The' 24.29 vs 'La' 24.10)."""
    bundle = starter_bundle_path()
    engine = load_engine(bundle, "cpu", threads=2)
    graph = half_precision(bundle / "model.onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    graph.configure(opts)
    device = DeviceDecoder(
        ort.InferenceSession(graph.model, opts, providers=[CPU]),
        kv_heads=engine.bundle.kv_heads,
        head_dim=engine.bundle.head_dim,
        max_length=1024,
        vocab_size=engine.bundle.vocab_size,
        device="cpu",
    )
    prompt = engine.encode_chat(
        [
            ChatMessage("system", "You are a helpful assistant."),
            ChatMessage("user", "What is the capital of France?"),
        ]
    )
    answer = engine.tokenizer.encode(
        "The capital of France is Paris. It is known for the Eiffel Tower, the Louvre museum "
        "and its cafes. Paris has been the country's capital for centuries.",
        add_special_tokens=False,
    ).ids
    ids = prompt + answer
    agree, kl = [], []
    for n in range(len(prompt), len(ids) + 1):
        start = 0 if n == len(prompt) else n - 1
        a = _softmax(engine.decoder.forward(ids[:n], start))
        b = _softmax(device.forward(ids[:n], start))
        agree.append(int(np.argmax(a)) == int(np.argmax(b)))
        kl.append(float((a * (np.log(a + 1e-30) - np.log(b + 1e-30))).sum()))
    assert sum(agree) / len(agree) >= 0.9
    assert float(np.mean(kl)) <= 0.015
    # And it answers on its own, through the greedy step that picks on the device.
    device.reset()
    engine.decoder = device
    params = SamplingParams(**{**GREEDY.__dict__, "max_new_tokens": 24})
    events = list(engine.generate([ChatMessage("user", "Name a colour.")], params))
    assert any(isinstance(e, TextDelta) and e.text.strip() for e in events)


def test_cuda_libraries_from_pip_are_preloaded_only_when_cuda_is_tried(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundle = tiny_models.get(Q41)
    calls: list[int] = []
    monkeypatch.setattr(session_mod.ort, "preload_dlls", lambda: calls.append(1), raising=False)
    create_session(bundle / "model.onnx", "auto")  # this machine's CPU build
    assert calls == []
    _onnxruntime_gpu(monkeypatch, lambda _source, _provider: "cpu")
    result = create_session(bundle / "model.onnx", "auto")
    assert calls == [1]
    assert result.provider == CPU


def test_a_refused_capture_keeps_the_gpu_without_it(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundle = tiny_models.get(Q41)

    def answer(_source: str | bytes, provider: object) -> str:
        if provider == (CUDA, {"enable_cuda_graph": "1"}):
            raise RuntimeError("graph capture is not supported for this model")
        return "cuda"

    tried = _onnxruntime_gpu(monkeypatch, answer)
    result = create_session(bundle / "model.onnx", "auto", device_graph=_gpu_graph(bundle))
    assert [provider for _, provider in tried] == [(CUDA, {"enable_cuda_graph": "1"}), (CUDA, {})]
    assert result.provider == CUDA
    assert result.device_graph is not None
    assert result.captured is False
    assert result.fallback_reason is not None
    assert "capture unavailable: graph capture is not supported" in result.fallback_reason


def test_cuda_that_fails_either_way_gives_one_reason(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundle = tiny_models.get(Q41)

    def answer(_source: str | bytes, provider: object) -> str:
        if provider != CPU:
            raise RuntimeError("libcudart.so.13: cannot open shared object file")
        return "cpu"

    _onnxruntime_gpu(monkeypatch, answer)
    result = create_session(bundle / "model.onnx", "auto", device_graph=_gpu_graph(bundle))
    assert result.provider == CPU
    assert result.fallback_reason is not None
    assert "capture" not in result.fallback_reason
    assert result.fallback_reason.count("libcudart") == 1
    assert result.fallback_reason.startswith("CUDA unavailable, running on CPU: CUDA libraries")


def _float16_session_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_engine`` gets the float16 graph in a CPU session that says CUDA, with capture,
    as a working GPU would give it; a load on the CPU stays real."""
    from desktop.engine import engine as engine_mod
    from desktop.engine.session import SessionResult

    real_create = engine_mod.create_session

    def on_gpu(model_file: Path, device: str, threads: int, **kw: object) -> SessionResult:
        if device == "cpu":
            return real_create(model_file, "cpu", threads)
        graph = half_precision(model_file)
        return SessionResult(_cpu_session(graph.model, graph), CUDA, None, graph, captured=True)

    monkeypatch.setattr(engine_mod, "create_session", on_gpu)


def test_a_gpu_too_small_for_the_cache_runs_the_model_on_the_cpu(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The float16 session loads on CUDA, but the full-length KV cache does not fit: the
    model still answers, on the CPU, and the status bar says why."""
    from desktop.engine import engine as engine_mod

    _, bundle = tiny_models.get(Q41)
    _float16_session_on_cuda(monkeypatch)

    def no_room(*_a: object, **_k: object) -> DeviceDecoder:
        raise RuntimeError("CUDA failure 2: out of memory ; GPU=0")

    monkeypatch.setattr(engine_mod, "DeviceDecoder", no_room)
    engine = load_engine(bundle, "auto", max_context=128)
    assert engine.info.provider == CPU
    assert isinstance(engine.decoder, SharedKVDecoder)
    assert engine.info.fallback_reason is not None
    assert "128-token cache" in engine.info.fallback_reason
    assert "out of memory" in engine.info.fallback_reason
    params = SamplingParams(temperature=0.0, max_new_tokens=3)
    assert any(isinstance(e, TextDelta) for e in engine.generate_ids([1, 2, 3], params))


class _ReplayGoesWrong(DeviceDecoder):
    """What a replay that kept a stale host-side value looks like: right prompts, right
    uncaptured steps, wrong captured steps (or, with ``refuse``, a capture that fails)."""

    refuse = False

    def _run_once(self, ids: list[int], start: int) -> None:  # type: ignore[override]
        replayed = len(ids) - start == 1 and self.captured
        if replayed and self.refuse:
            raise RuntimeError("CUDA failure 900: operation not permitted when stream is capturing")
        super()._run_once(ids, start)
        if replayed:
            self._logits.update_inplace(self._logits.numpy() + 5.0)


def _decoders(
    bundle: Path, kind: type[DeviceDecoder] = DeviceDecoder
) -> tuple[DeviceDecoder, SharedKVDecoder]:
    cfg = _config(bundle)
    dev = kind(_cpu_session(str(bundle / "model.onnx")), max_length=64, device="cpu", **cfg)
    ref = SharedKVDecoder(_cpu_session(str(bundle / "model.onnx")), max_length=64, **cfg)
    return dev, ref


def test_a_captured_step_that_agrees_stays_captured(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(Q41)
    dev, _ = _decoders(bundle)
    assert dev.captured
    assert dev.verify_capture() is None
    assert dev.captured
    assert list(dev.cached) == []


def test_a_replay_that_disagrees_turns_the_graph_off(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(Q41)
    dev, ref = _decoders(bundle, _ReplayGoesWrong)
    problem = dev.verify_capture()
    assert problem is not None
    assert problem.startswith("CUDA graph replay disagreed with the uncaptured decode step")
    assert problem.endswith("decoding without the graph")
    assert not dev.captured
    assert list(dev.cached) == []
    ids = [1, 5, 9, 200, 31]
    dev.forward(ids, 0)
    ref.forward(ids, 0)
    step = [*ids, 7]
    np.testing.assert_allclose(dev.forward(step, 5), ref.forward(step, 5), rtol=1e-5, atol=1e-4)


def test_a_capture_that_fails_turns_the_graph_off(tiny_models: TinyModels) -> None:
    _, bundle = tiny_models.get(Q41)
    dev, _ = _decoders(bundle, _ReplayGoesWrong)
    dev.refuse = True  # type: ignore[misc]
    problem = dev.verify_capture()
    assert problem == (
        "CUDA graph capture failed (CUDA failure 900: operation not permitted when stream is "
        "capturing); decoding without the graph"
    )
    assert not dev.captured
    assert dev.forward_argmax([1, 2, 3, 4], 0) >= 0
    assert dev.forward_argmax([1, 2, 3, 4, 5], 4) >= 0


def test_the_status_bar_hears_why_the_graph_is_off(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.engine import engine as engine_mod

    _, bundle = tiny_models.get(Q41)
    _float16_session_on_cuda(monkeypatch)

    def replay_on_cpu(*args: object, **kw: object) -> DeviceDecoder:
        return _ReplayGoesWrong(*args, **{**kw, "device": "cpu"})  # type: ignore[arg-type]

    monkeypatch.setattr(engine_mod, "DeviceDecoder", replay_on_cpu)
    engine = load_engine(bundle, "cuda", max_context=64)
    assert engine.info.provider == CUDA
    assert isinstance(engine.decoder, _ReplayGoesWrong)
    assert not engine.decoder.captured
    assert engine.info.fallback_reason is not None
    assert "CUDA graph replay disagreed" in engine.info.fallback_reason


def test_an_imported_int4_checkpoint_keeps_its_integer_zero_points(tmp_path: Path) -> None:
    """A safetensors import at int4 carries integer zero points (MatMulNBits reads them
    natively): the GPU graph leaves them as they are and computes what float32 does."""
    import onnx

    from desktop.convert.safetensors_source import convert_safetensors
    from tests.checkpoints import TinyHF, write_tiny_llama

    folder = write_tiny_llama(tmp_path / "checkpoint", TinyHF())
    bundle = convert_safetensors(folder, tmp_path / "bundle", precision="int4")
    fp32 = onnx.load(str(bundle / "model.onnx"), load_external_data=False)
    graph = half_precision(bundle / "model.onnx")
    derived = onnx.load_from_string(graph.model)

    def linears(model: onnx.ModelProto) -> list[list[str]]:
        return [list(n.input) for n in model.graph.node if n.op_type == "MatMulNBits"]

    assert any(len(inputs) == 4 for inputs in linears(fp32))
    assert linears(derived) == linears(fp32)
    cfg = _config(bundle)
    half = DeviceDecoder(_cpu_session(graph.model, graph), max_length=64, device="cpu", **cfg)
    full = SharedKVDecoder(_cpu_session(str(bundle / "model.onnx")), max_length=64, **cfg)
    prompt = [1, 70, 101, 108, 108, 111, 264, 44, 32, 119]
    a, b = full.forward(prompt, 0).copy(), half.forward(prompt, 0).copy()
    # float16 on top of int8 activations, in a random model: close, the same best token
    assert np.abs(a - b).max() <= 0.05 * np.abs(a).max()
    assert int(np.argmax(a)) == int(np.argmax(b))


def test_a_long_prompt_goes_to_the_device_in_its_own_chunks_not_in_parts(
    tiny_models: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the CPU a long prompt is read in parts (Stop works between them); a GPU reads it
    in milliseconds in chunks of its warmed lengths, which parts would only multiply."""
    from desktop.engine import engine as engine_mod

    _, bundle = tiny_models.get(Q41)
    engine = load_engine(bundle, "cpu")
    monkeypatch.setattr(engine_mod, "PREFILL_CHUNK", 16)
    prompt = list(range(3, 60))
    on_cpu = list(engine.generate_ids(prompt, SamplingParams(temperature=0.0, max_new_tokens=2)))
    assert any(isinstance(e, PromptProgress) for e in on_cpu)
    graph = half_precision(bundle / "model.onnx")
    engine.decoder = DeviceDecoder(
        _cpu_session(graph.model, graph), max_length=128, device="cpu", **_config(bundle)
    )
    runs: list[int] = []
    forward = engine.decoder.forward

    def counting(ids: list[int], start: int) -> np.ndarray:
        runs.append(len(ids) - start)
        return forward(ids, start)

    engine.decoder.forward = counting  # type: ignore[method-assign]
    on_device = list(engine.generate_ids(prompt, SamplingParams(temperature=0.0, max_new_tokens=2)))
    assert not any(isinstance(e, PromptProgress) for e in on_device)
    assert runs[0] == len(prompt), "the whole prompt in one call: the decoder chunks it itself"
