"""The COCO step schedule and runtime, shrunk to a short iteration-based CPU run.

Kept from COCO: gradient clipping 35, linear warm-up from 0.1x, lr / 10 at 20/55, 42/55,
49/55 and 52/55 of training. Changed: iterations instead of 55 epochs, a warm-up of 5% of
training instead of 500 iterations, one checkpoint and one evaluation at the end, and the
optimiser (see below).

Optimiser: AdamW, lr 1e-3, weight decay 0.05 instead of SGD lr 4e-3, momentum 0.9,
weight decay 5e-4. A from-scratch quarter-width ResNet starts with gradient norms of
~1000-2000 (loss_cls ~45 at the first iterations): clipped to 35, SGD moves ~2% of its
nominal step, and in a few hundred iterations (the first lr drop comes at 36% of training)
it never leaves the "background everywhere" solution. AdamW's steps do not scale with the
gradient norm, so the same schedule learns. maYOLACT keeps twice its siblings' lr.

`max_iters` is set for the 2-core budget (all eleven runs in ~20 minutes, two at a time).
The values below are computed from it when the file is read, so a shorter or longer run
must override them together: runner.max_iters, lr_config.warmup_iters, lr_config.step (not
for the cosine schedule), checkpoint_config.interval and evaluation.interval.
"""
_base_ = [
    '../../../coco/_base_/schedules/sgd_step_55e.py',
    '../../../coco/_base_/default_runtime.py',
]

max_iters = 400
warmup_iters = max(1, round(max_iters / 20))
optimizer = dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05)
lr_config = dict(
    by_epoch=False,
    warmup_iters=warmup_iters,
    step=[round(max_iters * epoch / 55) for epoch in (20, 42, 49, 52)])
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=max_iters)
checkpoint_config = dict(by_epoch=False, interval=max_iters)
evaluation = dict(interval=max_iters, metric=['bbox', 'segm'])
log_config = dict(interval=25)
cudnn_benchmark = False
