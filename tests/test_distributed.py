"""The embedded atss_maiou run under torchrun (2 gloo processes) vs 1 process, twice the batch.

Same images per iteration, so the same iterations per epoch; the 2-process checkpoint then
loads and evaluates through the evaluation entry point.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from maiou.engine.checkpoint import read_checkpoint_meta

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "embedded" / "atss_maiou_400.py"
TRAIN_IMAGES = 8


def run(args, env, cwd):
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def one_epoch_options(images_per_process):
    # One epoch over the 8 training images, whatever the embedded schedule's length.
    return [
        "--cfg-options",
        "runner.type=EpochBasedRunner",
        "runner.max_epochs=1",
        "runner.max_iters=None",
        f"data.samples_per_gpu={images_per_process}",
        "data.workers_per_gpu=0",
        "evaluation.interval=1000",
        "checkpoint_config.interval=1",
        "checkpoint_config.by_epoch=True",
        "log_config.interval=1",
    ]


@pytest.mark.slow(seconds=57)
def test_two_gloo_processes_match_one_process_with_twice_the_batch(tmp_path):
    data = tmp_path / "embedded"
    env = dict(os.environ, MAIOU_EMBEDDED_ROOT=str(data), OMP_NUM_THREADS="1")
    run(
        [
            "-m",
            "maiou.data.synthetic",
            "--out",
            str(data),
            "--seed",
            "0",
            "--num-train",
            str(TRAIN_IMAGES),
            "--num-val",
            "2",
            "--no-progress",
        ],
        env,
        REPO,
    )
    run(
        [
            "-m",
            "maiou.pretrain_backbone",
            "--data-root",
            str(data),
            "--out",
            str(data / "backbone.pth"),
            "--iters",
            "2",
            "--no-progress",
        ],
        env,
        REPO,
    )

    single = tmp_path / "single"
    run(
        [
            "-m",
            "maiou.train",
            str(CONFIG),
            "--work-dir",
            str(single),
            "--seed",
            "0",
            "--no-validate",
            *one_epoch_options(4),
        ],
        env,
        REPO,
    )
    double = tmp_path / "ddp"
    run(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            "-m",
            "maiou.train",
            str(CONFIG),
            "--work-dir",
            str(double),
            "--seed",
            "0",
            "--no-validate",
            "--launcher",
            "pytorch",
            *one_epoch_options(2),
        ],
        env,
        REPO,
    )

    single_meta = read_checkpoint_meta(single / "final.pth")
    double_meta = read_checkpoint_meta(double / "final.pth")
    assert (single_meta["epoch"], single_meta["iter"]) == (1, TRAIN_IMAGES // 4)
    assert (double_meta["epoch"], double_meta["iter"]) == (
        single_meta["epoch"],
        single_meta["iter"],
    )
    log = next(double.glob("*.log")).read_text()
    assert "Distributed training: True" in log

    out = tmp_path / "eval"
    run(
        [
            "-m",
            "maiou.evaluate",
            str(CONFIG),
            str(double / "final.pth"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--speed-images",
            "1",
            "--warmup",
            "0",
            "--no-progress",
        ],
        env,
        REPO,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["images"] == 2
    assert 0.0 <= metrics["segm"]["oLRP"] <= 1.0 and metrics["anchors_per_image"] > 0
