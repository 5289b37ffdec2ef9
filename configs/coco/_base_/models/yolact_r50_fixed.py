"""YOLACT, ResNet-50 FPN, fixed-IoU (max-IoU) anchor assignment: the paper's baseline.

Source of every value: docs/paper-facts.md ("Shared by all nine assigner x size runs" and
"What differs between the assigners / Fixed IoU"). The image size is set
by the dataset base, not here: as in the published runs, the fixed-IoU anchors stay
550-based at every input size.
"""

import os

custom_imports = dict(imports=["maiou.models"], allow_failed_imports=False)

# torchvision's ImageNet ResNet-50, the file `torchvision://resnet50` gave the authors'
# stack (resnet50-19c8e357.pth), read from disk: training never downloads (cluster compute
# nodes are usually offline); the pipeline's imagenet_backbone rule fetches it beforehand.
# MAIOU_RESNET50 names another location.
resnet50_checkpoint = os.environ.get("MAIOU_RESNET50", "checkpoints/imagenet/resnet50-19c8e357.pth")

# Fixed-IoU anchors are laid out for a 550 x 550 input at every image size: the stride of
# a level is 550 / (its feature-map side at 550), i.e. 550/69, 550/35, 550/18, 550/9, 550/5,
# and the first centre sits at half a stride.
anchor_base_size = 550
anchor_featmap_sides = [69, 35, 18, 9, 5]

model = dict(
    type="MaskAwareYOLACT",
    backbone=dict(
        type="ResNet",
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,  # no frozen stages
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=False,  # BN statistics are trained too
        zero_init_residual=False,
        style="pytorch",
        init_cfg=dict(type="Pretrained", checkpoint=resnet50_checkpoint),
    ),
    neck=dict(
        type="FPN",
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs="on_input",
        num_outs=5,
        upsample_cfg=dict(mode="bilinear"),
    ),
    bbox_head=dict(
        type="MaskAwareYOLACTHead",
        num_classes=80,
        in_channels=256,
        feat_channels=256,
        anchor_generator=dict(
            type="AnchorGenerator",
            octave_base_scale=3,
            scales_per_octave=1,
            base_sizes=[8, 16, 32, 64, 128],
            ratios=[0.5, 1.0, 2.0],
            strides=[anchor_base_size / n for n in anchor_featmap_sides],
            centers=[
                (anchor_base_size * 0.5 / n, anchor_base_size * 0.5 / n)
                for n in anchor_featmap_sides
            ],
        ),
        bbox_coder=dict(
            type="DeltaXYWHBBoxCoder",
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[0.1, 0.1, 0.2, 0.2],
        ),
        loss_cls=dict(
            type="CrossEntropyLoss", use_sigmoid=False, reduction="none", loss_weight=1.0
        ),
        loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.5),
        num_head_convs=1,
        num_protos=32,
        use_ohem=True,
    ),
    mask_head=dict(
        # mmdet's YOLACTProtonet pasting test-time masks as the authors' fork does (OpenCV
        # bilinear per mask, then > 0.5; mmdet 2.28 uses F.interpolate and flips a few
        # pixels per million: maiou/models/dense_heads/yolact_protonet.py).
        type="MaskAwareYOLACTProtonet",
        mask_upsample="opencv",
        in_channels=256,
        num_protos=32,
        num_classes=80,
        max_masks_to_train=100,
        loss_mask_weight=6.125,
    ),
    segm_head=dict(
        type="YOLACTSegmHead",
        num_classes=80,
        in_channels=256,
        loss_segm=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(
            type="MaxIoUAssigner",
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0.0,
            ignore_iof_thr=-1,  # no ignore
            gt_max_assign_all=False,
        ),
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,  # OHEM: 3 negatives per positive
        debug=False,
    ),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,  # as the authors' configs; unused by YOLACTHead
        score_thr=0.05,
        iou_thr=0.5,  # YOLACT fast NMS
        top_k=200,
        max_per_img=100,
    ),
)
