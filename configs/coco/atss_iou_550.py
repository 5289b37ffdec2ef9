"""Run atss-iou-550: YOLACT, ATSS with IoU, 550 x 550, ResNet-50, 4 GPUs x 8 images, 55
epochs.

Its published numbers: maiou/runs.py.
"""

_base_ = [
    "./_base_/models/yolact_r50_atss_iou.py",
    "./_base_/datasets/coco_instance_550.py",
    "./_base_/schedules/sgd_step_55e.py",
    "./_base_/default_runtime.py",
]
