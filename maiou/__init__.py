"""maiou: Mask-aware IoU anchor assignment for YOLACT, as an mmdetection 2.x plugin.

Layout, by kind:

* commands, run as ``python -m maiou.<name>``: ``train``, ``evaluate``,
  ``pretrain_backbone``, ``rundir`` (a run's folders; ``prepare`` is its command);
  ``runs`` is the run registry every other part reads;
* ``engine/``: what the commands are built from (config, batch, checkpoints, device);
* ``utils/``: small helpers (atomic writes, one-line errors, file digests, shared stores);
* the method and its measurement: ``ops/`` (maIoU, CARAFE, deformable convolution),
  ``models/`` (assigners, heads, detectors), ``hooks/``, ``evaluation/``, ``data/``.

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
