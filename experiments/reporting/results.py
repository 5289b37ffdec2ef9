"""The runs' results as the table and the figures read them: one loader, one summary, one
way to write a number.

* :func:`load` reads every seed's ``metrics.json`` of each run (the seeds it trained,
  experiments/presets.py ``run_seeds``; maiou/rundir.py: ``load_metrics``) and
  :func:`summarize` turns one run's per-seed metrics into a flat row in points (%): means
  over the seeds, ``<key>_sd`` their standard deviations, the paper's numbers and
  Δ = ours − paper. The table prints these rows and the figures plot them, so both show the
  same numbers.
* :func:`fmt` writes a number as the table does ("—" when missing).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from maiou import runs as registry
from maiou.rundir import load_metrics

DASH = "—"
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
OLRP_KEYS = ("oLRP", "oLRP_loc", "oLRP_FP", "oLRP_FN")
SD_KEYS = ("segm_AP", "segm_oLRP", "bbox_AP", "bbox_oLRP")  # shown with ± sd over seeds
PAPER_KEYS = ("segm_AP", "segm_oLRP", "segm_AP50", "segm_AP75", "segm_APs", "segm_APm")
PAPER_KEYS += ("segm_APl", "fps")
TRAINING_KEYS = ("gpus", "images_per_forward", "accumulation", "images_per_step")


def load(results: str | Path, run_seeds: dict) -> tuple[dict, dict]:
    """``(metrics, rows)``: {run: [metrics.json of each of its seeds]} for the runs with
    results, and {run: summarize(run, its metrics)} for every run of ``run_seeds`` ({run:
    its training seeds})."""
    metrics = {}
    for run, seeds in run_seeds.items():
        found = load_metrics(results, [run], seeds).get(run)
        if found:
            metrics[run] = found
    return metrics, {run: summarize(run, metrics.get(run, [])) for run in run_seeds}


def points(value) -> float | None:
    """A fraction in points (%), None for None."""
    return None if value is None else 100.0 * float(value)


def fmt(value, signed: bool = False, digits: int = 1) -> str:
    """A number as the table writes it: "—" for None; ``signed``: +1.2 / -0.4, and a value
    that rounds to zero is "+0.0", never "-0.0"."""
    if value is None:
        return DASH
    if signed and round(value, digits) == 0:
        return f"+{0:.{digits}f}"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _mean_sd(values) -> tuple[float | None, float | None]:
    """Mean and sample sd of the values that are not None (sd None for fewer than two)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return sum(values) / len(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(run: str, per_seed: list) -> dict:
    """Every number of one run, flat, in points: means over ``per_seed`` (its metrics.json
    dicts), sds for ``SD_KEYS``, fps, the training batch and anchors (the first seed's:
    every seed trains alike), ``paper_<key>`` and ``delta_<key>`` (ours rounded to one
    decimal, as printed, minus the paper's)."""
    spec = registry.get(run)
    row = {
        "run": run,
        "assigner": spec.assigner,
        "size": spec.coco_size,
        "paper_split": spec.paper_split,
        "seeds": len(per_seed),
    }
    for kind in ("segm", "bbox"):
        for key in COCO_KEYS + OLRP_KEYS:
            mean, sd = _mean_sd(points(m.get(kind, {}).get(key)) for m in per_seed)
            row[f"{kind}_{key}"] = mean
            if f"{kind}_{key}" in SD_KEYS:
                row[f"{kind}_{key}_sd"] = sd
    row["fps"] = _mean_sd(m.get("speed", {}).get("images_per_s") for m in per_seed)[0]
    first = per_seed[0] if per_seed else {}
    for key in TRAINING_KEYS:
        row[f"train_{key}"] = (first.get("training") or {}).get(key)
    row["anchors_per_image"] = first.get("anchors_per_image")
    for key in PAPER_KEYS:
        paper = row[f"paper_{key}"] = spec.paper.get(key)
        if key in ("segm_AP", "segm_oLRP"):
            ours = row[key]
            row[f"delta_{key}"] = None if ours is None or paper is None else round(ours, 1) - paper
    return row
