"""YOLACT with task alignment in full and mask-aware IoU: u = maIoU(predicted box,
ground-truth box, ground-truth mask) instead of the box IoU, in the ranking and in the soft
class targets; everything else as yolact_r50_tal_iou.py, alpha and beta of its train_cfg
included (maiou/models/assigners/task_aligned_assigner.py says why the candidates stay
restricted to anchor centres inside the ground-truth box).
"""

_base_ = "./yolact_r50_tal_iou.py"

model = dict(train_cfg=dict(assigner=dict(_delete_=True, type="TaskAlignedmaIoUAssigner", topk=13)))
