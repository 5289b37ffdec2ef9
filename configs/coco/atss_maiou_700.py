"""Run atss-maiou-700: YOLACT, ATSS with maIoU, 700 x 700, ResNet-50, 4 GPUs x 8 images, 55
epochs.

Its published numbers: maiou/runs.py.
"""

_base_ = [
    "./_base_/models/yolact_r50_atss_maiou.py",
    "./_base_/datasets/coco_instance_700.py",
    "./_base_/schedules/sgd_step_55e.py",
    "./_base_/default_runtime.py",
]
