"""Run atss-maiou-550: YOLACT, ATSS with maIoU, 550 x 550, ResNet-50, 4 GPUs x 8 images, 55
epochs.

Paper: 30.4 / 73.7 mask AP / mask oLRP (%) on COCO val2017.
"""

_base_ = [
    "./_base_/models/yolact_r50_atss_maiou.py",
    "./_base_/datasets/coco_instance_550.py",
    "./_base_/schedules/sgd_step_55e.py",
    "./_base_/default_runtime.py",
]
