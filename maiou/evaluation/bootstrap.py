"""Paired bootstrap over the evaluated images, per training seed: intervals for runs and
their differences that cover the seeds and the test images.

Every training seed's models are evaluated on the same val images. A resample draws as many
images as the val split holds, with replacement, and gives each its count as weight
(``maiou.evaluation.weighted``); **the same resample scores every seed of every run**, so
the difference of two runs is paired twice: over images (an image hard for one run is
usually hard for the other) and over seeds (seed s of one run against seed s of the other).
For each run and each difference this gives, per seed, the value on the evaluated images
themselves (all weights 1, exactly what that seed's ``metrics.json`` reports) and, per
resample, the mean over seeds. ``maiou.evaluation.intervals`` turns the two into an
interval over seeds × images (several seeds) or images (one seed) and a verdict.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .intervals import seeds_and_images, verdict
from .matches import Matches
from .weighted import WeightedScorer

__all__ = ["HIGHER_IS_BETTER", "METRICS", "bootstrap", "resample_weights"]

# Metric name -> (kind of matching, score). The three numbers the comparisons report.
METRICS: dict[str, tuple[str, str]] = {
    "segm_AP": ("segm", "AP"),
    "bbox_AP": ("bbox", "AP"),
    "segm_oLRP": ("segm", "oLRP"),
}
HIGHER_IS_BETTER = {"segm_AP": True, "bbox_AP": True, "segm_oLRP": False}


def resample_weights(rng: np.random.Generator, num_images: int) -> np.ndarray:
    """Counts (num_images,) of one resample: num_images images drawn with replacement."""
    return np.bincount(rng.integers(0, num_images, num_images), minlength=num_images).astype(
        np.float64
    )


def _score_all(scorers: dict, wanted: dict, w) -> dict:
    """{metric: value (nan for undefined)} of one run and seed for weights ``w``."""
    out = {}
    for kind, names in wanted.items():
        got = scorers[kind].scores(w, ap="AP" in names.values(), olrp="oLRP" in names.values())
        for name, score in names.items():
            out[name] = np.nan if got[score] is None else got[score]
    return out


def _check_runs(runs, pairs, metrics) -> int:
    """The number of seeds, after checking that every run has them all, on one image set."""
    reference, num_seeds = None, None
    for run, seeds in runs.items():
        if num_seeds is None:
            num_seeds = len(seeds)
        if len(seeds) != num_seeds or not seeds:
            raise ValueError(
                f"bootstrap: run {run} has {len(seeds)} seeds, the others {num_seeds}; "
                "pair every seed of one run with the same seed of the other"
            )
        for i, kinds in enumerate(seeds):
            for kind in {METRICS[name][0] for name in metrics}:
                if kind not in kinds:
                    raise ValueError(f"bootstrap: run {run} has no {kind} matching")
                ids, where = kinds[kind].img_ids, f"{run} (seed #{i + 1}, {kind})"
                if reference is None:
                    reference = (where, ids)
                elif not np.array_equal(ids, reference[1]):
                    raise ValueError(
                        f"bootstrap: {reference[0]} and {where} were evaluated on different "
                        "images; evaluate all runs and seeds on one val split"
                    )
    for a, b in pairs:
        for run in (a, b):
            if run not in runs:
                raise ValueError(f"bootstrap: pair ({a}, {b}) names {run}, which has no matching")
    return num_seeds or 0


def _none(v):
    return None if v is None or not np.isfinite(v) else float(v)


def bootstrap(
    runs: Mapping[str, Sequence[Mapping[str, Matches]]],
    pairs: Sequence[tuple[str, str]],
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str] = tuple(METRICS),
    seed_sd: Mapping[tuple[str, str], Mapping[str, tuple[float, int]]] | None = None,
    contrasts: Sequence[tuple[tuple[str, str], tuple[str, str]]] = (),
) -> dict:
    """Intervals of every run's metrics, of the differences ``b - a`` for ``pairs`` and of
    the differences between two such differences for ``contrasts``.

    Args:
        runs: {run: [{"segm": Matches, "bbox": Matches} for each training seed]}, every
            run with the same seeds in the same order, all on the same images (checked).
        pairs: (a, b) run names; the difference reported is b - a.
        resamples: number of bootstrap resamples; seed: of numpy's default generator.
        metrics: names from ``METRICS``.
        seed_sd: {(a, b): {metric: (sd, seeds)}}, the per-seed sd of b - a measured under
            the same recipe (fractions) over that many seeds; read only with one seed, for
            the verdict.
        contrasts: ((a, b), (c, d)) pairs of pairs; the difference reported is
            (b - a) - (d - c), e.g. maIoU's gain in one assigner family less its gain in
            another, paired by seed and resample like the pairs (no measured seed spread:
            with one seed its verdict is undecided).

    Returns ``{"runs": {run: {metric: {"value", "lo", "hi", "covers", "per_seed"}}},
    "pairs": [{"a", "b", metric: DIFFERENCE}], "contrasts": [{"first": [a, b], "second":
    [c, d], metric: DIFFERENCE}]}`` with DIFFERENCE ``{"delta", "lo", "hi", "covers",
    "per_seed", "excludes_0", "verdict", "decision_lo", "decision_hi", "seed_sd",
    "image_sd"}``, values as fractions (like metrics.json): ``value`` / ``delta`` the mean
    over seeds, lo / hi None when they cannot be computed.
    """
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples}")
    num_seeds = _check_runs(runs, [*pairs, *(p for c in contrasts for p in c)], metrics)
    wanted: dict = {}  # kind -> {metric name: score}
    for name in metrics:
        kind, score = METRICS[name]
        wanted.setdefault(kind, {})[name] = score
    scorers = {
        run: [{kind: WeightedScorer(kinds[kind]) for kind in wanted} for kinds in seeds]
        for run, seeds in runs.items()
    }
    num_images = next(iter(runs.values()))[0][METRICS[metrics[0]][0]].num_images
    ones = np.ones(num_images)
    # point[run][metric]: (S,) per seed; draws[run][metric]: (R, S) per resample and seed.
    point = {run: {name: np.empty(num_seeds) for name in metrics} for run in runs}
    draws = {run: {name: np.empty((resamples, num_seeds)) for name in metrics} for run in runs}
    for run in runs:
        for s, seed_scorers in enumerate(scorers[run]):
            for name, value in _score_all(seed_scorers, wanted, ones).items():
                point[run][name][s] = value
    rng = np.random.default_rng(seed)
    for r in range(resamples):
        w = resample_weights(rng, num_images)
        for run in runs:
            for s, seed_scorers in enumerate(scorers[run]):
                for name, value in _score_all(seed_scorers, wanted, w).items():
                    draws[run][name][r, s] = value

    out: dict = {"runs": {}, "pairs": []}
    for run in runs:
        out["runs"][run] = {}
        for name in metrics:
            ci = seeds_and_images(point[run][name], draws[run][name], confidence)
            out["runs"][run][name] = {
                "value": _none(ci.value),
                "lo": _none(ci.lo),
                "hi": _none(ci.hi),
                "covers": ci.covers,
                "per_seed": [_none(v) for v in point[run][name]],
            }

    def difference(first, second=None):
        """{metric: DIFFERENCE} of b - a, or of (b - a) - (d - c) given a second pair."""
        entry = {}
        for name in metrics:
            (a, b), measured = first, None
            per_seed = point[b][name] - point[a][name]
            per_draw = draws[b][name] - draws[a][name]
            if second is None:
                measured = ((seed_sd or {}).get(first) or {}).get(name)
            else:
                c, d = second
                per_seed = per_seed - (point[d][name] - point[c][name])
                per_draw = per_draw - (draws[d][name] - draws[c][name])
            ci = seeds_and_images(per_seed, per_draw, confidence, measured)
            lo, hi = _none(ci.lo), _none(ci.hi)
            entry[name] = {
                "delta": _none(ci.value),
                "lo": lo,
                "hi": hi,
                "covers": ci.covers,
                "per_seed": [_none(v) for v in per_seed],
                "excludes_0": None if lo is None else bool(lo > 0 or hi < 0),
                "verdict": verdict(ci.decision, HIGHER_IS_BETTER[name]),
                "decision_lo": _none(ci.decision[0]) if ci.decision else None,
                "decision_hi": _none(ci.decision[1]) if ci.decision else None,
                "seed_sd": _none(ci.seed_sd),
                "image_sd": _none(ci.image_sd),
            }
        return entry

    out["pairs"] = [{"a": a, "b": b, **difference((a, b))} for a, b in pairs]
    out["contrasts"] = [
        {"first": list(first), "second": list(second), **difference(first, second)}
        for first, second in contrasts
    ]
    return out
