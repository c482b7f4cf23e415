"""Tokenizing a prompt a piece at a time (between special tokens), the pieces remembered:
always the ids the tokenizer gives for the whole text, and only where that is guaranteed."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from desktop.engine import pieces
from desktop.engine.pieces import PieceEncoder
from tests.convert.tokenizer_cases import CORPUS

SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>x"]


def byte_level(special: list[str | AddedToken] | None = None) -> Tokenizer:
    """A small byte-level BPE like SmolLM2's, trained on the parity corpus."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=special if special is not None else SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS * 3, trainer)
    return tokenizer


def metaspace_first() -> Tokenizer:
    """SentencePiece-style: "▁" before the first word of the input only."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>", *SPECIAL])
    tokenizer.train_from_iterator(CORPUS * 3, trainer)
    return tokenizer


def chat_texts(seed: int, n: int) -> list[str]:
    """Rendered-chat-like texts: corpus lines joined by special tokens, and the odd cases
    (special tokens back to back, inside words, at both ends, as prefixes of each other)."""
    rng = random.Random(seed)
    texts = [
        "",
        "<|im_start|>",
        "<|im_end|><|im_start|>",
        "a<|im_end|>b",
        "<|im_start|>xy<|im_start|>x",
        "<|im_start|>user\n  <|im_end|>\n",
    ]
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice(SPECIAL))
            parts.append(rng.choice(CORPUS)[: rng.randint(0, 60)])
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize("make", [byte_level, metaspace_first])
def test_every_text_gets_the_ids_of_the_whole_text(make: Any) -> None:
    tokenizer = make()
    encoder = PieceEncoder(tokenizer)
    for text in chat_texts(1, 300) * 2:  # twice: the second time from remembered pieces
        assert encoder.encode(text) == tokenizer.encode(text, add_special_tokens=False).ids


def test_a_byte_level_tokenizer_is_encoded_piecewise_and_pieces_are_not_encoded_again() -> None:
    tokenizer = byte_level()
    encoded: list[str] = []

    class Counting:
        def get_added_tokens_decoder(self) -> Any:
            return tokenizer.get_added_tokens_decoder()

        def encode(self, text: str, add_special_tokens: bool = True) -> Any:
            encoded.append(text)
            return tokenizer.encode(text, add_special_tokens=add_special_tokens)

    encoder = PieceEncoder(Counting())  # type: ignore[arg-type]
    assert encoder.piecewise
    earlier = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
    encoder.encode(earlier + "<|im_start|>assistant\n")
    encoded.clear()
    encoder.encode(earlier + "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n")
    assert encoded == ["user\nAnd 3+3?"], "only the new message is tokenized"


def test_the_pieces_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces, "TOKENS_KEPT", 50)
    tokenizer = byte_level()
    encoder = PieceEncoder(tokenizer)
    for text in chat_texts(2, 200):
        assert encoder.encode(text) == tokenizer.encode(text, add_special_tokens=False).ids
        assert encoder._kept <= 50 or len(encoder._pieces) == 1
        assert encoder._kept == sum(len(ids) for ids in encoder._pieces.values())


def test_added_tokens_that_strip_spaces_are_left_to_the_tokenizer() -> None:
    tokenizer = byte_level(["<|im_start|>", AddedToken("<|im_end|>", lstrip=True, special=True)])
    encoder = PieceEncoder(tokenizer)
    assert not encoder.piecewise
    text = "<|im_start|>user\nhi   <|im_end|>\n"
    assert encoder.encode(text) == tokenizer.encode(text, add_special_tokens=False).ids
    # "▁" before the first word of the input: a piece on its own would get one too
    assert not PieceEncoder(metaspace_first()).piecewise, "found by the probe texts"


@pytest.mark.starter
def test_the_starter_model_is_encoded_piecewise() -> None:
    from desktop.engine.engine import load_engine
    from desktop.engine.types import ChatMessage
    from tests.starter import starter_bundle_path

    engine = load_engine(starter_bundle_path(), "cpu", threads=2)
    assert engine._encoder.piecewise
    chat = [ChatMessage("user", text) for text in CORPUS[:40]]
    text = engine.template.render(chat)
    assert engine.encode_chat(chat) == engine.tokenizer.encode(text, add_special_tokens=False).ids
