"""Dense heads; importing registers them in mmdet's ``HEADS``."""

from .yolact_head import MaskAwareYOLACTHead
from .yolact_protonet import MaskAwareYOLACTProtonet

__all__ = ["MaskAwareYOLACTHead", "MaskAwareYOLACTProtonet"]
