"""Detectors; importing registers them in mmdet's ``DETECTORS``."""

from .yolact import MaskAwareYOLACT

__all__ = ["MaskAwareYOLACT"]
