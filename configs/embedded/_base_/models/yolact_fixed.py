"""Embedded YOLACT, fixed-IoU assigner.

The COCO model (yolact_r50_fixed.py) shrunk for a CPU; assigner, anchors and losses are
inherited unchanged, so the embedded runs differ from one another exactly as the COCO
runs do. A toy benchmark: its numbers are not the paper's.
"""

import os

_base_ = "../../../coco/_base_/models/yolact_r50_fixed.py"

# The CPU shrink, identical in every embedded model file (tests check); why:
# yolact_atss_iou.py.
# Only in this (fixed-IoU) file: the anchors stay laid out for the middle input size at
# every size, as on COCO (550-based strides there). Same rule as on COCO -- stride = base
# size / feature-map side, side = ceil(base size / nominal stride) -- with base size 128:
# sides 16/8/4/2/1, i.e. strides 8/16/32/64/128 (550 gives 69/35/18/9/5), first centre at
# half a stride. Base sizes / scales / ratios stay those of COCO (pixels).
anchor_base_size = 128
anchor_featmap_sides = [16, 8, 4, 2, 1]

num_classes = 8  # = len(classes) in ../datasets/embedded_128.py
pretrained_backbone = (
    os.environ.get("MAIOU_EMBEDDED_ROOT", "data/embedded/").rstrip("/") + "/backbone.pth"
)
model = dict(
    backbone=dict(
        depth=50,
        base_channels=16,
        init_cfg=dict(checkpoint=pretrained_backbone),
        zero_init_residual=True,
    ),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(
        num_classes=num_classes,
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(
            strides=[anchor_base_size / n for n in anchor_featmap_sides],
            centers=[
                (anchor_base_size * 0.5 / n, anchor_base_size * 0.5 / n)
                for n in anchor_featmap_sides
            ],
        ),
    ),
    mask_head=dict(
        num_classes=num_classes, in_channels=64, proto_channels=(64, 64, 64, None, 64, 32)
    ),
    segm_head=dict(num_classes=num_classes, in_channels=64),
)
