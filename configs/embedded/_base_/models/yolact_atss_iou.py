"""Embedded YOLACT, ATSS with IoU.

The COCO model (yolact_r50_atss_iou.py) shrunk for a CPU; assigner, anchors and losses
are inherited unchanged, so the embedded runs differ from one another exactly as the
COCO runs do. A toy benchmark: its numbers are not the paper's.
"""

import os

_base_ = "../../../coco/_base_/models/yolact_r50_atss_iou.py"

# The CPU shrink, identical in every embedded model file (tests check), stated here
# once. ResNet-50 topology at a quarter of the width (base_channels 16 -> stage outputs
# 64/128/256/512) and 64-channel FPN / heads / protonet (COCO: 256); 5 FPN outputs and 32
# prototypes as on COCO. Not ResNet-18: mmdet's BasicBlock rejects the DCN maYOLACT needs,
# and this net is about 2x faster on a CPU. Where COCO loads ImageNet weights, every
# embedded run loads the same backbone pretrained on crops of the synthetic train split
# (maiou/pretrain_backbone.py; the pipeline writes it next to the dataset).
# zero_init_residual matters only for that pretraining, which starts from scratch: each
# residual block starts near the identity instead of summing 16 random branches.
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
