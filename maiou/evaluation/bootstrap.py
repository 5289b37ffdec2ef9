"""Paired bootstrap over the evaluated images: intervals for runs and their differences.

A resample draws, for every block of images (one block per training seed; one block when
there is one seed), as many images as the block holds, with replacement, and gives each
image its count as weight (``maiou.evaluation.weighted``). Every run is scored on the same
resample, so the difference of two runs is paired: the variation that comes from which
images happen to be in the val split is shared and what remains is the runs' difference.
The interval is the percentile interval of the resampled values (95 %: the 2.5th and 97.5th
percentiles). The point estimate is the value on the evaluated images themselves (all
weights 1), i.e. exactly what ``metrics.json`` reports for one seed.

What it covers: the choice of test images only. Training randomness (seeds) is not in it;
with several seeds each seed's predictions are their own block of images, pooled.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .matches import Matches
from .weighted import WeightedScorer

__all__ = ["METRICS", "bootstrap", "interval", "resample_weights"]

# Metric name -> (kind of matching, score). The three numbers the comparisons report.
METRICS: dict[str, tuple[str, str]] = {
    "segm_AP": ("segm", "AP"),
    "bbox_AP": ("bbox", "AP"),
    "segm_oLRP": ("segm", "oLRP"),
}


def resample_weights(rng: np.random.Generator, blocks: Sequence[int]) -> np.ndarray:
    """Counts (sum(blocks),) of one resample: each block of n images draws n of its own
    images with replacement."""
    parts = [np.bincount(rng.integers(0, n, n), minlength=n) for n in blocks]
    return np.concatenate(parts).astype(np.float64)


def interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the finite ``values``; None if there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def _score_all(scorers: dict, wanted: dict, w) -> dict:
    """{metric: value (nan for undefined)} of one run for weights ``w``."""
    out = {}
    for kind, names in wanted.items():
        got = scorers[kind].scores(w, ap="AP" in names.values(), olrp="oLRP" in names.values())
        for name, score in names.items():
            out[name] = np.nan if got[score] is None else got[score]
    return out


def bootstrap(
    runs: Mapping[str, Mapping[str, Matches]],
    pairs: Sequence[tuple[str, str]],
    blocks: Sequence[int],
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] = tuple(METRICS),
) -> dict:
    """Intervals of every run's metrics and of the differences ``b - a`` for ``pairs``.

    Args:
        runs: {run: {"segm": Matches, "bbox": Matches}}; all on the same images (checked),
            pooled over seeds as ``blocks`` says.
        pairs: (a, b) run names; the difference reported is b - a.
        blocks: images per block (sum = images of each matching).
        resamples: number of bootstrap resamples; seed: of numpy's default generator.
        metrics: names from ``METRICS``.

    Returns ``{"runs": {run: {metric: {"value", "lo", "hi"}}}, "pairs": [{"a", "b", metric:
    {"delta", "lo", "hi", "excludes_0"}}]}``, values as fractions (like metrics.json);
    lo / hi None when every resample was undefined.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    blocks = [int(n) for n in blocks]
    reference = None
    for run, kinds in runs.items():
        for kind in {METRICS[name][0] for name in metrics}:
            if kind not in kinds:
                raise ValueError(f"bootstrap: run {run} has no {kind} matching")
            m = kinds[kind]
            if m.num_images != sum(blocks):
                raise ValueError(
                    f"bootstrap: run {run} ({kind}) has {m.num_images} images, "
                    f"the blocks {blocks} hold {sum(blocks)}"
                )
            if reference is None:
                reference = (run, m.img_ids)
            elif not np.array_equal(m.img_ids, reference[1]):
                raise ValueError(
                    f"bootstrap: runs {reference[0]} and {run} were evaluated on "
                    "different images; paired resampling needs the same ones"
                )
    for a, b in pairs:
        for run in (a, b):
            if run not in runs:
                raise ValueError(f"bootstrap: pair ({a}, {b}) names {run}, which has no matching")

    wanted: dict = {}  # kind -> {metric name: score}
    for name in metrics:
        kind, score = METRICS[name]
        wanted.setdefault(kind, {})[name] = score
    scorers = {
        run: {kind: WeightedScorer(kinds[kind]) for kind in wanted} for run, kinds in runs.items()
    }
    ones = np.ones(sum(blocks))
    point = {run: _score_all(scorers[run], wanted, ones) for run in runs}
    draws = {run: {name: np.empty(resamples) for name in metrics} for run in runs}
    rng = np.random.default_rng(seed)
    for r in range(resamples):
        w = resample_weights(rng, blocks)
        for run in runs:
            for name, value in _score_all(scorers[run], wanted, w).items():
                draws[run][name][r] = value

    def _none(v):
        return None if v is None or not np.isfinite(v) else float(v)

    out: dict = {"runs": {}, "pairs": []}
    for run in runs:
        out["runs"][run] = {}
        for name in metrics:
            ci = interval(draws[run][name], confidence)
            out["runs"][run][name] = {
                "value": _none(point[run][name]),
                "lo": ci and ci[0],
                "hi": ci and ci[1],
            }
    for a, b in pairs:
        entry: dict = {"a": a, "b": b}
        for name in metrics:
            ci = interval(draws[b][name] - draws[a][name], confidence)
            entry[name] = {
                "delta": _none(point[b][name] - point[a][name]),
                "lo": ci and ci[0],
                "hi": ci and ci[1],
                "excludes_0": None if ci is None else bool(ci[0] > 0 or ci[1] < 0),
            }
        out["pairs"].append(entry)
    return out
