"""Embedded maYOLACT (ATSS with maIoU + DCNv2, CARAFE FPN, 2 anchor scales).

The COCO model (mayolact_r50.py) shrunk for a CPU; assigner, anchors and losses are
inherited unchanged, so the embedded runs differ from one another exactly as the COCO
runs do. A toy benchmark: its numbers are not the paper's.
"""
_base_ = '../../../coco/_base_/models/mayolact_r50.py'

# The CPU shrink, identical in all four embedded model files (tests check): ResNet-50
# topology at a quarter of the width (base_channels 16 -> stage outputs 64/128/256/512),
# trained from scratch, and 64-channel FPN / heads / protonet (COCO: 256). Not ResNet-18:
# mmdet's BasicBlock rejects DCN, which maYOLACT needs in the backbone, and this net is
# also about 2x faster on a CPU than ResNet-18. 5 FPN outputs and 32 prototypes as on COCO.
# From scratch, the last BN of every residual block starts at zero (zero_init_residual;
# COCO starts from ImageNet weights, so it has no such setting): with mmdet's default init the
# 16 residual branches add up to first-iteration logits in the tens, loss_cls ~45 and
# gradient norms of 1000-2300; zero-initialised, the net starts near the identity (gradient
# norm ~45) and its loss stays lower at every iteration.
num_classes = 8  # = len(classes) in ../datasets/embedded_128.py
model = dict(
    backbone=dict(depth=50, base_channels=16, init_cfg=None, zero_init_residual=True),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    bbox_head=dict(num_classes=num_classes, in_channels=64, feat_channels=64),
    mask_head=dict(
        num_classes=num_classes,
        in_channels=64,
        proto_channels=(64, 64, 64, None, 64, 32)),
    segm_head=dict(num_classes=num_classes, in_channels=64))
