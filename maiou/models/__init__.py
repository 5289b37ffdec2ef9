"""mmdetection components; importing this module registers them (``custom_imports``).

Registers the ATSS(-maIoU) assigners (``BBOX_ASSIGNERS``), ``MaskAwareYOLACTHead``
(``HEADS``), ``MaskAwareYOLACT`` (``DETECTORS``), the ``'carafe_portable'`` upsampler
(mmcv ``UPSAMPLE_LAYERS``), the COCO configs' ``FilterAnnotationsOrSkip`` pipeline step
(``PIPELINES``) and, for the configs' ``custom_hooks``, the training-curve check
``TrainingCurveCheckHook`` (mmcv ``HOOKS``).
"""

import maiou.data.skip_empty  # noqa: F401  (registers 'FilterAnnotationsOrSkip')
import maiou.hooks  # noqa: F401  (registers TrainingCurveCheckHook)
import maiou.ops.carafe  # noqa: F401  (registers 'carafe_portable')

from . import assigners  # noqa: F401
from .dense_heads import MaskAwareYOLACTHead
from .detectors import MaskAwareYOLACT

__all__ = ["MaskAwareYOLACTHead", "MaskAwareYOLACT"]
