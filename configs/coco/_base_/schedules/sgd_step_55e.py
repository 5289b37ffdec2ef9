"""The YOLACT schedule of the nine assigner x size runs (docs/paper-facts.md, "Optimiser").

55 epochs of SGD at 4 GPUs x 8 images; lr 4e-3 after a 500-iteration linear warm-up from
0.1x, divided by 10 after epochs 20, 42, 49 and 52.
"""

optimizer = dict(type="SGD", lr=4e-3, momentum=0.9, weight_decay=5e-4)
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(
    policy="step", warmup="linear", warmup_iters=500, warmup_ratio=0.1, step=[20, 42, 49, 52]
)  # mmcv's default decay factor gamma = 0.1
runner = dict(type="EpochBasedRunner", max_epochs=55)
