"""The chat engine: messages in, a stream of token events out.

One ``generate`` call, top to bottom:
  1. render the chat template and tokenize; drop the oldest turns if the window is exceeded;
  2. reuse the KV cache for the prefix shared with the previous call, prefill the rest;
  3. sample, stream text (UTF-8 safe, stop strings held back), repeat until a stop id, a stop
     string, a loop (the same block over and over), the token limit, the window's end, or the
     cancel event;
  4. finish with the reason and statistics.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

from tokenizers import Tokenizer

from desktop.engine.bundle import Bundle, open_bundle
from desktop.engine.decoder import (
    ConcatKVDecoder,
    Decoder,
    DeviceDecoder,
    SharedKVDecoder,
    common_prefix,
    reusable,
)
from desktop.engine.device_graph import half_precision
from desktop.engine.pieces import PieceEncoder
from desktop.engine.prompt import ChatTemplate, PromptError, fit_context, special_tokens
from desktop.engine.providers import Device
from desktop.engine.repetition import RepetitionGuard
from desktop.engine.sampling import Sampler
from desktop.engine.session import EngineLoadError, create_session, first_line
from desktop.engine.textstream import TextStream
from desktop.engine.types import (
    ChatMessage,
    ContextTrimmed,
    Event,
    Finished,
    FinishReason,
    GenerationStats,
    ModelInfo,
    PromptProgress,
    SamplingParams,
    TextDelta,
    answer_room,
)

DEFAULT_MAX_CONTEXT = 8192
PREFILL_CHUNK = 256  # prompt tokens per run: ~1 s on two cores, as fast as one long run
CONTEXT_FULL = (
    "this chat no longer fits the model's context window; start a new chat, or let Parley "
    "leave out the oldest turns (Settings ▸ Generation ▸ When the chat is too long)"
)


class Engine:
    def __init__(
        self, bundle: Bundle, decoder: Decoder, tokenizer: Tokenizer, info: ModelInfo
    ) -> None:
        self.bundle = bundle
        self.decoder = decoder
        self.tokenizer = tokenizer
        self._info = info
        self.template = ChatTemplate(bundle.chat_template, special_tokens(bundle.tokenizer_config))
        self._encoder = PieceEncoder(tokenizer, self._template_samples())
        self.stop_ids = frozenset(bundle.eos_token_ids)
        self._lock = threading.Lock()

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def context_length(self) -> int:
        return self.decoder.max_length

    def warm_up(self) -> None:
        """Run one short prompt and two decode steps, then forget them. ONNX Runtime's first
        runs allocate and plan memory (the first answer after loading took ~0.4 s longer to
        start); call this on the worker right after loading, before the user's first message."""
        with self._lock:
            device_warm_up = getattr(self.decoder, "warm_up", None)
            if device_warm_up is not None:  # DeviceDecoder: every prompt chunk length
                device_warm_up()
                return
            ids = list(range(1, 9))
            self.decoder.forward(ids, 0)
            self.decoder.forward([*ids, 1], len(ids))
            self.decoder.forward([*ids, 1, 1], len(ids) + 1)
            self.decoder.reset()

    # -- prompt ---------------------------------------------------------------------------
    def _template_samples(self) -> list[str]:
        """A chat as this model's template writes it, for PieceEncoder to check against."""
        chat = [
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "Héllo there,  friend!\n\n 12 345 🙂"),
            ChatMessage("assistant", " Sure.\n- one\n\tcode()  "),
            ChatMessage("user", "Und jetzt? 你好"),
        ]
        try:
            return [self.template.render(chat), self.template.render(chat[1:3], False)]
        except PromptError:  # a template with its own rules: the built-in probes still run
            return []

    def encode_text(self, text: str) -> list[int]:
        ids = self._encoder.encode(text)
        bos = self.bundle.bos_token_id
        if self.bundle.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        return ids

    def encode_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The prompt for the next assistant turn; a conversation that ends with an assistant
        message is continued instead: that message's text is the start of the answer."""
        if messages and messages[-1].role == "assistant":
            head = self.template.render(messages[:-1])
            return self.encode_text(head + messages[-1].content)
        return self.encode_text(self.template.render(messages))

    def prefill(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> int:
        """Read a chat into the cache ahead of its next question (the window asks for this
        when the user starts typing one): that answer then reads only the new message, where
        a long chat took seconds to a minute first. Stops between parts of
        ``PREFILL_CHUNK`` tokens once ``cancel`` is set (a request arrived), keeping what was
        read. Returns the tokens cached; 0 when the chat would be cut to fit the window (where,
        depends on the question) or cannot be rendered."""
        cancel = cancel or threading.Event()
        try:
            params.validate()
            ids = self.encode_text(self.template.render(messages, add_generation_prompt=False))
        except (PromptError, ValueError):
            return 0
        room = answer_room(self.context_length, params.max_new_tokens)
        if not ids or len(ids) >= self.context_length - room:
            return 0
        with self._lock:
            read = common_prefix(self.decoder.cached, ids)
            try:
                for done in self._read_parts(ids, read, len(ids), cancel):
                    read = done
            except Exception:  # ORT's errors: the next answer reads the chat itself
                self.decoder.reset()
                return 0
        return read

    # -- generation -----------------------------------------------------------------------
    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Chat-templated generation (a conversation ending with an assistant message: more
        of that answer). Never raises for bad input: ends with ``Finished``."""
        started = time.perf_counter()
        try:
            params.validate()
            room = answer_room(self.context_length, params.max_new_tokens)
            fitted = fit_context(messages, self.encode_chat, self.context_length - room)
        except (PromptError, ValueError) as exc:
            yield Finished("error", GenerationStats(provider=self._info.provider), str(exc))
            return
        if fitted.dropped_messages and not params.trim_context:
            stats = GenerationStats(prompt_tokens=len(self.encode_chat(messages)),
                                    provider=self._info.provider)  # fmt: skip
            yield Finished("error", stats, CONTEXT_FULL)
            return
        if fitted.dropped_messages:
            yield ContextTrimmed(fitted.dropped_messages)
        yield from self.generate_ids(fitted.ids, params, cancel, started=started)

    def generate_ids(
        self,
        prompt: Sequence[int],
        params: SamplingParams,
        cancel: threading.Event | None = None,
        *,
        started: float | None = None,
    ) -> Iterator[Event]:
        """Generation from raw token ids (``parley ask --raw``, benchmarks)."""
        started = time.perf_counter() if started is None else started
        cancel = cancel or threading.Event()
        provider = self._info.provider
        ids = list(prompt)
        if not ids:
            yield Finished("error", GenerationStats(provider=provider), "the prompt is empty")
            return
        if len(ids) >= self.context_length:
            yield Finished(
                "error",
                GenerationStats(prompt_tokens=len(ids), provider=provider),
                f"the prompt ({len(ids)} tokens) fills the whole context window "
                f"({self.context_length})",
            )
            return
        with self._lock:  # one generation at a time owns the KV cache
            yield from self._run(ids, params, cancel, started)

    def _prefill_part(self) -> int:
        """Prompt tokens per run. A GPU reads thousands in milliseconds, in runs of its own
        fixed lengths (``DeviceDecoder.PREFILL_CHUNKS``, warmed at load): parts would only
        add runs to it."""
        on_device = getattr(self.decoder, "PREFILL_CHUNKS", None) is not None
        return self.context_length if on_device else PREFILL_CHUNK

    def _read_parts(
        self, ids: list[int], read: int, end: int, cancel: threading.Event
    ) -> Iterator[int]:
        """Feed ``ids[read:end]`` to the decoder a part at a time, yielding how far it has
        read after each; stops between parts once ``cancel`` is set."""
        part = self._prefill_part()
        while read < end and not cancel.is_set():
            start, read = read, min(end, read + part)
            self.decoder.forward(ids[:read], start)
            yield read

    def _stepper(self, sampler: Sampler) -> Callable[[list[int], int], int]:
        """Feed ``ids[start:]`` and pick the next token. Plain greedy decoding on a decoder
        that picks on the device copies one id back instead of the logits."""
        argmax = getattr(self.decoder, "forward_argmax", None)
        if argmax is not None and sampler.plain_greedy:
            step: Callable[[list[int], int], int] = argmax
            return step

        def sample(ids: list[int], start: int) -> int:
            return sampler(self.decoder.forward(ids, start), ids)

        return sample

    def _run(
        self, ids: list[int], params: SamplingParams, cancel: threading.Event, started: float
    ) -> Iterator[Event]:
        sampler = Sampler(params)
        stream = TextStream(self.tokenizer, params.stop, ids[-4:])
        n_prompt = len(ids)
        reused = reusable(self.decoder, ids)
        generated = 0
        reason: FinishReason = "length"
        ttft = prefill_s = 0.0
        decode_started = 0.0
        step = self._stepper(sampler)
        loops = RepetitionGuard()
        try:
            # A long prompt goes in parts (a fresh 8,000-token chat takes ~45 s on two cores):
            # Stop is honoured between them, and what was read stays cached for the next try.
            # whole parts, leaving the last (at most one part) to the step that samples
            part = self._prefill_part()
            read = reused + (len(ids) - reused - 1) // part * part
            for done in self._read_parts(ids, reused, read, cancel):
                yield PromptProgress(done, len(ids))
            if cancel.is_set():
                yield Finished("cancelled", self._stats(n_prompt, reused, 0, 0.0, 0.0, 0.0))
                return
            token = step(ids, read)
            prefill_s = time.perf_counter() - started
            while True:
                if cancel.is_set():
                    reason = "cancelled"
                    break
                if generated == 0:
                    ttft = time.perf_counter() - started
                    decode_started = time.perf_counter()
                if token in self.stop_ids:
                    reason = "stop"
                    break
                ids.append(token)
                generated += 1
                text = stream.push(token)
                yield TextDelta(token, text)
                if stream.stopped:
                    reason = "stop"
                    break
                if loops.push(token):  # the same block again and again: it would not end
                    reason = "repetition"
                    break
                if generated >= params.max_new_tokens or len(ids) >= self.context_length:
                    reason = "length"
                    break
                if cancel.is_set():
                    reason = "cancelled"
                    break
                token = step(ids, len(ids) - 1)
        except Exception as exc:  # ORT raises RuntimeError subclasses; the stream must end
            self.decoder.reset()
            yield Finished(
                "error",
                self._stats(n_prompt, reused, generated, ttft, prefill_s, decode_started),
                f"inference failed: {exc}",
            )
            return
        if not stream.stopped:
            tail = stream.flush()
            if tail:
                yield TextDelta(-1, tail)
        yield Finished(
            reason,
            self._stats(
                n_prompt,
                reused,
                generated,
                ttft,
                prefill_s,
                decode_started,
            ),
        )

    def _stats(
        self,
        n_prompt: int,
        reused: int,
        generated: int,
        ttft: float,
        prefill_s: float,
        decode_started: float,
    ) -> GenerationStats:
        decode_s = time.perf_counter() - decode_started if decode_started else 0.0
        return GenerationStats(
            prompt_tokens=n_prompt,
            reused_prompt_tokens=reused,
            generated_tokens=generated,
            ttft_s=ttft,
            prefill_tok_s=(n_prompt - reused) / prefill_s if prefill_s > 0 else 0.0,
            decode_tok_s=(generated - 1) / decode_s if generated > 1 and decode_s > 0 else 0.0,
            provider=self._info.provider,
        )


def load_engine(
    path: Path, device: Device = "auto", threads: int = 0, max_context: int | None = None
) -> Engine:
    """Open a model folder and create its session. Raises ``EngineLoadError`` (one line)."""
    from desktop.engine.bundle import BundleError

    try:
        bundle = open_bundle(path)
    except BundleError as exc:
        raise EngineLoadError(str(exc)) from exc
    try:
        tokenizer = Tokenizer.from_file(str(bundle.path / "tokenizer.json"))
    except Exception as exc:  # the tokenizers library raises a plain Exception
        raise EngineLoadError(f"{bundle.name}: tokenizer.json is unreadable: {exc}") from exc
    # Parley graphs get their float16 variant on a GPU (``device_graph.py``).
    derive = partial(half_precision, bundle.model_file) if bundle.kind == "parley" else None
    result = create_session(bundle.model_file, device, threads, device_graph=derive)
    limit = max_context or DEFAULT_MAX_CONTEXT
    max_len = min(bundle.context_length, limit)
    shape = {
        "kv_heads": bundle.kv_heads,
        "head_dim": bundle.head_dim,
        "max_length": max_len,
        "vocab_size": bundle.vocab_size,
    }
    decoder: Decoder
    if bundle.kind == "optimum":
        decoder = ConcatKVDecoder(result.session, **shape)
    elif result.device_graph is not None:
        try:
            decoder = DeviceDecoder(
                result.session,
                **shape,
                device="cuda",
                capture=result.captured,
                keep_alive=result.device_graph,
            )
        except Exception as exc:  # ORT's RuntimeError when the GPU cannot hold the cache
            del result
            return _on_cpu_instead(path, threads, max_context, max_len, exc)
        problem = decoder.verify_capture()
        if problem is not None:
            reasons = [r for r in (result.fallback_reason, problem) if r]
            result = dataclasses.replace(result, fallback_reason="; ".join(reasons))
    else:
        device_name = "cuda" if result.provider == "CUDAExecutionProvider" else "cpu"
        decoder = SharedKVDecoder(result.session, **shape, device=device_name)
    info = ModelInfo(
        name=bundle.name,
        context_length=max_len,
        provider=result.provider,
        fallback_reason=result.fallback_reason,
        path=str(bundle.path),
        sampling=bundle.sampling,
    )
    return Engine(bundle, decoder, tokenizer, info)


def _on_cpu_instead(
    path: Path, threads: int, max_context: int | None, max_len: int, exc: Exception
) -> Engine:
    """The GPU session loaded but its full-length KV cache did not fit: run on the CPU and
    say why."""
    engine = load_engine(path, "cpu", threads, max_context)
    reason = f"CUDA could not hold the {max_len:,}-token cache ({first_line(exc)}); running on CPU"
    engine._info = dataclasses.replace(engine.info, fallback_reason=reason)
    return engine
