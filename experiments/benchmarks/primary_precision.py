"""The primary endpoint's precision per CPU-minute, and what a backbone of its own per seed
does to it: the measurements behind the default seed allocation.

    python -m experiments.benchmarks.primary_precision \
        --design "a draw and backbone per seed=RESULTS" [--design "NAME=RESULTS" ...] \
        --seeds 20 21 ... 29 [--benchmarks BENCHMARKS] [--stored-seeds 10] [--image-sd 0.2]

Each ``--design`` names a results folder in the pipeline's layout (``<RESULTS>/<run>`` for
seed 0, ``<RESULTS>/seed<s>/<run>``) holding the six ATSS runs for every ``--seeds``. For
each it prints, in mask AP points: the per-seed maIoU − IoU at every size and its mean over
the sizes (the primary endpoint, maiou/runs.py ``PRIMARY``), their means and sds, and the
correlations between sizes. With two designs, it compares the first with the second: the
ratio of their endpoint variances with its 95 % F interval (the first over the second: a
backbone and data draw per seed against one shared backbone adds that much spread), and the
difference of their means with a Welch interval.

``--benchmarks`` (the pipeline's ``benchmarks/embedded`` folder of the first design) gives
the cost per seed in job-minutes: the six trainings and evaluations, the backbone
pretraining and the data draw; and then, for 2-10 seeds, the expected half-width of the
endpoint's interval from its own seeds (t with S - 1 degrees of freedom) and pooled with a
stored spread of ``--stored-seeds`` seeds of the same recipe (t with S + n - 2), the seed
part from the first design's sd combined in quadrature with ``--image-sd`` (points; the
image part of the default run's bootstrap).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from maiou import runs as registry
from maiou.evaluation.metric import METRICS
from maiou.rundir import load_metrics, run_key

SIZES = registry.PRIMARY.sizes


def endpoint_values(results: Path, seeds) -> dict:
    """{"per_size": {size: [Δ per seed]}, "endpoint": [Δ per seed]} in mask AP points."""
    runs = list(registry.PRIMARY.runs)
    metrics = load_metrics(results, runs, seeds)
    missing = [run for run in runs if len(metrics.get(run, [])) != len(seeds)]
    if missing:
        raise SystemExit(f"{results}: no metrics.json for every seed of {', '.join(missing)}")
    metric = METRICS[registry.PRIMARY.metric]
    per_size = {}
    for size in SIZES:
        iou = metrics[f"{registry.PRIMARY.baseline}_{size}"]
        maiou = metrics[f"{registry.PRIMARY.contender}_{size}"]
        per_size[size] = [100 * (metric.of(b) - metric.of(a)) for a, b in zip(iou, maiou)]
    endpoint = [statistics.mean(values) for values in zip(*per_size.values())]
    return {"per_size": per_size, "endpoint": endpoint}


def describe(name: str, values: dict, seeds) -> None:
    print(f"\n{name}: maIoU − IoU inside ATSS, mask AP points, seeds {', '.join(map(str, seeds))}")
    rows = [
        (f"{size} ({registry.EMBEDDED_SIZE[size]} px)", v) for size, v in values["per_size"].items()
    ]
    rows.append(("mean over sizes (primary)", values["endpoint"]))
    for label, v in rows:
        print(
            f"  {label:28s} {' '.join(f'{x:+5.1f}' for x in v)}   mean {statistics.mean(v):+.2f}"
            f"  sd {statistics.stdev(v):.2f}"
        )
    corr = np.corrcoef(np.array(list(values["per_size"].values())))
    pairs = [(a, b) for i, a in enumerate(SIZES) for b in SIZES[i + 1 :]]
    print(
        "  correlations between sizes: "
        + ", ".join(f"{a}/{b} {corr[SIZES.index(a), SIZES.index(b)]:+.2f}" for a, b in pairs)
    )


def compare(first: tuple[str, dict], second: tuple[str, dict]) -> None:
    (na, a), (nb, b) = first, second
    x, y = np.array(a["endpoint"]), np.array(b["endpoint"])
    ratio = x.var(ddof=1) / y.var(ddof=1)
    dfx, dfy = x.size - 1, y.size - 1
    lo = ratio / stats.f.ppf(0.975, dfx, dfy)
    hi = ratio / stats.f.ppf(0.025, dfx, dfy)
    diff = x.mean() - y.mean()
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    df = (vx + vy) ** 2 / (vx**2 / dfx + vy**2 / dfy)
    half = stats.t.ppf(0.975, df) * math.sqrt(vx + vy)
    print(f"\n{na} against {nb}, primary endpoint:")
    print(
        f"  variance ratio {ratio:.2f} [{lo:.2f}, {hi:.2f}] (95 % F interval; sd "
        f"{x.std(ddof=1):.2f} against {y.std(ddof=1):.2f})"
    )
    print(f"  difference of means {diff:+.2f} [{diff - half:+.2f}, {diff + half:+.2f}] (Welch)")


def job_minutes(folder: Path, pattern: str) -> list[float]:
    """Wall minutes of the benchmark files matching ``pattern`` (snakemake's ``s`` column)."""
    out = []
    for path in sorted(folder.glob(pattern)):
        with path.open() as f:
            out += [float(row["s"]) / 60 for row in csv.DictReader(f, delimiter="\t")]
    return out


def costs(benchmarks: Path, seeds) -> dict:
    """Job-minutes per seed of the endpoint's six runs, a backbone and a data draw."""
    runs = registry.PRIMARY.runs

    def per_seed(step: str) -> float:
        return sum(
            sum(job_minutes(benchmarks / step, f"{run_key(run, s)}.tsv"))
            for s in seeds
            for run in runs
        ) / len(seeds)

    backbone = job_minutes(benchmarks / "data", "embedded_backbone_seed*.tsv")
    data = job_minutes(benchmarks / "data", "embedded_dataset_seed*.tsv")
    train, evaluate = per_seed("train"), per_seed("evaluate")
    return {
        "runs": train + evaluate,
        "train": train,
        "evaluate": evaluate,
        "backbone": statistics.mean(backbone) if backbone else 0.0,
        "data": statistics.mean(data) if data else 0.0,
    }


def half_widths(sd: float, image_sd: float, stored: int) -> None:
    z = stats.norm.ppf(0.975)
    print(
        f"\nExpected half-width of the primary endpoint (seed sd {sd:.2f}, image sd "
        f"{image_sd:.2f} points): own seeds / pooled with {stored} stored seeds"
    )
    for n in range(2, 11):
        own = math.hypot(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n), z * image_sd)
        pooled = math.hypot(stats.t.ppf(0.975, n + stored - 2) * sd / math.sqrt(n), z * image_sd)
        print(f"  {n:2d} seeds: {own:.2f} / {pooled:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", action="append", required=True, metavar="NAME=RESULTS")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--benchmarks", type=Path, default=None)
    parser.add_argument("--stored-seeds", type=int, default=10)
    parser.add_argument("--image-sd", type=float, default=0.0)
    args = parser.parse_args(argv)
    designs = []
    for item in args.design:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--design {item!r}: expected NAME=RESULTS")
        designs.append((name, endpoint_values(Path(path), args.seeds)))
    for name, values in designs:
        describe(name, values, args.seeds)
    if len(designs) > 1:
        compare(designs[0], designs[1])
    if args.benchmarks:
        c = costs(args.benchmarks, args.seeds)
        print(
            f"\nJob-minutes per seed ({designs[0][0]}): the six runs {c['runs']:.1f} (train "
            f"{c['train']:.1f}, evaluate {c['evaluate']:.1f}), backbone {c['backbone']:.1f}, "
            f"data {c['data']:.2f}"
        )
    half_widths(statistics.stdev(designs[0][1]["endpoint"]), args.image_sd, args.stored_seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
