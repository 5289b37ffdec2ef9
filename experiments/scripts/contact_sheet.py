"""Contact sheet of the synthetic embedded dataset: images with masks, boxes and names, and
histograms of the mask-over-box ratio and the occluded fraction of all annotations.

    python -m experiments.scripts.contact_sheet --data DIR [--split val] [--num 16]
        [--out reports/embedded_contact_sheet.png] [--seed 0]

If DIR holds no complete dataset, one is generated there with ``--seed`` and the default
sizes of :mod:`maiou.data.synthetic`; a complete one is used as it is, whatever its
parameters. The PNG is written atomically (temp file, then rename).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from maiou.data.synthetic import generate_dataset, read_marker  # noqa: E402
from maiou.utils.atomic import atomic_path  # noqa: E402
from maiou.utils.cli import entry_point  # noqa: E402

# One fixed colour per category id (tab10 without grey, which would vanish on backgrounds).
_PALETTE = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]


def mask_box_ratio(annotation: dict) -> float:
    """Visible mask area over tight box area (both pixels) of one COCO annotation, in (0, 1]."""
    _, _, w, h = annotation["bbox"]
    return annotation["area"] / float(w * h)


def _overlay(image: np.ndarray, annotations: list[dict]) -> np.ndarray:
    """(H, W, 3) float image in [0, 1]: each visible mask tinted in its category colour, with
    its outline drawn opaque so that touching instances stay distinguishable."""
    out = image.astype(np.float64) / 255.0
    for ann in annotations:
        m = mask_utils.decode(ann["segmentation"]).astype(bool)
        colour = np.array(_PALETTE[(ann["category_id"] - 1) % len(_PALETTE)])
        out[m] = 0.65 * out[m] + 0.35 * colour
        # Outline: mask pixels with a 4-neighbour outside the mask.
        inner = m.copy()
        inner[1:, :] &= m[:-1, :]
        inner[:-1, :] &= m[1:, :]
        inner[:, 1:] &= m[:, :-1]
        inner[:, :-1] &= m[:, 1:]
        out[m & ~inner] = colour
    return out


def render(data_dir, split: str = "val", num: int = 16, out_path=None):
    """Draw the sheet for ``num`` images (the first ones) of ``split`` and return the figure;
    when ``out_path`` is given also save it there atomically as PNG."""
    data_dir = Path(data_dir)
    coco = json.loads((data_dir / "annotations" / f"instances_{split}.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    group = {c["id"]: c["supercategory"] for c in coco["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)

    images = coco["images"][:num]
    cols = math.ceil(math.sqrt(max(len(images), 1)))
    rows = max(math.ceil(len(images) / cols), 2)
    fig = plt.figure(figsize=(2.3 * cols + 5.5, 2.3 * rows + 0.4), dpi=100)
    outer = fig.add_gridspec(
        1, 2, width_ratios=[cols, 2.4], wspace=0.12, left=0.01, right=0.99, top=0.94, bottom=0.06
    )
    grid = outer[0].subgridspec(rows, cols, wspace=0.05, hspace=0.14)
    side = outer[1].subgridspec(2, 1, hspace=0.35)

    for k, info in enumerate(images):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        image = np.asarray(Image.open(data_dir / split / info["file_name"]).convert("RGB"))
        anns = by_image.get(info["id"], [])
        ax.imshow(_overlay(image, anns), interpolation="nearest")
        for ann in anns:
            x, y, w, h = ann["bbox"]
            colour = _PALETTE[(ann["category_id"] - 1) % len(_PALETTE)]
            # Pixel (col, row) is centred on (col, row) in imshow coordinates, so a COCO box
            # [x, y, w, h] covers x - 0.5 .. x + w - 0.5.
            ax.add_patch(
                Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor=colour, linewidth=1.2)
            )
            ax.text(
                x - 0.5,
                y - 0.5,
                names[ann["category_id"]],
                fontsize=6,
                color="white",
                va="bottom",
                ha="left",
                clip_on=True,
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
            )
        ax.set_title(f"{info['file_name']}  ({len(anns)} inst.)", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])

    anns = coco["annotations"]
    ratio = np.array([mask_box_ratio(a) for a in anns])
    occluded = np.array([a.get("occluded_fraction", 0.0) for a in anns])
    groups = np.array([group[a["category_id"]] for a in anns])
    labels = sorted(set(groups.tolist()))
    ax = fig.add_subplot(side[0])
    bins = np.linspace(0, 1, 21)
    ax.hist(
        [ratio[groups == g] for g in labels],
        bins=bins,
        stacked=True,
        label=labels,
        color=["tab:blue", "tab:orange"][: len(labels)],
    )
    med = float(np.median(ratio)) if len(ratio) else float("nan")
    ax.axvline(med, color="k", linestyle="--", linewidth=1)
    ax.set_title("mask area / box area, all annotations", fontsize=9)
    ax.set_xlabel("ratio", fontsize=8)
    ax.set_ylabel("annotations", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, title="supercategory", title_fontsize=7, loc="upper left")
    ax.text(
        0.98,
        0.97,
        f"n = {len(ratio)}\nmedian = {med:.2f}\nratio < 0.4: {np.mean(ratio < 0.4):.0%}",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=8,
    )

    ax = fig.add_subplot(side[1])
    ax.hist(occluded, bins=bins, color="tab:gray")
    ax.set_title("occluded fraction of the in-image object", fontsize=9)
    ax.set_xlabel("1 - visible / full area", fontsize=8)
    ax.set_ylabel("annotations", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.text(
        0.98,
        0.97,
        f"occluded > 5%: {np.mean(occluded > 0.05):.0%}\n"
        f"occluded > 25%: {np.mean(occluded > 0.25):.0%}",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=8,
    )

    params = coco.get("info", {}).get("params", {})
    fig.suptitle(
        f"synthetic embedded dataset, {split} split ({len(coco['images'])} images)   "
        + "  ".join(
            f"{k}={v}"
            for k, v in params.items()
            if k in ("seed", "image_size", "num_train", "num_val")
        ),
        fontsize=10,
        y=0.99,
    )
    if out_path is not None:
        with atomic_path(out_path) as tmp:
            fig.savefig(tmp, format="png")
    return fig


@entry_point("contact_sheet")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset directory (generated if incomplete)")
    parser.add_argument("--split", default="val", choices=["train", "val"])
    parser.add_argument("--num", type=int, default=16, help="images on the sheet")
    parser.add_argument("--out", default="reports/embedded_contact_sheet.png")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed used only when DIR must be generated"
    )
    args = parser.parse_args(argv)
    if read_marker(args.data) is None:
        generate_dataset(args.data, args.seed)
    fig = render(args.data, args.split, args.num, args.out)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
