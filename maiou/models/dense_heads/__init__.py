"""Dense heads; importing registers them in mmdet's ``HEADS``."""

from .task_aligned_yolact_head import TaskAlignedYOLACTHead
from .yolact_head import MaskAwareYOLACTHead
from .yolact_protonet import MaskAwareYOLACTProtonet

__all__ = ["MaskAwareYOLACTHead", "MaskAwareYOLACTProtonet", "TaskAlignedYOLACTHead"]
