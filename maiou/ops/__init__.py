"""Tensor operators: the mask-aware IoU and a device-portable CARAFE."""
from .mask_aware_iou import mask_aware_iou

__all__ = ["mask_aware_iou"]
