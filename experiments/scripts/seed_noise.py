"""Measure how much each comparison of the table moves from one training seed to the next.

    python -m experiments.scripts.seed_noise --results results/embedded \
        --runs RUN [RUN ...] --seeds 20 21 ... 29 [--command "..."] \
        --out experiments/config/seed_noise_embedded.json

For each comparison among ``--runs`` (experiments/reporting/comparisons.py: the primary
endpoint, the paired comparisons, the differences of family gains) whose runs all have every
seed of ``--seeds`` evaluated, the per-seed value on all val images of mask AP, box AP and
mask oLRP (each seed's metrics.json), their sample sd, and the fingerprint of the recipe the
runs were trained under, computed from what the runs stored (experiments/recipe.py). Run it
on results the pipeline made (``snakemake --config 'seeds=[...]'``) on seeds the table will
not report: the rule that lends a stored spread (experiments/reporting/spread.py) requires
at least five seeds, the same fingerprint and no seed in common with the run it serves.

An existing ``--out`` is added to, not replaced: a comparison measured under the same recipe
gains the new seeds (a seed measured again takes the new value); one under another recipe
is replaced, and said so. Prints a markdown table of the mask-AP values (points) and writes
the JSON (fractions, like metrics.json) atomically.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
from pathlib import Path

from experiments import recipe
from experiments.reporting import spread
from experiments.reporting.comparisons import comparisons
from maiou import runs as registry
from maiou.evaluation.metric import COMPARED, METRICS
from maiou.rundir import load_metrics
from maiou.utils.atomic import write_json_atomic
from maiou.utils.cli import UserError, entry_point

WHAT = (
    "per comparison (experiments/reporting/comparisons.py), the per-seed value on all val "
    "images and its sample sd (fractions), with the fingerprint of the recipe its runs were "
    "trained under (experiments/recipe.py, from what they stored), the command that trained "
    "them and when and where it was measured; lent to the table by the rule of "
    "experiments/reporting/spread.py"
)


def measure(results: Path, runs, seeds, command: str | None = None) -> list[dict]:
    """An entry per comparison among ``runs`` (spread.read's layout, without ``sd``)."""
    records = load_metrics(results, runs, seeds)
    complete = [run for run in runs if len(records.get(run, [])) == len(seeds)]
    missing = sorted(set(runs) - set(complete))
    if missing:
        raise UserError(
            f"{results}: no metrics.json for every seed {list(seeds)} of {', '.join(missing)}; "
            "evaluate each of its seeds"
        )
    measured = (
        f"{_dt.date.today().isoformat()} on {platform.node() or 'unknown'} "
        f"({platform.machine()}, {len(os.sched_getaffinity(0))} cores)"
    )
    out = []
    for c in comparisons(runs):
        terms = c.contrast.terms
        fingerprint = recipe.fingerprint({run: records[run] for run in terms})
        if fingerprint is None:
            raise UserError(
                f"{c.name}: its runs record no single recipe (a run trained under two recipes, "
                "or by another code): train them through the pipeline"
            )
        per_seed = {
            m: [
                sum(w * METRICS[m].of(records[run][i]) for run, w in terms.items())
                for i in range(len(seeds))
            ]
            for m in COMPARED
        }
        out.append(
            {
                "name": c.name,
                "title": c.title,
                "size": c.size,
                "terms": dict(terms),
                "fingerprint": fingerprint,
                "config_digests": {run: recipe.config_digest(records[run][0]) for run in terms},
                "seeds": list(seeds),
                "per_seed": per_seed,
                "command": command,
                "measured": measured,
            }
        )
    return out


def merge(old: dict[str, dict], new: list[dict]) -> tuple[list[dict], list[str]]:
    """``old`` entries with ``new`` added: same comparison and recipe -> the union of the
    seeds (new values win) and both commands and dates; another recipe -> replaced.
    Returns (entries, notes); every entry gets its ``sd`` over its seeds."""
    merged = dict(old)
    notes = []
    for entry in new:
        before = merged.get(entry["name"])
        if before is not None and before["fingerprint"] == entry["fingerprint"]:
            by_seed = {
                s: {m: before["per_seed"][m][i] for m in COMPARED}
                for i, s in enumerate(before["seeds"])
            }
            by_seed.update(
                {
                    s: {m: entry["per_seed"][m][i] for m in COMPARED}
                    for i, s in enumerate(entry["seeds"])
                }
            )
            seeds = sorted(by_seed)
            entry = {
                **entry,
                "seeds": seeds,
                "per_seed": {m: [by_seed[s][m] for s in seeds] for m in COMPARED},
            }
            for field in ("command", "measured"):  # both measurements' provenance
                if before.get(field) not in (None, entry[field]):
                    entry[field] = f"{before[field]}; then {entry[field]}"
        elif before is not None:
            notes.append(f"{entry['title']}: measured under another recipe before; replaced")
        merged[entry["name"]] = entry
    entries = list(merged.values())
    for entry in entries:
        entry["sd"] = {m: statistics.stdev(entry["per_seed"][m]) for m in COMPARED}
    return entries, notes


def markdown(entries: list[dict]) -> str:
    lines = ["| comparison | seeds | mask AP per seed | mean | sd |", "|---|---|---|---|---|"]
    for e in entries:
        d = [100 * v for v in e["per_seed"]["segm_AP"]]
        where = f" at {e['size']}" if e.get("size") else ""
        lines.append(
            f"| {e['title']}{where} | {', '.join(map(str, e['seeds']))} | "
            f"{' / '.join(f'{v:+.1f}' for v in d)} | {statistics.mean(d):+.2f} | "
            f"{100 * e['sd']['segm_AP']:.2f} |"
        )
    return "\n".join(lines)


@entry_point("seed_noise")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument("--runs", nargs="+", required=True, choices=registry.NAMES)
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--command", default=None, help="the command that trained the runs")
    parser.add_argument("--out", type=Path, default=None, help="the JSON to add to")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {args.seeds} names a seed twice")
    new = measure(args.results, args.runs, args.seeds, args.command)
    if not new:
        parser.error("no comparison of the table among --runs")
    entries, notes = merge(spread.read(args.out), new)
    short = [e["title"] for e in entries if len(e["seeds"]) < spread.MIN_SEEDS]
    if short:
        raise UserError(
            f"{', '.join(short)}: fewer than {spread.MIN_SEEDS} seeds; the table would not "
            "use such a spread (experiments/reporting/spread.py). Measure more seeds"
        )
    print(markdown(entries))
    for note in notes:
        print(f"note: {note}")
    if args.out:
        write_json_atomic(args.out, {"what": WHAT, "contrasts": entries})
        print(f"{args.out}: {len(entries)} comparisons")
    return 0


if __name__ == "__main__":
    sys.exit(main())
