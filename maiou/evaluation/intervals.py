"""Intervals that cover training seeds and test images, and the verdict they give.

A number of the table (a run's mask AP, or the difference of two runs) varies for two
reasons: which models training happened to produce (the training seed) and which images
happen to be in the val split. Every seed's models are evaluated on the same val images,
so the two sources add:

    d_mean = mu + (mean of the S seeds' deviations) + (image sampling of the seed-mean)
    Var    = sd_seed**2 / S                         + Var_images

* ``sd_seed`` is estimated by the sample standard deviation ``s`` of the S per-seed values
  (each on all val images);
* ``Var_images`` from paired bootstrap resamples of the val images, the same resample for
  every seed and run (``maiou.evaluation.bootstrap``). A seed x image interaction (an image
  that is hard for one seed's model and easy for another's) is already in ``s``: each
  seed's value on the fixed val images carries its own share of it. The bootstrap variance
  of the seed-mean, V, holds it again (divided by S), so from the per-seed resamples
  (variance v_s each) the image part is the images' main effect alone,
  ``Var_images = (S * V - mean(v_s)) / (S - 1)`` (at least 0): V = σ_e² + σ_ae²/S and
  v_s = σ_e² + σ_ae² solved for σ_e². :func:`image_variance` computes it.

With S >= 2 seeds the interval is ``d_mean +- h`` with

    h = sqrt((t * s / sqrt(S))**2 + (z * sd_images)**2),

``t`` the Student quantile with S - 1 degrees of freedom, ``z`` the normal one: each part's
half-width, added in quadrature. It is exact when either part dominates and a little wide
(up to about 98 % instead of 95 %) when they are equal. With 2-5 seeds ``s`` is itself
uncertain: a normal quantile (79 % with two seeds, 86 % with three), or a Welch-Satterthwaite
pooling that lets a by-chance small ``s`` raise the degrees of freedom (88 % with two),
covers too rarely, and so would a two-level bootstrap that resamples the seeds (it shrinks
their spread by (S - 1) / S).
``tests/test_intervals.py`` checks the coverage on simulated seeds and images with known
answers.

A seed spread measured before, under the same recipe and on other seeds (a **stored
spread**, ``experiments/config/seed_noise_<preset>.json``: sd over n seeds), is pooled with
the run's own by a rule fixed in advance (the caller checks recipe and seeds;
experiments/reporting/spread.py): the seed part then reads the pooled sd
``s_p = sqrt(((S - 1) s**2 + (n - 1) sd**2) / (S + n - 2))`` with ``S + n - 2`` degrees of
freedom, ``h = sqrt((t * s_p / sqrt(S))**2 + (z * sd_images)**2)``; the interval of the
run's own seeds is kept beside it (``lo``, ``hi``) and the verdict reads the pooled one
(``decision``).

With one seed there is no ``s``: the interval shown is the bootstrap percentile interval over
the images alone, and the verdict comes from that interval widened by the stored spread:
``d +- t * sqrt(sd**2 + Var_images)``, ``t`` the Student quantile with n - 1 degrees of
freedom: a prediction interval for one new seed, since ``sd`` is itself an estimate from a
few seeds. Without a stored spread one seed gives no verdict.

Verdicts: ``holds`` when the interval lies wholly on the paper's side of 0 (the contender
better: higher AP, lower oLRP), ``reversed`` when it lies wholly on the other side,
``undecided`` when it contains 0 (or cannot be computed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .metric import CONFIDENCE

__all__ = [
    "image_variance",
    "HOLDS",
    "IMAGES",
    "REVERSED",
    "POOLED",
    "SEEDS_X_IMAGES",
    "UNDECIDED",
    "Interval",
    "seeds_and_images",
    "seeds_for_half_width",
    "verdict",
]

HOLDS, REVERSED, UNDECIDED = "holds", "reversed", "undecided"
SEEDS_X_IMAGES, IMAGES = "seeds × images", "images"
POOLED = "seeds × images, seed spread pooled with the stored one"


@dataclass(frozen=True)
class Interval:
    """A point value and its interval from the run's own seeds (same units as the inputs;
    lo / hi None when they cannot be computed; one seed: the images-only interval), what
    the interval the verdict reads covers, and that interval (``decision``: (lo, hi) with
    several seeds and no stored spread; pooled with a stored spread; with one seed widened
    by the stored spread, or None without one)."""

    value: float | None
    lo: float | None
    hi: float | None
    covers: str
    decision: tuple[float, float] | None
    seed_sd: float | None  # the per-seed standard deviation the decision used
    image_sd: float | None  # standard deviation of the seed-mean over image resamples
    seed_df: int | None = None  # degrees of freedom of seed_sd


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def image_variance(image_draws) -> float:
    """The variance of the seed-mean that comes from the choice of test images alone.

    Args:
        image_draws: (R,) the seed-mean on each of R resamples (its variance is returned),
            or (R, S) the value of each of S seeds on each resample: the seed-mean's
            variance less the seed x image interaction it counts again (module doc).
            Resamples with a non-finite value are left out.
    """
    draws = np.asarray(image_draws, dtype=np.float64)
    if draws.ndim == 1:
        return float(_finite(draws).var(ddof=1))
    draws = draws[np.all(np.isfinite(draws), axis=1)]
    seeds = draws.shape[1]
    seed_mean_var = float(draws.mean(axis=1).var(ddof=1))
    if seeds == 1:
        return seed_mean_var
    per_seed_var = float(draws.var(axis=0, ddof=1).mean())
    return max(0.0, (seeds * seed_mean_var - per_seed_var) / (seeds - 1))


def seeds_and_images(
    seed_values,
    image_draws,
    confidence: float = CONFIDENCE,
    stored_sd: tuple[float, int] | None = None,
) -> Interval:
    """The interval of the mean over seeds of a number.

    Args:
        seed_values: (S,) the number for each training seed, on all val images.
        image_draws: (R, S) the number for each seed on each of R bootstrap resamples of
            the val images (the same resample for every seed), or (R,) their mean over
            seeds (then the seed x image interaction is counted twice: conservative).
        confidence: two-sided coverage, e.g. 0.95.
        stored_sd: (sd, n): the per-seed standard deviation of this number measured
            under the same recipe on n other seeds, pooled with the run's own (module doc).
    """
    seeds = np.asarray(seed_values, dtype=np.float64).ravel()
    all_draws = np.asarray(image_draws, dtype=np.float64)
    seed_means = all_draws.mean(axis=1) if all_draws.ndim == 2 else all_draws
    draws = _finite(seed_means)
    if seeds.size == 0 or not np.all(np.isfinite(seeds)) or draws.size < 2:
        value = float(seeds.mean()) if seeds.size and np.all(np.isfinite(seeds)) else None
        return Interval(
            value, None, None, SEEDS_X_IMAGES if seeds.size > 1 else IMAGES, None, None, None
        )
    value = float(seeds.mean())
    var_images = image_variance(all_draws)
    tail = (1 - confidence) / 2
    if seeds.size == 1:
        lo, hi = (float(x) for x in np.percentile(draws, [100 * tail, 100 * (1 - tail)]))
        decision, sd, df = None, None, None
        if stored_sd is not None:
            sd, measured_over = stored_sd
            df = measured_over - 1
            half = stats.t.ppf(1 - tail, df) * math.sqrt(sd**2 + var_images)
            decision = (value - half, value + half)
        return Interval(value, lo, hi, IMAGES, decision, sd, math.sqrt(var_images), df)
    n = seeds.size
    own_sd = float(seeds.std(ddof=1))

    def half_width(sd: float, df: int) -> float:
        seed_half = float(stats.t.ppf(1 - tail, df)) * sd / math.sqrt(n)
        return math.hypot(seed_half, float(stats.norm.ppf(1 - tail)) * math.sqrt(var_images))

    own = half_width(own_sd, n - 1)
    lo, hi = value - own, value + own
    if stored_sd is None:
        return Interval(
            value, lo, hi, SEEDS_X_IMAGES, (lo, hi), own_sd, math.sqrt(var_images), n - 1
        )
    sd, measured_over = stored_sd
    df = n - 1 + measured_over - 1
    pooled_sd = math.sqrt(((n - 1) * own_sd**2 + (measured_over - 1) * sd**2) / df)
    half = half_width(pooled_sd, df)
    return Interval(
        value,
        lo,
        hi,
        POOLED,
        (value - half, value + half),
        pooled_sd,
        math.sqrt(var_images),
        df,
    )


def seeds_for_half_width(
    seed_sd: float,
    image_sd: float,
    half_width: float,
    confidence: float = CONFIDENCE,
    stored_df: int = 0,
) -> int | None:
    """The fewest seeds S >= 2 whose interval (the formula above) is at most ``half_width``
    wide on each side, for a per-seed sd ``seed_sd`` and an image part ``image_sd`` that
    does not shrink with more seeds (the images are shared); ``stored_df``: the degrees of
    freedom a pooled stored spread adds. None if the image part alone is wider, or more
    than 10,000 seeds would be needed."""
    tail = (1 - confidence) / 2
    image_half = float(stats.norm.ppf(1 - tail)) * image_sd
    for n in range(2, 10_001):
        seed_half = float(stats.t.ppf(1 - tail, n - 1 + stored_df)) * seed_sd / math.sqrt(n)
        if math.hypot(seed_half, image_half) <= half_width:
            return n
    return None


def verdict(interval: tuple[float, float] | None, higher_is_better: bool = True) -> str:
    """``holds`` / ``reversed`` / ``undecided`` for the interval of contender - baseline."""
    if interval is None or interval[0] is None or interval[1] is None:
        return UNDECIDED
    lo, hi = interval
    if lo > 0:
        return HOLDS if higher_is_better else REVERSED
    if hi < 0:
        return REVERSED if higher_is_better else HOLDS
    return UNDECIDED
