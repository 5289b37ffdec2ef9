"""Intervals and verdicts for every run and for the table's comparisons, into one JSON.

    python -m experiments.scripts.bootstrap_runs --results results/embedded \
        --runs RUN [RUN ...] [--seeds 0 1 2] [--resamples 1000] [--seed 0] \
        [--seed-noise experiments/config/seed_noise_embedded.json] \
        --out results/embedded/bootstrap.json

Reads each run's ``matches.segm.npz`` / ``matches.bbox.npz`` of every training seed
(written by maiou.evaluate) and resamples the val images, the same resample for every seed
and run (maiou.evaluation.bootstrap): mask AP, box AP and mask oLRP per run, and for each
comparison of the paper's table at one size (ATSS w. IoU - fixed, ATSS w. maIoU - ATSS w.
IoU, maYOLACT - ATSS w. maIoU, maIoU - IoU inside TAL and SimOTA, where both runs are among
``--runs``) the difference with a 95 % interval over seeds x images (one seed: over images)
and a verdict (maiou.evaluation.intervals); and for every two assigner families of
maiou/runs.py's FAMILIES with both pairs present, the difference of their maIoU gains.
With one seed the verdict reads the per-seed sd measured in
``--seed-noise`` (experiments/scripts/seed_noise.py); without it, one seed is undecided.
Values are fractions, like metrics.json. The JSON is written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from experiments import recipe
from maiou import runs as registry
from maiou.evaluation.bootstrap import bootstrap
from maiou.evaluation.intervals import seeds_for_half_width
from maiou.evaluation.matches import load_matches
from maiou.rundir import seed_dir
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import UserError, entry_point

# The table's comparisons at one size, as (baseline, contender) assigners (maiou/runs.py).
CONFIDENCE = 0.95
HALF_WIDTH = 1.0  # points of mask AP: the precision the log says the cost of, per comparison
REPO = Path(__file__).resolve().parents[2]
WHAT = (
    "paired bootstrap over the val images, the same resample for every training seed and "
    "run; per comparison a 95 % interval over seeds x images (t over the per-seed "
    "differences and the image bootstrap, half-widths added in quadrature; one seed: the "
    "images' percentile interval) and a verdict (maiou/evaluation/intervals.py); "
    "differences are b - a; values are fractions"
)


def comparison_pairs(runs) -> list[tuple[str, str]]:
    """(a, b) run pairs the table compares, among ``runs``, by size then comparison."""
    found = [
        (registry.run_at(a, size), registry.run_at(b, size))
        for size in registry.SIZES
        for a, b in registry.COMPARISONS
    ]
    return [(a.name, b.name) for a, b in found if a and b and a.name in runs and b.name in runs]


def family_contrasts(runs) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((IoU run, maIoU run) of one family, the same of another) for every two families of
    ``registry.FAMILY_RUNS`` whose runs are all among ``runs``, in the registry's order:
    maIoU's gain in the first less its gain in the second."""
    present = [pair for pair in registry.FAMILY_RUNS.values() if set(pair) <= set(runs)]
    return [(first, second) for i, first in enumerate(present) for second in present[i + 1 :]]


def load_runs(results: Path, runs, seeds) -> dict:
    """{run: [{kind: Matches} for each seed]} (bootstrap() checks they share the images)."""
    return {
        run: [
            {
                kind: load_matches(seed_dir(results, s) / run / f"matches.{kind}.npz")
                for kind in ("segm", "bbox")
            }
            for s in seeds
        ]
        for run in runs
    }


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (the table names it)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def load_bootstrap(path: Path) -> dict:
    """The record this script writes (``--out``), checked for its ``runs`` and ``pairs``;
    an unreadable file is one error naming it."""
    try:
        record = json.loads(Path(path).read_text())
        missing = [
            k
            for k, kind in (("runs", dict), ("pairs", list))
            if not isinstance(record.get(k), kind)
        ]
        if missing:
            raise ValueError(f"lacks {' / '.join(repr(k) for k in missing)}")
        return record
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(
            f"{path}: not a bootstrap record ({exc}); re-run python -m "
            "experiments.scripts.bootstrap_runs"
        ) from exc


def load_seed_noise(path: Path | None) -> dict:
    """{(a, b): {"sd": {metric: (sd, seeds)}, "recipe": fingerprint, "seeds": [...]}} of a
    seed-noise record (scripts/seed_noise.py)."""
    if path is None:
        return {}
    try:
        record = json.loads(Path(path).read_text())
        out = {}
        for p in record["pairs"]:
            seeds = [int(s) for s in p["seeds"]]
            if len(seeds) < 2:
                raise ValueError(f"{p['b']} - {p['a']}: {len(seeds)} seed(s); at least two")
            out[(p["a"], p["b"])] = {
                "sd": {m: (float(sd), len(seeds)) for m, sd in p["sd"].items()},
                "recipe": str(p["recipe"]),
                "seeds": seeds,
            }
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: not a seed-noise record ({exc}); re-run python -m "
            "experiments.scripts.seed_noise"
        ) from exc


def borrowed_spreads(stored: dict, pairs, cfg_dir: str, recipe_settings, training_seeds):
    """What a one-seed verdict may borrow: ({(a, b): {metric: (sd, seeds)}} for the pairs
    whose stored spread was measured under this recipe, {(a, b): note} for every pair).

    The note is one line for the table: where the spread comes from, or why there is none
    (never measured; measured under another recipe), and whether its seeds include the
    seed the table reports."""
    usable, notes = {}, {}
    for a, b in pairs:
        entry = stored.get((a, b))
        if entry is None:
            notes[(a, b)] = "no seed spread measured for this comparison"
            continue
        if entry["recipe"] != recipe.pair_fingerprint(a, b, cfg_dir, recipe_settings):
            notes[(a, b)] = (
                "the stored seed spread was measured under another recipe (configs or "
                "data / schedule settings differ)"
            )
            continue
        usable[(a, b)] = entry["sd"]
        shared = sorted(set(entry["seeds"]) & set(training_seeds))
        notes[(a, b)] = f"seed spread measured over seeds {', '.join(map(str, entry['seeds']))}" + (
            f", which include the reported seed {', '.join(map(str, shared))}"
            if shared
            else ", none of them the reported seed"
        )
    return usable, notes


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
    parser.add_argument(
        "--seed-noise",
        type=Path,
        default=None,
        help="seed_noise JSON (experiments/scripts/seed_noise.py): the measured per-seed sd "
        "of each comparison, for one seed's verdict",
    )
    parser.add_argument(
        "--recipe",
        type=json.loads,
        default=None,
        help="the workflow's recipe settings as JSON (experiments/recipe.py; default: "
        "config.yaml's); a stored spread is borrowed only under the same recipe",
    )
    parser.add_argument(
        "--preset", default="embedded", help="whose configs make the recipe (embedded, coco-*)"
    )
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.resamples < 2:
        parser.error(f"--resamples must be at least 2, got {args.resamples}")
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds {args.seeds} names a seed twice")
    start = time.perf_counter()
    pairs = comparison_pairs(args.runs)
    seed_sd, spread_notes = {}, {}
    if len(args.seeds) == 1:
        settings = recipe.default_settings() if args.recipe is None else args.recipe
        seed_sd, spread_notes = borrowed_spreads(
            load_seed_noise(args.seed_noise),
            pairs,
            recipe.config_dir(args.preset),
            settings,
            args.seeds,
        )
    try:
        runs = load_runs(args.results, args.runs, args.seeds)
        result = bootstrap(
            runs,
            pairs,
            args.resamples,
            args.seed,
            CONFIDENCE,
            seed_sd=seed_sd,
            contrasts=family_contrasts(args.runs),
        )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    for pair in result["pairs"]:
        pair["seed_spread"] = spread_notes.get((pair["a"], pair["b"]))
    images = next(iter(runs.values()))[0]["segm"].num_images
    record = {
        "what": WHAT,
        "resamples": args.resamples,
        "seed": args.seed,
        "confidence": CONFIDENCE,
        "training_seeds": args.seeds,
        "images": images,
        "seed_noise": None if args.seed_noise is None else shown_path(args.seed_noise),
        "seconds": round(time.perf_counter() - start, 1),
        **result,
    }
    write_text_atomic(args.out, json.dumps(record, indent=1))
    print(
        f"{args.out}: {len(runs)} runs x {len(args.seeds)} seeds, {len(pairs)} comparisons, "
        f"{len(result['contrasts'])} family contrasts, "
        f"{args.resamples} resamples of {images} images in {record['seconds']} s"
    )
    if len(args.seeds) > 1:  # what the comparisons' precision would cost (mask AP, points)
        named = [(f"{p['b']} - {p['a']}", p) for p in result["pairs"]]
        named += [
            (f"({c['first'][1]} - {c['first'][0]}) - ({c['second'][1]} - {c['second'][0]})", c)
            for c in result["contrasts"]
        ]
        for name, difference in named:
            c = difference["segm_AP"]
            if c["lo"] is None:
                continue
            need = seeds_for_half_width(c["seed_sd"], c["image_sd"], HALF_WIDTH / 100)
            print(
                f"{name}: mask AP {100 * c['delta']:+.2f} "
                f"[{100 * c['lo']:+.2f}, {100 * c['hi']:+.2f}], half-width "
                f"{50 * (c['hi'] - c['lo']):.2f}, {c['verdict']}; seed sd "
                f"{100 * c['seed_sd']:.2f}, image sd {100 * c['image_sd']:.2f}; seeds for a "
                f"half-width <= {HALF_WIDTH}: {need or 'beyond reach'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
