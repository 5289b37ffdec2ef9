"""Figures from the runs' metrics.json, next to the paper's numbers.

    python -m experiments.scripts.plot_results --preset embedded --results results/embedded \
        [--runs ...] [--bootstrap results/embedded/bootstrap.json] --out-dir reports

* ap_olrp_vs_size.png: mask AP (left) and mask oLRP (right) against image size, one colour
  per assigner; solid = ours (the mean over --seeds, the table's number), dashed = paper
  (COCO val2017). With --bootstrap, ours carry error bars: the 95 % interval of
  bootstrap_runs.py (over seeds x images with several training seeds, over the val images
  with one).
* speed_accuracy.png: images/s against mask AP for every run (ours), maYOLACT's published
  test-dev points (V100) marked separately.
Missing runs are simply left out. PNGs are saved to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless; before pyplot
import matplotlib.pyplot as plt  # noqa: E402

from experiments import presets  # noqa: E402
from experiments.reporting.records import load_bootstrap  # noqa: E402
from experiments.reporting.results import load  # noqa: E402
from maiou import runs as registry  # noqa: E402
from maiou.utils.atomic import atomic_path  # noqa: E402
from maiou.utils.cli import entry_point  # noqa: E402

COLOURS = {key: assigner.colour for key, assigner in registry.ASSIGNERS.items()}
MARKERS = dict(registry.MARKERS)


def save_atomic(fig, path: Path) -> None:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    finally:
        plt.close(fig)


def intervals_cover(intervals: dict) -> str:
    """What the runs' intervals cover ("seeds × images" or "images")."""
    covers = {ci.get("covers", "images") for run in intervals.values() for ci in run.values()}
    return " / ".join(sorted(covers)) or "images"


def size_points(rows: dict, assigner: str, key: str) -> list[tuple[int, float, str]]:
    """(COCO size, ours in points, run) of ``assigner``'s runs with a value of ``segm_<key>``:
    the table's numbers (experiments/reporting/results.py rows)."""
    found = []
    for size in registry.SIZES:
        run = registry.run_at(assigner, size).name
        value = (rows.get(run) or {}).get(f"segm_{key}")
        if value is not None:
            found.append((size, value, run))
    return found


def error_bar(intervals: dict, run: str, key: str, value: float) -> tuple[float, float]:
    """(below, above) ``value`` in points for the run's interval of ``key``; (0, 0) if none."""
    ci = intervals.get(run, {}).get(key) or {}
    if ci.get("lo") is None or value is None:
        return 0.0, 0.0
    return max(0.0, value - 100 * ci["lo"]), max(0.0, 100 * ci["hi"] - value)


def plot_vs_size(preset: str, rows: dict, path: Path, intervals: dict | None = None) -> None:
    intervals = intervals or {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    # A synthetic preset's numbers and the paper's live on different scales: a twin axis
    # keeps both readable instead of squashing one of them.
    twin = presets.get(preset).data == "synthetic"
    sizes = list(registry.SIZES)
    for ax, key, title in (
        (axes[0], "AP", "mask AP (%) — higher is better"),
        (axes[1], "oLRP", "mask oLRP (%) — lower is better"),
    ):
        ours_ax = ax.twinx() if twin else ax
        for assigner in registry.ASSIGNERS.values():
            if not assigner.in_table:
                continue
            runs = [registry.run_at(assigner.key, s) for s in sizes]
            paper = [run.paper[f"segm_{key}"] for run in runs]
            ax.plot(
                sizes,
                paper,
                ls="--",
                marker="o",
                color=assigner.colour,
                alpha=0.55,
                label=f"{assigner.title} (paper)",
            )
            pts = size_points(rows, assigner.key, key)
            if pts:
                bars = np.array([error_bar(intervals, r, f"segm_{key}", v) for _, v, r in pts]).T
                ours_ax.errorbar(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    yerr=bars,
                    ls="-",
                    marker="s",
                    lw=2,
                    capsize=4,
                    color=assigner.colour,
                    label=f"{assigner.title} (ours)",
                )
        ax.set_xticks(sizes)
        ax.set_xticklabels(
            [f"{s}\n({registry.EMBEDDED_SIZE[s]} px)" if twin else str(s) for s in sizes]
        )
        ax.set_xlabel("image size (COCO)" + (" / embedded input" if twin else ""))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if twin:
            ax.set_ylabel("paper, COCO val2017 (dashed)")
            ours_ax.set_ylabel("ours, embedded mini-benchmark (solid)")
        else:
            ax.set_ylabel("%")
        handles = ax.get_legend_handles_labels()
        if ours_ax is not ax:
            h2 = ours_ax.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        ax.legend(*handles, fontsize=7, loc="best")
    if intervals:
        fig.text(
            0.5,
            -0.02,
            "ours: mean over training seeds; error bars = 95 % interval over "
            + intervals_cover(intervals)
            + " (docs/uncertainty.md)",
            ha="center",
            fontsize=8,
        )
    fig.suptitle(
        "Mask AP and oLRP vs image size per assigner — "
        + (
            "embedded mini-benchmark (not the paper's setting)"
            if twin
            else f"{preset}: ours vs paper"
        ),
        fontsize=11,
    )
    fig.tight_layout()
    save_atomic(fig, path)


def plot_speed(preset: str, metrics: dict, rows: dict, path: Path) -> None:
    """images/s against mask AP (means over seeds); ``metrics`` ({run: [metrics.json per
    seed]}) names the devices."""
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for run in metrics:
        ap, fps = rows[run]["segm_AP"], rows[run]["fps"]
        if ap is None or fps is None:
            continue
        spec = registry.get(run)
        ax.scatter(fps, ap, color=spec.colour, marker=spec.marker, s=60, zorder=3)
        ax.annotate(run, (fps, ap), textcoords="offset points", xytext=(5, 4), fontsize=7)
    devices = sorted({m.get("device", "?") for ms in metrics.values() for m in ms})
    ax.set_xlabel("images / s, batch 1 (" + "; ".join(devices) + ")", fontsize=8)
    ax.set_ylabel("mask AP (%)")
    title = "Speed vs mask AP (ours)"
    if presets.get(preset).data == "synthetic":
        title += " — embedded mini-benchmark"
    else:
        for run in registry.RUNS:  # published speeds: maYOLACT's (test-dev, V100)
            if "fps" not in run.paper:
                continue
            point = (run.paper["fps"], run.paper["segm_AP"])
            ax.scatter(*point, marker="*", s=120, color="grey", zorder=3)
            ax.annotate(
                f"{run.name} paper ({run.paper_split}, V100)",
                point,
                textcoords="offset points",
                xytext=(5, -10),
                fontsize=7,
                color="grey",
            )
    # Legend by colour (assigner) and marker (size) rather than one entry per point.
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", ls="", label=p) for p, c in COLOURS.items()]
    handles += [
        Line2D([], [], color="k", marker=mk, ls="", label=str(s)) for s, mk in MARKERS.items()
    ]
    ax.legend(handles=handles, fontsize=7, title="assigner / size", title_fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if not metrics:
        ax.text(0.5, 0.5, "no results yet", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    save_atomic(fig, path)


def results_parser(description: str) -> argparse.ArgumentParser:
    """Arguments every figure script takes: --preset, --results (folder of <run>/), --runs,
    --seeds (seed s's runs in --results/seed<s>/, maiou/rundir.py) and --secondary-seeds
    (how many of them the runs outside the primary endpoint trained, experiments/presets.py
    ``run_seeds``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--preset", required=True, choices=presets.NAMES)
    parser.add_argument("--results", required=True, type=Path)
    parser.add_argument(
        "--runs", nargs="+", default=list(registry.GROUPS["all"]), choices=registry.NAMES
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds")
    parser.add_argument(
        "--secondary-seeds",
        type=int,
        default=0,
        help="how many of --seeds the runs outside the primary endpoint trained (0: all)",
    )
    return parser


def run_seeds(args) -> dict[str, list[int]]:
    """{run: the seeds it trained} for a figure script's arguments."""
    return presets.run_seeds(args.runs, args.seeds, args.secondary_seeds)


@entry_point("plot_results")
def main(argv=None) -> int:
    parser = results_parser(__doc__.splitlines()[0])
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument(
        "--bootstrap",
        type=Path,
        default=None,
        help="bootstrap.json (experiments/scripts/bootstrap_runs.py): error bars",
    )
    args = parser.parse_args(argv)
    metrics, rows = load(args.results, run_seeds(args))
    plot_vs_size(
        args.preset,
        rows,
        args.out_dir / "ap_olrp_vs_size.png",
        {} if args.bootstrap is None else load_bootstrap(args.bootstrap)["runs"],
    )
    plot_speed(args.preset, metrics, rows, args.out_dir / "speed_accuracy.png")
    print(f"{args.out_dir}: figures from {len(metrics)} of {len(args.runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
