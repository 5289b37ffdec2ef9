"""Our training curves beside the authors' (coco-train), and which runs left their course.

    python -m experiments.scripts.plot_training_curves --work work_dirs/coco-train \
        --reference-dir checkpoints/coco/logs --runs RUN ... \
        --out reports/training_curves.png --check results/coco-train/curve_check.json

For every run: our loss components and total loss (from the ``*.log.json`` files mmcv's
TextLoggerHook wrote into ``<work>/<run>/``, all attempts of a resumed run, later lines
winning) and the authors' (``<reference-dir>/<run>.log``, text or JSON log) against the
epoch (fractional: epoch - 1 + iteration / iterations per epoch); the learning rate on a
second axis. Solid = ours, dashed = the authors'.

``--check`` gets, per run, the comparison the training hook makes after each epoch
(maiou.hooks.curve_check: epoch-mean total loss, relative difference, tolerance 10 %),
here from both logs' logged values, for the table's flag. Runs without either log are
listed as not checked. PNG and JSON are written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.scripts.plot_results import plt, save_atomic
from maiou import runs as registry
from maiou.engine.training_log import (
    DEFAULT_TOLERANCE,
    LogFormatError,
    compare_epochs,
    epoch_means,
    read_log,
)
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import entry_point


def our_records(work_dir: Path) -> list[dict]:
    """Training records of all ``*.log.json`` in ``work_dir`` (file-name order = start
    time), one per (epoch, iteration), the latest attempt's kept."""
    by_step: dict = {}
    for path in sorted(work_dir.glob("*.log.json")):
        for rec in read_log(path):
            by_step[(rec.get("epoch"), rec.get("iter"))] = rec
    return [by_step[k] for k in sorted(by_step, key=lambda k: (k[0] or 0, k[1] or 0))]


def _x(records) -> list[float]:
    """Fractional epochs: epoch - 1 + iteration / (the epoch's largest logged iteration)."""
    last: dict = {}
    for r in records:
        last[r["epoch"]] = max(last.get(r["epoch"], 1), r["iter"])
    return [r["epoch"] - 1 + r["iter"] / last[r["epoch"]] for r in records]


def load(work: Path, reference_dir: Path, runs) -> dict:
    """{run: {"ours": records or None, "authors": records or None, "problems": [str]}}."""
    out = {}
    for run in runs:
        entry = {"ours": None, "authors": None, "problems": []}
        try:
            entry["ours"] = our_records(work / run) or None
        except LogFormatError as exc:
            entry["problems"].append(str(exc))
        ref = reference_dir / f"{run}.log"
        if ref.is_file():
            try:
                entry["authors"] = read_log(ref)
            except LogFormatError as exc:
                entry["problems"].append(str(exc))
        out[run] = entry
    return out


def check(curves: dict, tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """{run: {"checked": bool, "epochs": [...], "off_course_epochs": [...], "why": str}}."""
    out = {}
    for run, c in curves.items():
        if not c["ours"] or not c["authors"]:
            why = "; ".join(c["problems"]) or (
                "no training log of ours yet" if not c["ours"] else "no log of the authors'"
            )
            out[run] = {"checked": False, "epochs": [], "off_course_epochs": [], "why": why}
            continue
        epochs = compare_epochs(epoch_means(c["ours"]), epoch_means(c["authors"]), tolerance)
        out[run] = {
            "checked": bool(epochs),
            "epochs": epochs,
            "off_course_epochs": [e["epoch"] for e in epochs if e["off_course"]],
            "why": "" if epochs else "no epoch in both logs",
        }
    return {"tolerance": tolerance, "key": "loss", "runs": out}


def plot(curves: dict, path: Path) -> None:
    n = max(1, len(curves))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (run, c) in zip(axes.flat, curves.items()):
        keys = sorted(
            {
                k
                for recs in (c["ours"] or [], c["authors"] or [])
                for r in recs
                for k in r
                if k.startswith("loss")
            },
            key=lambda k: (k != "loss", k),
        )
        lr_ax = ax.twinx()
        for who, style in (("ours", "-"), ("authors", "--")):
            recs = c[who]
            if not recs:
                continue
            x = _x(recs)
            for j, key in enumerate(keys):
                pts = [(xi, r[key]) for xi, r in zip(x, recs) if key in r]
                if pts:
                    ax.plot(
                        *zip(*pts),
                        style,
                        lw=1.6 if key == "loss" else 0.9,
                        color="k" if key == "loss" else colours[j % len(colours)],
                        label=f"{key} ({who})" if who == "ours" or key == "loss" else None,
                    )
            lr = [(xi, r["lr"]) for xi, r in zip(x, recs) if "lr" in r]
            if lr:
                lr_ax.plot(*zip(*lr), style, color="grey", lw=0.8, alpha=0.7)
        ax.set_title(
            run
            + ("" if c["authors"] else " (no authors' log)")
            + ("" if c["ours"] else " (no log of ours)"),
            fontsize=9,
        )
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        lr_ax.set_ylabel("lr (grey)", fontsize=8)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right")
    fig.suptitle(
        "Training losses and lr: ours (solid) vs the authors' released logs (dashed)", fontsize=11
    )
    fig.tight_layout()
    save_atomic(fig, path)


@entry_point("plot_training_curves")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="folder of <run>/ work dirs")
    parser.add_argument(
        "--reference-dir", required=True, type=Path, help="folder of the authors' <run>.log files"
    )
    parser.add_argument(
        "--runs", nargs="+", default=list(registry.GROUPS["all"]), choices=registry.NAMES
    )
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--check", required=True, type=Path, help="JSON of the per-run check")
    args = parser.parse_args(argv)
    curves = load(args.work, args.reference_dir, args.runs)
    plot(curves, args.out)
    result = check(curves, args.tolerance)
    write_text_atomic(args.check, json.dumps(result, indent=1))
    off = [run for run, r in result["runs"].items() if r["off_course_epochs"]]
    print(f"{args.out}: {len(curves)} runs; off course: {', '.join(off) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
