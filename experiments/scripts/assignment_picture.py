"""The paper's teaser idea on real data: positive anchors of one occluded / thin object under
ATSS with IoU and ATSS with maIoU, side by side.

    python -m experiments.scripts.assignment_picture configs/embedded/<ATSS-maIoU run>.py \
        --out reports/assignment_iou_vs_maiou.png [--max-images 200]

Reads the config's test split (the configs take their data root from MAIOU_EMBEDDED_ROOT /
MAIOU_COCO_ROOT), resizes each image to the config's test size as the training pipeline
would, lays out the config's anchors and runs mmdet's ``ATSSAssigner`` and our
``ATSSmaIoUAssigner`` (both top-9) on its ground truths. Among the first ``--max-images``
images it shows the ground truth where the assigners differ most in positives on / off the
object's pixels (IoU positives centred off the mask that maIoU drops, maIoU positives
centred on it that IoU lacks), weighted towards a low
mask-over-box ratio: the box, the mask, and every positive anchor (its box, and its centre
green on the mask, red off it). Saved to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from experiments.scripts.plot_results import plt, save_atomic
from maiou.utils.cli import UserError, entry_point


def load_split(cfg):
    """(COCO ground truth, image folder) of the config's test split."""
    from maiou.evaluation import load_coco_gt

    return load_coco_gt(cfg.data.test.ann_file), Path(cfg.data.test.img_prefix)


def anchors_of(cfg, height: int, width: int):
    """(N, 4) anchors of the config's head at an input of height x width, and per-level counts."""
    from mmdet.core.anchor import build_prior_generator

    generator = build_prior_generator(cfg.model.bbox_head.anchor_generator)
    sizes = [(math.ceil(height / s), math.ceil(width / s)) for s, _ in generator.strides]
    levels = generator.grid_priors(sizes, device="cpu")
    return torch.cat(levels), [len(level) for level in levels]


def instance_targets(coco, image_dir: Path, image_id: int, height: int, width: int):
    """Image and non-crowd ground truths resized to height x width (keep_ratio False).

    Returns (image (H, W, 3) uint8 RGB, boxes (G, 4) float32 x1y1x2y2, masks (G, H, W) bool).
    """
    info = coco.loadImgs(image_id)[0]
    path = image_dir / info["file_name"]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    sx, sy = width / info["width"], height / info["height"]
    image = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)[..., ::-1]
    anns = [
        a
        for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False))
        if a["bbox"][2] > 0 and a["bbox"][3] > 0
    ]
    boxes = np.array(
        [
            [
                a["bbox"][0] * sx,
                a["bbox"][1] * sy,
                (a["bbox"][0] + a["bbox"][2]) * sx,
                (a["bbox"][1] + a["bbox"][3]) * sy,
            ]
            for a in anns
        ],
        np.float32,
    ).reshape(-1, 4)
    masks = (
        np.stack(
            [
                cv2.resize(coco.annToMask(a), (width, height), interpolation=cv2.INTER_NEAREST)
                for a in anns
            ]
        ).astype(bool)
        if anns
        else np.zeros((0, height, width), bool)
    )
    return np.ascontiguousarray(image), boxes, masks


def positives(assigner, anchors, level_counts, boxes, masks, with_masks: bool):
    """(N,) 0-based ground-truth index of each anchor, -1 for negatives."""
    gt = torch.from_numpy(boxes)
    kwargs = {"gt_masks": torch.from_numpy(masks)} if with_masks else {}
    result = assigner.assign(anchors, level_counts, gt, None, None, **kwargs)
    return result.gt_inds.numpy() - 1


def centres_on_mask(anchors, mask) -> np.ndarray:
    """(N,) whether each anchor's centre pixel lies on ``mask`` (False outside the image)."""
    cx = ((anchors[:, 0] + anchors[:, 2]) / 2).floor().long().numpy()
    cy = ((anchors[:, 1] + anchors[:, 3]) / 2).floor().long().numpy()
    inside = (cx >= 0) & (cy >= 0) & (cx < mask.shape[1]) & (cy < mask.shape[0])
    on = np.zeros(len(cx), bool)
    on[inside] = mask[cy[inside], cx[inside]]
    return on


def mask_over_box(g, boxes, masks) -> float:
    """Mask pixels over box area (pixels, at least 1) of ground truth ``g``."""
    box_area = float((boxes[g, 2] - boxes[g, 0]) * (boxes[g, 3] - boxes[g, 1]))
    return float(masks[g].sum()) / max(1.0, box_area)


def disagreement(g, anchors, boxes, masks, by_iou, by_maiou) -> float:
    """What the paper's teaser shows: anchors IoU makes positive off the object's pixels
    that maIoU does not, plus anchors on its pixels that only maIoU makes positive,
    weighted towards ground truths whose mask fills little of their box."""
    on = centres_on_mask(anchors, masks[g])
    only_iou, only_maiou = (by_iou == g) & (by_maiou != g), (by_maiou == g) & (by_iou != g)
    ratio = mask_over_box(g, boxes, masks)
    return int((only_iou & ~on).sum() + (only_maiou & on).sum()) * (1.5 - min(ratio, 1.0))


def draw(ax, image, anchors, box, mask, positive, title):
    ax.imshow(image)
    overlay = np.zeros((*mask.shape, 4))
    overlay[mask] = (0.1, 0.5, 1.0, 0.35)
    ax.imshow(overlay)
    x1, y1, x2, y2 = box
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="yellow", lw=2))
    on = centres_on_mask(anchors, mask)
    for a, inside in zip(anchors[positive].numpy(), on[positive]):
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        colour = "lime" if inside else "red"
        ax.add_patch(
            plt.Rectangle(
                (a[0], a[1]), a[2] - a[0], a[3] - a[1], fill=False, color=colour, lw=0.8, alpha=0.8
            )
        )
        ax.plot(cx, cy, "o", color=colour, ms=4, mec="k", mew=0.5)
    on_mask = int((on & positive).sum())
    count = int(positive.sum())
    ax.set_title(f"{title}: {count} positive anchor(s), {on_mask} centred on the mask", fontsize=9)
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.axis("off")


@entry_point("assignment_picture")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="an ATSS-maIoU config (its anchors and test size are used)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--max-images", type=int, default=200)
    args = parser.parse_args(argv)

    from mmdet.core.bbox import build_assigner

    import maiou.models  # noqa: F401  (registers ATSSmaIoUAssigner)
    from maiou.engine.config import inference_image_size, load_config

    cfg = load_config(args.config)
    height, width = inference_image_size(cfg)
    maiou_assigner = build_assigner(cfg.model.train_cfg.assigner)
    if type(maiou_assigner).__name__ != "ATSSmaIoUAssigner":
        raise UserError(
            f"{args.config}: train_cfg.assigner is {type(maiou_assigner).__name__}, "
            "give an ATSS-maIoU config"
        )
    iou_assigner = build_assigner(dict(type="ATSSAssigner", topk=maiou_assigner.topk))
    anchors, level_counts = anchors_of(cfg, height, width)
    coco, image_dir = load_split(cfg)

    chosen, best = None, -1.0
    for image_id in coco.getImgIds()[: args.max_images]:
        image, boxes, masks = instance_targets(coco, image_dir, image_id, height, width)
        if not len(boxes):
            continue
        by_iou = positives(iou_assigner, anchors, level_counts, boxes, masks, with_masks=False)
        by_maiou = positives(maiou_assigner, anchors, level_counts, boxes, masks, with_masks=True)
        for g in range(len(boxes)):
            score = disagreement(g, anchors, boxes, masks, by_iou, by_maiou)
            if score > best:
                chosen, best = (image_id, g, boxes, masks, by_iou, by_maiou, image), score

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
    if chosen is None:
        for ax in axes:
            ax.text(
                0.5, 0.5, "no ground truth in the images read", ha="center", transform=ax.transAxes
            )
            ax.axis("off")
    else:
        image_id, g, boxes, masks, by_iou, by_maiou, image = chosen
        draw(axes[0], image, anchors, boxes[g], masks[g], by_iou == g, "ATSS w. IoU")
        draw(axes[1], image, anchors, boxes[g], masks[g], by_maiou == g, "ATSS w. maIoU")
        ratio = mask_over_box(g, boxes, masks)
        fig.suptitle(
            f"{Path(args.config).stem}: image {image_id} at {width} x {height}, "
            f"one ground truth (yellow box, blue mask; mask/box {ratio:.2f}), "
            "chosen where the assigners differ most\n"
            "in positives on / off the object's pixels — anchor centres on the mask "
            "in green, off it in red",
            fontsize=9,
        )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(fig, args.out)
    print(
        f"{args.out}: "
        + ("nothing to show" if chosen is None else f"image {chosen[0]}, ground truth {chosen[1]}")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
