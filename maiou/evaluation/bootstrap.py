"""Paired bootstrap over the evaluated images, per training seed: intervals for runs and
their differences that cover the seeds and the test images.

Every training seed's models are evaluated on the same val images. A resample draws as many
images as the val split holds, with replacement, and gives each its count as weight
(``maiou.evaluation.weighted``); **the same resample scores every seed of every run**, so
the difference of two runs is paired twice: over images (an image hard for one run is
usually hard for the other) and over seeds (seed s of one run against seed s of the other).
For each run and each contrast (a difference of runs, or any weighted sum of them: a
difference of two gains, an average over sizes) this gives, per seed, the value on the
evaluated images themselves (all weights 1, exactly what that seed's ``metrics.json``
reports) and, per resample, the value of every seed. ``maiou.evaluation.intervals`` turns
the two into an interval over seeds × images (several seeds) or images (one seed) and a
verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from .intervals import seeds_and_images, verdict
from .matches import Matches
from .metric import COMPARED, CONFIDENCE, METRICS
from .weighted import WeightedScorer

__all__ = ["Contrast", "bootstrap", "resample_weights"]


@dataclass(frozen=True)
class Contrast:
    """A number made of runs: ``sum(weight * metric(run))`` over ``terms``, per training
    seed. A paired difference b − a is ``{b: 1, a: -1}`` (:meth:`pair`); the difference
    of two gains and an average over sizes are contrasts too. Its seeds are those every
    one of its runs has."""

    name: str
    terms: Mapping[str, float] = field(hash=False)

    @classmethod
    def pair(cls, a: str, b: str, name: str | None = None) -> "Contrast":
        """b − a (0 when a is b)."""
        terms = {b: 1.0}
        terms[a] = terms.get(a, 0.0) - 1.0
        return cls(name or f"{b} - {a}", MappingProxyType(terms))


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


def _check_runs(runs, contrasts, metrics) -> None:
    """Every run has at least one seed, all on one image set; every contrast's runs exist
    and share a seed."""
    reference = None
    for run, seeds in runs.items():
        if not seeds:
            raise ValueError(f"bootstrap: run {run} has no seed")
        for s, kinds in seeds.items():
            for kind in {METRICS[name].kind for name in metrics}:
                if kind not in kinds:
                    raise ValueError(f"bootstrap: run {run} has no {kind} matching")
                ids, where = kinds[kind].img_ids, f"{run} (seed {s}, {kind})"
                if reference is None:
                    reference = (where, ids)
                elif not np.array_equal(ids, reference[1]):
                    raise ValueError(
                        f"bootstrap: {reference[0]} and {where} were evaluated on different "
                        "images; evaluate all runs and seeds on one val split"
                    )
    for contrast in contrasts:
        for run in contrast.terms:
            if run not in runs:
                raise ValueError(f"bootstrap: {contrast.name} names {run}, which has no matching")
        if not _common_seeds(runs, contrast):
            raise ValueError(
                f"bootstrap: the runs of {contrast.name} share no training seed; pair every "
                "seed of one run with the same seed of the other"
            )


def _common_seeds(runs, contrast: Contrast) -> list[int]:
    common = None
    for run in contrast.terms:
        common = set(runs[run]) if common is None else common & set(runs[run])
    return sorted(common or ())


def _none(v):
    return None if v is None or not np.isfinite(v) else float(v)


def bootstrap(
    runs: Mapping[str, Mapping[int, Mapping[str, Matches]]],
    contrasts: Sequence[Contrast],
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    metrics: Sequence[str] = COMPARED,
    stored_sd: Mapping[str, Mapping[str, tuple[float, int]]] | None = None,
) -> dict:
    """Intervals of every run's metrics and of every contrast.

    Args:
        runs: {run: {training seed: {"segm": Matches, "bbox": Matches}}}, all on the same
            images (checked). Runs may have different seeds: a contrast reads the seeds all
            of its runs have.
        contrasts: the numbers to compare (:class:`Contrast`).
        resamples: number of bootstrap resamples; seed: of numpy's default generator.
        metrics: names from maiou/evaluation/metric.py.
        stored_sd: {contrast name: {metric: (sd, seeds)}}, a per-seed sd of the contrast
            measured under the same recipe on other seeds (fractions), pooled with the
            contrast's own seeds (maiou.evaluation.intervals); the caller decides where
            the rule allows it.

    Returns ``{"runs": {run: {metric: {"value", "lo", "hi", "covers", "seeds",
    "per_seed"}}}, "contrasts": [{"name", "terms", "seeds", metric: DIFFERENCE}]}`` with
    DIFFERENCE ``{"delta", "lo", "hi", "covers", "per_seed", "excludes_0", "verdict",
    "decision_lo", "decision_hi", "seed_sd", "seed_df", "image_sd"}``, values as fractions
    (like metrics.json): ``value`` / ``delta`` the mean over seeds, lo / hi the interval
    of the seeds themselves (one seed: of the images alone), decision_lo / decision_hi the
    interval the verdict reads; None where they cannot be computed.
    """
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples}")
    _check_runs(runs, contrasts, metrics)
    wanted: dict = {}  # kind -> {metric name: score}
    for name in metrics:
        wanted.setdefault(METRICS[name].kind, {})[name] = METRICS[name].score
    seeds_of = {run: sorted(seeds) for run, seeds in runs.items()}
    scorers = {
        run: [{kind: WeightedScorer(runs[run][s][kind]) for kind in wanted} for s in seeds_of[run]]
        for run in runs
    }
    first = next(iter(runs.values()))
    num_images = next(iter(first.values()))[METRICS[metrics[0]].kind].num_images
    ones = np.ones(num_images)
    # point[run][metric]: (S_run,) per seed; draws[run][metric]: (R, S_run) per resample.
    point = {run: {name: np.empty(len(seeds_of[run])) for name in metrics} for run in runs}
    draws = {
        run: {name: np.empty((resamples, len(seeds_of[run]))) for name in metrics} for run in runs
    }
    for run in runs:
        for i, seed_scorers in enumerate(scorers[run]):
            for name, value in _score_all(seed_scorers, wanted, ones).items():
                point[run][name][i] = value
    rng = np.random.default_rng(seed)
    for r in range(resamples):
        w = resample_weights(rng, num_images)
        for run in runs:
            for i, seed_scorers in enumerate(scorers[run]):
                for name, value in _score_all(seed_scorers, wanted, w).items():
                    draws[run][name][r, i] = value

    out: dict = {"runs": {}, "contrasts": []}
    for run in runs:
        out["runs"][run] = {}
        for name in metrics:
            ci = seeds_and_images(point[run][name], draws[run][name], confidence)
            out["runs"][run][name] = {
                "value": _none(ci.value),
                "lo": _none(ci.lo),
                "hi": _none(ci.hi),
                "covers": ci.covers,
                "seeds": seeds_of[run],
                "per_seed": [_none(v) for v in point[run][name]],
            }
    for contrast in contrasts:
        seeds = _common_seeds(runs, contrast)
        entry = {"name": contrast.name, "terms": dict(contrast.terms), "seeds": seeds}
        for name in metrics:
            per_seed, per_draw = np.zeros(len(seeds)), np.zeros((resamples, len(seeds)))
            for run, weight in contrast.terms.items():
                columns = [seeds_of[run].index(s) for s in seeds]
                per_seed += weight * point[run][name][columns]
                per_draw += weight * draws[run][name][:, columns]
            stored = ((stored_sd or {}).get(contrast.name) or {}).get(name)
            ci = seeds_and_images(per_seed, per_draw, confidence, stored)
            lo, hi = _none(ci.lo), _none(ci.hi)
            entry[name] = {
                "delta": _none(ci.value),
                "lo": lo,
                "hi": hi,
                "covers": ci.covers,
                "per_seed": [_none(v) for v in per_seed],
                "excludes_0": None if lo is None else bool(lo > 0 or hi < 0),
                "verdict": verdict(ci.decision, METRICS[name].higher_is_better),
                "decision_lo": _none(ci.decision[0]) if ci.decision else None,
                "decision_hi": _none(ci.decision[1]) if ci.decision else None,
                "seed_sd": _none(ci.seed_sd),
                "seed_df": ci.seed_df,
                "image_sd": _none(ci.image_sd),
            }
        out["contrasts"].append(entry)
    return out
