"""Price one embedded recipe: CPU-minutes per seed and the paired seed spread of maIoU − IoU.

    OMP_NUM_THREADS=1 python -m experiments.benchmarks.recipe_search --name NAME \
        --seeds 0 1 2 3 4 [--options KEY=VALUE ...] [--data-root data/embedded] \
        [--data-seeds] [--out search]

Trains and evaluates the six ATSS runs (ATSS w. IoU and w. maIoU at 96 / 128 / 160 px)
once per seed with the given ``--cfg-options``, two jobs at a time as the pipeline runs
them on 2 cores, and prints, per input size, Δ = maIoU − IoU in mask AP per seed, their
sample sd (the paired seed spread) and what the default budget buys with this recipe:

* cost per seed: the job-minutes (wall seconds of each training and evaluation job, two
  running side by side) of the six runs, averaged over the seeds;
* seeds in budget: how many seeds of the six runs fit in ``--budget`` job-minutes (the
  default run's share for them, docs/embedded-benchmark.md);
* half-width: t(n-1) · sd / √n with n those seeds, the seed part of the interval the
  default run's verdict would read (the image part is a few tenths of a point).

``--data-seeds`` draws a fresh synthetic dataset per training seed (generator seed =
training seed, under ``<out>/data/seed<s>``), all starting from the backbone pretrained on
``--data-root``: the spread then covers the data draw as well. Results go to
``<out>/<name>/[seed<s>/]<run>/metrics.json`` (the run layout of maiou/rundir.py) and the
summary to ``<out>/<name>/summary.json``; a finished run is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from scipy import stats

from maiou import runs as registry
from maiou.rundir import FINAL_NAME, METRICS_NAME, load_metrics, run_key
from maiou.utils.atomic import write_text_atomic

SIZES = (("96 px", "400"), ("128 px", "550"), ("160 px", "700"))
ATSS_RUNS = [f"atss_{overlap}_{size}" for _, size in SIZES for overlap in ("iou", "maiou")]


def dataset_for(args, seed: int) -> Path:
    """The dataset a seed trains and is evaluated on (a fresh draw with --data-seeds)."""
    if not args.data_seeds:
        return args.data_root
    root = args.out / "data" / f"seed{seed}"
    if not (root / "annotations" / "instances_val.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "maiou.data.synthetic",
                "--out",
                str(root),
                "--seed",
                str(seed),
                "--num-train",
                str(args.num_train),
                "--num-val",
                str(args.num_val),
            ],
            check=True,
        )
    backbone = root / "backbone.pth"
    if not backbone.is_file():
        shutil.copyfile(args.data_root / "backbone.pth", backbone)
    return root


def run_job(args, run: str, seed: int) -> dict:
    """Train and evaluate one run with one seed; returns its job seconds."""
    key = run_key(run, seed)
    work = args.out / args.name / "work" / key
    results = args.out / args.name / key
    config = registry.get(run).config("embedded")
    env = dict(
        os.environ,
        MAIOU_EMBEDDED_ROOT=str(dataset_for(args, seed)),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    log = args.out / args.name / "logs" / f"{key.replace('/', '_')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    seconds = {}
    with open(log, "a") as out:
        if not (work / FINAL_NAME).is_file():
            start = time.perf_counter()
            options = ["--cfg-options", *args.options] if args.options else []
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "maiou.train",
                    config,
                    "--work-dir",
                    str(work),
                    "--seed",
                    str(seed),
                    "--device",
                    "cpu",
                    "--no-validate",
                    *options,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )
            seconds["train"] = time.perf_counter() - start
        if not (results / METRICS_NAME).is_file():
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "maiou.evaluate",
                    config,
                    str(work / FINAL_NAME),
                    "--out",
                    str(results),
                    "--device",
                    "cpu",
                    "--speed-images",
                    "10",
                    "--no-progress",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
            )
            seconds["evaluate"] = time.perf_counter() - start
    return {"run": run, "seed": seed, **seconds}


def summarise(args, jobs: list[dict]) -> dict:
    metrics = load_metrics(args.out / args.name, ATSS_RUNS, args.seeds)
    n_seeds = len(args.seeds)
    train = sum(j.get("train", 0.0) for j in jobs) / 60 / n_seeds
    evaluate = sum(j.get("evaluate", 0.0) for j in jobs) / 60 / n_seeds
    cost = train + evaluate
    fit = int(args.budget // cost) if cost else 0
    sizes = {}
    for label, size in SIZES:
        iou, maiou = metrics[f"atss_iou_{size}"], metrics[f"atss_maiou_{size}"]
        deltas = [100 * (b["segm"]["AP"] - a["segm"]["AP"]) for a, b in zip(iou, maiou)]
        sd = statistics.stdev(deltas)
        sizes[label] = {
            "delta_per_seed": deltas,
            "mean": statistics.mean(deltas),
            "paired_sd": sd,
            "iou_mask_ap": [100 * a["segm"]["AP"] for a in iou],
            "maiou_mask_ap": [100 * b["segm"]["AP"] for b in maiou],
            "box_ap_delta": [100 * (b["bbox"]["AP"] - a["bbox"]["AP"]) for a, b in zip(iou, maiou)],
            "half_width_in_budget": (stats.t.ppf(0.975, fit - 1) * sd / fit**0.5)
            if fit >= 2
            else None,
        }
    return {
        "name": args.name,
        "options": args.options,
        "data_seeds": args.data_seeds,
        "seeds": args.seeds,
        "job_minutes_per_seed": {"train": train, "evaluate": evaluate, "total": cost},
        "budget_job_minutes": args.budget,
        "seeds_in_budget": fit,
        "sizes": sizes,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the candidate's folder under --out")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--options", nargs="*", default=[], help="--cfg-options of every run")
    parser.add_argument("--data-root", type=Path, default=Path("data/embedded"))
    parser.add_argument("--data-seeds", action="store_true", help="a fresh data draw per seed")
    parser.add_argument("--num-train", type=int, default=1600)
    parser.add_argument("--num-val", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--budget",
        type=float,
        default=21.6,
        help="job-minutes of the default run for the six ATSS runs: 1.2 x the 18.0 that "
        "one seed of them cost with the recipe before this search",
    )
    parser.add_argument("--out", type=Path, default=Path("search"))
    args = parser.parse_args(argv)
    if args.data_seeds:  # draw the datasets before the clock starts
        for seed in args.seeds:
            dataset_for(args, seed)
    todo = [(run, seed) for seed in args.seeds for run in ATSS_RUNS]
    timing = args.out / args.name / "jobs.json"
    done = json.loads(timing.read_text()) if timing.is_file() else []
    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = list(pool.map(lambda rs: run_job(args, *rs), todo))
    finished = {(j["run"], j["seed"]) for j in jobs if "train" in j}
    jobs = [j for j in done if (j["run"], j["seed"]) not in finished] + [
        j for j in jobs if "train" in j
    ]
    write_text_atomic(timing, json.dumps(jobs, indent=1) + "\n")
    summary = summarise(args, jobs)
    write_text_atomic(args.out / args.name / "summary.json", json.dumps(summary, indent=1) + "\n")
    cost = summary["job_minutes_per_seed"]
    print(
        f"{args.name}: {' '.join(args.options) or '(default recipe)'}"
        f"{' + a data draw per seed' if args.data_seeds else ''}"
    )
    print(
        f"  job-minutes per seed of the six ATSS runs: {cost['total']:.1f} "
        f"(train {cost['train']:.1f}, evaluate {cost['evaluate']:.1f}); "
        f"seeds in {args.budget:g} job-min: {summary['seeds_in_budget']}"
    )
    for label, s in summary["sizes"].items():
        hw = s["half_width_in_budget"]
        print(
            f"  {label}: Δ mask AP {' / '.join(f'{d:+.1f}' for d in s['delta_per_seed'])}  "
            f"mean {s['mean']:+.2f}  paired sd {s['paired_sd']:.2f}  "
            f"half-width in budget {'—' if hw is None else f'{hw:.2f}'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
