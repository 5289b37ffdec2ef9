"""The CPU shrink every embedded model applies to its COCO model: the one copy.

Each file under models/ inherits its COCO model and this file, and sets
``model = {{_base_.cpu_shrink}}``: mmcv merges the shrink over the COCO model, so every
embedded run differs from another exactly as their COCO runs do (assigner, anchors,
losses, heads, DCN/CARAFE). tests/test_configs.py checks the rule for every embedded run.

ResNet-50 topology at a quarter of the width (base_channels 16 -> stage outputs
64/128/256/512) and 64-channel FPN / heads / protonet (COCO: 256); 5 FPN outputs and 32
prototypes as on COCO. Not ResNet-18: mmdet's BasicBlock rejects the DCN maYOLACT needs, and
this net is about 2x faster on a CPU. Where COCO loads ImageNet weights, every embedded run
loads a backbone pretrained on crops of its synthetic train split
(maiou/pretrain_backbone.py; the pipeline writes it next to the data, one per training
seed). zero_init_residual matters only for that pretraining, which starts from scratch:
each residual block starts near the identity instead of summing 16 random branches.
"""

import os

num_classes = 8  # = len(classes) in datasets/embedded_128.py
pretrained_backbone = (
    os.environ.get("MAIOU_EMBEDDED_ROOT", "data/embedded/").rstrip("/") + "/backbone.pth"
)
cpu_shrink = dict(
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
