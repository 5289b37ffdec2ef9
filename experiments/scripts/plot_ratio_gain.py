"""The paper's hypothesis, tested: mask AP gain of maIoU over IoU by mask-over-box ratio.

    python -m experiments.scripts.plot_ratio_gain --preset embedded --results results/embedded \
        [--runs ...] [--bins 4] [--resamples 1000] [--seed 0] \
        --out reports/ap_gain_by_mask_box_ratio.png

For every image size with both an ATSS-IoU and an ATSS-maIoU run among ``--runs`` (and their
results), mask AP is computed per bin of the ground truths' mask area / box area (bins
holding equally many ground truths of the evaluated images; maiou.evaluation.by_ratio) from
each run's results.segm.json. Left: AP per bin of both assigners; right: the gain (maIoU -
IoU, AP points) per bin. Values are means over the training seeds; error bars: 95 % intervals
over seeds x images (one seed: images; paired bootstrap with the same resamples for both runs
and every seed, maiou.evaluation.bootstrap), for each AP and for each gain. The
numbers also go to a CSV beside the PNG. Both are written to temporary names and renamed.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from experiments import presets
from experiments.scripts.plot_results import COLOURS, MARKERS, plt, results_parser, save_atomic
from maiou import runs as registry
from maiou.evaluation import load_coco_gt
from maiou.evaluation.bootstrap import Contrast, bootstrap
from maiou.evaluation.by_ratio import mask_ap_by_ratio, ratio_bin_edges, ratio_cocoeval
from maiou.evaluation.matches import matches_from_cocoeval
from maiou.rundir import METRICS_NAME, metrics_path, run_key, seed_dir
from maiou.utils.atomic import atomic_path
from maiou.utils.cli import entry_point


def pairs(runs, results: Path, seeds=(0,)) -> list[int]:
    """COCO sizes with both runs of a ratio pair (maiou.runs.ratio_pairs: ATSS w. IoU and
    w. maIoU) in ``runs`` and results of every seed."""
    return [
        registry.get(base).coco_size
        for base, treat in registry.ratio_pairs(runs)
        if all(
            Path(metrics_path(results, run_key(run, seed))).is_file()
            for run in (base, treat)
            for seed in seeds
        )
    ]


def measure(
    results: Path, sizes, num_bins: int, resamples: int = 1000, seed: int = 0, seeds=(0,)
) -> tuple[list[float], dict]:
    """Bin edges and {size: {"atss_iou": bins, "atss_maiou": bins}} (see mask_ap_by_ratio).

    Each bin's ``AP`` is the mean over training seeds of its AP (one seed: exactly
    mask_ap_by_ratio's) with ``AP_lo`` / ``AP_hi``; the maIoU run's bins also carry
    ``gain`` with ``gain_lo`` / ``gain_hi`` / ``gain_excludes_0`` (fractions), intervals
    over seeds x images from ``resamples`` paired resamples of the evaluated images.
    Bin edges and ``num_gts`` come from the ground truth, the same for every seed.
    """
    coco_gt, edges, img_ids, out = None, None, None, {}
    for size in sizes:
        out[size], per_bin = {}, {}
        for assigner in ("atss_iou", "atss_maiou"):
            parts = []
            for s in seeds:
                run_dir = seed_dir(results, s) / registry.run_at(assigner, size).name
                metrics = json.loads((run_dir / METRICS_NAME).read_text())
                if coco_gt is None:
                    coco_gt = load_coco_gt(metrics["dataset"]["ann_file"])
                    # The evaluation takes the first `images` ids in the annotation file's
                    # order.
                    img_ids = coco_gt.getImgIds()[: metrics["dataset"]["images"]]
                    edges = ratio_bin_edges(coco_gt, num_bins, img_ids)
                segm = run_dir / "results.segm.json"
                E = ratio_cocoeval(coco_gt, segm, edges, img_ids)
                if s == seeds[0]:
                    out[size][assigner] = mask_ap_by_ratio(
                        coco_gt, segm, edges, img_ids, cocoeval=E
                    )
                parts.append(
                    [matches_from_cocoeval(E, area_index=i) for i in range(len(edges) - 1)]
                )
            per_bin[assigner] = parts  # [seed][bin]
        for i in range(len(edges) - 1):
            runs = {
                a: {s: {"segm": p[i]} for s, p in zip(seeds, per_bin[a])}
                for a in ("atss_iou", "atss_maiou")
            }
            boot = bootstrap(
                runs,
                [Contrast.pair("atss_iou", "atss_maiou")],
                resamples,
                seed,
                metrics=("segm_AP",),
            )
            for a in ("atss_iou", "atss_maiou"):
                ci = boot["runs"][a]["segm_AP"]
                if out[size][a][i]["AP"] is not None:  # a bin without ground truth stays None
                    out[size][a][i]["AP"] = ci["value"]
                out[size][a][i].update(AP_lo=ci["lo"], AP_hi=ci["hi"])
            gain = boot["contrasts"][0]["segm_AP"]
            out[size]["atss_maiou"][i].update(
                gain=gain["delta"],
                gain_lo=gain["lo"],
                gain_hi=gain["hi"],
                gain_excludes_0=gain["excludes_0"],
            )
    return edges, out


def write_csv(path: Path, per_size: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "size",
                "ratio_low",
                "ratio_high",
                "num_gts",
                "AP_atss_iou",
                "AP_atss_maiou",
                "gain_points",
                "AP_atss_iou_lo",
                "AP_atss_iou_hi",
                "AP_atss_maiou_lo",
                "AP_atss_maiou_hi",
                "gain_lo",
                "gain_hi",
                "gain_excludes_0",
            ]
        )
        for size, by_assigner in per_size.items():
            for iou_bin, maiou_bin in zip(by_assigner["atss_iou"], by_assigner["atss_maiou"]):
                ap_iou, ap_maiou = iou_bin["AP"], maiou_bin["AP"]
                gain = None if ap_iou is None or ap_maiou is None else 100 * (ap_maiou - ap_iou)
                excl = maiou_bin.get("gain_excludes_0")
                writer.writerow(
                    [
                        size,
                        f"{iou_bin['low']:.3f}",
                        f"{iou_bin['high']:.3f}",
                        iou_bin["num_gts"],
                        _fmt(ap_iou),
                        _fmt(ap_maiou),
                        "" if gain is None else f"{gain:.2f}",
                        _fmt(iou_bin.get("AP_lo")),
                        _fmt(iou_bin.get("AP_hi")),
                        _fmt(maiou_bin.get("AP_lo")),
                        _fmt(maiou_bin.get("AP_hi")),
                        _fmt(maiou_bin.get("gain_lo")),
                        _fmt(maiou_bin.get("gain_hi")),
                        "" if excl is None else excl,
                    ]
                )


def _fmt(ap):
    return "" if ap is None else f"{100 * ap:.2f}"


def _bars(values, bins, lo_key: str, hi_key: str) -> np.ndarray:
    """(2, n) error-bar lengths below / above ``values`` (points) from the bins' intervals
    (fractions); 0 where a bin has none."""
    out = np.zeros((2, len(values)))
    for j, (v, b) in enumerate(zip(values, bins)):
        if np.isfinite(v) and b.get(lo_key) is not None:
            out[:, j] = max(0.0, v - 100 * b[lo_key]), max(0.0, 100 * b[hi_key] - v)
    return out


def plot(preset: str, edges, per_size: dict, path: Path) -> None:
    fig, (ax_ap, ax_gain) = plt.subplots(1, 2, figsize=(11, 4.4))
    labels = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges, edges[1:])]
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(per_size))
    for k, (size, by_assigner) in enumerate(per_size.items()):
        for assigner, style in (("atss_iou", "--"), ("atss_maiou", "-")):
            bins = by_assigner[assigner]
            ap = [np.nan if b["AP"] is None else 100 * b["AP"] for b in bins]
            ax_ap.errorbar(
                x,
                ap,
                yerr=_bars(ap, bins, "AP_lo", "AP_hi"),
                fmt=style,
                color=COLOURS[assigner],
                marker=MARKERS[size],
                capsize=3,
                label=f"{assigner} {size}",
            )
        maiou_bins = by_assigner["atss_maiou"]
        gain = [
            np.nan if a["AP"] is None or b["AP"] is None else 100 * (b["AP"] - a["AP"])
            for a, b in zip(by_assigner["atss_iou"], maiou_bins)
        ]
        ax_gain.bar(
            x + (k - (len(per_size) - 1) / 2) * width,
            gain,
            width,
            label=str(size),
            yerr=_bars(gain, maiou_bins, "gain_lo", "gain_hi"),
            capsize=3,
            color=plt.cm.viridis(k / max(1, len(per_size) - 1)),
        )
    if per_size:
        counts = next(iter(per_size.values()))["atss_iou"]
        labels = [f"{label}\n({b['num_gts']} GTs)" for label, b in zip(labels, counts)]
    for ax in (ax_ap, ax_gain):
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_xlabel("ground truths' mask area / box area")
        ax.grid(alpha=0.3, axis="y")
    ax_ap.set_ylabel("mask AP (%)")
    ax_ap.set_title("mask AP per bin (dashed: IoU, solid: maIoU)", fontsize=9)
    ax_gain.axhline(0, color="k", lw=0.8)
    ax_gain.set_ylabel("maIoU - IoU (AP points)")
    ax_gain.set_title(
        "gain of ATSS w. maIoU over ATSS w. IoU (bars: 95 % paired bootstrap "
        "interval over the val images)",
        fontsize=8,
    )
    if per_size:
        ax_ap.legend(fontsize=7)
        ax_gain.legend(fontsize=7, title="size", title_fontsize=7)
    else:
        for ax in (ax_ap, ax_gain):
            ax.text(
                0.5,
                0.5,
                "no atss_iou / atss_maiou pair among the runs",
                ha="center",
                transform=ax.transAxes,
                fontsize=8,
            )
    where = presets.get(preset).evaluated_on
    fig.suptitle(f"Does maIoU help most where the box says least? — {where}", fontsize=10)
    fig.tight_layout()
    save_atomic(fig, path)


@entry_point("plot_ratio_gain")
def main(argv=None) -> int:
    parser = results_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--bins", type=int, default=4, help="ratio bins (equal ground-truth counts)"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    parser.add_argument("--out", required=True, type=Path, help="PNG; the CSV goes beside it")
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error(f"--resamples must be at least 1, got {args.resamples}")
    sizes = pairs(args.runs, args.results, args.seeds)
    edges, per_size = (
        measure(args.results, sizes, args.bins, args.resamples, args.seed, args.seeds)
        if sizes
        else ([0.0, 1.0], {})
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(args.preset, edges, per_size, args.out)
    write_csv(args.out.with_suffix(".csv"), per_size)
    print(f"{args.out}: {len(sizes)} size(s) with an IoU/maIoU pair, bin edges {edges}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
