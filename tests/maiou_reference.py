"""Brute-force maIoU straight from the definition (pixel counting), for tests only."""

import math

import numpy as np


def round_half_even(value: float) -> int:
    """torch.round's rounding of a float32 coordinate."""
    return int(np.round(np.float32(value)))


def brute_force_maiou(gt_bboxes, gt_masks, bboxes) -> np.ndarray:
    """(G, N) float64 maIoU by counting mask pixels pair by pair (no integral images)."""
    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float32)
    bboxes = np.asarray(bboxes, dtype=np.float32)
    masks = np.asarray(gt_masks) != 0
    num_gts, height, width = masks.shape
    out = np.zeros((num_gts, len(bboxes)))
    for i in range(num_gts):
        bx1, by1, bx2, by2 = (float(v) for v in gt_bboxes[i])
        box_area = (bx2 - bx1) * (by2 - by1)
        mask_pixels = int(masks[i].sum())
        if mask_pixels == 0:
            continue
        mob = mask_pixels / (box_area + 1e-6)
        for j, (ax1, ay1, ax2, ay2) in enumerate(bboxes.tolist()):
            inter = max(0.0, min(bx2, ax2) - max(bx1, ax1)) * max(
                0.0, min(by2, ay2) - max(by1, ay1)
            )
            union = max(box_area + (ax2 - ax1) * (ay2 - ay1) - inter, 1e-6)
            if not inter / union > 0:
                continue
            x1 = max(round_half_even(ax1), 0)
            y1 = max(round_half_even(ay1), 0)
            x2 = min(round_half_even(ax2), width)
            y2 = min(round_half_even(ay2), height)
            count = 0
            for row in range(max(y1, 0), min(y2, height)):
                for col in range(max(x1, 0), min(x2, width)):
                    count += bool(masks[i, row, col])
            out[i, j] = (count / mob) / union
            assert math.isfinite(out[i, j])
    return out
