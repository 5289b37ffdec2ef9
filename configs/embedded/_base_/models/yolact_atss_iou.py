"""Embedded YOLACT, ATSS with IoU.

The COCO model (yolact_r50_atss_iou.py) shrunk for a CPU; assigner, anchors and losses
are inherited unchanged, so the embedded runs differ from one another exactly as the
COCO runs do. A toy benchmark: its numbers are not the paper's.
"""
import os

_base_ = '../../../coco/_base_/models/yolact_r50_atss_iou.py'

# The CPU shrink, identical in all four embedded model files (tests check): ResNet-50
# topology at a quarter of the width (base_channels 16 -> stage outputs 64/128/256/512),
# and 64-channel FPN / heads / protonet (COCO: 256). Not ResNet-18: mmdet's BasicBlock
# rejects DCN, which maYOLACT needs in the backbone, and this net is also about 2x faster
# on a CPU than ResNet-18. 5 FPN outputs and 32 prototypes as on COCO.
# Pretrained backbone: where COCO loads ImageNet weights, every embedded run loads the same
# weights pretrained on crops of the synthetic train split's objects
# (maiou/pretrain_backbone.py; the pipeline's rule embedded_backbone writes them next to
# the dataset). That pretraining starts from scratch with the last BN of every residual
# block at zero (zero_init_residual; no effect once weights are loaded): with mmdet's default
# init the 16 residual branches add up to first-iteration outputs in the tens and gradient
# norms in the thousands; zero-initialised, the net starts near the identity.
num_classes = 8  # = len(classes) in ../datasets/embedded_128.py
pretrained_backbone = (os.environ.get('MAIOU_EMBEDDED_ROOT', 'data/embedded/').rstrip('/')
                       + '/backbone.pth')
model = dict(
    backbone=dict(depth=50, base_channels=16, init_cfg=dict(checkpoint=pretrained_backbone),
                  zero_init_residual=True),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(num_classes=num_classes, in_channels=64, feat_channels=64),
    mask_head=dict(
        num_classes=num_classes,
        in_channels=64,
        proto_channels=(64, 64, 64, None, 64, 32)),
    segm_head=dict(num_classes=num_classes, in_channels=64))
