"""COCO evaluation: AP/AR and optimal LRP (oLRP) as the maIoU authors report it."""

from .by_ratio import mask_ap_by_ratio, ratio_bin_edges
from .coco_metrics import STAT_KEYS, coco_metrics
from .olrp import (
    coco_gt_from_dict,
    evaluate_coco,
    load_coco_gt,
    load_results,
    olrp_from_cocoeval,
    optimal_lrp,
)

__all__ = [
    "STAT_KEYS",
    "coco_gt_from_dict",
    "coco_metrics",
    "evaluate_coco",
    "load_coco_gt",
    "load_results",
    "mask_ap_by_ratio",
    "olrp_from_cocoeval",
    "optimal_lrp",
    "ratio_bin_edges",
]
