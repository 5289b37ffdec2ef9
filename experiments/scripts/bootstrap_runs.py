"""Paired bootstrap intervals for every run and for the table's comparisons, into one JSON.

    python -m experiments.scripts.bootstrap_runs --results results/embedded \
        --runs RUN [RUN ...] [--seeds 0] [--resamples 1000] [--seed 0] \
        --out results/embedded/bootstrap.json

Reads each run's ``matches.segm.npz`` / ``matches.bbox.npz`` (written by maiou.evaluate; one
per training seed, pooled with each seed's images as their own block) and resamples the
val images (maiou.evaluation.bootstrap): mask AP, box AP and mask oLRP with 95 % percentile
intervals per run, and the difference with its interval for each comparison of the paper's
table at one size: ATSS w. IoU - fixed, ATSS w. maIoU - ATSS w. IoU, maYOLACT - ATSS w.
maIoU (where both runs are among ``--runs``). Values are fractions, like metrics.json.
The JSON is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from experiments.seeds import seed_dir
from maiou import runs as registry
from maiou.atomic import write_text_atomic
from maiou.cli import UserError, entry_point
from maiou.evaluation.bootstrap import bootstrap
from maiou.evaluation.matches import load_matches, pool_matches

# The table's comparisons at one size, as (baseline, contender) assigners (maiou/runs.py).
COMPARISONS = (("fixed", "atss_iou"), ("atss_iou", "atss_maiou"), ("atss_maiou", "mayolact"))
CONFIDENCE = 0.95


def comparison_pairs(runs) -> list[tuple[str, str]]:
    """(a, b) run pairs the table compares, among ``runs``, by size then comparison."""
    found = [
        (registry.run_at(a, size), registry.run_at(b, size))
        for size in registry.SIZES
        for a, b in COMPARISONS
    ]
    return [(a.name, b.name) for a, b in found if a and b and a.name in runs and b.name in runs]


def load_runs(results: Path, runs, seeds) -> tuple[dict, list[int]]:
    """{run: {kind: pooled Matches}} and the images per seed (the resampling blocks)."""
    out, blocks = {}, None
    for run in runs:
        out[run] = {}
        for kind in ("segm", "bbox"):
            parts = [
                load_matches(seed_dir(results, s) / run / f"matches.{kind}.npz") for s in seeds
            ]
            sizes = [p.num_images for p in parts]
            if blocks is None:
                blocks = sizes
            elif sizes != blocks:
                raise ValueError(
                    f"{run} ({kind}): images per seed {sizes} differ from "
                    f"the other runs' {blocks}; evaluate all runs on one val split"
                )
            out[run][kind] = pool_matches(parts)
    return out, blocks or []


@entry_point("bootstrap_runs")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results",
        required=True,
        type=Path,
        help="the preset's results folder (seed 0's <run>/ folders)",
    )
    parser.add_argument("--runs", nargs="+", required=True, choices=registry.NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error(f"--resamples must be at least 1, got {args.resamples}")
    start = time.perf_counter()
    try:
        runs, blocks = load_runs(args.results, args.runs, args.seeds)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    pairs = comparison_pairs(args.runs)
    result = bootstrap(runs, pairs, blocks, args.resamples, args.seed, CONFIDENCE)
    record = {
        "what": (
            "paired bootstrap over the val images: each resample draws each seed's "
            "images with replacement, the same draw for every run; percentile "
            "intervals; differences are b - a; values are fractions"
        ),
        "resamples": args.resamples,
        "seed": args.seed,
        "confidence": CONFIDENCE,
        "training_seeds": args.seeds,
        "images_per_seed": blocks,
        "seconds": round(time.perf_counter() - start, 1),
        **result,
    }
    write_text_atomic(args.out, json.dumps(record, indent=1))
    print(
        f"{args.out}: {len(runs)} runs, {len(pairs)} comparisons, {args.resamples} resamples "
        f"of {blocks} images in {record['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
