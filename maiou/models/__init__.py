"""mmdetection components; importing this module registers them (``custom_imports``).

Registers the ATSS(-maIoU) assigners (``BBOX_ASSIGNERS``), ``MaskAwareYOLACTHead``
(``HEADS``), ``MaskAwareYOLACT`` (``DETECTORS``) and the ``'carafe_portable'`` upsampler
(mmcv ``UPSAMPLE_LAYERS``), and the COCO configs' ``FilterAnnotationsOrSkip`` pipeline step
(``PIPELINES``).
"""
import maiou.data.skip_empty  # noqa: F401  (registers 'FilterAnnotationsOrSkip')
import maiou.ops.carafe  # noqa: F401  (registers 'carafe_portable')

from . import assigners  # noqa: F401
from .dense_heads import MaskAwareYOLACTHead
from .detectors import MaskAwareYOLACT

__all__ = ['MaskAwareYOLACTHead', 'MaskAwareYOLACT']
