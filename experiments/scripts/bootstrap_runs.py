"""Intervals and verdicts for every run and every comparison of the table, into one JSON.

    python -m experiments.scripts.bootstrap_runs --results results/embedded \
        --runs RUN [RUN ...] [--seeds 0 1 2 3 4] [--secondary-seeds 1] [--resamples 1000] \
        [--seed 0] [--seed-noise experiments/config/seed_noise_embedded.json] \
        [--preset embedded] --out results/embedded/bootstrap.json

Reads each run's ``matches.segm.npz`` / ``matches.bbox.npz`` and ``metrics.json`` for every
training seed it trained (experiments/presets.py ``run_seeds``: the primary endpoint's runs
every seed, the others the first ``--secondary-seeds``), and resamples the val images, the
same resample for every seed and run (maiou.evaluation.bootstrap): mask AP, box AP and mask
oLRP per run, and for every comparison (experiments/reporting/comparisons.py: the primary
endpoint, the paired comparisons, the differences of family gains) the value with its 95 %
interval over seeds x images and a verdict. A stored seed spread is pooled or borrowed by
the rule of experiments/reporting/spread.py. The primary endpoint is confirmatory only with
the preset's pre-stated seeds (experiments/presets.py); any other seed set makes it a later
look, labelled exploratory. Values are fractions, like metrics.json. Written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from experiments import presets, recipe
from experiments.reporting import spread
from experiments.reporting.comparisons import comparisons
from experiments.reporting.records import load_bootstrap
from maiou import runs as registry
from maiou.evaluation.bootstrap import bootstrap
from maiou.evaluation.intervals import seeds_for_half_width
from maiou.evaluation.matches import load_matches
from maiou.evaluation.metric import COMPARED, CONFIDENCE
from maiou.rundir import load_metrics, seed_dir
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import UserError, entry_point

__all__ = ["load_bootstrap", "main"]

HALF_WIDTH = 1.0  # points of mask AP: the precision the log says the cost of, per comparison
REPO = Path(__file__).resolve().parents[2]
WHAT = (
    "paired bootstrap over the val images, the same resample for every training seed and "
    "run; per comparison a 95 % interval over seeds x images (t over the per-seed values "
    "and the image bootstrap, half-widths added in quadrature; a stored seed spread pooled "
    "by the rule of experiments/reporting/spread.py; one seed: the images' percentile "
    "interval) and a verdict (maiou/evaluation/intervals.py); values are fractions"
)


def load_matches_of(results: Path, run_seeds: dict) -> dict:
    """{run: {seed: {kind: Matches}}} (bootstrap() checks they share the images)."""
    return {
        run: {
            s: {
                kind: load_matches(seed_dir(results, s) / run / f"matches.{kind}.npz")
                for kind in ("segm", "bbox")
            }
            for s in seeds
        }
        for run, seeds in run_seeds.items()
    }


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (the table names it)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def contrast_fingerprints(results: Path, found, run_seeds) -> dict:
    """{comparison name: the recipe fingerprint of its runs' records at its seeds}."""
    out = {}
    for c in found:
        seeds = sorted(set.intersection(*(set(run_seeds[r]) for r in c.contrast.terms)))
        records = load_metrics(results, list(c.contrast.terms), seeds)
        out[c.name] = recipe.fingerprint(records)
    return out


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
    parser.add_argument(
        "--secondary-seeds",
        type=int,
        default=0,
        help="how many of --seeds the runs outside the primary endpoint trained (0: all)",
    )
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument(
        "--seed-noise",
        type=Path,
        default=None,
        help="stored seed spreads (experiments/scripts/seed_noise.py), pooled or borrowed "
        "by the rule of experiments/reporting/spread.py",
    )
    parser.add_argument(
        "--preset",
        default="embedded",
        choices=presets.NAMES,
        help="whose pre-stated seeds make the primary endpoint confirmatory",
    )
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.resamples < 2:
        parser.error(f"--resamples must be at least 2, got {args.resamples}")
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {args.seeds} names a seed twice")
    start = time.perf_counter()
    run_seeds = presets.run_seeds(args.runs, args.seeds, args.secondary_seeds)
    found = comparisons(args.runs)
    try:
        fingerprints = contrast_fingerprints(args.results, found, run_seeds)
        seeds_of = {
            c.name: sorted(set.intersection(*(set(run_seeds[r]) for r in c.contrast.terms)))
            for c in found
        }
        stored, notes = spread.usable(spread.read(args.seed_noise), fingerprints, seeds_of)
        matches = load_matches_of(args.results, run_seeds)
        result = bootstrap(
            matches,
            [c.contrast for c in found],
            args.resamples,
            args.seed,
            CONFIDENCE,
            stored_sd=stored,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    pre_stated = list(presets.get(args.preset).seeds)
    for c, entry in zip(found, result["contrasts"]):
        entry.update(
            kind=c.kind,
            title=c.title,
            size=c.size,
            a=c.a,
            b=c.b,
            families=list(c.families) if c.families else None,
            seed_spread=notes[c.name],
            fingerprint=fingerprints[c.name],
        )
        for metric in COMPARED:  # which verdict answers the paper's question
            entry[metric]["role"] = "primary" if c.is_primary(metric) else "secondary"
        if c.kind == "endpoint":
            entry["look"] = "confirmatory" if args.seeds == pre_stated else "exploratory"
    first = next(iter(matches.values()))
    images = next(iter(first.values()))["segm"].num_images
    record = {
        "what": WHAT,
        "resamples": args.resamples,
        "seed": args.seed,
        "confidence": CONFIDENCE,
        "training_seeds": args.seeds,
        "secondary_seeds": args.secondary_seeds,
        "pre_stated_seeds": pre_stated,
        "images": images,
        "seed_noise": None if args.seed_noise is None else shown_path(args.seed_noise),
        "seconds": round(time.perf_counter() - start, 1),
        **result,
    }
    write_text_atomic(args.out, json.dumps(record, indent=1))
    print(
        f"{args.out}: {len(matches)} runs, seeds {args.seeds}, {len(found)} comparisons, "
        f"{args.resamples} resamples of {images} images in {record['seconds']} s"
    )
    for entry in result["contrasts"]:  # what each comparison's precision would cost (mask AP)
        c = entry["segm_AP"]
        if c["decision_lo"] is None or len(entry["seeds"]) < 2:
            continue
        stored_df = (c["seed_df"] or 0) - (len(entry["seeds"]) - 1)
        need = seeds_for_half_width(
            c["seed_sd"], c["image_sd"], HALF_WIDTH / 100, stored_df=stored_df
        )
        where = f" at {entry['size']}" if entry["size"] else ""
        print(
            f"{entry['title']}{where}: mask AP "
            f"{100 * c['delta']:+.2f} [{100 * c['decision_lo']:+.2f}, "
            f"{100 * c['decision_hi']:+.2f}], half-width "
            f"{50 * (c['decision_hi'] - c['decision_lo']):.2f}, {c['verdict']}; seed sd "
            f"{100 * c['seed_sd']:.2f} ({c['seed_df']} df), image sd {100 * c['image_sd']:.2f};"
            f" seeds for a half-width <= {HALF_WIDTH}: {need or 'beyond reach'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
