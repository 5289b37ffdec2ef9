"""YOLACT with the task-aligned assigner and box IoU: only the assigner differs from ATSS w.
IoU (same anchors, head, losses and schedule).

The assigner of TOOD (Feng et al., ICCV 2021) and YOLOv8-seg: anchors ranked by
s ** alpha * IoU(predicted box, ground-truth box) ** beta, top-k 13 per ground truth,
alpha 1, beta 6 (TOOD's configs in mmdet 2.28 and YOLOv8's TaskAlignedAssigner). It is used
from the first iteration, as in YOLOv8; TOOD assigns with ATSS for its first 4 epochs.
Not in the paper: these runs have no published numbers.
"""

_base_ = "./yolact_r50_atss_iou.py"

model = dict(
    train_cfg=dict(
        assigner=dict(
            _delete_=True,
            type="TaskAlignedmaIoUAssigner",
            topk=13,
            alpha=1.0,
            beta=6.0,
            overlap="iou",
        )
    )
)
