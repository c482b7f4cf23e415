"""A model folder on disk: Parley's own bundle, an optimum export, or an onnxruntime-genai folder.

Reading a bundle never executes anything from it: no custom-op libraries, no pickles; the chat
template is rendered later in a Jinja sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["parley", "genai", "optimum"]

# generation_config.json keys that are sampling recommendations Parley can apply
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")


class BundleError(ValueError):
    """The folder is not a usable model (one line for the user)."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    kind: Kind
    name: str
    model_file: Path
    n_layers: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    context_length: int
    eos_token_ids: tuple[int, ...]
    bos_token_id: int | None
    add_bos: bool
    chat_template: str | None
    tokenizer_config: dict[str, Any]
    manifest: dict[str, Any]
    sampling: tuple[tuple[str, float], ...] = ()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path.name} in {path.parent} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path.name} in {path.parent} is not a JSON object")
    return data


def _ids(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def open_bundle(path: Path) -> Bundle:
    if not path.is_dir():
        raise BundleError(f"{path} is not a model folder")
    manifest = _read_json(path / "parley.json")
    genai = _read_json(path / "genai_config.json")
    config = _read_json(path / "config.json")
    tok_config = _read_json(path / "tokenizer_config.json")
    gen_config = _read_json(path / "generation_config.json")
    if not (path / "tokenizer.json").is_file():
        raise BundleError(f"{path.name} has no tokenizer.json")

    if genai:
        kind: Kind = "genai"
        dec = genai.get("model", {}).get("decoder", {})
        model_file = path / dec.get("filename", "model.onnx")
        n_layers = int(dec.get("num_hidden_layers", 0))
        kv_heads = int(dec.get("num_key_value_heads", 0))
        head_dim = int(dec.get("head_size", 0))
        vocab = int(genai.get("model", {}).get("vocab_size", 0))
        ctx = int(genai.get("model", {}).get("context_length", 0))
        eos = _ids(genai.get("model", {}).get("eos_token_id"))
        bos = genai.get("model", {}).get("bos_token_id")
    else:
        kind = "parley" if manifest.get("graph", "").startswith("parley-") else "optimum"
        model_file = path / "model.onnx"
        if not model_file.is_file():
            found = sorted(path.glob("*.onnx"))
            if not found:
                raise BundleError(f"{path.name} contains no .onnx model")
            model_file = found[0]
        n_layers = int(config.get("num_hidden_layers", config.get("n_layer", 0)))
        n_heads = int(config.get("num_attention_heads", config.get("n_head", 0)) or 1)
        kv_heads = int(config.get("num_key_value_heads", n_heads))
        hidden = int(config.get("hidden_size", config.get("n_embd", 0)))
        head_dim = int(config.get("head_dim", hidden // n_heads if n_heads else 0))
        vocab = int(config.get("vocab_size", 0))
        ctx = int(config.get("max_position_embeddings", config.get("n_positions", 2048)))
        eos = _ids(gen_config.get("eos_token_id", config.get("eos_token_id")))
        bos = gen_config.get("bos_token_id", config.get("bos_token_id"))
    if not model_file.is_file():
        raise BundleError(f"{path.name}: model file {model_file.name} is missing")
    if min(n_layers, kv_heads, head_dim, vocab, ctx) <= 0:
        raise BundleError(f"{path.name}: config lacks the model's dimensions")
    sampling = tuple(
        (key, float(gen_config[key]))
        for key in SAMPLING_KEYS
        if isinstance(gen_config.get(key), int | float) and not isinstance(gen_config[key], bool)
    )
    template = tok_config.get("chat_template")
    if isinstance(template, list):  # HF allows named templates; take the default one
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    return Bundle(
        path=path,
        kind=kind,
        name=str(manifest.get("name", path.name)),
        model_file=model_file,
        n_layers=n_layers,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        context_length=ctx,
        eos_token_ids=eos,
        bos_token_id=int(bos) if isinstance(bos, int) else None,
        add_bos=bool(tok_config.get("add_bos_token", False)),
        chat_template=template if isinstance(template, str) else None,
        tokenizer_config=tok_config,
        manifest=manifest,
        sampling=sampling,
    )
