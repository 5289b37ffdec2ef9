"""maiou: Mask-aware IoU anchor assignment for YOLACT, as an mmdetection 2.x plugin.

``import maiou`` stays light (torch only). The mmdet components register themselves when
``maiou.models`` is imported, which configs do through ``custom_imports``.
"""
from .ops.mask_aware_iou import mask_aware_iou

__all__ = ["mask_aware_iou"]
__version__ = "0.1.0"
