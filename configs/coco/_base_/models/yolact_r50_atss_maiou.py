"""YOLACT with ATSS using mask-aware IoU: only the assigner type differs from ATSS w. IoU.

docs/paper-facts.md, "ATSS with maIoU": maIoU replaces IoU everywhere in the assigner;
the ground truth masks it uses are the padded-input-resolution masks of the same image
(handed over by MaskAwareYOLACT / MaskAwareYOLACTHead).
"""

_base_ = "./yolact_r50_atss_iou.py"

model = dict(train_cfg=dict(assigner=dict(type="ATSSmaIoUAssigner")))
