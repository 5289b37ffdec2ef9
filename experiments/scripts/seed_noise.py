"""Measure how much each comparison of the table moves from one training seed to the next.

    python -m experiments.scripts.seed_noise --results results/embedded \
        --runs RUN [RUN ...] --seeds 3 4 5 6 7 [--config KEY=VALUE ...] \
        --out experiments/config/seed_noise_embedded.json

For each comparison among ``--runs`` (experiments/scripts/bootstrap_runs.py's pairs), the
difference b - a of mask AP, box AP and mask oLRP for every seed (each seed's metrics.json,
all val images) and their sample standard deviation. Paired: seed s of a against seed s of
b. bootstrap_runs reads the file for the verdict of a one-seed run
(maiou/evaluation/intervals.py), and only under the recipe it was measured with: each
comparison carries the fingerprint of its recipe (experiments/recipe.py: the code of both runs'
config files as they are now and the workflow settings, config.yaml's values with ``--config``'s
overrides, the same keys as Snakemake's ``--config``). Measure it on seeds other than the
ones the table reports (the default run reports 0, 1, 2), so that the spread a verdict
borrows is not estimated from the very runs it judges.

An existing ``--out`` is added to, not replaced: a comparison measured under the same
recipe gains the new seeds (a seed measured again takes the new value); one under another
recipe is replaced, and said so. Prints a markdown table of the mask-AP deltas (points)
and writes the JSON (fractions, like metrics.json) atomically.
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

import yaml

from experiments import recipe
from experiments.scripts.bootstrap_runs import comparison_pairs
from maiou import runs as registry
from maiou.evaluation.bootstrap import METRICS  # name -> (kind, key) in metrics.json
from maiou.rundir import load_metrics
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import UserError, entry_point


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


def measure(
    results: Path, runs, seeds, recipe_settings: dict, command: str | None = None
) -> list[dict]:
    """[{"a", "b", "recipe", "seeds", "per_seed": {metric: [b - a per seed]}, "command",
    "measured"}]: ``command`` trained the runs; ``measured`` is today, this machine."""
    values = {run: per_seed_metrics(results, run, seeds) for run in runs}
    measured = (
        f"{_dt.date.today().isoformat()} on {platform.node() or 'unknown'} "
        f"({platform.machine()}, {len(os.sched_getaffinity(0))} cores)"
    )
    out = []
    for a, b in comparison_pairs(runs):
        deltas = {
            name: [vb[name] - va[name] for va, vb in zip(values[a], values[b])] for name in METRICS
        }
        out.append(
            {
                "a": a,
                "b": b,
                "recipe": recipe.pair_fingerprint(a, b, "embedded", recipe_settings),
                "seeds": list(seeds),
                "per_seed": deltas,
                "command": command,
                "measured": measured,
            }
        )
    return out


def merge(old: list[dict], new: list[dict]) -> tuple[list[dict], list[str]]:
    """``old`` pairs with ``new`` added: same comparison and recipe -> the union of the
    seeds (new values win) and both commands and dates; another recipe -> replaced.
    Returns (pairs, notes); every pair gets its ``sd`` over its seeds."""
    merged = {(p["a"], p["b"]): p for p in old}
    notes = []
    for p in new:
        key = (p["a"], p["b"])
        before = merged.get(key)
        if before is not None and before.get("recipe") == p["recipe"]:
            by_seed = {
                seed: {name: before["per_seed"][name][i] for name in METRICS}
                for i, seed in enumerate(before["seeds"])
            }
            by_seed.update(
                {
                    seed: {name: p["per_seed"][name][i] for name in METRICS}
                    for i, seed in enumerate(p["seeds"])
                }
            )
            seeds = sorted(by_seed)
            p = {
                **p,
                "seeds": seeds,
                "per_seed": {name: [by_seed[s][name] for s in seeds] for name in METRICS},
            }
            for field in ("command", "measured"):  # both measurements' provenance
                if before.get(field) not in (None, p[field]):
                    p[field] = f"{before[field]}; then {p[field]}"
        elif before is not None:
            notes.append(f"{p['b']} − {p['a']}: measured under another recipe before; replaced")
        merged[key] = p
    pairs = list(merged.values())
    for p in pairs:
        p["sd"] = {name: statistics.stdev(p["per_seed"][name]) for name in METRICS}
    return pairs, notes


def markdown(pairs: list[dict]) -> str:
    lines = ["| comparison | seeds | mask AP Δ per seed | mean | sd |", "|---|---|---|---|---|"]
    for p in pairs:
        d = [100 * v for v in p["per_seed"]["segm_AP"]]
        lines.append(
            f"| {p['b']} − {p['a']} | {', '.join(map(str, p['seeds']))} | "
            f"{' / '.join(f'{v:+.1f}' for v in d)} | {statistics.mean(d):+.2f} | "
            f"{100 * p['sd']['segm_AP']:.2f} |"
        )
    return "\n".join(lines)


def read_record(path: Path) -> list[dict]:
    """The pairs of an existing seed-noise file (none if it does not exist)."""
    if not path.is_file():
        return []
    try:
        pairs = json.loads(path.read_text())["pairs"]
        for p in pairs:
            if len(p["seeds"]) != len(p["per_seed"]["segm_AP"]):
                raise ValueError(f"{p['b']} - {p['a']}: seeds and values differ in number")
        return pairs
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: not a seed-noise record to add to ({exc}); move it aside or fix it"
        ) from exc


def parse_settings(items) -> dict:
    """config.yaml's recipe settings with ``KEY=VALUE`` overrides (YAML values)."""
    values = recipe.default_settings()
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in recipe.RECIPE_KEYS:
            raise UserError(
                f"--config {item!r}: expected KEY=VALUE with KEY one of "
                f"{', '.join(recipe.RECIPE_KEYS)}"
            )
        values[key] = yaml.safe_load(value)
    return values


@entry_point("seed_noise")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--runs", nargs="+", required=True, choices=registry.NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="the workflow settings the runs were trained with, as given to snakemake "
        "(the recipe's: " + ", ".join(recipe.RECIPE_KEYS) + ")",
    )
    parser.add_argument("--command", default=None, help="the command that trained the runs")
    parser.add_argument("--out", type=Path, default=None, help="the JSON to add to")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < 2 or len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {args.seeds}: at least two distinct seeds")
    recipe_settings = parse_settings(args.config)
    new = measure(args.results, args.runs, args.seeds, recipe_settings, args.command)
    if not new:
        parser.error("no comparison of the table among --runs")
    pairs, notes = merge(read_record(args.out) if args.out else [], new)
    print(markdown(pairs))
    for note in notes:
        print(f"note: {note}")
    if args.out:
        record = {
            "what": "per-seed differences b - a on all val images and their sample sd "
            "(fractions), paired by training seed; each comparison with the fingerprint of "
            "the recipe it was measured under (experiments/recipe.py), the command that "
            "trained its runs and when and where it was measured",
            "recipe_settings": recipe_settings,
            "pairs": pairs,
        }
        write_text_atomic(args.out, json.dumps(record, indent=1) + "\n")
        print(f"{args.out}: {len(pairs)} comparisons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
