"""Embedded maYOLACT (ATSS with maIoU + DCNv2, CARAFE FPN, 2 anchor scales).

Its COCO model (mayolact_r50.py) with the CPU shrink of ../cpu_shrink.py; assigner,
anchors and losses are inherited unchanged. A toy benchmark: its numbers are not the
paper's.
"""

_base_ = ["../../../coco/_base_/models/mayolact_r50.py", "../cpu_shrink.py"]
model = {{_base_.cpu_shrink}}
