"""YOLACT with SimOTA and mask-aware IoU: u = maIoU(predicted box, ground-truth box,
ground-truth mask) instead of the box IoU wherever SimOTA uses the overlap (the cost and the
dynamic k); everything else as yolact_r50_simota_iou.py.
"""

_base_ = "./yolact_r50_simota_iou.py"

model = dict(train_cfg=dict(assigner=dict(type="SimOTAmaIoUAssigner")))
