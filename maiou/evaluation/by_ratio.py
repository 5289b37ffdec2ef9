"""Mask AP by the mask-over-box ratio of the objects: where does maIoU help?

The paper's hypothesis is that maIoU helps most for objects whose box says little about
where their pixels are: a low ratio of mask area to box area (thin, concave or occluded
objects). This module measures mask AP separately for ratio bins, COCO-style: exactly as
COCO's small / medium / large AP, a ground truth outside the bin is ignored (matching it
is neither a TP nor an FP) and so is an unmatched detection whose own ratio lies outside
the bin. The ratio of a detection is its mask's area over its mask's tight box, the same
definition as for the ground truths (whose boxes are tight around their masks).

pycocotools' area-range machinery does the work: each annotation's ``area`` is replaced by
its ratio (scaled) on copies, and the bins become ``areaRng``. One ``evaluate()`` covers
all bins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .olrp import MAX_DETS, load_results, quiet

__all__ = ["mask_over_box", "ratio_bin_edges", "mask_ap_by_ratio", "ratio_cocoeval"]

_SCALE = 1e6  # ratios are stored as areas scaled by this; bins end 1e-3 below the next
_EPS = 1e-3


def mask_over_box(ann: dict) -> float:
    """Mask area over box area (``area`` / ``bbox`` w*h) of one COCO annotation; 0 for an
    empty box."""
    w, h = ann["bbox"][2], ann["bbox"][3]
    return float(ann["area"]) / (w * h) if w > 0 and h > 0 else 0.0


def _ratio_as_area(coco: COCO) -> COCO:
    """A copy of ``coco`` whose annotations carry their scaled ratio as ``area``.

    Annotation dicts are copied shallowly (COCOeval only rebinds their keys), so the masks
    are shared, not duplicated.
    """
    out = COCO()
    out.dataset = dict(
        coco.dataset,
        annotations=[
            dict(ann, area=mask_over_box(ann) * _SCALE) for ann in coco.dataset["annotations"]
        ],
    )
    with quiet():
        out.createIndex()
    return out


def _gt_ratios(coco_gt: COCO, img_ids) -> np.ndarray:
    anns = coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=img_ids, iscrowd=False))
    return np.array([mask_over_box(a) for a in anns], dtype=np.float64)


def ratio_bin_edges(coco_gt: COCO, num_bins: int = 4, img_ids=None) -> list[float]:
    """Edges of ``num_bins`` bins holding about equally many (non-crowd) ground truths.

    Returns ``num_bins + 1`` increasing floats from 0 to at least 1 (the last edge covers
    every ratio). Raises ``ValueError`` when there are no ground truths.
    """
    ratios = _gt_ratios(coco_gt, img_ids if img_ids is not None else coco_gt.getImgIds())
    if ratios.size == 0:
        raise ValueError("no (non-crowd) ground truths to bin by mask-over-box ratio")
    inner = np.quantile(ratios, np.linspace(0, 1, num_bins + 1)[1:-1])
    edges = [0.0, *(round(float(e), 3) for e in inner), max(1.0, float(ratios.max()))]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"too few distinct ratios for {num_bins} bins: edges {edges}")
    return edges


def ratio_cocoeval(coco_gt: COCO, results: str | Path | list, edges, img_ids=None) -> COCOeval:
    """A segm ``COCOeval``, evaluated and accumulated, whose area ranges are the ratio bins.

    Area range ``i`` is bin ``[edges[i], edges[i+1])`` (the last bin closed); one
    ``maxDets`` of 100. Arguments as ``mask_ap_by_ratio``.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bin edges must increase, got {edges}")
    img_ids = list(coco_gt.getImgIds() if img_ids is None else img_ids)

    detections = load_results(coco_gt, results, "segm")  # areas and boxes from the masks
    E = COCOeval(_ratio_as_area(coco_gt), _ratio_as_area(detections), "segm")
    E.params.imgIds = img_ids
    E.params.maxDets = [MAX_DETS]
    last = len(edges) - 2
    E.params.areaRng = [
        [lo * _SCALE, hi * _SCALE - (_EPS if i < last else 0.0)]
        for i, (lo, hi) in enumerate(zip(edges, edges[1:]))
    ]
    E.params.areaRngLbl = [f"{lo:.3f}-{hi:.3f}" for lo, hi in zip(edges, edges[1:])]
    with quiet():
        E.evaluate()
        E.accumulate()
    return E


def mask_ap_by_ratio(
    coco_gt: COCO, results: str | Path | list, edges, img_ids=None, cocoeval: COCOeval | None = None
) -> list[dict]:
    """Mask AP (IoU 0.50:0.95, 100 detections per image) per mask-over-box-ratio bin.

    Args:
        coco_gt: ground truth with masks.
        results: segm results (path or list, validated by ``load_results``).
        edges: increasing bin edges; bin ``i`` is ``[edges[i], edges[i+1])``, the last bin
            closed.
        img_ids: the images to evaluate (default: all of ``coco_gt``).
        cocoeval: the ``ratio_cocoeval`` of these arguments when the caller has it already
            (it is then not evaluated again).

    Returns:
        One dict per bin: ``low``, ``high``, ``num_gts`` (non-crowd ground truths in the
        bin) and ``AP`` (fraction in [0, 1], None where the bin has no ground truth).
    """
    E = cocoeval if cocoeval is not None else ratio_cocoeval(coco_gt, results, edges, img_ids)
    edges = [float(e) for e in edges]
    img_ids = list(coco_gt.getImgIds() if img_ids is None else img_ids)
    last = len(edges) - 2
    ratios = _gt_ratios(coco_gt, img_ids)
    bins = []
    for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
        in_bin = (ratios >= lo) & ((ratios <= hi) if i == last else (ratios < hi))
        precision = E.eval["precision"][:, :, :, i, 0]  # (IoU thresholds, recall, classes)
        valid = precision[precision > -1]
        bins.append(
            {
                "low": lo,
                "high": hi,
                "num_gts": int(in_bin.sum()),
                "AP": float(valid.mean()) if valid.size and in_bin.any() else None,
            }
        )
    return bins
