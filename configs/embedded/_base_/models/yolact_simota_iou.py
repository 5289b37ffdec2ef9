"""Embedded YOLACT, SimOTA with IoU.

The COCO model (yolact_r50_simota_iou.py) shrunk for a CPU; assigner, anchors and losses
are inherited unchanged, so the embedded runs differ from one another exactly as the
COCO runs do. A toy benchmark: its numbers are not the paper's.
"""

import os

_base_ = "../../../coco/_base_/models/yolact_r50_simota_iou.py"

# The CPU shrink, identical in every embedded model file (tests check); why:
# yolact_atss_iou.py.
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
    bbox_head=dict(num_classes=num_classes, in_channels=64, feat_channels=64),
    mask_head=dict(
        num_classes=num_classes, in_channels=64, proto_channels=(64, 64, 64, None, 64, 32)
    ),
    segm_head=dict(num_classes=num_classes, in_channels=64),
)
