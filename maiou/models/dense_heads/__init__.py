"""Dense heads; importing registers them in mmdet's ``HEADS``."""
from .yolact_head import MaskAwareYOLACTHead

__all__ = ['MaskAwareYOLACTHead']
