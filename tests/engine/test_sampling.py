from __future__ import annotations

import numpy as np
import pytest

from desktop.engine.sampling import InvalidLogitsError, Sampler
from desktop.engine.types import GREEDY, SamplingParams

LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))


def draws(params: SamplingParams, n: int = 4000) -> np.ndarray:
    sampler = Sampler(params)
    return np.bincount([sampler(LOGITS) for _ in range(n)], minlength=4) / n


def test_temperature_zero_is_argmax() -> None:
    assert Sampler(GREEDY)(np.array([0.1, 3.0, 2.9], np.float32)) == 1


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_logits_that_are_not_numbers_are_refused(bad: float, temperature: float) -> None:
    logits = np.array([0.1, 3.0, bad, 2.9], np.float32)
    sampler = Sampler(SamplingParams(temperature=temperature, seed=1))
    with pytest.raises(InvalidLogitsError, match="weights file is probably damaged"):
        sampler(logits)


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


def exact_probabilities(logits: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """Softmax over the 1,024 best (the sampler's cap when top-k is 0), then the nucleus: the
    reference its shortcut (only tokens within NEGLIGIBLE * T of the best) must agree with."""
    z = logits.astype(np.float64) / temperature
    z[np.argsort(-z, kind="stable")[1024:]] = -np.inf
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    keep = int(np.searchsorted(np.cumsum(probs[order]), top_p) + 1)
    out = np.zeros_like(probs)
    out[order[:keep]] = probs[order[:keep]]
    return out / out.sum()


@pytest.mark.parametrize("temperature", [0.3, 1.0])
def test_a_large_vocabulary_is_sampled_as_the_full_softmax_says(temperature: float) -> None:
    rng = np.random.default_rng(5)
    logits = (rng.standard_normal(49152) * 2.5).astype(np.float32)
    logits[:6] = [14.0, 13.6, 13.1, 12.0, 11.5, 11.4]  # a few clear favourites
    expected = exact_probabilities(logits, temperature, 0.95)
    sampler = Sampler(
        SamplingParams(temperature=temperature, top_k=0, top_p=0.95, min_p=0.0, seed=9)
    )
    n = 6000
    counts = np.bincount([sampler(logits) for _ in range(n)], minlength=len(logits))
    assert counts[expected == 0].sum() == 0  # nothing outside the nucleus
    top = np.argsort(-expected)[:4]
    np.testing.assert_allclose(counts[top] / n, expected[top], atol=0.025)


def test_top_k_picks_the_k_best_among_many_near_the_top() -> None:
    """More than top-k tokens within reach of the best: exactly the k best remain."""
    logits = np.linspace(10.0, 9.0, 3000).astype(np.float32)  # 3,000 near-ties, ordered
    sampler = Sampler(SamplingParams(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, seed=2))
    assert {sampler(logits) for _ in range(400)} == {0, 1, 2, 3, 4}
    wide = Sampler(SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=2))
    assert max(wide(logits) for _ in range(3000)) < 1024  # the 1,024-candidate cap
