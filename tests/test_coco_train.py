"""The coco-train preset end to end, from nothing, against a loopback mirror
(tests/coco_mirror.py; the network guard and the mirror as in test_coco_presets.py).

atss_maiou_400 and mayolact_550 train on the CPU with ``gpus_per_run=2`` (two gloo
processes) and accumulation 2 (images_per_step=4, one image per forward pass); the pipeline
is killed (SIGKILL, every process) after a run's first epoch, resumed, and goes on to
evaluate and compile: the table marks the runs as not trained at 32, and each run was
checked epoch by epoch against the authors' (stand-in) log it downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from coco_mirror import (
    TRAIN_RUNS,
    assert_cut_and_resumed,
    assert_no_network,
    coco_config,
    logs,
    snakemake,
    snakemake_cmd,
)


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL snakemake and every process it started (by id), as a crash would."""
    pids = _descendants(proc.pid)
    for pid in [proc.pid] + pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)


@pytest.mark.slow(seconds=187)
def test_coco_train_from_nothing_resumes_after_a_kill(training_mirror, tmp_path):
    from maiou.engine.checkpoint import read_checkpoint_meta
    from maiou.rundir import checkpoint_progress

    mirror = training_mirror

    work = tmp_path / "work"
    config = coco_config(
        mirror,
        work,
        preset="coco-train",
        runs=TRAIN_RUNS,
        gpus_per_run=2,
        images_per_step=4,
        samples_per_gpu=1,
        workers_per_gpu=0,
        max_epochs_override=2,
        resnet50_url=f"{mirror['url']}/models/{mirror['resnet50'].name}",
        log_urls={run: f"{mirror['url']}/logs/{run}.log" for run in TRAIN_RUNS},
    )
    first_request = len(mirror["server"].requests)
    mirror["server"].cut.add("val2017.zip")
    start = time.monotonic()
    proc = subprocess.Popen(
        snakemake_cmd(work, config, "--cores", "2"),
        env=mirror["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed = None
    try:
        deadline = time.monotonic() + 900
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            for path in (work / "work_dirs/coco-train").glob("*/epoch_1.pth"):
                if checkpoint_progress(str(path), by_epoch=True) == 1:
                    killed = path.parent.name
                    break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
    first_output = proc.stdout.read()
    assert killed, (
        "no epoch-1 checkpoint before snakemake ended:\n" + first_output[-4000:] + logs(work)
    )
    assert not (work / f"work_dirs/coco-train/{killed}/final.pth").exists()

    assert snakemake(work, config, "--unlock", env=mirror["env"]).returncode == 0
    result = snakemake(work, config, "--cores", "2", env=mirror["env"], timeout=900)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-4000:] + logs(work)
    print(f"coco-train end to end (killed once): {elapsed:.0f} s")
    assert_no_network(mirror)
    assert_cut_and_resumed(mirror, first_request, work)
    assert "2 GPU(s) x 1 images x accumulation 2 = 4 images per optimizer step" in first_output
    assert (work / "checkpoints/imagenet" / mirror["resnet50"].name).is_file()

    train_log = (work / f"logs/coco-train/train/{killed}.log").read_text()
    assert "resuming from" in train_log and "epoch_1.pth (epoch 1/2)" in train_log, train_log
    for run in TRAIN_RUNS:
        final = work / f"work_dirs/coco-train/{run}/final.pth"
        meta = read_checkpoint_meta(final)
        assert meta["epoch"] == 2
        batch = dict(gpus=2, images_per_forward=1, accumulation=2, images_per_step=4)
        assert meta["batch"] == batch
        # 4 train images, one of them crowd-only: 2 forward passes per process per epoch.
        assert meta["iter"] == 4
        metrics = json.loads((work / f"results/coco-train/{run}/metrics.json").read_text())
        assert metrics["training"] == batch and metrics["dataset"]["images"] == 3
    md = (work / "results/table.md").read_text()
    assert "trained with this code" in md
    assert "† Not trained at the paper's 32 images per optimizer step" in md
    assert "atss_maiou_400 at 4 (2 process(es) x 1 images x accumulation 2)" in md
    assert "| mayolact_550† |" in md
    # Each run was checked epoch by epoch against the (stand-in) authors' log it downloaded.
    assert "## Training curves against the authors' logs" in md
    for run in TRAIN_RUNS:
        assert (work / "checkpoints/coco/logs" / f"{run}.log").read_bytes() == (
            mirror["logs"] / f"{run}.log"
        ).read_bytes()
        check = json.loads((work / f"work_dirs/coco-train/{run}/curve_check.json").read_text())
        assert [e["epoch"] for e in check["epochs"]] == [1, 2], check
    assert (work / "reports/training_curves.png").is_file()
