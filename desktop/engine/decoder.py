"""One forward pass at a time over an ONNX decoder, with its KV cache.

``SharedKVDecoder`` serves graphs with GroupQueryAttention (Parley's own bundles and
onnxruntime-genai folders): every layer's past and present KV are the *same* preallocated
buffer of the maximum length, bound once through IO binding, so a decode step copies nothing
but one token id in and one row of logits out.

``ConcatKVDecoder`` serves standard exports (optimum): ``position_ids``, ``attention_mask`` and
KV tensors that grow by concatenation each step.

Both keep the token ids whose keys and values are in the cache, so the next request can reuse
the longest shared prefix (``Decoder.reusable``).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from desktop.engine.sampling import pick_greedy

F32 = npt.NDArray[np.float32]


class Decoder(Protocol):
    max_length: int
    vocab_size: int

    @property
    def cached(self) -> Sequence[int]: ...

    def forward(self, ids: Sequence[int], start: int) -> F32:
        """Feed ``ids[start:]`` after the first ``start`` cached tokens; return the logits of the
        last position ([vocab], valid until the next call)."""
        ...

    def reset(self) -> None: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def reusable(decoder: Decoder, ids: Sequence[int]) -> int:
    """How many leading tokens of ``ids`` need not be recomputed. At least one token is always
    fed so that there are logits to sample from."""
    return min(common_prefix(decoder.cached, ids), len(ids) - 1)


def check_feed(ids: Sequence[int], start: int, cached: int, max_length: int) -> None:
    """``forward``'s contract: ``ids`` fit the cache, and ``ids[:start]`` are cached."""
    if len(ids) > max_length:
        raise ValueError(f"{len(ids)} tokens exceed the cache of {max_length}")
    if start > cached:
        raise ValueError("start lies beyond the cached prefix")


INITIAL_CAPACITY = 512


def lazy_zeros(shape: tuple[int, ...]) -> F32:
    """A zero-filled float32 array whose pages become resident only when written.

    Anonymous memory is lazy anyway, but with transparent huge pages the first write into a
    2 MB-aligned region maps the whole 2 MB: one token written to every head of a 8,192-token
    cache made 240 MB resident. ``MADV_NOHUGEPAGE`` keeps the cache growing with its tokens.
    """
    nbytes = int(np.prod(shape)) * 4
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if nbytes == 0 or advice is None:
        return np.zeros(shape, np.float32)
    region = mmap.mmap(-1, nbytes)
    region.madvise(advice)
    return np.frombuffer(region, np.float32).reshape(shape)


def _kv_names(session: ort.InferenceSession) -> list[tuple[str, str, str, str]]:
    names = {i.name for i in session.get_inputs()}
    layers = []
    i = 0
    while f"past_key_values.{i}.key" in names:
        layers.append(
            (
                f"past_key_values.{i}.key",
                f"past_key_values.{i}.value",
                f"present.{i}.key",
                f"present.{i}.value",
            )
        )
        i += 1
    return layers


class SharedKVDecoder:
    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        kv_heads: int,
        head_dim: int,
        max_length: int,
        vocab_size: int,
        device: str = "cpu",
    ) -> None:
        self.session = session
        self.max_length = max_length
        self.vocab_size = vocab_size
        self._device = device
        inputs = {i.name for i in session.get_inputs()}
        self._uses_mask = "attention_mask" in inputs  # onnxruntime-genai graphs
        self._all_logits = len(session.get_outputs()[0].shape) == 3 and (
            session.get_outputs()[0].shape[1] != 1
        )
        self._cached: list[int] = []
        self._binding = session.io_binding()
        self._kv_heads, self._head_dim = kv_heads, head_dim
        self._layers = _kv_names(session)
        self._kv: list[ort.OrtValue] = []
        self._kv_arrays: list[F32] = []
        # On the CPU the buffers start small and double as the conversation grows: attention
        # scratch space scales with the buffer length (a 1,500-token prompt against an
        # 8,192-token buffer would need 440 MB). On a GPU they are allocated once, full size,
        # so their addresses never change.
        self.capacity = 0
        self._allocate(max_length if device != "cpu" else min(max_length, INITIAL_CAPACITY))
        self._seqlens = np.zeros((1,), np.int32)
        self._total = np.zeros((), np.int32)
        self._step_ids = np.zeros((1, 1), np.int64)
        self._logits_buf = np.zeros((1, 1, vocab_size), np.float32)
        if not self._uses_mask:
            self._binding.bind_cpu_input("seqlens_k", self._seqlens)
            self._binding.bind_cpu_input("total_sequence_length", self._total)
        if self._all_logits:  # genai graphs: logits for every position, shape varies
            self._binding.bind_output("logits", "cpu")
        else:  # Parley graphs: one row, written straight into this buffer
            self._binding.bind_output("logits", "cpu", 0, np.float32, self._logits_buf.shape,
                                      self._logits_buf.ctypes.data)  # fmt: skip
        self._step_bound = False

    def _allocate(self, capacity: int) -> None:
        """(Re)bind KV buffers of ``capacity`` tokens, keeping the cached tokens' entries."""
        shape = (1, self._kv_heads, capacity, self._head_dim)
        keep = min(len(self._cached), self.capacity)
        arrays: list[F32] = []
        values: list[ort.OrtValue] = []
        for i, names in enumerate(self._layers):
            past_k, past_v, pres_k, pres_v = names
            for j, (past, pres) in enumerate(((past_k, pres_k), (past_v, pres_v))):
                array = lazy_zeros(shape)
                if keep:
                    array[:, :, :keep] = self._kv_arrays[2 * i + j][:, :, :keep]
                value = ort.OrtValue.ortvalue_from_numpy(array, self._device, 0)
                arrays.append(array)
                values.append(value)
                self._binding.bind_ortvalue_input(past, value)
                self._binding.bind_ortvalue_output(pres, value)
        self._kv_arrays, self._kv, self.capacity = arrays, values, capacity

    def _ensure_capacity(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        if self._device != "cpu":
            raise ValueError(f"{needed} tokens exceed the cache of {self.capacity}")
        capacity = self.capacity
        while capacity < needed:
            capacity *= 2
        self._allocate(min(capacity, self.max_length))

    @property
    def cached(self) -> Sequence[int]:
        return self._cached

    def reset(self) -> None:
        self._cached.clear()

    def _bind_ids(self, ids: npt.NDArray[np.int64]) -> None:
        self._binding.bind_cpu_input("input_ids", ids)
        if self._uses_mask:
            total = int(self._total)
            self._binding.bind_cpu_input("attention_mask", np.ones((1, total), np.int64))

    def forward(self, ids: Sequence[int], start: int) -> F32:
        # Per-token path: O(1) in the conversation's length (no prefix scans or list copies).
        # Callers pass ids that extend the cached prefix (``reusable`` found it once).
        check_feed(ids, start, len(self._cached), self.max_length)
        new = ids[start:]
        total = len(ids)
        self._ensure_capacity(total)
        self._seqlens[0] = total - 1
        self._total[...] = total
        if len(new) == 1 and not self._uses_mask and not self._all_logits:
            self._step_ids[0, 0] = new[0]
            if not self._step_bound:
                self._binding.bind_cpu_input("input_ids", self._step_ids)
                self._step_bound = True
        else:
            self._bind_ids(np.asarray([new], dtype=np.int64))
            self._step_bound = False
        del self._cached[start:]  # undefined past start while running, if the run fails
        self.session.run_with_iobinding(self._binding)
        self._cached.extend(new)
        if self._all_logits:
            out: F32 = self._binding.get_outputs()[0].numpy()
            row: F32 = out[0, -1]
            return row
        last: F32 = self._logits_buf[0, -1]
        return last


class ConcatKVDecoder:
    """Standard decoder exports (optimum): KV grows by concatenation; simple and slower.

    Inputs are found by name (``attention_mask`` and ``position_ids`` are optional), outputs
    are requested by name, and the cache's head count, head size and float type come from the
    graph's own past inputs where it states them (the config's numbers otherwise)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        kv_heads: int,
        head_dim: int,
        max_length: int,
        vocab_size: int,
    ) -> None:
        self.session = session
        self.max_length = max_length
        self.vocab_size = vocab_size
        self._layers = _kv_names(session)
        self._kv_heads, self._head_dim = kv_heads, head_dim
        self._kv_dtype: type[np.floating[Any]] = np.float32
        inputs = {i.name: i for i in session.get_inputs()}
        if self._layers:
            past = inputs[self._layers[0][0]]
            if len(past.shape) == 4 and isinstance(past.shape[1], int):
                self._kv_heads = past.shape[1]
            if len(past.shape) == 4 and isinstance(past.shape[3], int):
                self._head_dim = past.shape[3]
            if "float16" in past.type:
                self._kv_dtype = np.float16
        self._inputs = set(inputs)
        self._outputs = ["logits"] + [name for layer in self._layers for name in layer[2:]]
        self._cached: list[int] = []
        self._past: list[Any] = []
        self.reset()

    @property
    def cached(self) -> Sequence[int]:
        return self._cached

    def reset(self) -> None:
        self._cached = []
        empty = np.zeros((1, self._kv_heads, 0, self._head_dim), self._kv_dtype)
        self._past = [empty] * (2 * len(self._layers))

    def forward(self, ids: Sequence[int], start: int) -> F32:
        check_feed(ids, start, common_prefix(self._cached, ids), self.max_length)
        if start < len(self._cached):  # roll the cache back to the shared prefix
            self._past = [p[:, :, :start] for p in self._past]
        new = np.asarray([ids[start:]], dtype=np.int64)
        feed: dict[str, Any] = {"input_ids": new}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = np.ones((1, len(ids)), np.int64)
        if "position_ids" in self._inputs:
            feed["position_ids"] = np.arange(start, len(ids), dtype=np.int64)[None]
        for (pk, pv, _, _), k, v in zip(
            self._layers, self._past[0::2], self._past[1::2], strict=True
        ):
            feed[pk], feed[pv] = k, v
        self._cached = list(ids[:start])  # the cache holds only the prefix while running
        outs = self.session.run(self._outputs, feed)
        self._past = list(outs[1:])
        self._cached = list(ids)
        logits: F32 = np.asarray(outs[0][0, -1], dtype=np.float32)
        return logits


class DeviceDecoder:
    """The decode step resident on a GPU, with static shapes, replayed as a CUDA graph.

    Every input and output of a one-token step is an ``OrtValue`` allocated once on the device
    and bound once: the token id, ``seqlens_k``, the float16 KV buffers of the full context
    length and the logits. A step writes 12 bytes in place (id and length) and, when greedy,
    reads 8 back (``next_token``, the graph's ArgMax); with ``capture`` the step runs under
    ONNX Runtime's CUDA graph id 1, so after the first steps its kernels are replayed with one
    launch. Prompts (any length) run uncaptured (graph id -1) through the same KV buffers.

    ``total_sequence_length`` is a CPU input of GroupQueryAttention: the host reads it when
    the kernels are launched (to pick the attention's work split), so a captured graph
    replays with the value it was captured with. Every one-token step therefore passes the
    cache's capacity, the same value at capture and at each replay, and the real length
    reaches the kernels through ``seqlens_k`` on the device. (Passing the real length made a
    replayed step attend with stale lengths: 12% top-1 agreement with the float32 graph on an
    H100, against 94% uncaptured; ``bench/gpu/diagnose.py``.) Prompts pass the real length.
    ``verify_capture`` (run by ``load_engine``) compares replayed steps with uncaptured ones
    once at load and turns the graph off, with the reason in the status bar, where they
    differ or the capture fails.

    A prompt runs in chunks whose lengths come from a fixed set (``PREFILL_CHUNKS``, largest
    first: 661 new tokens run as 512 + 128 + 16 + 4 + 1), each size warmed once by
    ``warm_up``. ONNX Runtime 1.31's CUDA GroupQueryAttention spends ~45 ms of host time the
    first time it sees a new number of new tokens (whatever the total length); a prompt of a
    length seen before ran in 3.4 ms for 42 tokens and 4 ms for 661 on an H200. Every user
    message has a new length, so without chunks each answer started ~45 ms late.

    On ``device="cpu"`` the same bindings run on the CPU (the tests use that)."""

    STEP_GRAPH = "1"
    NO_GRAPH = "-1"
    PREFILL_CHUNKS = (1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1)

    def __init__(
        self,
        session: ort.InferenceSession,
        *,
        kv_heads: int,
        head_dim: int,
        max_length: int,
        vocab_size: int,
        device: str = "cuda",
        capture: bool = True,
        keep_alive: object = None,
    ) -> None:
        self.session = session
        self._keep_alive = keep_alive  # in-memory initializers the session reads from
        self.max_length = max_length
        self.vocab_size = vocab_size
        self.capacity = max_length
        self._device = device
        self._cached: list[int] = []
        outputs = {o.name for o in session.get_outputs()}
        self._has_argmax = "next_token" in outputs
        past = {i.name: i for i in session.get_inputs()}
        layers = _kv_names(session)
        kv_type = np.float16 if layers and "float16" in past[layers[0][0]].type else np.float32
        self._binding = session.io_binding()
        zeros = np.zeros((1, kv_heads, max_length, head_dim), kv_type)
        self._kv: list[ort.OrtValue] = []
        for past_k, past_v, pres_k, pres_v in layers:
            for past_name, present_name in ((past_k, pres_k), (past_v, pres_v)):
                value = ort.OrtValue.ortvalue_from_numpy(zeros.copy(), device, 0)
                self._kv.append(value)
                self._binding.bind_ortvalue_input(past_name, value)
                self._binding.bind_ortvalue_output(present_name, value)
        del zeros
        self._step_ids = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1), np.int64), device, 0)
        self._seqlens = ort.OrtValue.ortvalue_from_numpy(np.zeros((1,), np.int32), device, 0)
        # A CPU input of GroupQueryAttention on every provider.
        self._total = ort.OrtValue.ortvalue_from_numpy(np.zeros((), np.int32))
        self._logits = ort.OrtValue.ortvalue_from_shape_and_type(
            [1, 1, vocab_size], np.float32, device, 0
        )
        self._binding.bind_ortvalue_input("seqlens_k", self._seqlens)
        self._binding.bind_ortvalue_input("total_sequence_length", self._total)
        self._binding.bind_ortvalue_output("logits", self._logits)
        self._next: ort.OrtValue | None = None
        if self._has_argmax:
            self._next = ort.OrtValue.ortvalue_from_shape_and_type([1, 1], np.int64, device, 0)
            self._binding.bind_ortvalue_output("next_token", self._next)
        self._prompt_options = ort.RunOptions()
        self._prompt_options.add_run_config_entry("gpu_graph_id", self.NO_GRAPH)
        self._step_options = self._prompt_options
        if capture:
            self._step_options = ort.RunOptions()
            self._step_options.add_run_config_entry("gpu_graph_id", self.STEP_GRAPH)
        self._step_bound = False
        self._prompt_ids: ort.OrtValue | None = None  # kept alive while bound

    @property
    def cached(self) -> Sequence[int]:
        return self._cached

    def reset(self) -> None:
        self._cached.clear()

    @classmethod
    def chunks(cls, n: int) -> list[int]:
        """The lengths a prompt of ``n`` new tokens runs as (largest first)."""
        sizes: list[int] = []
        for size in cls.PREFILL_CHUNKS:
            while n >= size:
                sizes.append(size)
                n -= size
        return sizes

    def warm_up(self) -> None:
        """Run every chunk length once (and a few steps), then forget them."""
        for size in self.PREFILL_CHUNKS:
            if size < self.max_length:
                self.forward([1] * (size + 1), 0)  # the size, then one step
        self.reset()

    @property
    def captured(self) -> bool:
        return self._step_options is not self._prompt_options

    def verify_capture(self, steps: int = 4) -> str | None:
        """Check the captured step against the same steps run uncaptured, on a short prompt;
        where they disagree, decode uncaptured from now on and say why (None: they agree, or
        nothing is captured).

        A replayed graph keeps whatever the host computed at capture time; an ONNX Runtime
        kernel that reads a host-side value that changes per step replays it stale (the bug
        ``total_sequence_length`` caused: fluent-looking nonsense). Slower and right beats
        faster and wrong; this costs three short runs at load."""
        if not self.captured:
            return None
        prompt = list(range(1, 9))
        ids = [*prompt, *([1] * steps)]  # teacher-forced: both runs see the same tokens
        captured_options = self._step_options

        def rows(options: ort.RunOptions) -> F32:
            self._step_options = options
            self.reset()
            out = [self.forward(ids[: len(prompt)], 0).copy()]
            out += [self.forward(ids[: n + 1], n).copy() for n in range(len(prompt), len(ids))]
            return np.stack(out)

        problem: str | None = None
        try:
            expected = rows(self._prompt_options)
            try:
                rows(captured_options)  # warm-up runs, then the capture
                got = rows(captured_options)  # replays
            except Exception as exc:  # ONNX Runtime refused to capture or to replay
                problem = f"CUDA graph capture failed ({str(exc).strip().splitlines()[0]})"
            else:
                # a replay runs the same kernels: equal up to float16 noise, where the stale
                # length was off by whole logits (KL 4.3)
                scale = float(np.abs(expected).max()) or 1.0
                difference = float(np.abs(got - expected).max())
                if not (np.isfinite(got).all() and difference <= 1e-2 * scale):
                    problem = (
                        "CUDA graph replay disagreed with the uncaptured decode step (logits "
                        f"differ by {difference:.3g})"
                    )
        finally:
            self._step_options = captured_options
            self.reset()
        if problem is None:
            return None
        self._step_options = self._prompt_options
        return f"{problem}; decoding without the graph"

    def _run(self, ids: Sequence[int], start: int) -> None:
        check_feed(ids, start, len(self._cached), self.max_length)
        end = start
        for size in self.chunks(len(ids) - start):
            self._run_once(ids[: end + size], end)
            end += size

    def _run_once(self, ids: Sequence[int], start: int) -> None:
        new = ids[start:]
        total = len(ids)
        self._seqlens.update_inplace(np.array([total - 1], np.int32))
        step = len(new) == 1
        self._total.update_inplace(np.array(self.max_length if step else total, np.int32))
        if step:
            self._step_ids.update_inplace(np.array([[new[0]]], np.int64))
            if not self._step_bound:
                self._binding.bind_ortvalue_input("input_ids", self._step_ids)
                self._step_bound = True
            options = self._step_options
        else:
            self._prompt_ids = ort.OrtValue.ortvalue_from_numpy(
                np.asarray([new], dtype=np.int64), self._device, 0
            )
            self._binding.bind_ortvalue_input("input_ids", self._prompt_ids)
            self._step_bound = False
            options = self._prompt_options
        del self._cached[start:]
        self.session.run_with_iobinding(self._binding, options)
        self._cached.extend(new)

    def forward(self, ids: Sequence[int], start: int) -> F32:
        self._run(ids, start)
        logits: F32 = self._logits.numpy()[0, -1]
        return logits

    def forward_argmax(self, ids: Sequence[int], start: int) -> int:
        """Greedy step: only the chosen id crosses back from the device."""
        if self._next is None:
            return pick_greedy(self.forward(ids, start))
        self._run(ids, start)
        return int(self._next.numpy()[0, 0])
