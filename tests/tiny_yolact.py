"""The model section of a config for tests that really train: a YOLACT (fixed-IoU
assigner, ResNet-50 layout at 1/8 width, 16-channel heads) that takes a few CPU-seconds per
step on 64-px images. Config files are Python text, so this is text too."""

_MODEL = """\
model = dict(
    type='YOLACT',
    backbone=dict(type='ResNet', depth=50, base_channels=8, num_stages=4,
                  out_indices=(0, 1, 2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  style='pytorch'),
    neck=dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=16, start_level=1,
              add_extra_convs='on_input', num_outs=5, upsample_cfg=dict(mode='bilinear')),
    bbox_head=dict(
        type='YOLACTHead', num_classes={num_classes}, in_channels=16, feat_channels=16,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=3,
                              scales_per_octave=1, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, reduction='none',
                      loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.5),
        num_head_convs=1, num_protos=4, use_ohem=True),
    mask_head=dict(type='YOLACTProtonet', in_channels=16, num_protos=4,
                   proto_channels=(16, 16, 16, None, 16, 4), num_classes={num_classes},
                   max_masks_to_train={max_masks}, loss_mask_weight=6.125),
    segm_head=dict(type='YOLACTSegmHead', num_classes={num_classes}, in_channels=16,
                   loss_segm=dict(type='CrossEntropyLoss', use_sigmoid=True,
                                  loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                 min_pos_iou=0., ignore_iof_thr=-1,
                                 gt_max_assign_all=False),
                   allowed_border=-1, pos_weight=-1, neg_pos_ratio=3, debug=False),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05, iou_thr=0.5, top_k=20,
                  max_per_img=10))
"""


def tiny_yolact(num_classes: int, max_masks: int) -> str:
    """``model = dict(...)`` for ``num_classes`` classes, training at most ``max_masks``
    masks per image."""
    return _MODEL.format(num_classes=num_classes, max_masks=max_masks)
