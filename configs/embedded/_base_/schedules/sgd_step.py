"""The COCO step schedule and runtime, shrunk to a short iteration-based CPU run.

Kept from COCO: gradient clipping 35, linear warm-up from 0.1x, step decay by 10x.
Changed, the same for every run: iterations instead of 55 epochs, a warm-up of 5% of
training instead of 500 iterations, one checkpoint and one evaluation at the end, the
optimiser and the step points (see below).

Optimiser: AdamW, lr 2e-3, weight decay 0.05 instead of SGD lr 4e-3, momentum 0.9,
weight decay 5e-4. From scratch the gradient norm is ~1000-2000 in the first iterations and
still 20-60 after a few hundred: clipped to 35, SGD moved a few % of its nominal step.
AdamW's steps do not shrink with the clipped norm. maYOLACT keeps twice its siblings' lr.

Steps: lr / 10 at 80% and 95% of training instead of at 20/55, 42/55, 49/55 and 52/55. A
few hundred iterations from scratch are far from convergence, and COCO's first drop at 36%
left most of the run at lr / 10 or less (measured on atss_iou_550, 600 iterations: mask AP
4.1 with COCO's step points, 8.0 with these).

`max_iters` is set for the 2-core budget (all eleven runs in ~20 minutes, two at a time).
The values below are computed from it when the file is read, so a shorter or longer run
must override them together: runner.max_iters, lr_config.warmup_iters, lr_config.step (not
for the cosine schedule), checkpoint_config.interval and evaluation.interval.
"""
_base_ = [
    '../../../coco/_base_/schedules/sgd_step_55e.py',
    '../../../coco/_base_/default_runtime.py',
]

max_iters = 600
warmup_iters = max(1, round(max_iters / 20))
optimizer = dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.05)
lr_config = dict(
    by_epoch=False,
    warmup_iters=warmup_iters,
    step=[round(max_iters * fraction) for fraction in (0.8, 0.95)])
runner = dict(_delete_=True, type='IterBasedRunner', max_iters=max_iters)
checkpoint_config = dict(by_epoch=False, interval=max_iters)
evaluation = dict(interval=max_iters, metric=['bbox', 'segm'])
log_config = dict(interval=25)
cudnn_benchmark = False
# On a CPU, maiou.train converts the model to NHWC layout: with oneDNN's channels-last
# convolutions a training iteration took 223 instead of 271 ms on atss_iou_550 (1.21x) and
# 467 instead of 497 ms on maYOLACT-550 (1.06x), one thread, the same batches
# (experiments/benchmarks/bench_channels_last.py --repeats 4 [--config ...]); losses and
# gradients are unchanged up to rounding (tests/test_train_step.py). Not measured on GPUs,
# so not used there.
cpu_channels_last = True
# One optimizer step per forward pass of `samples_per_gpu` images (COCO: 32 images per
# step, by accumulation if needed): the embedded runs train one process at batch 8.
images_per_step = None
