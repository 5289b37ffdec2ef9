"""Run mayolact-550: maYOLACT (ATSS with maIoU + DCNv2, CARAFE, 2 scales, cosine lr), 550 x
550, ResNet-50, 4 GPUs x 8 images, 55 epochs.

Its published numbers: maiou/runs.py.
"""

_base_ = [
    "./_base_/models/mayolact_r50.py",
    "./_base_/datasets/coco_instance_550.py",
    "./_base_/schedules/sgd_cosine_55e.py",
    "./_base_/default_runtime.py",
]
