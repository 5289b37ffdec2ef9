"""Intervals over seeds × images (maiou.evaluation.intervals): coverage on simulated
benchmarks whose true difference is known, and the verdict rules."""

from __future__ import annotations

import numpy as np
import pytest

from maiou.evaluation.intervals import (
    HOLDS,
    IMAGES,
    REVERSED,
    SEEDS_X_IMAGES,
    UNDECIDED,
    seeds_and_images,
    seeds_for_half_width,
    verdict,
)

TRUE_DELTA = 1.0


def _simulated_benchmark(rng, seeds, seed_sd, images=150, image_sd=4.0, resamples=300):
    """One benchmark with a known answer: the per-seed delta on the val images is the mean
    over images of (true delta + the image's own effect, shared by every seed + a seed x
    image term) plus the seed's own offset (sd ``seed_sd``). Returns the per-seed deltas
    and the seed-mean over ``resamples`` paired resamples of the images."""
    image_effect = rng.normal(0.0, image_sd, images)
    per_image = TRUE_DELTA + image_effect + rng.normal(0.0, 1.0, (seeds, images))
    offsets = rng.normal(0.0, seed_sd, seeds)
    per_seed = per_image.mean(axis=1) + offsets
    counts = np.stack(
        [np.bincount(rng.integers(0, images, images), minlength=images) for _ in range(resamples)]
    )
    draws = (counts @ per_image.T / images + offsets).mean(axis=1)
    return per_seed, draws


@pytest.mark.parametrize(
    "seeds, seed_sd",
    [(2, 1.5), (3, 1.5), (5, 1.0), (5, 0.35), (5, 0.05), (8, 0.5)],
    ids=[
        "2 seeds",
        "3 seeds",
        "5 seeds",
        "5 seeds, parts equal",
        "5 seeds, images dominate",
        "8 seeds",
    ],
)
def test_coverage_of_95_percent_intervals(seeds, seed_sd):
    rng = np.random.default_rng(1234 + seeds)
    trials, covered = 1000, 0
    for _ in range(trials):
        per_seed, draws = _simulated_benchmark(rng, seeds, seed_sd)
        ci = seeds_and_images(per_seed, draws, 0.95)
        assert ci.covers == SEEDS_X_IMAGES and ci.decision == (ci.lo, ci.hi)
        covered += ci.lo <= TRUE_DELTA <= ci.hi
    assert 0.92 <= covered / trials <= 0.98, covered / trials


def test_a_normal_quantile_would_cover_too_rarely():
    """The reason for the t quantile: with 3 seeds, z instead of t covers far below 95 %."""
    rng = np.random.default_rng(7)
    trials, covered = 1000, 0
    for _ in range(trials):
        per_seed, draws = _simulated_benchmark(rng, 3, 1.5)
        half = 1.96 * np.sqrt(per_seed.var(ddof=1) / 3 + draws.var(ddof=1))
        covered += abs(per_seed.mean() - TRUE_DELTA) <= half
    assert covered / trials < 0.91


def test_one_seed_with_a_measured_seed_sd_covers():
    """One seed: the verdict's interval, widened by the seed sd measured on 5 other seeds of
    the same recipe (a t quantile with 4 degrees of freedom), covers 95 %; the images-only
    interval it is shown beside covers far less."""
    rng = np.random.default_rng(11)
    trials, covered, covered_images = 1000, 0, 0
    for _ in range(trials):
        measured = _simulated_benchmark(rng, 5, 1.5, resamples=2)[0].std(ddof=1)
        per_seed, draws = _simulated_benchmark(rng, 1, 1.5)
        ci = seeds_and_images(per_seed, draws, 0.95, measured_seed_sd=(measured, 5))
        assert ci.covers == IMAGES and ci.value == per_seed[0] and ci.seed_sd == measured
        covered += ci.decision[0] <= TRUE_DELTA <= ci.decision[1]
        covered_images += ci.lo <= TRUE_DELTA <= ci.hi
    assert 0.92 <= covered / trials <= 0.98, covered / trials
    assert covered_images / trials < 0.6


def test_one_seed_without_a_measured_sd_decides_nothing():
    ci = seeds_and_images([0.05], np.full(100, 0.05) + np.linspace(-0.001, 0.001, 100))
    assert ci.lo > 0 and ci.decision is None
    assert verdict(ci.decision) == UNDECIDED


def test_hand_worked_interval_and_verdicts():
    # Seeds 1, 2, 3: mean 2, s = 1; images: draws with variance 1/6 (ddof 1).
    draws = np.array([2.0 - 0.5, 2.0 + 0.5, 2.0, 2.0])  # var(ddof=1) = 0.5 / 3 = 1/6
    ci = seeds_and_images([1.0, 2.0, 3.0], draws)
    half = np.hypot(4.302652729749464 / np.sqrt(3), 1.959963984540054 * np.sqrt(1 / 6))
    assert (ci.lo, ci.hi) == pytest.approx((2 - half, 2 + half))
    assert ci.seed_sd == pytest.approx(1.0) and ci.image_sd == pytest.approx(np.sqrt(1 / 6))
    assert verdict((0.1, 0.5)) == HOLDS and verdict((-0.5, -0.1)) == REVERSED
    assert verdict((-0.1, 0.5)) == UNDECIDED and verdict(None) == UNDECIDED
    # oLRP: lower is better.
    assert verdict((-0.5, -0.1), higher_is_better=False) == HOLDS
    assert verdict((0.1, 0.5), higher_is_better=False) == REVERSED


def test_undefined_values_give_no_interval():
    ci = seeds_and_images([np.nan, 0.1], np.full(10, np.nan))
    assert (ci.lo, ci.hi, ci.decision) == (None, None, None)
    assert verdict(ci.decision) == UNDECIDED


def test_seeds_for_a_half_width():
    # The count found gives an interval at most that wide; one seed fewer does not.
    n = seeds_for_half_width(1.5, 0.3, 1.0)
    draws = np.random.default_rng(0).normal(0.0, 0.3, 100_000)
    for seeds, within in ((n, True), (n - 1, False)):
        ci = seeds_and_images(
            np.linspace(-1, 1, seeds) * 1.5 / np.linspace(-1, 1, seeds).std(ddof=1), draws
        )
        assert ((ci.hi - ci.lo) / 2 <= 1.0 + 1e-3) is within
    assert seeds_for_half_width(0.1, 0.6, 1.0) is None  # the image part alone: 1.18 > 1
