# ruff: noqa: RUF001 - the corpus is made of look-alike characters on purpose
"""Shared by the tokenizer tests and bench/tools/make_tokenizer_golden.py: the parity corpus and
the tokenizer variants derived from the starter model's vocabulary.

llama.cpp is the reference. Besides the starter model's own tokenizer (byte-level BPE,
pre-tokenizer ``smollm``), the same vocabulary is re-labelled with other pre-tokenizer types, and
turned into a SentencePiece-style vocabulary, so that every code path of
``desktop.convert.tokenizer`` is checked against llama.cpp on a real-sized vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# At least one string per trap: scripts, combining marks, emoji sequences, digits, whitespace
# runs of every kind, special tokens inside text, contractions, and code.
CORPUS: list[str] = [
    "Hello world",
    "Hello, world! How are you today?",
    "What is the capital of France?",
    " leading space",
    "   three leading spaces",
    "trailing space ",
    "trailing spaces   ",
    "multiple    spaces   inside",
    "tabs\tbetween\t\twords\t",
    "new\nlines\n\n\nand more",
    "windows\r\nline\r\nendings\r\n",
    "\n\n\n",
    "   ",
    "mixed \t\n \r\n\t whitespace",
    "non\u00a0breaking\u00a0space and\u3000ideographic space",
    "zero\u200bwidth\u200cjoiners\u200d",
    "vertical\x0btab and form\x0cfeed",
    "1234567890",
    "3.14159265358979323846",
    "1,000,000 and 1.000.000 and 12345678901234567890",
    "numbers 1 12 123 1234 12345 0000000 999999 -123 +1234 x1234y",
    "zzqx and zzqx:zzqx",
    "Call 555-0123 or +33 1 23 45 67 89",
    "Year 2024: 50% off, $19.99!",
    "Arabic-Indic digits ٠١٢٣٤٥٦٧٨٩ and fullwidth １２３",
    "日本語のテキストです。",
    "中文测试：你好，世界！",
    "한국어 텍스트 입니다",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "สวัสดีครับ ภาษาไทย",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "café naïve résumé façade Ærøskøbing",
    "decomposed e\u0301 a\u0300 n\u0303",
    "Ünïcödé ÀÉÎÕÜ ß ẞ ĳ ŉ",
    "emoji 😀🎉🚀 in text",
    "family 👨\u200d👩\u200d👧\u200d👦 and 🧑\u200d💻 coder",
    "skin tones 👍🏽 👋🏿 and flags 🇫🇷🇯🇵",
    "keycap 1️⃣ and ❤️ heart",
    "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∑∫√∞ ≤ ≥ ≠",
    "I'm, you're, he's, we'll, they've, I'd, don't",
    "I'M YOU'RE HE'S WE'LL THEY'VE I'D DON'T",
    "<|im_start|>user\nHi<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "partial <|im_start and im_end|> tokens",
    "<|im_start|><|im_end|><|im_start|>",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
    '<html><body class="main">Hi &amp; bye</body></html>',
    "https://example.com/path?query=1&b=two#frag",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "HTTPServer getURLForID iPhone XMLHttpRequest ÉcoleNormale ǅungla ΣοφίαΚαι",
    "!!!???...,,,;;;:::",
    "a" * 300,
    "The quick brown fox jumps over the lazy dog. " * 4,
]


def with_pre(meta: Mapping[str, Any], pre: str) -> dict[str, Any]:
    """The same byte-level vocabulary and merges, pre-tokenized as ``pre``.

    The add_bos_token key is dropped so that llama.cpp's default for ``pre`` applies (Llama 3
    adds BOS, the others do not).
    """
    out = {k: v for k, v in meta.items() if k != "tokenizer.ggml.add_bos_token"}
    out["tokenizer.ggml.pre"] = pre
    return _with_number_tokens(out)


# The starter vocabulary has single digits only, which hides how a pre-tokenizer groups digits
# (one by one, up to three, any run, with or without a leading space). These multi-digit tokens,
# merged at the lowest priority, bring that out. "zzqx" has no merges: only a tokenizer that
# looks whole words up before merging (Llama 3's ignore_merges) emits it.
_EXTRA_MERGES = ["0 0", "00 0", "1 2", "12 3", "123 4", "9 9", "99 9", "Ġ 1", "Ġ1 2", "Ġ12 3"]
_EXTRA_UNMERGED = ["zzqx", "Ġzzqx"]


def _with_number_tokens(meta: dict[str, Any]) -> dict[str, Any]:
    tokens = list(meta["tokenizer.ggml.tokens"])
    types = list(meta["tokenizer.ggml.token_type"])
    merges = list(meta["tokenizer.ggml.merges"])
    known = set(tokens)
    for merge in _EXTRA_MERGES:
        joined = merge.replace(" ", "")
        if joined not in known:
            tokens.append(joined)
            types.append(1)
            known.add(joined)
        merges.append(merge)
    for word in _EXTRA_UNMERGED:
        if word not in known:
            tokens.append(word)
            types.append(1)
            known.add(word)
    meta["tokenizer.ggml.tokens"] = tokens
    meta["tokenizer.ggml.token_type"] = types
    meta["tokenizer.ggml.merges"] = merges
    return _with_vocab_size(meta)


def _with_vocab_size(meta: dict[str, Any]) -> dict[str, Any]:
    key = f"{meta.get('general.architecture')}.vocab_size"
    if key in meta:
        meta[key] = len(meta["tokenizer.ggml.tokens"])
    return meta


def _byte_decoder() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable character table, inverted."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in table.items()}


def sentencepiece_from_byte_level(meta: Mapping[str, Any], n_pieces: int = 20000) -> dict[str, Any]:
    """A SentencePiece-BPE ("llama") vocabulary made from a byte-level one.

    Layout like Llama 2 / TinyLlama: <unk>, <s>, </s>, the 256 byte tokens, then the first
    ``n_pieces`` byte-level tokens that decode to valid UTF-8, with spaces as U+2581 and
    scores falling with the rank, then their single characters. Chat markers are appended as
    control tokens.
    """
    decoder = _byte_decoder()
    tokens: list[str] = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types: list[int] = [2, 3, 3] + [6] * 256
    scores: list[float] = [0.0, 0.0, 0.0] + [0.0] * 256
    seen = set(tokens)
    kept = 0
    for token, kind in zip(
        meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"], strict=True
    ):
        if kind != 1 or kept >= n_pieces:
            continue
        try:
            text = bytes(decoder[c] for c in token).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
        piece = text.replace(" ", "\u2581")
        if not piece or piece in seen or "\n" in piece or "\r" in piece:
            continue
        seen.add(piece)
        tokens.append(piece)
        types.append(1)
        scores.append(-float(kept))
        kept += 1
    # SentencePiece keeps every character of its pieces as a piece of its own (at the end, with
    # the lowest scores); without them no BPE merge could start from that character.
    for char in sorted({c for piece in tokens[259:] for c in piece} - seen):
        tokens.append(char)
        types.append(1)
        scores.append(-float(kept))
        kept += 1
    for marker in ("<|im_start|>", "<|im_end|>"):
        tokens.append(marker)
        types.append(3)
        scores.append(0.0)
    out = {k: v for k, v in meta.items() if not k.startswith("tokenizer.")}
    out.update(
        {
            "tokenizer.ggml.model": "llama",
            "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.bos_token_id": 1,
            "tokenizer.ggml.eos_token_id": 2,
            "tokenizer.ggml.unknown_token_id": 0,
        }
    )
    return _with_vocab_size(out)


# name -> how to derive the variant's metadata from the starter model's metadata.
VARIANTS = {
    "smollm": lambda meta: dict(meta),
    "gpt-2": lambda meta: with_pre(meta, "gpt-2"),
    "llama-bpe": lambda meta: with_pre(meta, "llama-bpe"),
    "qwen2": lambda meta: with_pre(meta, "qwen2"),
    "default": lambda meta: with_pre(meta, "default"),
    "starcoder": lambda meta: with_pre(meta, "starcoder"),
    "dbrx": lambda meta: with_pre(meta, "dbrx"),
    "tekken": lambda meta: with_pre(meta, "tekken"),
    "spm": sentencepiece_from_byte_level,
}


def write_vocab_gguf(meta: Mapping[str, Any], path: str) -> None:
    """Write ``meta`` as a GGUF without tensors, enough for llama.cpp's ``vocab_only`` load."""
    import gguf

    writer = gguf.GGUFWriter(path, str(meta["general.architecture"]))
    typed = {
        "tokenizer.ggml.tokens": writer.add_token_list,
        "tokenizer.ggml.token_type": writer.add_token_types,
        "tokenizer.ggml.scores": writer.add_token_scores,
        "tokenizer.ggml.merges": writer.add_token_merges,
    }
    for key, value in meta.items():
        if key == "general.architecture" or key.startswith("GGUF."):
            continue
        if key in typed:
            typed[key](value)
        elif isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, list):
            writer.add_array(key, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
