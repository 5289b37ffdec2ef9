"""Embedded YOLACT, fixed-IoU assigner, before its anchor layout (yolact_fixed.py).

Its COCO model (yolact_r50_fixed.py) with the CPU shrink of ../cpu_shrink.py.
"""

_base_ = ["../../../coco/_base_/models/yolact_r50_fixed.py", "../cpu_shrink.py"]
model = {{_base_.cpu_shrink}}
