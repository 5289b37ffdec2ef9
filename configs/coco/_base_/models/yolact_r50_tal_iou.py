"""YOLACT with task alignment in full and box IoU: the ATSS w. IoU model with TOOD's assigner
and TOOD's classification targets (same anchors, box loss, mask branch and schedule).

The assigner of TOOD (Feng et al., ICCV 2021) and YOLOv8-seg, mmdet's own
``TaskAlignedAssigner``: anchors ranked by t = s ** alpha * IoU(predicted box, ground-truth
box) ** beta, top-k 13 per ground truth, alpha 1, beta 6 (TOOD's values). alpha and beta are
in train_cfg, as in TOOD's config: the head passes them to the assigner, whichever it is, so
the maIoU run (yolact_r50_tal_maiou.py, which inherits them) always ranks with the same. It is
used from the first iteration, as in YOLOv8; TOOD assigns with ATSS for its first 4 epochs.
The head learns t, normalised per ground truth, as a soft class target: sigmoid
classification with Quality Focal Loss (beta 2) instead of YOLACT's softmax with OHEM, and
the classifier's bias starts at a 0.01 prior, as TOOD's (maiou/models/dense_heads/
task_aligned_yolact_head.py; docs/deviations.md). Not in the paper: no published numbers.
"""

_base_ = "./yolact_r50_atss_iou.py"

model = dict(
    bbox_head=dict(
        type="TaskAlignedYOLACTHead",
        use_ohem=False,
        loss_cls=dict(
            _delete_=True, type="QualityFocalLoss", use_sigmoid=True, beta=2.0, loss_weight=1.0
        ),
        init_cfg=dict(
            type="Xavier",
            distribution="uniform",
            bias=0,
            layer="Conv2d",
            override=dict(type="Xavier", distribution="uniform", name="conv_cls", bias_prob=0.01),
        ),
    ),
    train_cfg=dict(
        assigner=dict(_delete_=True, type="TaskAlignedAssigner", topk=13), alpha=1, beta=6
    ),
)
