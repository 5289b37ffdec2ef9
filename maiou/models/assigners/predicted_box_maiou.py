"""The overlap the dynamic maIoU assigners (task-aligned, SimOTA) put in place of the box IoU."""

from __future__ import annotations

from torch import Tensor

from ...ops.mask_aware_iou import as_mask_tensor, mask_aware_iou


def predicted_box_maiou(boxes: Tensor, gt_bboxes: Tensor, gt_masks, assigner: str) -> Tensor:
    """(N, G) maIoU of every predicted box with every ground truth, in the boxes' dtype.

    Args:
        boxes (Tensor): (N, 4) predicted boxes, x1y1x2y2 pixels.
        gt_bboxes (Tensor): (G, 4) ground-truth boxes.
        gt_masks: (G, H, W) ground-truth masks at the padded input resolution (tensor or
            mmdet masks); None is refused in one line naming ``assigner``.
        assigner (str): the calling assigner's name, for that line.
    """
    if gt_masks is None:
        raise ValueError(
            f"{assigner} needs gt_masks (the ground-truth masks at the padded input "
            "resolution); use a head that passes them, e.g. MaskAwareYOLACTHead"
        )
    masks = as_mask_tensor(gt_masks, device=boxes.device)
    return mask_aware_iou(gt_bboxes, masks, boxes).t().to(boxes.dtype)
