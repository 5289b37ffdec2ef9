"""Compile the runs' results into the paper's table: markdown and two CSVs.

    python -m experiments.scripts.compile_table --preset embedded --results results/embedded \
        [--runs RUN ...] [--seeds 0 1 2 3 4] [--secondary-seeds 1] \
        [--bootstrap results/embedded/bootstrap.json] [--curve-check FILE] \
        --md results/table.md --csv results/table.csv [--comparisons-csv results/comparisons.csv]

The table model is experiments/reporting/table.py (built once from every seed's
metrics.json, the bootstrap record and, on coco-train, the curve check); the sections are
experiments/reporting/markdown.py's, the CSV columns csv_table.py's. A run without
metrics.json shows "—" (empty in the CSV) instead of failing. Every file is written
atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments import presets
from experiments.reporting import csv_table, markdown, table
from maiou import runs as registry
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import entry_point


@entry_point("compile_table")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True, choices=presets.NAMES)
    parser.add_argument(
        "--results", required=True, type=Path, help="folder holding <run>/metrics.json"
    )
    parser.add_argument(
        "--runs", nargs="+", default=list(registry.GROUPS["all"]), choices=registry.NAMES
    )
    parser.add_argument("--md", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument(
        "--comparisons-csv", type=Path, default=None, help="one row per comparison and metric"
    )
    parser.add_argument(
        "--bootstrap",
        type=Path,
        default=None,
        help="bootstrap.json of experiments/scripts/bootstrap_runs.py",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        help="training seeds (seed s's runs in --results/seed<s>/, 0's in --results itself)",
    )
    parser.add_argument(
        "--secondary-seeds",
        type=int,
        default=0,
        help="how many of --seeds the runs outside the primary endpoint trained (0: all)",
    )
    parser.add_argument(
        "--curve-check",
        type=Path,
        default=None,
        help="curve_check.json of experiments/scripts/plot_training_curves.py",
    )
    args = parser.parse_args(argv)
    model = table.build(
        args.preset,
        args.results,
        args.runs,
        args.seeds,
        args.secondary_seeds,
        bootstrap=args.bootstrap,
        curve_check=args.curve_check,
    )
    write_text_atomic(args.md, markdown.render(model))
    write_text_atomic(args.csv, csv_table.render_runs(model))
    if args.comparisons_csv:
        write_text_atomic(args.comparisons_csv, csv_table.render_comparisons(model))
    found = sum(r["segm_AP"] is not None for r in model.rows.values())
    print(f"{args.md}, {args.csv}: {found} of {len(model.rows)} runs with results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
