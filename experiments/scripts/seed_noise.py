"""Measure how much each comparison of the table moves from one training seed to the next.

    python -m experiments.scripts.seed_noise --results results/embedded \
        --runs RUN [RUN ...] --seeds 0 1 2 3 4 --out experiments/config/seed_noise_embedded.json

For each comparison among ``--runs`` (experiments/scripts/bootstrap_runs.py's pairs), the
difference b - a of mask AP, box AP and mask oLRP for every seed (each seed's metrics.json,
all val images) and their sample standard deviation. Paired: seed s of a against seed s of
b. bootstrap_runs reads the file for the verdict of a one-seed run
(maiou/evaluation/intervals.py): the sd belongs to the recipe it was measured with, so
re-measure it when the embedded configs change. Prints a markdown table of the mask-AP
deltas (points) and writes the JSON (fractions, like metrics.json) atomically.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from experiments.scripts.bootstrap_runs import comparison_pairs
from maiou import runs as registry
from maiou.atomic import write_text_atomic
from maiou.cli import UserError, entry_point
from maiou.evaluation.bootstrap import METRICS  # name -> (kind, key) in metrics.json
from maiou.rundir import load_metrics


def per_seed_metrics(results: Path, run: str, seeds) -> list[dict]:
    """{metric: value} of every seed of ``run``; every seed must have been evaluated."""
    found = load_metrics(results, [run], seeds).get(run, [])
    try:
        if len(found) != len(seeds):
            raise ValueError(f"metrics.json of {len(found)} of the seeds {list(seeds)}")
        return [{name: float(m[kind][key]) for name, (kind, key) in METRICS.items()} for m in found]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{results}: no usable metrics of run {run} ({exc}); evaluate each of its seeds"
        ) from exc


def measure(results: Path, runs, seeds) -> list[dict]:
    """[{"a", "b", "per_seed": {metric: [b - a per seed]}, "sd": {metric: sd}}]."""
    values = {run: per_seed_metrics(results, run, seeds) for run in runs}
    out = []
    for a, b in comparison_pairs(runs):
        deltas = {
            name: [vb[name] - va[name] for va, vb in zip(values[a], values[b])] for name in METRICS
        }
        out.append(
            {
                "a": a,
                "b": b,
                "per_seed": deltas,
                "sd": {name: statistics.stdev(d) for name, d in deltas.items()},
            }
        )
    return out


def markdown(pairs: list[dict], seeds) -> str:
    lines = [
        "| comparison | mask AP Δ per seed (" + ", ".join(map(str, seeds)) + ") | mean | sd |",
        "|---|---|---|---|",
    ]
    for p in pairs:
        d = [100 * v for v in p["per_seed"]["segm_AP"]]
        lines.append(
            f"| {p['b']} − {p['a']} | {' / '.join(f'{v:+.1f}' for v in d)} | "
            f"{statistics.mean(d):+.2f} | {100 * p['sd']['segm_AP']:.2f} |"
        )
    return "\n".join(lines)


@entry_point("seed_noise")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--runs", nargs="+", required=True, choices=registry.NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--command", default=None, help="the command that trained the runs")
    parser.add_argument("--out", type=Path, default=None, help="the JSON to write")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < 2 or len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {args.seeds}: at least two distinct seeds")
    pairs = measure(args.results, args.runs, args.seeds)
    if not pairs:
        parser.error("no comparison of the table among --runs")
    print(markdown(pairs, args.seeds))
    if args.out:
        record = {
            "what": "per-seed differences b - a on all val images and their sample sd "
            "(fractions), paired by training seed",
            "command": args.command,
            "measured": f"{_dt.date.today().isoformat()} on {platform.node() or 'unknown'} "
            f"({platform.machine()}, {len(os.sched_getaffinity(0))} cores)",
            "seeds": args.seeds,
            "pairs": pairs,
        }
        write_text_atomic(args.out, json.dumps(record, indent=1) + "\n")
        print(f"{args.out}: {len(pairs)} comparisons over {len(args.seeds)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
