"""The published maIoU computation, re-implemented faithfully as a speed/memory baseline.

Same algorithm as the authors' ``ATSSmaIoUAssigner.maiou_calculator`` (Mask-aware-IoU
repository, mmdet fork): one integral image per ground truth over the whole padded image,
built for all ground truths at once (G x (H+1) x (W+1)), then a Python loop over ground
truths that fetches rectangle sums with list indices. The only change is device-generic
tensor types instead of ``torch.cuda.*Tensor``. Ground truths with empty masks give NaN,
as in the original.
"""

import torch


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
