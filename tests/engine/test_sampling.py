from __future__ import annotations

import numpy as np
import pytest

from desktop.engine.sampling import Sampler
from desktop.engine.types import GREEDY, SamplingParams

LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))


def draws(params: SamplingParams, n: int = 4000) -> np.ndarray:
    sampler = Sampler(params)
    return np.bincount([sampler(LOGITS) for _ in range(n)], minlength=4) / n


def test_temperature_zero_is_argmax() -> None:
    assert Sampler(GREEDY)(np.array([0.1, 3.0, 2.9], np.float32)) == 1


def test_temperature_one_follows_the_distribution() -> None:
    freq = draws(SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=1))
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.03)


def test_top_k_keeps_the_k_best() -> None:
    freq = draws(SamplingParams(temperature=1.0, top_k=2, top_p=1.0, min_p=0.0, seed=1))
    assert freq[2] == freq[3] == 0
    assert freq[0] == pytest.approx(0.5 / 0.8, abs=0.03)


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    freq = draws(SamplingParams(temperature=1.0, top_k=0, top_p=0.75, min_p=0.0, seed=1))
    assert freq[2] == freq[3] == 0
    assert freq[1] > 0


def test_min_p_drops_tokens_below_a_fraction_of_the_best() -> None:
    freq = draws(SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.2, seed=1))
    assert freq[3] == 0
    assert freq[2] > 0


def test_repetition_penalty_lowers_seen_tokens() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0, repetition_penalty=2.0))
    logits = np.array([2.0, 1.5, -1.0], np.float32)
    assert sampler(logits, history=[0]) == 1
    out = sampler.penalize(logits, [0, 2])
    assert out[0] == 1.0
    assert out[2] == -2.0
    assert out[1] == 1.5


def test_same_seed_same_draws() -> None:
    p = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=3)
    a, b = Sampler(p), Sampler(p)
    assert [a(LOGITS) for _ in range(50)] == [b(LOGITS) for _ in range(50)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -1.0),
        ("top_p", 0.0),
        ("min_p", 1.0),
        ("top_k", -1),
        ("repetition_penalty", 0.0),
        ("max_new_tokens", 0),
    ],
)
def test_out_of_bounds_parameters_are_named(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        SamplingParams(**{field: value}).validate()  # type: ignore[arg-type]
