"""maYOLACT's schedule shrunk like sgd_step.py: AdamW lr 4e-3 (2x the others, as on COCO),
cosine annealing to 0 after the same linear warm-up. Annealed per iteration: with no epochs,
per-epoch annealing (COCO) would never move.
"""

_base_ = "./sgd_step.py"

optimizer = dict(lr=4e-3)
lr_config = dict(
    _delete_=True,
    policy="CosineAnnealing",
    by_epoch=False,
    warmup="linear",
    warmup_iters={{_base_.warmup_iters}},
    warmup_ratio=0.1,
    min_lr_ratio=0.0,
)
