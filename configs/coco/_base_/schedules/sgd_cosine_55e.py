"""maYOLACT's schedule: lr 8e-3, cosine annealing to 0 after the same 500-iteration linear
warm-up, 55 epochs (docs/paper-facts.md, "maYOLACT").
"""

_base_ = "./sgd_step_55e.py"

optimizer = dict(lr=8e-3)
lr_config = dict(
    _delete_=True,
    # 'CosineAnnealing' is mmcv 1.x's name (the authors' config spells 'CosineAnealing').
    # Annealed once per epoch (mmcv's default by_epoch=True), as in the authors' config;
    # the warm-up is per iteration either way.
    policy="CosineAnnealing",
    warmup="linear",
    warmup_iters=500,
    warmup_ratio=0.1,
    min_lr_ratio=0.0,
)
