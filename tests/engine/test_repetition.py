"""An answer that loops is noticed; text that only resembles a loop is not."""

from __future__ import annotations

import random

from desktop.engine.repetition import MIN_SPAN, RepetitionGuard


def first_loop(tokens: list[int], guard: RepetitionGuard | None = None) -> int | None:
    """The number of tokens after which the guard calls it a loop, or None."""
    guard = guard or RepetitionGuard()
    for n, token in enumerate(tokens, 1):
        if guard.push(token):
            return n
    return None


def test_a_repeated_table_row_is_a_loop_once_it_spans_the_minimum() -> None:
    intro = list(range(1000, 1040))  # the answer's own start, not repeated
    row = [5, 17, 9, 17, 33, 9, 2]  # "| Pink | Blueberries |\n"
    assert first_loop(intro + row * 100) == len(intro) + MIN_SPAN


def test_a_repeated_paragraph_is_a_loop_after_four_times() -> None:
    paragraph = list(range(100, 180))  # 80 tokens
    assert first_loop(paragraph * 10) == 4 * 80


def test_one_token_over_and_over_is_a_loop() -> None:
    assert first_loop([7] * 1000) == MIN_SPAN


def test_text_that_varies_is_not_a_loop() -> None:
    rng = random.Random(1)
    assert first_loop([rng.randrange(50) for _ in range(3000)]) is None
    # a table whose rows differ in one cell: repetitive, but not one block repeated
    rows = [[5, 17, n, 17, 33, 9, 2] for n in range(400)]
    assert first_loop([t for row in rows for t in row]) is None


def test_a_block_longer_than_the_longest_period_is_not_noticed() -> None:
    block = list(range(300))
    assert first_loop(block * 6, RepetitionGuard(max_period=200)) is None
    assert first_loop(block * 6, RepetitionGuard(max_period=300)) == 4 * 300
