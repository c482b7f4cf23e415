"""Rebuild a Hugging Face ``tokenizer.json`` from the vocabulary stored in a GGUF file.

The reference is llama.cpp's own tokenizer (``src/llama-vocab.cpp`` and ``src/unicode.cpp``):
the ids we produce must equal the ids llama.cpp produces for the same text, with special tokens
parsed. Two tokenizer models are handled:

``gpt2``  byte-level BPE. llama.cpp splits the text with a list of regular expressions chosen by
          ``tokenizer.ggml.pre``; each expression splits every piece left by the previous one into
          matches and the gaps between them. That is exactly a sequence of ``Split(...,
          "isolated")`` pre-tokenizers followed by ``ByteLevel`` without its own regex.
``llama`` SentencePiece BPE: a space prefix, spaces escaped as U+2581, then greedy merging of
          the adjacent pair whose concatenation is the vocabulary entry with the highest score,
          bytes of unknown characters as ``<0xNN>`` tokens. As BPE merges: every split of every
          token into two vocabulary entries, ranked by the token's score.

Special tokens follow llama.cpp too: control, user-defined and unknown token types, plus the
control-looking tokens llama.cpp promotes by their text (``<|im_end|>``, ``<|endoftext|>``, ...),
are matched in raw text before anything else (llama.cpp's ``special=True``).

Known differences, none seen on real vocabularies: llama.cpp breaks SentencePiece score ties
between overlapping pairs by position, BPE ranks by split; the per-model strip attributes
llama.cpp hard-codes by model name (Phi-3) are not reproduced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
from tokenizers import pre_tokenizers as pre

from desktop.convert.errors import ConversionError, UnsupportedModelError

__all__ = ["TokenizerFiles", "build_tokenizer_files", "supported_pre_tokenizers"]


@dataclass(frozen=True)
class TokenizerFiles:
    """What the converter writes next to the model: ``tokenizer.json`` and its config."""

    tokenizer_json: str
    tokenizer_config: dict[str, Any]
    bos_token_id: int | None
    eos_token_ids: list[int]
    add_bos: bool


# GGUF token types (gguf.TokenType).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

# --- pre-tokenizer regexes, as llama.cpp applies them ----------------------------------------
# llama.cpp's hand-written GPT-2 splitter also implements the final ``\s+`` alternative that
# its regex string leaves out, so the full GPT-2 expression is the faithful one.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# Contractions spelled with explicit case classes, as llama.cpp does: ``(?i:'s)`` would also
# match case-folding look-alikes such as U+017F (long s).
_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_LLAMA3 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Mistral's tekken splits words at lower->upper case changes with Unicode case classes; llama.cpp
# approximates "upper" as "a letter other than a-z" and "lower" as "a letter other than A-Z".
# Its approximation is what llama.cpp tokenizes with, so it is what we reproduce.
_TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+"
    r"|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class _PreTokenizer:
    regexes: tuple[str, ...]
    ignore_merges: bool = False
    add_bos: bool = False  # llama.cpp's default when the GGUF has no add_bos_token key
    clean_spaces: bool = True


_SMOLLM = _PreTokenizer((r"\p{N}", _GPT2), clean_spaces=False)
_GPT2_PRE = _PreTokenizer((_GPT2,))
_LLAMA3_PRE = _PreTokenizer((_LLAMA3,), ignore_merges=True, add_bos=True)
_QWEN2_PRE = _PreTokenizer((_QWEN2,), clean_spaces=False)
_DEFAULT_PRE = _PreTokenizer((r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"))

# tokenizer.ggml.pre -> how llama.cpp pre-tokenizes. Only names whose llama.cpp behaviour is
# fully captured above are listed; anything else is refused by name rather than guessed.
_PRE_TOKENIZERS: dict[str, _PreTokenizer] = {
    "default": _DEFAULT_PRE,
    # individual digits, then GPT-2
    "smollm": _SMOLLM,
    "starcoder": _SMOLLM,
    "refact": _SMOLLM,
    "codeshell": _SMOLLM,
    # GPT-2
    "gpt-2": _GPT2_PRE,
    "gpt2": _GPT2_PRE,
    "phi-2": _GPT2_PRE,
    "mpt": _GPT2_PRE,
    "olmo": _GPT2_PRE,
    # Llama 3
    "llama3": _LLAMA3_PRE,
    "llama-v3": _LLAMA3_PRE,
    "llama-bpe": _LLAMA3_PRE,
    "falcon3": _LLAMA3_PRE,
    "pixtral": _LLAMA3_PRE,
    "dbrx": _PreTokenizer((_LLAMA3,)),
    "smaug-bpe": _PreTokenizer((_LLAMA3,)),
    # Qwen 2
    "qwen2": _QWEN2_PRE,
    "deepseek-r1-qwen": _QWEN2_PRE,
    "stablelm2": _PreTokenizer((_QWEN2,)),
    # Mistral Nemo and later
    "tekken": _PreTokenizer((_TEKKEN,), ignore_merges=True, add_bos=True, clean_spaces=False),
}


def supported_pre_tokenizers() -> list[str]:
    """The ``tokenizer.ggml.pre`` values of byte-level BPE models that can be converted."""
    return sorted(_PRE_TOKENIZERS)


# Token texts llama.cpp treats as control tokens (and end of generation) whatever their type.
_EOG_TEXTS = frozenset(
    {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<|return|>",
        "<|call|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "<|end_of_text|>",
        "<end_of_utterance>",
        "<｜end▁of▁sentence｜>",  # noqa: RUF001 - DeepSeek's token really uses these characters
    }
)
# Fill-in-the-middle tokens llama.cpp promotes to control when the GGUF names none of that kind.
_FIM_TEXTS: dict[str, frozenset[str]] = {
    "tokenizer.ggml.fim_pre_token_id": frozenset(
        {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "▁<PRE>"}
    ),
    "tokenizer.ggml.fim_suf_token_id": frozenset(
        {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "▁<SUF>"}
    ),
    "tokenizer.ggml.fim_mid_token_id": frozenset(
        {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "▁<MID>"}
    ),
    "tokenizer.ggml.fim_pad_token_id": frozenset(
        {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"}
    ),
    "tokenizer.ggml.fim_rep_token_id": frozenset(
        {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
    ),
    "tokenizer.ggml.fim_sep_token_id": frozenset({"<|file_sep|>"}),
}

_KEY_MODEL = "tokenizer.ggml.model"
_KEY_TOKENS = "tokenizer.ggml.tokens"
_KEY_TYPES = "tokenizer.ggml.token_type"
_KEY_MERGES = "tokenizer.ggml.merges"
_KEY_SCORES = "tokenizer.ggml.scores"
_KEY_PRE = "tokenizer.ggml.pre"


def build_tokenizer_files(meta: Mapping[str, Any]) -> TokenizerFiles:
    """Build ``tokenizer.json`` and ``tokenizer_config.json`` contents from GGUF metadata.

    ``meta`` maps GGUF keys to plain Python values (``GGUFReader.fields[key].contents()``).
    Raises UnsupportedModelError for a tokenizer model or pre-tokenizer this module does not
    reproduce exactly, ConversionError for missing or inconsistent tokenizer metadata.
    """
    model = meta.get(_KEY_MODEL)
    if model is None:
        raise ConversionError(f"The GGUF has no tokenizer (missing key {_KEY_MODEL}).")
    if model not in ("gpt2", "llama"):
        raise UnsupportedModelError(
            f"Unsupported tokenizer model '{model}' (Parley reads 'gpt2' and 'llama' tokenizers)."
        )
    tokens = _tokens(meta)
    types = _token_types(meta, len(tokens))
    vocab = _vocab(tokens)

    if model == "gpt2":
        pre_name = str(meta.get(_KEY_PRE) or "default")
        spec = _PRE_TOKENIZERS.get(pre_name)
        if spec is None:
            raise UnsupportedModelError(
                f"Unsupported pre-tokenizer type '{pre_name}' for a gpt2 tokenizer "
                f"(supported: {', '.join(supported_pre_tokenizers())})."
            )
        tokenizer = _byte_level_bpe(meta, vocab, spec)
        defaults: dict[str, int | None] = {"bos": None, "eos": None, "unk": None}
        add_bos_default, clean_spaces = spec.add_bos, spec.clean_spaces
        add_space_prefix = False
    else:
        add_space_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
        tokenizer = _sentencepiece_bpe(meta, tokens, types, vocab, add_space_prefix)
        defaults = {"bos": 1, "eos": 2, "unk": 0}
        add_bos_default, clean_spaces = True, False

    ids = {
        kind: _special_id(meta, kind, defaults.get(kind), len(tokens)) for kind in _SPECIAL_KINDS
    }
    _add_special_tokens(tokenizer, meta, tokens, types)

    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", add_bos_default))
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    if add_bos and ids["bos"] is None:
        raise ConversionError(
            "The GGUF asks for a BOS token but names none (tokenizer.ggml.bos_token_id)."
        )
    if add_eos and ids["eos"] is None:
        raise ConversionError(
            "The GGUF asks for an EOS token but names none (tokenizer.ggml.eos_token_id)."
        )
    post = _post_processor(
        tokens,
        ids["bos"] if add_bos else None,
        ids["eos"] if add_eos else None,
    )
    if post is not None:
        tokenizer.post_processor = post

    eos_ids = _end_of_generation_ids(ids, tokens)

    def text(kind: str) -> str | None:
        token_id = ids[kind]
        return None if token_id is None else tokens[token_id]

    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": text("bos"),
        "eos_token": text("eos"),
        "unk_token": text("unk"),
        "pad_token": text("pad"),
        "add_bos_token": add_bos,
        "add_eos_token": add_eos,
        "clean_up_tokenization_spaces": clean_spaces,
    }
    if model == "llama":
        config["add_prefix_space"] = add_space_prefix
    template = meta.get("tokenizer.chat_template")
    if isinstance(template, str) and template:
        config["chat_template"] = template
    context = meta.get(f"{meta.get('general.architecture', '')}.context_length")
    if isinstance(context, int) and context > 0:
        config["model_max_length"] = context

    return TokenizerFiles(
        tokenizer_json=compact_merges(tokenizer.to_str()),
        tokenizer_config=config,
        bos_token_id=ids["bos"],
        eos_token_ids=eos_ids,
        add_bos=add_bos,
    )


def compact_merges(tokenizer_json: str) -> str:
    """Write BPE merges as ``"a b"`` strings instead of ``["a", "b"]`` pairs where no token
    has a space (byte-level vocabularies never do): the same tokenizer, which the
    ``tokenizers`` library reads ~40 ms faster (starter model: 80 instead of 125 ms), and model
    loading waits for it."""
    data = json.loads(tokenizer_json)
    model = data.get("model") or {}
    merges = model.get("merges")
    if model.get("type") != "BPE" or not merges or not isinstance(merges[0], list):
        return tokenizer_json
    if any(len(m) != 2 or " " in m[0] or " " in m[1] for m in merges):
        return tokenizer_json
    model["merges"] = [f"{a} {b}" for a, b in merges]
    return json.dumps(data, ensure_ascii=False)


# --- metadata ----------------------------------------------------------------------------------


def _tokens(meta: Mapping[str, Any]) -> list[str]:
    raw = meta.get(_KEY_TOKENS)
    if raw is None:
        raise ConversionError(f"The GGUF has no vocabulary (missing key {_KEY_TOKENS}).")
    if not isinstance(raw, Sequence) or not raw:
        raise ConversionError(f"The GGUF vocabulary ({_KEY_TOKENS}) is empty or not a list.")
    # llama.cpp reads token texts as C strings (cut at the first NUL) and renames empty ones.
    texts = [str(t).split("\x00", 1)[0] for t in raw]
    return [t if t else f"[EMPTY_{i}]" for i, t in enumerate(texts)]


def _token_types(meta: Mapping[str, Any], n_tokens: int) -> list[int]:
    raw = meta.get(_KEY_TYPES)
    if raw is None:
        return [_NORMAL] * n_tokens
    if len(raw) < n_tokens:
        raise ConversionError(
            f"The GGUF lists {len(raw)} token types ({_KEY_TYPES}) for {n_tokens} tokens."
        )
    return [int(t) for t in raw[:n_tokens]]


def _vocab(tokens: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if vocab.setdefault(token, i) != i:
            raise ConversionError(
                f"The GGUF vocabulary has the token {token!r} twice (ids {vocab[token]} and {i})."
            )
    return vocab


_SPECIAL_KINDS = ("bos", "eos", "unk", "pad", "eot", "eom")
_SPECIAL_KEYS = {
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id",
    "pad": "tokenizer.ggml.padding_token_id",
    "eot": "tokenizer.ggml.eot_token_id",
    "eom": "tokenizer.ggml.eom_token_id",
}


def _special_id(meta: Mapping[str, Any], kind: str, default: int | None, n: int) -> int | None:
    value = meta.get(_SPECIAL_KEYS[kind])
    if value is not None and 0 <= int(value) < n:
        return int(value)
    # Like llama.cpp: a missing or out-of-range id falls back to the model's default.
    return default if default is not None and default < n else None


def _end_of_generation_ids(ids: Mapping[str, int | None], tokens: list[str]) -> list[int]:
    """eos, then end-of-turn / end-of-message, then the tokens llama.cpp stops on by text."""
    out: list[int] = []
    for kind in ("eos", "eot", "eom"):
        token_id = ids[kind]
        if token_id is not None and token_id not in out:
            out.append(token_id)
    out += [i for i, t in enumerate(tokens) if t in _EOG_TEXTS and i not in out]
    return out


def _special_token_ids(meta: Mapping[str, Any], tokens: list[str], types: list[int]) -> list[int]:
    """Ids llama.cpp matches in raw text before tokenizing: its ``cache_special_tokens``."""
    promoted = set(_EOG_TEXTS)
    for key, texts in _FIM_TEXTS.items():
        if meta.get(key) is None:
            promoted |= texts
    return [
        i
        for i, (text, kind) in enumerate(zip(tokens, types, strict=True))
        if kind in (_CONTROL, _USER_DEFINED, _UNKNOWN) or text in promoted
    ]


def _add_special_tokens(
    tokenizer: Tokenizer, meta: Mapping[str, Any], tokens: list[str], types: list[int]
) -> None:
    special: list[AddedToken | str] = []
    user: list[AddedToken | str] = []
    for i in _special_token_ids(meta, tokens, types):
        is_user = types[i] == _USER_DEFINED and tokens[i] not in _EOG_TEXTS
        token = AddedToken(tokens[i], special=not is_user, normalized=False)
        (user if is_user else special).append(token)
    # The contents are already in the model's vocabulary, so they keep their GGUF ids.
    tokenizer.add_special_tokens(special)
    tokenizer.add_tokens(user)


def _post_processor(
    tokens: list[str], bos: int | None, eos: int | None
) -> processors.TemplateProcessing | None:
    if bos is None and eos is None:
        return None
    head = [(tokens[bos], bos)] if bos is not None else []
    tail = [(tokens[eos], eos)] if eos is not None else []
    single = [t for t, _ in head] + ["$A"] + [t for t, _ in tail]
    pair = single + [f"{t}:1" for t, _ in head] + ["$B:1"] + [f"{t}:1" for t, _ in tail]
    return processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=list(dict.fromkeys(head + tail))
    )


# --- byte-level BPE (tokenizer.ggml.model == "gpt2") -------------------------------------------


def _byte_level_bpe(
    meta: Mapping[str, Any], vocab: Mapping[str, int], spec: _PreTokenizer
) -> Tokenizer:
    raw_merges = meta.get(_KEY_MERGES)
    if raw_merges is None:
        raise ConversionError(f"The GGUF has no BPE merges (missing key {_KEY_MERGES}).")
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for merge in raw_merges:
        # llama.cpp splits at the first space after the first character.
        cut = merge.find(" ", 1)
        if cut < 0:
            continue
        pair = (merge[:cut], merge[cut + 1 :])
        # A merge whose parts or result are not tokens can never yield an id; llama.cpp keeps
        # the first rank of a repeated pair.
        if pair in seen or pair[0] not in vocab or pair[1] not in vocab:
            continue
        if pair[0] + pair[1] not in vocab:
            continue
        seen.add(pair)
        merges.append(pair)

    tokenizer = Tokenizer(
        models.BPE(vocab=dict(vocab), merges=merges, ignore_merges=spec.ignore_merges)
    )
    splits: list[pre.PreTokenizer] = [
        pre.Split(Regex(expression), behavior="isolated") for expression in spec.regexes
    ]
    splits.append(pre.ByteLevel(add_prefix_space=False, use_regex=False))
    tokenizer.pre_tokenizer = pre.Sequence(splits)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


# --- SentencePiece BPE (tokenizer.ggml.model == "llama") ---------------------------------------


def _sentencepiece_bpe(
    meta: Mapping[str, Any],
    tokens: list[str],
    types: list[int],
    vocab: Mapping[str, int],
    add_space_prefix: bool,
) -> Tokenizer:
    raw_scores = meta.get(_KEY_SCORES)
    if raw_scores is None:
        raise ConversionError(f"The GGUF has no token scores (missing key {_KEY_SCORES}).")
    if len(raw_scores) < len(tokens):
        raise ConversionError(
            f"The GGUF lists {len(raw_scores)} token scores ({_KEY_SCORES}) "
            f"for {len(tokens)} tokens."
        )
    scores = [float(s) for s in raw_scores[: len(tokens)]]

    # llama.cpp merges the adjacent pair whose concatenation is the highest-scoring vocabulary
    # entry (leftmost on ties). As BPE merges: every way to split every token into two tokens,
    # ranked by the joined token's score, then by id for a stable order.
    ranked: list[tuple[float, int, str, str]] = []
    for token_id, token in enumerate(tokens):
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[token_id], token_id, left, right))
    ranked.sort()
    merges = [(left, right) for _, _, left, right in ranked]

    unk = next((tokens[i] for i, kind in enumerate(types) if kind == _UNKNOWN), None)
    byte_tokens = {f"<0x{b:02X}>" for b in range(256)}
    has_bytes = byte_tokens <= vocab.keys()
    tokenizer = Tokenizer(
        models.BPE(
            vocab=dict(vocab),
            merges=merges,
            unk_token=unk,
            fuse_unk=True,
            byte_fallback=has_bytes,
        )
    )
    steps: list[normalizers.Normalizer] = []
    if add_space_prefix:
        steps.append(normalizers.Prepend("▁"))
    steps.append(normalizers.Replace(" ", "▁"))
    tokenizer.normalizer = normalizers.Sequence(steps)
    pieces: list[decoders.Decoder] = [
        decoders.Replace("▁", " "),
        decoders.ByteFallback(),
        decoders.Fuse(),
    ]
    if add_space_prefix:
        pieces.append(decoders.Strip(content=" ", left=1, right=0))
    tokenizer.decoder = decoders.Sequence(pieces)
    return tokenizer
