from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from desktop.engine.textstream import TextStream
from tests.ggufs import TinySpec
from tests.models import TinyModels


def byte_tokens(tokenizer: Tokenizer, text: str) -> list[int]:
    """One token per UTF-8 byte, so multi-byte characters arrive in pieces."""
    alphabet = json.loads(tokenizer.to_str())["model"]["vocab"]
    from tests.ggufs import byte_alphabet

    table = byte_alphabet()
    return [alphabet[table[b]] for b in text.encode("utf-8")]


def tokenizer(tiny_models: TinyModels) -> Tokenizer:
    _, bundle = tiny_models.get(TinySpec(weight_type="Q8_0"))
    return Tokenizer.from_file(str(Path(bundle) / "tokenizer.json"))


def test_multibyte_characters_are_never_split(tiny_models: TinyModels) -> None:
    tok = tokenizer(tiny_models)
    text = "héllo 👋🏽 wörld — 日本語 ok"
    stream = TextStream(tok)
    deltas = [stream.push(t) for t in byte_tokens(tok, text)]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
    # the 4-byte emoji arrives as four tokens: three give nothing, the fourth the character
    assert "👋" in deltas


def test_stop_string_is_held_back_and_cut(tiny_models: TinyModels) -> None:
    tok = tokenizer(tiny_models)
    stream = TextStream(tok, stop=("END",))
    shown = "".join(stream.push(t) for t in byte_tokens(tok, "abc ENDxyz"))
    assert stream.stopped
    assert shown == "abc "


def test_a_partial_stop_string_is_released_at_the_end(tiny_models: TinyModels) -> None:
    tok = tokenizer(tiny_models)
    stream = TextStream(tok, stop=("END",))
    shown = "".join(stream.push(t) for t in byte_tokens(tok, "abc EN"))
    assert shown == "abc "
    assert not stream.stopped
    assert stream.flush() == "EN"
    assert stream.text == "abc EN"
