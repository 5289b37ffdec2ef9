"""Embedded YOLACT, SimOTA with IoU.

Its COCO model (yolact_r50_simota_iou.py) with the CPU shrink of ../cpu_shrink.py; assigner,
anchors and losses are inherited unchanged. A toy benchmark: its numbers are not the
paper's.
"""

_base_ = ["../../../coco/_base_/models/yolact_r50_simota_iou.py", "../cpu_shrink.py"]
model = {{_base_.cpu_shrink}}
