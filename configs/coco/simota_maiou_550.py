"""Run simota-maiou-550: YOLACT, SimOTA with maIoU, 550 x 550, ResNet-50, 4 GPUs x
8 images, 55 epochs: the ATSS w. maIoU run at 550 with YOLOX's SimOTA.

Not in the paper: no published numbers.
"""

_base_ = [
    "./_base_/models/yolact_r50_simota_maiou.py",
    "./_base_/datasets/coco_instance_550.py",
    "./_base_/schedules/sgd_step_55e.py",
    "./_base_/default_runtime.py",
]
