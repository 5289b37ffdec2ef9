"""maiou.train: config checks, checkpoint discovery, and interrupted runs that resume.

The end-to-end tests run the real CLI in subprocesses on a tiny YOLACT (ResNet-50 layout
at 1/8 width) and a four-image COCO-format dataset written into tmp_path, 2 iterations per
epoch. The interruption is a SIGKILL the training process sends itself right after the
epoch-1 checkpoint is written (a hook enabled by an environment variable), i.e. a crash at
the moment the brief describes, without timing races. mmcv's runners skip their fixed
sleeps in these runs (tests/mmcv_sleeps.py).
"""

import json
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from mmcv_sleeps import ENV as SKIP_SLEEPS_ENV
from mmcv_sleeps import skip_runner_sleeps
from tiny_yolact import tiny_yolact

from maiou.engine.checkpoint import read_checkpoint_meta
from maiou.engine.config import ConfigError, check_cfg_options, load_config
from maiou.engine.runner import TrainError, training_device
from maiou.engine.start import Start, StartPlan, plan_start
from maiou.rundir import final_checkpoint, find_resume_checkpoint, mark_final
from maiou.train import main

TESTS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TESTS)
CLASSES = ("square", "bar", "blob")
IMG = 128

CRASH_HOOK = '''
import os
import signal

from mmcv.runner import HOOKS, Hook


@HOOKS.register_module()
class CrashAfterEpoch(Hook):
    """SIGKILL this process after epoch $MAIOU_TEST_CRASH_AFTER_EPOCH is checkpointed."""

    def __init__(self):
        self.epoch = int(os.environ.get('MAIOU_TEST_CRASH_AFTER_EPOCH', '0'))

    def after_train_epoch(self, runner):
        if self.epoch and runner.epoch + 1 == self.epoch:
            runner.logger.info('test hook: killing the run now')
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class CrashAfterIter(Hook):
    """SIGKILL this process after iteration $MAIOU_TEST_CRASH_AFTER_ITER (and its
    checkpoint, saved by the NORMAL-priority CheckpointHook before this LOWEST one)."""

    def __init__(self):
        self.iter = int(os.environ.get('MAIOU_TEST_CRASH_AFTER_ITER', '0'))

    def after_train_iter(self, runner):
        if self.iter and runner.iter + 1 == self.iter:
            runner.logger.info('test hook: killing the run now')
            os.kill(os.getpid(), signal.SIGKILL)
'''

# A real embedded run (configs/embedded, iteration-based, ATSS with maIoU from maiou.models)
# cut down to 4 iterations with a checkpoint every 2.
EMBEDDED_WRAPPER = """
_base_ = {base!r}
custom_imports = dict(
    imports=['maiou.models', 'crash_hook', 'mmcv_sleeps'], allow_failed_imports=False
)
custom_hooks = [dict(type='CrashAfterIter', priority='LOWEST')]
runner = dict(max_iters=4)
checkpoint_config = dict(interval=2)
log_config = dict(interval=1)
data = dict(samples_per_gpu=2, workers_per_gpu=0)
"""

CONFIG = """
custom_imports = dict(imports=['crash_hook', 'mmcv_sleeps'], allow_failed_imports=False)
data_root = {data_root!r}
{model}img_norm_cfg = dict(mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', img_scale=({img}, {img}), keep_ratio=False),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=({img}, {img}), flip=False, transforms=[
        dict(type='Resize', keep_ratio=False),
        dict(type='Normalize', **img_norm_cfg),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img']),
    ]),
]
classes = {classes!r}
data = dict(
    samples_per_gpu=2, workers_per_gpu=0,
    train=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
               img_prefix=data_root + '/images/', pipeline=train_pipeline),
    val=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
             img_prefix=data_root + '/images/', pipeline=test_pipeline),
    test=dict(type='CocoDataset', classes=classes, ann_file=data_root + '/ann.json',
              img_prefix=data_root + '/images/', pipeline=test_pipeline))
optimizer = dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4)
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
lr_config = dict(policy='step', warmup='linear', warmup_iters=2, warmup_ratio=0.1, step=[2])
runner = dict(type='EpochBasedRunner', max_epochs=3)
checkpoint_config = dict(interval=1)
log_config = dict(interval=1, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='CrashAfterEpoch', priority='LOWEST')]
evaluation = dict(metric=['bbox', 'segm'])
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
opencv_num_threads = 0
mp_start_method = 'fork'
auto_scale_lr = dict(enable=False, base_batch_size=16)
"""


def write_dataset(root, num_images=4, seed=0):
    """COCO-format images with 1-2 filled rectangles each (polygon masks)."""
    import cv2

    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, "images"), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        img = rng.integers(0, 60, (IMG, IMG, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            x, y = (int(v) for v in rng.integers(4, IMG // 2, 2))
            w, h = (int(v) for v in rng.integers(16, IMG // 2 - 4, 2))
            label = int(rng.integers(1, len(CLASSES) + 1))
            img[y : y + h, x : x + w] = 80 * label
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
        name = f"{image_id:04d}.png"
        cv2.imwrite(osp.join(root, "images", name), img)
        images.append(dict(id=image_id, file_name=name, width=IMG, height=IMG))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    with open(osp.join(root, "ann.json"), "w") as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config path, PYTHONPATH addition): dataset, crash hook module and config on disk."""
    root = tmp_path_factory.mktemp("tiny")
    write_dataset(str(root / "data"))
    (root / "crash_hook.py").write_text(CRASH_HOOK)
    config = root / "tiny_yolact.py"
    config.write_text(
        CONFIG.format(
            data_root=str(root / "data"),
            img=IMG,
            classes=CLASSES,
            model=tiny_yolact(num_classes=3, max_masks=10),
        )
    )
    sys.path.insert(0, str(root))  # in-process tests load the config's custom_imports too
    yield str(config), str(root)
    sys.path.remove(str(root))


def cli(args, pythonpath, crash_after=0, launcher_prefix=(), timeout=240, extra_env=None):
    """Run ``python -m maiou.train ARGS`` (or LAUNCHER_PREFIX ARGS) in its own session.

    On timeout the whole process group goes, so torchrun's workers are not left behind.
    """
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([pythonpath, REPO, TESTS]),
        MAIOU_TEST_CRASH_AFTER_EPOCH=str(crash_after),
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
        **{SKIP_SLEEPS_ENV: "1"},
        **(extra_env or {}),
    )
    cmd = (
        [*launcher_prefix, *args]
        if launcher_prefix
        else [sys.executable, "-m", "maiou.train", *args]
    )
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {cmd}\n{stdout[-2000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(
        cmd, proc.returncode, stdout, stderr
    ), time.monotonic() - start


def run_log(work_dir):
    """Text of the newest mmcv log file in work_dir."""
    logs = sorted(f for f in os.listdir(work_dir) if f.endswith(".log"))
    with open(osp.join(work_dir, logs[-1])) as f:
        return f.read()


def trained_epochs(log_text):
    return sorted({int(m) for m in re.findall(r"Epoch \[(\d+)\]\[\d+/\d+\]", log_text)})


def trained_iters(log_text):
    return sorted({int(m) for m in re.findall(r"Iter \[(\d+)/\d+\]", log_text)})


# ------------------------------------------------------------------------------------------
# End to end
# ------------------------------------------------------------------------------------------
@pytest.mark.slow(seconds=37)
def test_interrupted_run_resumes_to_the_same_end(setup, tmp_path):
    config, pythonpath = setup

    reference = str(tmp_path / "reference")
    proc, _ = cli([config, "--work-dir", reference, "--seed", "0", "--no-validate"], pythonpath)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_meta = read_checkpoint_meta(osp.join(reference, "final.pth"))
    assert (ref_meta["epoch"], ref_meta["iter"]) == (3, 6)  # 3 epochs x 2 iterations
    assert trained_epochs(run_log(reference)) == [1, 2, 3]

    # Crash right after the epoch-1 checkpoint (SIGKILL: no cleanup runs).
    work = str(tmp_path / "interrupted")
    cmd = [config, "--work-dir", work, "--seed", "0", "--no-validate"]
    proc, _ = cli(cmd, pythonpath, crash_after=1)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert osp.exists(osp.join(work, "epoch_1.pth"))
    assert not osp.exists(osp.join(work, "epoch_2.pth"))
    assert not osp.exists(osp.join(work, "final.pth"))
    # A second crash mid-write would leave a cut-short newer checkpoint: it must be skipped.
    data = open(osp.join(work, "epoch_1.pth"), "rb").read()
    with open(osp.join(work, "epoch_2.pth"), "wb") as f:
        f.write(data[: len(data) // 3])

    proc, _ = cli(cmd, pythonpath)  # the very same command, no crash this time
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {osp.join(work, 'epoch_1.pth')} (epoch 1/3)" in proc.stdout
    log = run_log(work)
    assert "resumed epoch 1, iter 2" in log  # mmcv's runner took over the counters
    assert trained_epochs(log) == [2, 3]  # epoch 1 was not trained again
    meta = read_checkpoint_meta(osp.join(work, "final.pth"))
    assert (meta["epoch"], meta["iter"]) == (ref_meta["epoch"], ref_meta["iter"])
    assert meta["seed"] == 0
    final = torch.load(osp.join(work, "final.pth"), weights_only=True)["state_dict"]
    epoch3 = torch.load(osp.join(work, "epoch_3.pth"), weights_only=True)["state_dict"]
    assert all(torch.equal(final[k], epoch3[k]) for k in final)

    # Finished: the same command returns at once, trains nothing, keeps final.pth.
    logs_before = sorted(os.listdir(work))
    proc, elapsed = cli(cmd, pythonpath)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already finished (epoch 3/3)" in proc.stdout
    assert sorted(os.listdir(work)) == logs_before
    assert elapsed < 30


@pytest.mark.slow(seconds=30)
def test_torchrun_two_cpu_processes_train_resume_and_evaluate(setup, tmp_path):
    """gloo on CPU; the second call extends the run, resumes, and runs the distributed
    evaluation hook (the path mmcv 1.7.2's own DDP wrapper breaks on torch 2)."""
    config, pythonpath = setup
    work = str(tmp_path / "ddp")
    torchrun = (
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "maiou.train",
    )
    base = [config, "--work-dir", work, "--launcher", "pytorch", "--seed", "0"]
    proc, _ = cli(
        [*base, "--no-validate", "--cfg-options", "runner.max_epochs=1"],
        pythonpath,
        launcher_prefix=torchrun,
    )
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    log = run_log(work)
    assert "Distributed training: True" in log
    assert "Epoch [1][1/1]" in log  # 4 images / (2 processes x 2): 1 iteration each
    assert read_checkpoint_meta(osp.join(work, "final.pth"))["iter"] == 1

    proc, _ = cli(
        [*base, "--cfg-options", "runner.max_epochs=2"], pythonpath, launcher_prefix=torchrun
    )
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    log = run_log(work)
    assert "resumed epoch 1, iter 1" in log
    assert trained_epochs(log) == [2]
    assert "Epoch(val) [2]" in log and "segm_mAP" in log
    meta = read_checkpoint_meta(osp.join(work, "final.pth"))
    assert (meta["epoch"], meta["iter"]) == (2, 2)


@pytest.fixture(scope="module")
def embedded_data(tmp_path_factory):
    """A tiny embedded dataset (16 train and 2 val images) and a backbone pretrained for 2
    steps, shared by the tests below (neither writes into it)."""
    root = tmp_path_factory.mktemp("embedded")
    for module, args in (
        (
            "maiou.data.synthetic",
            ["--out", root, "--seed", 0, "--num-train", 16, "--num-val", 2],
        ),
        (
            "maiou.pretrain_backbone",
            ["--data-root", root, "--out", root / "backbone.pth", "--iters", 2],
        ),
    ):
        subprocess.run(
            [sys.executable, "-m", module, *map(str, args), "--no-progress"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    return root


@pytest.mark.slow(seconds=46)
def test_embedded_iteration_run_resumes(setup, embedded_data, tmp_path):
    """IterBasedRunner (the embedded schedule) with the project's own model code."""
    _, pythonpath = setup
    config = tmp_path / "embedded_atss_maiou_400_short.py"
    config.write_text(
        EMBEDDED_WRAPPER.format(base=osp.join(REPO, "configs", "embedded", "atss_maiou_400.py"))
    )
    work = str(tmp_path / "work")
    cmd = [str(config), "--work-dir", work, "--seed", "0", "--no-validate"]
    env = dict(MAIOU_EMBEDDED_ROOT=str(embedded_data))

    proc, _ = cli(cmd, pythonpath, extra_env=dict(env, MAIOU_TEST_CRASH_AFTER_ITER="2"))
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert sorted(f for f in os.listdir(work) if f.endswith(".pth")) == ["iter_2.pth", "latest.pth"]

    proc, _ = cli(cmd, pythonpath, extra_env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {osp.join(work, 'iter_2.pth')} (iter 2/4)" in proc.stdout
    log = run_log(work)
    # mmcv 1.x stores iter N-1 in iter_N.pth, so its runner repeats iteration 2 once.
    assert "resumed from epoch: 1, iter 1" in log
    assert trained_iters(log) == [2, 3, 4] and "Iter [1/4]" not in log
    meta = read_checkpoint_meta(osp.join(work, "final.pth"))
    assert meta["iter"] == 3  # = what an uninterrupted 4-iteration run records

    # Finished, then evaluated in the same process (the pipeline's train job, re-run after
    # an evaluation that failed): the files maiou.evaluate writes for that checkpoint.
    out = tmp_path / "in_training"
    proc, _ = cli(
        [*cmd, "--evaluate-to", str(out), "--speed-images", "1"], pythonpath, extra_env=env
    )
    assert proc.returncode == 0 and "already finished (iter 4/4)" in proc.stdout, proc.stderr
    assert f"evaluated {osp.join(work, 'final.pth')} into {out}" in proc.stdout
    from maiou import evaluate

    alone = tmp_path / "alone"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocess: sums over threads round differently
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MAIOU_EMBEDDED_ROOT", str(embedded_data))
            argv = [str(config), osp.join(work, "final.pth"), "--out", str(alone)]
            assert evaluate.main([*argv, "--speed-images", "1", "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    for name in ("results.bbox.json", "results.segm.json", "matches.bbox.npz", "matches.segm.npz"):
        assert (out / name).read_bytes() == (alone / name).read_bytes(), name
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (out, alone)]
    for key in ("segm", "bbox", "trained_from", "checkpoint_sha256", "dataset"):
        assert metrics[0][key] == metrics[1][key], key


# ------------------------------------------------------------------------------------------
# Pieces (fast, in process)
# ------------------------------------------------------------------------------------------
def save_fake_checkpoint(path, epoch, iters):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"epoch": epoch, "iter": iters}}, path)


def test_find_resume_checkpoint_prefers_newest_complete(tmp_path):
    work = str(tmp_path)
    assert find_resume_checkpoint(work, by_epoch=True) is None
    assert find_resume_checkpoint(str(tmp_path / "absent"), by_epoch=True) is None
    for epoch in (1, 2, 10):
        save_fake_checkpoint(tmp_path / f"epoch_{epoch}.pth", epoch, 5 * epoch)
    # numeric, not lexicographic order: epoch_10 > epoch_2
    assert find_resume_checkpoint(work, True) == (str(tmp_path / "epoch_10.pth"), 10)
    # a cut-short newest file is skipped
    data = (tmp_path / "epoch_10.pth").read_bytes()
    (tmp_path / "epoch_10.pth").write_bytes(data[:50])
    assert find_resume_checkpoint(work, True) == (str(tmp_path / "epoch_2.pth"), 2)
    # latest.pth (mmcv's symlink) is resolved; final.pth and iter files are ignored
    os.symlink("epoch_1.pth", tmp_path / "latest.pth")
    save_fake_checkpoint(tmp_path / "final.pth", 99, 99)
    save_fake_checkpoint(tmp_path / "iter_500.pth", 99, 499)
    assert find_resume_checkpoint(work, True) == (str(tmp_path / "epoch_2.pth"), 2)
    # iter-based runs: mmcv's iter_N.pth records iter N-1
    assert find_resume_checkpoint(work, False) == (str(tmp_path / "iter_500.pth"), 500)


def test_final_checkpoint_and_atomic_marker(tmp_path):
    work = str(tmp_path)
    save_fake_checkpoint(tmp_path / "epoch_1.pth", 1, 2)
    assert final_checkpoint(work, True, 2) is None
    save_fake_checkpoint(tmp_path / "epoch_2.pth", 2, 4)
    os.symlink("epoch_2.pth", tmp_path / "latest.pth")
    src = final_checkpoint(work, True, 2)
    assert src == str(tmp_path / "epoch_2.pth")
    final = mark_final(work, src)
    assert final == str(tmp_path / "final.pth") and not osp.islink(final)
    assert open(final, "rb").read() == open(src, "rb").read()
    assert [f for f in os.listdir(work) if "tmp" in f] == []  # no temp file left behind
    # rewriting epoch_2.pth later does not touch the marked copy
    save_fake_checkpoint(tmp_path / "epoch_2.pth", 7, 7)
    assert read_checkpoint_meta(final)["epoch"] == 2


def test_cfg_options_unknown_parent_is_named(setup):
    config, _ = setup
    cfg = load_config(
        config,
        {
            "runner.max_epochs": 1,
            "optimizer.nesterov": True,
            "data.train.pipeline.2.img_scale": (64, 64),
        },
    )
    assert cfg.runner.max_epochs == 1 and cfg.optimizer.nesterov is True
    with pytest.raises(
        ConfigError,
        match=r"'model' has no key 'bbox_hed' \(did you mean "
        r"'bbox_head'\?\)",
    ):
        load_config(config, {"model.bbox_hed.num_classes": 5})
    with pytest.raises(ConfigError, match=r"the config has no key 'runer'"):
        load_config(config, {"runer.max_epochs": 5})
    with pytest.raises(ConfigError, match=r"list of 7 items; '9' is not a valid index"):
        load_config(config, {"data.train.pipeline.9.type": "Resize"})
    with pytest.raises(ConfigError, match=r"'runner.max_epochs' holds the int 3, not"):
        load_config(config, {"runner.max_epochs.x": 1})


def test_cfg_options_new_leaf_that_looks_like_a_typo_warns(setup):
    config, _ = setup
    cfg = load_config(config, None)
    warnings = check_cfg_options(cfg, {"runner.max_epoch": 2, "optimizer.nesterov": True})
    assert len(warnings) == 1 and "did you mean 'max_epochs'" in warnings[0]


def test_cli_reports_missing_config_and_bad_option(setup, tmp_path, capsys):
    config, _ = setup
    assert main([str(tmp_path / "nope.py"), "--work-dir", str(tmp_path / "w")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert (
        main(
            [
                config,
                "--work-dir",
                str(tmp_path / "w"),
                "--cfg-options",
                "model.bbox_hed.num_classes=5",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "has no key 'bbox_hed'" in err
    assert not osp.exists(tmp_path / "w")  # nothing was started


def test_evaluation_after_training_is_one_process_only(setup, tmp_path, capsys):
    config, _ = setup
    argv = [config, "--work-dir", str(tmp_path), "--launcher", "pytorch", "--evaluate-to", "o"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--evaluate-to evaluates in this one process" in err


def test_cli_exits_early_when_already_finished(setup, tmp_path, capsys):
    """In process: no model or dataset is built for a finished run."""
    config, _ = setup
    work = tmp_path / "done"
    work.mkdir()
    save_fake_checkpoint(work / "epoch_3.pth", 3, 6)
    os.symlink("epoch_3.pth", work / "latest.pth")
    start = time.monotonic()
    assert main([config, "--work-dir", str(work)]) == 0
    assert time.monotonic() - start < 5
    assert "already finished (epoch 3/3)" in capsys.readouterr().out
    assert read_checkpoint_meta(work / "final.pth")["epoch"] == 3
    assert not [f for f in os.listdir(work) if f.endswith(".log")]
    # final.pth alone (intermediate checkpoints deleted to save space) also counts as done
    for name in ("epoch_3.pth", "latest.pth"):
        os.remove(work / name)
    assert main([config, "--work-dir", str(work)]) == 0
    assert "already finished (epoch 3/3)" in capsys.readouterr().out
    shutil.rmtree(work)


def test_plan_start_decides_without_acting(setup, tmp_path):
    """Every decision of plan_start on fake checkpoints (3 epochs of 2 iterations): it
    writes no file, prints nothing and leaves the config as it was."""
    config, _ = setup
    cfg = load_config(config)
    work = str(tmp_path)
    final = str(tmp_path / "final.pth")

    def plan(**kwargs):
        before = (sorted(os.listdir(work)), cfg.pretty_text)
        result = plan_start(work, cfg, **kwargs)
        assert (sorted(os.listdir(work)), cfg.pretty_text) == before
        return result

    assert plan_start(str(tmp_path / "absent"), cfg) == StartPlan(Start.FRESH)
    assert plan() == StartPlan(Start.FRESH)
    save_fake_checkpoint(tmp_path / "epoch_2.pth", 2, 4)
    assert plan() == StartPlan(
        Start.RESUME,
        resume_from=str(tmp_path / "epoch_2.pth"),
        message=f"resuming from {tmp_path / 'epoch_2.pth'} (epoch 2/3)",
    )
    assert plan(auto_resume=False) == StartPlan(Start.FRESH)
    # Killed after its last checkpoint: finished, and that checkpoint becomes final.pth.
    save_fake_checkpoint(tmp_path / "epoch_3.pth", 3, 6)
    finished = f"{work} already finished (epoch 3/3); final checkpoint: {final}. Nothing to train."
    assert plan() == StartPlan(
        Start.FINISHED, mark_final=str(tmp_path / "epoch_3.pth"), final=final, message=finished
    )
    # Marked already: nothing to copy, even with the checkpoints deleted.
    shutil.copy(tmp_path / "epoch_3.pth", final)
    os.remove(tmp_path / "epoch_3.pth")
    assert plan() == StartPlan(Start.FINISHED, final=final, message=finished)
    # A longer run (more epochs) resumes from the newest checkpoint, not from final.pth.
    cfg.runner.max_epochs = 5
    assert plan().resume_from == str(tmp_path / "epoch_2.pth")
    # The config's own resume_from wins over everything, auto-resume or not.
    cfg.resume_from = "/elsewhere/epoch_1.pth"
    for auto_resume in (True, False):
        assert plan(auto_resume=auto_resume) == StartPlan(
            Start.RESUME,
            resume_from="/elsewhere/epoch_1.pth",
            message="resuming from /elsewhere/epoch_1.pth (set in the config)",
        )


def test_apply_plan_sets_resume_from_and_marks_and_says_on_rank_0_only(setup, tmp_path, capsys):
    from maiou.train import apply_plan

    config, _ = setup
    save_fake_checkpoint(tmp_path / "epoch_3.pth", 3, 6)
    finished = StartPlan(
        Start.FINISHED,
        mark_final=str(tmp_path / "epoch_3.pth"),
        final=str(tmp_path / "final.pth"),
        message="done",
    )
    resume = StartPlan(Start.RESUME, resume_from=str(tmp_path / "epoch_3.pth"), message="go on")
    for rank in (1, 0):
        cfg = load_config(config)
        cfg.work_dir = str(tmp_path)
        apply_plan(finished, cfg, rank)
        assert (tmp_path / "final.pth").exists() == (rank == 0) and not cfg.resume_from
        apply_plan(resume, cfg, rank)
        assert cfg.resume_from == str(tmp_path / "epoch_3.pth")  # every rank resumes
        expected = "maiou.train: done\nmaiou.train: go on\n" if rank == 0 else ""
        assert capsys.readouterr().out == expected
    assert read_checkpoint_meta(tmp_path / "final.pth")["epoch"] == 3


def test_no_auto_resume_trains_from_scratch(setup, tmp_path, monkeypatch, capsys):
    """--no-auto-resume: the command goes on to train from the first iteration although
    the work dir holds a finished run (the runner's set-up is where it stops here)."""
    config, _ = setup
    save_fake_checkpoint(tmp_path / "epoch_3.pth", 3, 6)

    class SetUp(Exception):
        pass

    def set_up_run(cfg, **kwargs):
        assert not cfg.resume_from
        raise SetUp

    monkeypatch.setattr("maiou.engine.runner.set_up_run", set_up_run)
    with pytest.raises(SetUp):
        main([config, "--work-dir", str(tmp_path), "--no-auto-resume"])
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "final.pth").exists()


# ------------------------------------------------------------------------------------------
# The training device (--device, as maiou.evaluate's)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("visible", [True, False], ids=["GPU visible", "no GPU"])
def test_training_device_follows_the_request(monkeypatch, visible):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    assert training_device("auto") == ("cuda" if visible else "cpu")
    assert training_device("cpu") == "cpu"  # a visible GPU is not used
    if visible:
        assert training_device("cuda") == "cuda"
    else:
        with pytest.raises(TrainError, match="--device cuda: torch sees no GPU"):
            training_device("cuda")


def test_device_cpu_hides_the_gpus_and_cuda_without_one_is_one_line(
    setup, tmp_path, capsys, monkeypatch
):
    config, _ = setup
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "unset by the test")  # restored afterwards
    work = tmp_path / "done"
    work.mkdir()
    save_fake_checkpoint(work / "epoch_3.pth", 3, 6)  # finished: nothing is built
    assert main([config, "--work-dir", str(work), "--device", "cpu"]) == 0
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""  # set before anything touched CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status = main([config, "--work-dir", str(tmp_path / "fresh"), "--device", "cuda"])
    err = capsys.readouterr().err
    # One line of ours (torch may warn about CUDA_HOME first when mmcv loads).
    ours = [line for line in err.splitlines() if line.startswith("maiou.train")]
    assert status == 2 and len(ours) == 1
    assert ours[0].startswith("maiou.train: error: --device cuda: torch sees no GPU here")


# ------------------------------------------------------------------------------------------
# Common random numbers: two runs of one seed differ only by what their configs change
# ------------------------------------------------------------------------------------------
@pytest.mark.slow(seconds=22)
def test_paired_runs_share_init_data_order_and_flips(embedded_data, tmp_path, monkeypatch):
    """atss_iou_400 and atss_maiou_400 (embedded) trained with the same seed start from the
    same weights and see the same images in the same order with the same flips, through
    two epochs of real training, so their difference is the assigner's, not the draw's
    (docs/uncertainty.md)."""
    from mmdet.datasets.pipelines import RandomFlip

    import maiou.engine.runner as runner_module

    monkeypatch.setenv("MAIOU_EMBEDDED_ROOT", str(embedded_data))
    skip_runner_sleeps(monkeypatch.setattr)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "unset by the test")  # restored afterwards
    seen, init = {}, {}
    flip, build = RandomFlip.__call__, runner_module.build_model_and_datasets

    def recording_flip(self, results):
        out = flip(self, results)
        seen[run].append((out["ori_filename"], out["flip"], out.get("flip_direction")))
        return out

    def recording_build(cfg):
        model, datasets = build(cfg)
        init[run] = {k: v.clone() for k, v in model.state_dict().items()}
        return model, datasets

    monkeypatch.setattr(RandomFlip, "__call__", recording_flip)
    monkeypatch.setattr(runner_module, "build_model_and_datasets", recording_build)
    for run in ("atss_iou_400", "atss_maiou_400"):
        seen[run] = []
        options = [
            "runner.max_iters=4",
            "checkpoint_config.interval=4",
            "evaluation.interval=4",
            "lr_config.warmup_iters=1",
            "lr_config.step=[2,3]",
        ]
        assert (
            main(
                [
                    osp.join(REPO, "configs/embedded", f"{run}.py"),
                    "--work-dir",
                    str(tmp_path / run),
                    "--seed",
                    "3",
                    "--no-validate",
                    "--device",
                    "cpu",
                    "--cfg-options",
                    *options,
                ]
            )
            == 0
        )
    iou, maiou = seen["atss_iou_400"], seen["atss_maiou_400"]
    assert len(iou) == 4 * 8 and iou == maiou
    assert {flipped for _, flipped, _ in iou} == {True, False}  # flips were drawn
    assert init["atss_iou_400"].keys() == init["atss_maiou_400"].keys()
    for key, value in init["atss_iou_400"].items():
        assert torch.equal(value, init["atss_maiou_400"][key]), key
    # ... and the runs did differ (the assigners), so the recording saw real training.
    a = torch.load(tmp_path / "atss_iou_400/final.pth", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "atss_maiou_400/final.pth", weights_only=True)["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
