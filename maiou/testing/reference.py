"""Reference maIoU implementations the tests check ours against (and the benchmarks time
ours against):

* :func:`brute_force_maiou`: straight from the definition, counting pixels pair by pair;
* :func:`published_mask_aware_iou`: the published computation, re-implemented faithfully.
  Same algorithm as the authors' ``ATSSmaIoUAssigner.maiou_calculator`` (Mask-aware-IoU
  repository, mmdet fork): one integral image per ground truth over the whole padded
  image, built for all ground truths at once (G x (H+1) x (W+1)), then a Python loop over
  ground truths that fetches rectangle sums with list indices. The only change is
  device-generic tensor types instead of ``torch.cuda.*Tensor``. Ground truths with empty
  masks give NaN, as in the original.
"""

import math

import numpy as np
import torch


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


def published_mask_aware_iou(bboxes1, bboxes2, gt_masks, eps=1e-6):
    """(G, N) maIoU of gt boxes ``bboxes1`` (G, 4) with masks (G, H, W) and anchors (N, 4)."""
    rows, cols = bboxes1.size(0), bboxes2.size(0)
    if rows * cols == 0:
        return bboxes1.new_zeros(rows, cols)
    lt = torch.max(bboxes1[:, None, :2], bboxes2[:, :2])
    rb = torch.min(bboxes1[:, None, 2:], bboxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    intersection = wh[:, :, 0] * wh[:, :, 1]
    area1 = (bboxes1[:, 2] - bboxes1[:, 0]) * (bboxes1[:, 3] - bboxes1[:, 1])
    area2 = (bboxes2[:, 2] - bboxes2[:, 0]) * (bboxes2[:, 3] - bboxes2[:, 1])
    union = area1[:, None] + area2 - intersection
    eps = union.new_tensor([eps])
    union = torch.max(union, eps)
    ious = intersection / union

    larger_ind = ious > 0.0
    overlap = bboxes1.new_zeros(rows, cols)
    all_gt_masks = gt_masks.bool()
    gt_number, image_h, image_w = all_gt_masks.size()
    integral_images = _integral_image_compute(all_gt_masks, gt_number, image_h, image_w).float()
    mob_ratio = integral_images[:, -1, -1] / (area1 + eps)
    for i in range(gt_number):
        all_boxes = torch.round(bboxes2[larger_ind[i]].clone()).int()
        all_boxes = torch.clamp(all_boxes, min=0)
        all_boxes[:, 2] = torch.clamp(all_boxes[:, 2], max=image_w)
        all_boxes[:, 3] = torch.clamp(all_boxes[:, 3], max=image_h)
        overlap[i, larger_ind[i]] = (
            _integral_image_fetch(integral_images[i], all_boxes) / mob_ratio[i]
        )
    return overlap / union


def _integral_image_compute(masks, gt_number, h, w):
    pad_row = torch.zeros([gt_number, 1, w], dtype=torch.bool, device=masks.device)
    pad_col = torch.zeros([gt_number, h + 1, 1], dtype=torch.bool, device=masks.device)
    return torch.cumsum(
        torch.cumsum(torch.cat([pad_col, torch.cat([pad_row, masks], dim=1)], dim=2), dim=1), dim=2
    )


def _integral_image_fetch(mask, bboxes):
    tlx, tly = bboxes[:, 0].tolist(), bboxes[:, 1].tolist()
    brx, bry = bboxes[:, 2].tolist(), bboxes[:, 3].tolist()
    return mask[bry, brx] + mask[tly, tlx] - mask[tly, brx] - mask[bry, tlx]
