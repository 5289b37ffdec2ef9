"""The COCO step schedule and runtime, shrunk to a short iteration-based CPU run.

Kept from COCO: gradient clipping 35, linear warm-up from 0.1x, step decay by 10x.
Changed, the same for every run (the measurements: docs/embedded-benchmark.md):
* iterations instead of 55 epochs: 200, so that the default run trains three seeds of all
  eleven runs (two at a time on 2 cores) in about the time one seed of 600 iterations took,
  and every verdict reads its own seed spread; of the recipes measured, this one gave the
  narrowest intervals per CPU-minute that keeps every run as published
  (docs/embedded-benchmark.md, "Precision per CPU-minute"). A warm-up of 5% of training
  instead of 500 iterations; one checkpoint and one evaluation at the end;
* AdamW, lr 2e-3, weight decay 0.05 instead of SGD lr 4e-3, momentum 0.9, weight decay
  5e-4: early gradient norms are in the thousands and stay far above the clipping norm of
  35, so clipped SGD moves a few % of its nominal step while AdamW's steps do not shrink.
  maYOLACT keeps twice its siblings' lr (sgd_cosine.py), as on COCO;
* lr / 10 at 80% and 95% of training instead of at 20/55, 42/55, 49/55 and 52/55: a short
  run is far from convergence, and an early first drop leaves most of it at a low lr.

The schedule is stated as fractions of the run (`schedule_fractions`); the iteration counts
below follow from them, and maiou.engine.config.load_config derives them again when --cfg-options
sets runner.max_iters, so that option alone rescales the whole schedule (the workflow's
max_iters_override does just that). A config file that changes the length sets them itself.
"""

_base_ = [
    "../../../coco/_base_/schedules/sgd_step_55e.py",
    "../../../coco/_base_/default_runtime.py",
]

max_iters = 200
schedule_fractions = dict(warmup=0.05, lr_steps=(0.8, 0.95))
warmup_iters = max(1, round(max_iters * schedule_fractions["warmup"]))
# fused: torch's one-kernel AdamW (the same update up to rounding), 7 of ~170 ms per CPU
# iteration cheaper than the per-parameter loop.
optimizer = dict(_delete_=True, type="AdamW", lr=2e-3, weight_decay=0.05, fused=True)
lr_config = dict(
    by_epoch=False,
    warmup_iters=warmup_iters,
    step=[round(max_iters * fraction) for fraction in schedule_fractions["lr_steps"]],
)
runner = dict(_delete_=True, type="IterBasedRunner", max_iters=max_iters)
checkpoint_config = dict(by_epoch=False, interval=max_iters)
evaluation = dict(interval=max_iters, metric=["bbox", "segm"])
log_config = dict(interval=25)
cudnn_benchmark = False
# On a CPU, maiou.train trains in NHWC layout: oneDNN's channels-last convolutions are
# faster (docs/performance.md) with the same losses and gradients up to rounding
# (tests/test_train_step.py). GPUs are left as they are (not measured there).
cpu_channels_last = True
# One optimizer step per forward pass of `samples_per_gpu` images (COCO: 32 images per
# step, by accumulation if needed): the embedded runs train one process at batch 8.
images_per_step = None
