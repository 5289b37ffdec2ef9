"""Intervals over seeds × images (maiou.evaluation.intervals): coverage on simulated
benchmarks whose true difference is known, and the verdict rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from maiou.evaluation.intervals import (
    HOLDS,
    IMAGES,
    REVERSED,
    SEEDS_X_IMAGES,
    UNDECIDED,
    image_variance,
    seeds_and_images,
    seeds_for_half_width,
    verdict,
)

TRUE_DELTA = 1.0


def _simulated_benchmark(
    rng, seeds, seed_sd, images=150, image_sd=4.0, resamples=300, interaction_sd=1.0
):
    """One benchmark with a known answer: the per-seed delta on the val images is the mean
    over images of (true delta + the image's own effect, shared by every seed + a seed x
    image term) plus the seed's own offset (sd ``seed_sd``). Returns the per-seed deltas (S,)
    and each seed's delta on ``resamples`` paired resamples of the images (R, S)."""
    image_effect = rng.normal(0.0, image_sd, images)
    per_image = TRUE_DELTA + image_effect + rng.normal(0.0, interaction_sd, (seeds, images))
    offsets = rng.normal(0.0, seed_sd, seeds)
    per_seed = per_image.mean(axis=1) + offsets
    # How often each image is drawn in each resample, (R, images): one bincount over all
    # resamples, each offset into its own row.
    picks = rng.integers(0, images, (resamples, images)) + images * np.arange(resamples)[:, None]
    counts = np.bincount(picks.ravel(), minlength=resamples * images).reshape(resamples, images)
    draws = counts @ per_image.T / images + offsets
    return per_seed, draws


# Regimes: (seeds, seed sd, image sd, seed x image sd); per-seed averages over 150 images
# make the image parts 0.33 (image sd 4) and 0.08 (interaction sd 1) points.
REGIMES = {
    "2 seeds": (2, 1.5, 4.0, 1.0),
    "3 seeds": (3, 1.5, 4.0, 1.0),
    "5 seeds": (5, 1.0, 4.0, 1.0),
    "5 seeds, parts equal": (5, 0.35, 4.0, 1.0),
    "5 seeds, images dominate": (5, 0.05, 4.0, 1.0),
    "8 seeds": (8, 0.5, 4.0, 1.0),
    # No seed offset and hardly an image effect: the spread between seeds is the seed x
    # image interaction, which the per-seed sd and the image bootstrap would both count.
    "10 seeds, interaction dominates": (10, 0.0, 0.3, 8.0),
}


def _coverage(name, trials=1000, half_width=None):
    """Share of ``trials`` simulated benchmarks of regime ``name`` whose 95 % interval
    covers the true delta: ours, or ``half_width(per_seed, draws)`` around the mean."""
    seeds, seed_sd, image_sd, interaction_sd = REGIMES[name]
    rng = np.random.default_rng(1234 + seeds)
    covered = 0
    for _ in range(trials):
        per_seed, draws = _simulated_benchmark(
            rng, seeds, seed_sd, image_sd=image_sd, interaction_sd=interaction_sd
        )
        if half_width is None:
            ci = seeds_and_images(per_seed, draws, 0.95)
            assert ci.covers == SEEDS_X_IMAGES and ci.decision == (ci.lo, ci.hi)
            covered += ci.lo <= TRUE_DELTA <= ci.hi
        else:
            covered += abs(per_seed.mean() - TRUE_DELTA) <= half_width(per_seed, draws)
    return covered / trials


@pytest.mark.parametrize("regime", list(REGIMES))
def test_coverage_of_95_percent_intervals(regime):
    assert 0.92 <= _coverage(regime) <= 0.98


def _parts(per_seed, draws):
    n = per_seed.size
    seed_half = stats.t.ppf(0.975, n - 1) * per_seed.std(ddof=1) / np.sqrt(n)
    return seed_half, 1.959963984540054


def test_the_coverage_tests_would_catch_added_half_widths_and_a_doubled_interaction():
    """The regimes above are sharp enough to fail the two tempting wrong formulas: adding
    the seed and image half-widths instead of combining them in quadrature, and taking
    the image part from the seed-mean's resamples alone (the interaction counted twice)."""

    def added(per_seed, draws):
        seed_half, z = _parts(per_seed, draws)
        return seed_half + z * draws.mean(axis=1).std(ddof=1)

    def doubled(per_seed, draws):
        seed_half, z = _parts(per_seed, draws)
        return np.hypot(seed_half, z * draws.mean(axis=1).std(ddof=1))

    assert _coverage("5 seeds, parts equal", half_width=added) > 0.98
    assert _coverage("10 seeds, interaction dominates", half_width=doubled) > 0.98


def test_image_variance_removes_the_interaction_counted_twice():
    """Hand-worked: two seeds whose resampled values move in opposite directions have no
    image main effect at all; moving together, all of it."""
    opposite = np.array([[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    assert image_variance(opposite) == 0.0
    together = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    assert image_variance(together) == pytest.approx(4 / 3)  # var(ddof=1) of +-1
    assert image_variance(together[:, 0]) == pytest.approx(4 / 3)  # (R,): as given


def test_a_normal_quantile_would_cover_too_rarely():
    """The reason for the t quantile: with 3 seeds, z instead of t covers far below 95 %."""
    rng = np.random.default_rng(7)
    trials, covered = 1000, 0
    for _ in range(trials):
        per_seed, draws = _simulated_benchmark(rng, 3, 1.5)
        half = 1.96 * np.sqrt(per_seed.var(ddof=1) / 3 + image_variance(draws))
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


def test_one_seed_where_the_images_matter_covers():
    """One seed whose image part is as large as its seed part (seed sd 0.35 against 0.33
    from the images; the seed sd measured over 20 other seeds): the verdict's interval
    widens by both and covers 95 %; widened by the measured seed sd alone it would not."""
    rng = np.random.default_rng(13)
    trials, covered, seed_only = 1000, 0, 0
    for _ in range(trials):
        measured = _simulated_benchmark(rng, 20, 0.35, resamples=2)[0].std(ddof=1)
        per_seed, draws = _simulated_benchmark(rng, 1, 0.35)
        ci = seeds_and_images(per_seed, draws, 0.95, measured_seed_sd=(measured, 20))
        covered += ci.decision[0] <= TRUE_DELTA <= ci.decision[1]
        half = stats.t.ppf(0.975, 19) * measured
        seed_only += abs(per_seed[0] - TRUE_DELTA) <= half
    assert 0.92 <= covered / trials <= 0.98, covered / trials
    assert seed_only / trials < 0.92


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
