"""Regenerate tests/convert/data/tokenizer_golden.json: llama.cpp's ids for the parity corpus.

For every tokenizer variant in tests/convert/tokenizer_cases.py (the starter model's own
tokenizer, the same vocabulary under other pre-tokenizer types, and a SentencePiece-style
vocabulary), write the variant as a vocabulary-only GGUF, load it in llama.cpp and record
``tokenize(text, add_bos=..., special=True)`` for each corpus string. The test suite then checks
``desktop.convert.tokenizer`` against these ids without llama-cpp-python installed.

Needs llama-cpp-python (the benchmark wheel in ../shared/wheels/, never a project dependency):
    .venv/bin/pip install --no-index --find-links ../shared/wheels llama-cpp-python
    .venv/bin/python bench/tools/make_tokenizer_golden.py
It also prints how long build_tokenizer_files takes on each vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import gguf  # noqa: E402
import llama_cpp  # noqa: E402

from desktop.convert.tokenizer import build_tokenizer_files  # noqa: E402
from tests.convert.tokenizer_cases import CORPUS, VARIANTS, write_vocab_gguf  # noqa: E402
from tests.starter import starter_gguf_path  # noqa: E402

OUT = ROOT / "tests" / "convert" / "data" / "tokenizer_golden.json"


def read_meta(path: Path) -> dict[str, object]:
    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def _format(value: object, depth: int = 0) -> str:
    """JSON with one line per string or id list: small, and diffs show which text changed."""
    pad = " " * depth
    if isinstance(value, dict):
        items = [
            f"{pad} {json.dumps(k)}: {_format(v, depth + 1).lstrip()}" for k, v in value.items()
        ]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}" + ("\n" if depth == 0 else "")
    if isinstance(value, list) and value and all(isinstance(v, (list, str)) for v in value):
        rows = [pad + " " + json.dumps(v, ensure_ascii=False) for v in value]
        return pad + "[\n" + ",\n".join(rows) + "\n" + pad + "]"
    return pad + json.dumps(value, ensure_ascii=False)


def main() -> None:
    starter = starter_gguf_path()
    meta = read_meta(starter)
    golden: dict[str, object] = {
        "reference": f"llama-cpp-python {llama_cpp.__version__}: "
        "Llama(vocab_only=True).tokenize(text.encode(), add_bos, special=True)",
        "starter_gguf_sha256": hashlib.sha256(starter.read_bytes()).hexdigest(),
        "corpus": CORPUS,
        "variants": {},
    }
    variants: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in VARIANTS.items():
            variant = make(meta)
            start = time.perf_counter()
            files = build_tokenizer_files(variant)
            took = time.perf_counter() - start
            path = Path(tmp) / f"{name}.gguf"
            write_vocab_gguf(variant, str(path))
            llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
            plain = [llm.tokenize(t.encode(), add_bos=False, special=True) for t in CORPUS]
            added = [llm.tokenize(t.encode(), add_bos=True, special=True) for t in CORPUS]
            variants[name] = {"add_bos": files.add_bos, "ids": plain, "ids_add_special": added}
            n = len(variant["tokenizer.ggml.tokens"])  # type: ignore[arg-type]
            print(f"{name:10s} {n:6d} tokens  build_tokenizer_files {took * 1000:6.0f} ms")
            del llm
    golden["variants"] = variants
    OUT.write_text(_format(golden), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(CORPUS)} strings x {len(variants)} variants)")


if __name__ == "__main__":
    main()
