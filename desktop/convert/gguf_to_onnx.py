"""GGUF file -> model bundle folder (model.onnx, tokenizer, configs, manifest), atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import onnx

from desktop.convert.errors import ConversionError
from desktop.convert.gguf_source import GGUFSource, LlamaSpec
from desktop.convert.graph import GRAPH_SIGNATURE, LayerWeights, build_graph
from desktop.convert.quant import Linear, fuse, pack_linear
from desktop.convert.tokenizer import build_tokenizer_files

CONVERTER_VERSION = 1

Progress = Callable[[str, float], None]  # (stage, fraction 0..1 of that stage)


def _no_progress(stage: str, fraction: float) -> None:
    pass


def _fused(parts: list[Linear]) -> list[Linear]:
    """Fuse linears that share an input when their quantization allows it."""
    if all(p.signature == parts[0].signature for p in parts):
        return [fuse(parts)]
    return parts


def _layer_weights(src: GGUFSource, i: int) -> LayerWeights:
    p = f"blk.{i}."
    q, k, v = (pack_linear(src.tensor(p + f"attn_{n}.weight")) for n in "qkv")
    bias = None
    if src.spec.attn_bias:
        import numpy as np

        bias = np.concatenate([src.vector(p + f"attn_{n}.bias") for n in "qkv"])
    gate, up = (pack_linear(src.tensor(p + f"ffn_{n}.weight")) for n in ("gate", "up"))
    return LayerWeights(
        attn_norm=src.vector(p + "attn_norm.weight"),
        ffn_norm=src.vector(p + "ffn_norm.weight"),
        qkv=_fused([q, k, v]),
        qkv_bias=bias,
        o=pack_linear(src.tensor(p + "attn_output.weight")),
        gate_up=_fused([gate, up]),
        down=pack_linear(src.tensor(p + "ffn_down.weight")),
    )


def _sha256(path: Path, progress: Progress) -> str:
    h = hashlib.sha256()
    total = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            done += len(chunk)
            progress("hash", done / total)
    return h.hexdigest()


def build_model(
    src: GGUFSource, progress: Progress = _no_progress, *, int8_activations: bool = True
) -> onnx.ModelProto:
    """``int8_activations``: MatMulNBits quantizes activations to int8 per block, as llama.cpp
    does (its fast CPU path); without it ONNX Runtime dequantizes weights on every call, exact
    but an order of magnitude slower."""
    spec = src.spec
    embedding = pack_linear(src.tensor("token_embd.weight"))
    lm_head = embedding if spec.tied_embeddings else pack_linear(src.tensor("output.weight"))
    freq = src.vector("rope_freqs.weight") if src.has("rope_freqs.weight") else None
    cache: dict[int, LayerWeights] = {}

    def layers(i: int) -> LayerWeights:
        if i not in cache:
            cache.clear()  # keep at most the current and the next layer in memory
            cache[i] = _layer_weights(src, i)
        return cache[i]

    return build_graph(
        spec,
        embedding,
        layers,
        src.vector("output_norm.weight"),
        lm_head,
        freq_factors=freq,
        accuracy_level=4 if int8_activations else 0,
        progress=lambda i: progress("build", (i + 1) / spec.n_layers),
    )


def _configs(spec: LlamaSpec, eos_ids: list[int], bos_id: int | None) -> dict[str, Any]:
    return {
        "architectures": ["Qwen2ForCausalLM" if spec.arch == "qwen2" else "LlamaForCausalLM"],
        "model_type": "qwen2" if spec.arch == "qwen2" else "llama",
        "hidden_size": spec.hidden,
        "intermediate_size": spec.ffn,
        "num_hidden_layers": spec.n_layers,
        "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads,
        "head_dim": spec.head_dim,
        "vocab_size": spec.vocab,
        "max_position_embeddings": spec.context_length,
        "rope_theta": spec.rope_theta,
        "rms_norm_eps": spec.rms_eps,
        "tie_word_embeddings": spec.tied_embeddings,
        "bos_token_id": bos_id,
        "eos_token_id": eos_ids,
    }


def convert_gguf(
    gguf_path: Path,
    dest: Path,
    *,
    name: str | None = None,
    source: dict[str, Any] | None = None,
    progress: Progress = _no_progress,
    int8_activations: bool = True,
    sampling: dict[str, float] | None = None,
) -> Path:
    """Convert ``gguf_path`` into the bundle folder ``dest`` (which must not exist).
    ``sampling``: what the model's authors recommend (written to generation_config.json; a
    GGUF carries no such recommendation).

    Work happens in a temporary sibling folder renamed into place at the end, so a failure,
    a full disk or Ctrl-C leaves nothing half-installed.
    """
    if dest.exists():
        raise ConversionError(f"{dest} already exists")
    src = GGUFSource(gguf_path)
    spec = src.spec
    tok = build_tokenizer_files(src.meta)
    with staged_folder(dest) as tmp:
        model = build_model(src, progress, int8_activations=int8_activations)
        progress("write", 0.0)
        save_graph(model, tmp)
        del model
        progress("write", 1.0)
        (tmp / "tokenizer.json").write_text(tok.tokenizer_json, encoding="utf-8")
        _write_json(tmp / "tokenizer_config.json", tok.tokenizer_config)
        _write_json(tmp / "config.json", _configs(spec, tok.eos_token_ids, tok.bos_token_id))
        _write_json(
            tmp / "generation_config.json",
            {
                "bos_token_id": tok.bos_token_id,
                "eos_token_id": tok.eos_token_ids,
                **dict(sampling or {}),
            },
        )
        src_info = dict(source or {})
        src_info.setdefault("kind", "gguf")
        src_info.setdefault("file", gguf_path.name)
        if "sha256" not in src_info:
            src_info["sha256"] = _sha256(gguf_path, progress)
        types = sorted({t.tensor_type.name for t in src._reader.tensors})
        _write_json(
            tmp / "parley.json",
            {
                "name": name or dest.name,
                "display_name": spec.name,
                "family": spec.arch,
                "source": src_info,
                "precision": "+".join(types),
                "graph": GRAPH_SIGNATURE,
                "converter_version": CONVERTER_VERSION,
                "context_length": spec.context_length,
                "license": src.meta.get("general.license", "unknown"),
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
    return dest


def save_graph(model: onnx.ModelProto, folder: Path) -> None:
    """``model.onnx`` with every weight in one ``model.onnx.data`` beside it."""
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=1024,
    )


@contextlib.contextmanager
def staged_folder(dest: Path) -> Iterator[Path]:
    """A temporary sibling of ``dest`` that becomes ``dest`` when the block succeeds.

    A failure, a full disk or Ctrl-C removes it, so nothing is ever half-installed; an
    ``OSError`` (disk full, permissions) becomes one clear ``ConversionError``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        yield tmp
        _match_umask(tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConversionError(
            f"could not write the model to {dest.parent}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _match_umask(folder: Path) -> None:
    """mkdtemp creates 0700; an installed model gets the permissions of any new folder."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
