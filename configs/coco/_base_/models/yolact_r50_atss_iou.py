"""YOLACT with ATSS (box IoU) anchor assignment: what differs from the fixed-IoU model.

docs/paper-facts.md, "ATSS with IoU": ATSS top-k 9; anchors with octave base scale 4, one
scale per octave, ratio 1, strides 8/16/32/64/128; mask-loss weight 8.
"""

_base_ = "./yolact_r50_fixed.py"

model = dict(
    bbox_head=dict(
        # _delete_: the fixed-IoU generator's base_sizes / centers must not survive.
        # No base sizes or centres are published for ATSS, so mmdet's defaults apply
        # (base size = stride, centre offset 0), as in the authors' ATSS configs.
        anchor_generator=dict(
            _delete_=True,
            type="AnchorGenerator",
            octave_base_scale=4,
            scales_per_octave=1,
            ratios=[1.0],
            strides=[8, 16, 32, 64, 128],
        )
    ),
    mask_head=dict(loss_mask_weight=8.0),
    train_cfg=dict(assigner=dict(_delete_=True, type="ATSSAssigner", topk=9)),
)
