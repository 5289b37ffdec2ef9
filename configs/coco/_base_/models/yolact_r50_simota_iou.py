"""YOLACT with SimOTA and box IoU: only the assigner differs from ATSS w. IoU (same anchors,
head, losses and schedule).

YOLOX's cost-based dynamic assigner (Ge et al., 2021), mmdet's own ``SimOTAAssigner`` with
YOLOX's values: cost = BCE of the class score + 3 * -log IoU(predicted box, ground-truth
box) + a large cost outside the centre prior (centre inside the box and within 2.5 strides
of its centre); each ground truth takes its k cheapest anchors, k the sum of its 10 best
IoUs. The anchors are its priors (centre, stride). YOLACT's head keeps its hard class
targets (softmax with OHEM), as the ATSS runs. Not in the paper: no published numbers.
"""

_base_ = "./yolact_r50_atss_iou.py"

model = dict(
    train_cfg=dict(
        assigner=dict(
            _delete_=True,
            type="SimOTAAssigner",
            center_radius=2.5,
            candidate_topk=10,
            iou_weight=3.0,
            cls_weight=1.0,
        )
    )
)
