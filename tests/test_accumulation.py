"""The published batch by gradient accumulation (maiou/engine/batching.py).

* The arithmetic: gpus x samples x accumulation = images_per_step, bad counts refused with
  the counts that work; iteration-counted settings scaled to forward passes.
* End to end through ``maiou.train``: one process with accumulation 2 ends at the same
  weights as two gloo processes without it, and with the same lr at every optimizer step
  (the warm-up counts optimizer steps). A tiny YOLACT, two training images of one size, one
  image per forward pass, no random augmentation: each optimizer step then sees both images
  in either setting (the samplers differ only in order, and a sum does not depend on it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmcv_sleeps import ENV as SKIP_SLEEPS_ENV
from tiny_yolact import tiny_yolact

from maiou.engine.batching import (
    BatchError,
    accumulation_steps,
    configure_batch,
    working_process_counts,
)

REPO = Path(__file__).resolve().parents[1]


def test_accumulation_arithmetic():
    assert [accumulation_steps(g, 8, 32) for g in (1, 2, 4)] == [4, 2, 1]
    assert accumulation_steps(8, 4, 32) == 1
    assert working_process_counts(8, 32) == [1, 2, 4]
    for g in (3, 5, 8):
        with pytest.raises(BatchError, match=f"gpus_per_run={g} with samples_per_gpu=8"):
            accumulation_steps(g, 8, 32)
    with pytest.raises(
        BatchError,
        match="Use gpus_per_run 1 .accumulation 4., 2 .accumulation 2., 4 .accumulation 1.",
    ):
        accumulation_steps(3, 8, 32)


def test_configure_batch_scales_iteration_counts():
    from mmcv import Config

    cfg = Config(
        dict(
            data=dict(samples_per_gpu=8),
            images_per_step=32,
            optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
            log_config=dict(interval=50),
            checkpoint_config=dict(interval=1),
            runner=dict(type="EpochBasedRunner", max_epochs=55),
        )
    )
    record = configure_batch(cfg, 1)
    assert record == dict(gpus=1, images_per_forward=8, accumulation=4, images_per_step=32)
    assert cfg.optimizer_config == dict(
        type="GradientCumulativeOptimizerHook",
        cumulative_iters=4,
        grad_clip=dict(max_norm=35, norm_type=2),
    )
    assert cfg.log_config.interval == 200 and cfg.checkpoint_config.interval == 1  # by epoch
    assert cfg.lr_config is None  # no lr_config, nothing to count in optimizer steps

    it = Config(
        dict(
            data=dict(samples_per_gpu=2),
            images_per_step=8,
            optimizer_config=dict(),
            log_config=dict(interval=5),
            checkpoint_config=dict(interval=10, by_epoch=False),
            evaluation=dict(interval=10),
            runner=dict(type="IterBasedRunner", max_iters=30),
        )
    )
    assert configure_batch(it, 2)["accumulation"] == 2
    assert (
        it.log_config.interval,
        it.checkpoint_config.interval,
        it.evaluation.interval,
        it.runner.max_iters,
    ) == (10, 20, 20, 60)

    scaled = Config(
        dict(
            data=dict(samples_per_gpu=8),
            images_per_step=32,
            auto_scale_lr=dict(enable=True, base_batch_size=32),
            optimizer_config=dict(),
            runner=dict(type="EpochBasedRunner"),
        )
    )
    with pytest.raises(BatchError, match="auto_scale_lr.enable=True with images_per_step=32"):
        configure_batch(scaled, 2)

    unset = Config(
        dict(
            data=dict(samples_per_gpu=8),
            images_per_step=None,
            optimizer_config=dict(),
            runner=dict(type="EpochBasedRunner"),
        )
    )
    assert configure_batch(unset, 3) == dict(
        gpus=3, images_per_forward=8, accumulation=1, images_per_step=24
    )
    assert unset.optimizer_config == dict()


CONFIG = """
custom_imports = dict(imports=['mmcv_sleeps'], allow_failed_imports=False)
data_root = {data_root!r}
images_per_step = 2
{model}img_norm_cfg = dict(mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=(64, 64), keep_ratio=False),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='RandomFlip', flip_ratio=0.0),  # no flip: the same batches in both runs
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False, transforms=[
        dict(type='Resize', keep_ratio=False),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ]),
]
classes = ('square', 'bar')
data = dict(
    samples_per_gpu=1, workers_per_gpu=0,
    train=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
               img_prefix=data_root + '/images/', pipeline=train_pipeline),
    val=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
             img_prefix=data_root + '/images/', pipeline=test_pipeline),
    test=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
              img_prefix=data_root + '/images/', pipeline=test_pipeline))
evaluation = dict(interval=1000, metric=['bbox', 'segm'])
# SGD with momentum and weight decay, the COCO optimizer; a warm-up of 3 optimizer steps
# over the 4 steps trained (1 per epoch), and a step decay after epoch 2.
optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4)
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=3, warmup_ratio=0.1, step=[2])
runner = dict(type='EpochBasedRunner', max_epochs=4)
checkpoint_config = dict(interval=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
opencv_num_threads = 0
mp_start_method = 'fork'
"""


def _write_data(root: Path) -> None:
    """Two 64 x 64 images, one or two rectangles each (polygons)."""
    import cv2

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for image_id in (1, 2):
        img = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            x, y = (int(v) for v in rng.integers(2, 30, 2))
            w, h = (int(v) for v in rng.integers(12, 30, 2))
            label = int(rng.integers(1, 3))
            img[y : y + h, x : x + w] = 90 * label
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=label,
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0,
                    segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                )
            )
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), img)
        images.append(dict(id=image_id, file_name=f"{image_id}.png", width=64, height=64))
    (root / "ann.json").write_text(
        json.dumps(
            dict(
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name="square"), dict(id=2, name="bar")],
            )
        )
    )


def _train(args, env):
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def _lrs(work: Path) -> list[float]:
    log = next(work.glob("*.log.json"))
    return [
        entry["lr"]
        for entry in map(json.loads, log.read_text().splitlines()[1:])
        if entry.get("mode") == "train"
    ]


@pytest.mark.slow(seconds=31)
def test_one_process_accumulating_matches_two_gloo_processes(tmp_path):
    _write_data(tmp_path / "data")
    config = tmp_path / "tiny.py"
    config.write_text(
        CONFIG.format(
            data_root=str(tmp_path / "data"), model=tiny_yolact(num_classes=2, max_masks=1000)
        )
    )
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]),
        **{SKIP_SLEEPS_ENV: "1"},
    )
    one, two = tmp_path / "one", tmp_path / "two"
    # 2 images, 1 per forward pass: 2 forward passes per epoch in one process (accumulation
    # 2: 1 optimizer step), 1 per process in two (1 optimizer step); each step sees both.
    _train(
        ["-m", "maiou.train", str(config), "--work-dir", str(one), "--seed", "0", "--no-validate"],
        env,
    )
    _train(
        [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "maiou.train",
            str(config),
            "--work-dir",
            str(two),
            "--seed",
            "0",
            "--no-validate",
            "--launcher",
            "pytorch",
        ],
        env,
    )

    from maiou.engine.checkpoint import load_untrusted_checkpoint, read_checkpoint_meta

    meta_one = read_checkpoint_meta(one / "final.pth")
    meta_two = read_checkpoint_meta(two / "final.pth")
    assert meta_one["batch"] == dict(
        gpus=1, images_per_forward=1, accumulation=2, images_per_step=2
    )
    assert meta_two["batch"] == dict(
        gpus=2, images_per_forward=1, accumulation=1, images_per_step=2
    )
    assert (meta_one["iter"], meta_two["iter"]) == (8, 4)  # forward passes per process

    # The same lr at each optimizer step, logged every optimizer step (log interval 1 step =
    # 2 forward passes when accumulating). By hand: linear warm-up over 3 optimizer steps,
    # factor 1 - (1 - step / 3) x 0.9 = 0.1, 0.4, 0.7, then 1, of lr 0.01 in epochs 1-2 and
    # of 0.001 after the decay. Counted in forward passes it would be 0.1, 0.25, ...
    lr_one, lr_two = _lrs(one), _lrs(two)
    np.testing.assert_allclose(lr_one, [1e-3, 4e-3, 7e-4, 1e-3], rtol=1e-9)
    np.testing.assert_allclose(lr_two, lr_one, rtol=1e-12)

    # Same weights. Buffers (BatchNorm running statistics) legitimately differ: rank 0 of
    # the two-process run keeps statistics of its own images only.
    a = load_untrusted_checkpoint(one / "final.pth")
    b = load_untrusted_checkpoint(two / "final.pth")
    names = [k for k in a if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    worst = max(float((a[k] - b[k]).abs().max()) for k in names)
    # What the last optimizer step moved: a wrong accumulation (summed instead of averaged
    # gradients, a step per forward pass) would differ by about this.
    first = load_untrusted_checkpoint(one / "epoch_3.pth")
    moved = max(float((a[k] - first[k]).abs().max()) for k in names)
    print(f"max |weight difference| {worst:.2e}; the last step moved weights by up to {moved:.2e}")
    assert moved > 1e-4, moved
    assert worst < 1e-5, (worst, moved)


@pytest.mark.parametrize(
    "policy, extra",
    [("step", dict(step=[6])), ("CosineAnnealing", dict(min_lr_ratio=0.0))],
)
def test_lr_hooks_count_optimizer_steps(policy, extra):
    """configure_batch's lr policy gives every forward pass of an accumulation group the lr
    that the plain policy gives the group's optimizer step."""
    from types import SimpleNamespace

    import torch
    from mmcv import Config, build_from_cfg
    from mmcv.runner.hooks import HOOKS

    import maiou.hooks  # noqa: F401  (registers the PerOptimizerStep hooks)

    def lrs(lr_config, forward_passes, max_iters):
        """The lr of each forward pass, the hook built as mmcv's register_lr_hook builds it."""
        lr_config = dict(lr_config)
        name = lr_config.pop("policy")
        name = name.title() if name == name.lower() else name
        hook = build_from_cfg(dict(lr_config, type=f"{name}LrUpdaterHook"), HOOKS)
        optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
        runner = SimpleNamespace(optimizer=optimizer, iter=0, max_iters=max_iters, epoch=0)
        hook.before_run(runner)
        out = []
        for i in range(forward_passes):
            runner.iter = i
            hook.before_train_iter(runner)
            out.append(optimizer.param_groups[0]["lr"])
        return out

    base = dict(
        policy=policy, by_epoch=False, warmup="linear", warmup_iters=3, warmup_ratio=0.1, **extra
    )
    cfg = Config(
        dict(
            data=dict(samples_per_gpu=2),
            images_per_step=4,
            optimizer_config=dict(),
            lr_config=base,
            runner=dict(type="IterBasedRunner", max_iters=8),
        )
    )
    assert configure_batch(cfg, 1)["accumulation"] == 2
    assert cfg.lr_config["policy"].endswith("PerOptimizerStep")
    per_step = lrs(base, 8, max_iters=8)
    accumulated = lrs(cfg.lr_config, 16, max_iters=cfg.runner.max_iters)
    assert accumulated == [lr for lr in per_step for _ in range(2)]
