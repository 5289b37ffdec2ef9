"""Tensor operators: the mask-aware IoU and a device-portable CARAFE."""

from .mask_aware_iou import mask_aware_iou, mask_aware_iou_pairs

__all__ = ["mask_aware_iou", "mask_aware_iou_pairs"]
