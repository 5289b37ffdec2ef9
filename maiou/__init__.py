"""maiou: Mask-aware IoU anchor assignment for YOLACT, as an mmdetection 2.x plugin.

``import maiou`` is light: ``mask_aware_iou`` (and with it torch) loads on first use, so
that ``maiou.runs`` can be read by the workflow without torch. The mmdet components register
themselves when ``maiou.models`` is imported, which configs do through ``custom_imports``.
"""

import importlib

__all__ = ["mask_aware_iou"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "mask_aware_iou":
        return importlib.import_module(".ops.mask_aware_iou", __name__).mask_aware_iou
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
