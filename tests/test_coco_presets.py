"""The coco presets against a loopback mirror (tests/coco_mirror.py), from nothing.

* ``coco-released`` (fixed_550 and mayolact_550) end to end: downloads (one transfer cut
  half way and resumed), md5 checks, unpacking, released-format checkpoints (zip and legacy
  torch format), evaluation, the table and the figures; each metrics.json equals what
  ``maiou.evaluate`` gives on the same checkpoint and data. Two pipelines share
  one data root and checkpoint folder. (``coco-train`` end to end: test_coco_train.py.)
* Every Python process of the pipeline runs under a network guard (a ``sitecustomize`` that
  refuses and logs any non-loopback connection or name lookup) with an empty TORCH_HOME, so
  a job that tried the internet (e.g. ``torchvision://`` weights at training time) fails the
  test.
* Bad input on these paths gets one clear line: a truncated zip, an md5 mismatch, an
  annotation file that is not COCO, a checkpoint that does not fit the config, a mirror
  that is down; and the batch / device checks of the planner.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from coco_mirror import (
    RELEASED_RUNS,
    ROOT,
    assert_cut_and_resumed,
    assert_no_network,
    coco_config,
    logs,
    md5,
    snakemake,
    snakemake_cmd,
)


def same_metrics(a: dict, b: dict) -> None:
    for kind in ("bbox", "segm"):
        assert a[kind] == b[kind], kind
    assert a["checkpoint_sha256"] == b["checkpoint_sha256"]
    assert a["dataset"] == b["dataset"] and a["anchors_per_image"] == b["anchors_per_image"]


def evaluate_by_hand(run: str, checkpoint: Path, data_root: Path, out: Path, monkeypatch) -> dict:
    """``python -m maiou.evaluate`` typed by hand (here: its ``main`` in this process, which
    has torch and mmdet loaded already), on one thread as the pipeline's job."""
    import torch

    from maiou.evaluate import main

    monkeypatch.setenv("MAIOU_COCO_ROOT", str(data_root))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(
            [
                str(ROOT / "configs/coco" / f"{run}.py"),
                str(checkpoint),
                "--out",
                str(out),
                "--device",
                "cpu",
                "--speed-images",
                "1",
                "--no-progress",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return json.loads((out / "metrics.json").read_text())


def test_the_guard_refuses_the_internet(mirror):
    """The guard itself works: a non-loopback connection fails in a guarded process."""
    code = (
        "import socket, urllib.request\n"
        "for attempt in (lambda: socket.socket().connect(('192.0.2.1', 80)),\n"
        "                lambda: urllib.request.urlopen('http://example.org/', timeout=1)):\n"
        "    try:\n        attempt()\n    except OSError as e:\n        print(e)\n"
    )
    env = dict(mirror["env"], MAIOU_NETWORK_GUARD_LOG=str(mirror["guard_log"]) + ".probe")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert "network guard: refused a connection to ('192.0.2.1', 80)" in proc.stdout
    assert "network guard: refused a name lookup of 'example.org'" in proc.stdout
    assert Path(env["MAIOU_NETWORK_GUARD_LOG"]).read_text().count("refused") == 2


def test_both_checkpoint_formats_load_safely(mirror):
    from maiou.engine.checkpoint import load_untrusted_checkpoint, read_checkpoint_meta

    for run in RELEASED_RUNS:
        served, other = mirror["checkpoints"][run], mirror["other_format"][run]
        assert zipfile.is_zipfile(served) != zipfile.is_zipfile(other)  # one of each format
        a, b = load_untrusted_checkpoint(served), load_untrusted_checkpoint(other)
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
        meta = read_checkpoint_meta(other)
        assert meta["mmcv_version"] == "0.6.0" and meta["epoch"] == 55
        assert len(meta["CLASSES"]) == 80 and "MaskAwareYOLACT" in meta["config"]


@pytest.mark.slow(seconds=82)
def test_coco_released_from_nothing(mirror, tmp_path, monkeypatch):
    work = tmp_path / "work"
    config = coco_config(
        mirror,
        work,
        preset="coco-released",
        runs=RELEASED_RUNS,
        checkpoint_urls={run: f"{mirror['url']}/checkpoints/{run}.pth" for run in RELEASED_RUNS},
    )
    first_request = len(mirror["server"].requests)
    mirror["server"].cut.add("val2017.zip")
    start = time.monotonic()
    result = snakemake(work, config, "--cores", "2", env=mirror["env"])
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-4000:] + logs(work)
    print(f"coco-released end to end: {elapsed:.0f} s")
    assert_no_network(mirror)
    assert_cut_and_resumed(mirror, first_request, work)
    assert (work / "data/coco/val2017/000000000001.jpg").is_file()
    assert not (work / "data/coco/train2017").exists()  # coco-released needs no train split

    md = (work / "results/table.md").read_text()
    assert "released checkpoints" in md and "runs with results: 2 of 2" in md
    assert "Not trained at the paper's" not in md  # released files carry no batch record
    from PIL import Image

    for name in ("ap_olrp_vs_size", "speed_accuracy", "assignment_iou_vs_maiou"):
        with Image.open(work / f"reports/{name}.png") as image:
            image.verify()
    for run in RELEASED_RUNS:
        checkpoint = work / "checkpoints/coco" / f"{run}.pth"
        assert checkpoint.read_bytes() == mirror["checkpoints"][run].read_bytes()
        ours = json.loads((work / f"results/coco-released/{run}/metrics.json").read_text())
        assert ours["dataset"]["images"] == 3 and ours["training"] is None
        by_hand = evaluate_by_hand(
            run, checkpoint, work / "data/coco", tmp_path / f"eval_{run}", monkeypatch
        )
        same_metrics(ours, by_hand)


@pytest.mark.slow(seconds=46)
def test_two_pipelines_share_data_root_and_checkpoint_dir(mirror, tmp_path):
    """Two coco-released pipelines started together on one data_root and checkpoint_dir
    (separate work dirs): both finish, every file is downloaded once and used by both."""
    shared = dict(
        data_root=str(tmp_path / "shared/coco"), checkpoint_dir=str(tmp_path / "shared/ckpt")
    )
    run = RELEASED_RUNS[0]
    configs = [
        coco_config(
            mirror,
            tmp_path / name,
            preset="coco-released",
            runs=[run],
            checkpoint_urls={run: f"{mirror['url']}/checkpoints/{run}.pth"},
            **shared,
        )
        for name in ("one", "two")
    ]
    # Slow transfers, so that the second pipeline asks while the first is downloading.
    mirror["server"].delay.update({"val2017.zip": 1, f"{run}.pth": 1})
    mirror["server"].cut.discard("val2017.zip")  # whole transfers: one request per file
    first_request = len(mirror["server"].requests)
    try:
        procs = [
            subprocess.Popen(
                snakemake_cmd(tmp_path / name, config, "--cores", "1", "results/table.md"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=mirror["env"],
            )
            for name, config in zip(("one", "two"), configs)
        ]
        outcomes = [proc.communicate(timeout=600) for proc in procs]
    finally:
        mirror["server"].delay.clear()
    for name, proc, (_, err) in zip(("one", "two"), procs, outcomes):
        assert proc.returncode == 0, err[-4000:] + logs(tmp_path / name)
        assert "runs with results: 1 of 1" in (tmp_path / name / "results/table.md").read_text()
    requested = [path for path, _ in mirror["server"].requests[first_request:]]
    for path in ("/annotations_trainval2017.zip", "/val2017.zip", f"/checkpoints/{run}.pth"):
        assert requested.count(path) == 1, requested
    checkpoint = Path(shared["checkpoint_dir"]) / f"{run}.pth"
    assert md5(checkpoint) == md5(mirror["checkpoints"][run])
    zipped = Path(shared["data_root"]) / "downloads/val2017.zip"
    assert md5(zipped) == md5(mirror["coco"]["files"]["val2017.zip"])
    one, two = (
        json.loads((tmp_path / name / f"results/coco-released/{run}/metrics.json").read_text())
        for name in ("one", "two")
    )
    same_metrics(one, two)


def test_a_failed_download_says_why_on_the_console(mirror, tmp_path):
    work = tmp_path / "work"
    url = "http://127.0.0.1:9/fixed_550.pth"  # port 9: nothing listens
    config = coco_config(
        mirror, work, preset="coco-released", runs=["fixed_550"], checkpoint_urls={"fixed_550": url}
    )
    result = snakemake(
        work, config, "--cores", "1", "ready/coco-released/checkpoints/fixed_550", env=mirror["env"]
    )
    assert result.returncode != 0
    console = result.stdout + result.stderr
    reason = next(
        (line for line in console.splitlines() if line.strip().startswith("download_checkpoint [")),
        None,
    )
    assert reason is not None, console[-3000:]
    assert f"error: could not download {url}" in reason and "is the server or mirror up?" in reason


# --------------------------------------------------------------------------------------
# Bad input: one line naming the file or key and what to do.
# --------------------------------------------------------------------------------------
def _script(name, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", f"experiments.scripts.{Path(name).stem}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error" in line]
    assert lines, stderr
    return lines[0]


def test_truncated_zip_is_named(mirror, tmp_path):
    data = mirror["coco"]["files"]["val2017.zip"].read_bytes()
    cut = tmp_path / "val2017.zip"
    cut.write_bytes(data[: len(data) // 2])
    result = _script("unpack_coco.py", str(cut), "--root", str(tmp_path / "coco"))
    assert result.returncode == 1
    line = _error_line(result.stderr)
    assert str(cut) in line and "not a complete zip archive" in line and "delete it" in line
    assert not (tmp_path / "coco/val2017").exists()


def test_annotation_that_is_not_coco_is_named(tmp_path):
    archive = tmp_path / "annotations_trainval2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("annotations/instances_val2017.json", json.dumps({"images": [], "foo": 1}))
    result = _script("unpack_coco.py", str(archive), "--root", str(tmp_path / "coco"))
    assert result.returncode == 1
    line = _error_line(result.stderr)
    assert "annotations/instances_val2017.json is not a COCO instances annotation file" in line
    assert "'annotations', 'categories'" in line
    assert not (tmp_path / "coco/annotations").exists()


def test_md5_mismatch_and_a_mirror_that_is_down(mirror, tmp_path):
    out = tmp_path / "annotations_trainval2017.zip"
    result = _script(
        "download.py",
        "--url",
        f"{mirror['url']}/annotations_trainval2017.zip",
        "--md5",
        "0" * 32,
        "--out",
        str(out),
    )
    assert result.returncode == 1 and not out.exists()
    assert "md5 mismatch for" in _error_line(result.stderr)

    result = _script("download.py", "--url", "http://127.0.0.1:9/val2017.zip", "--out", str(out))
    line = _error_line(result.stderr)
    assert result.returncode == 1 and "http://127.0.0.1:9/val2017.zip" in line
    assert "is the server or mirror up?" in line and str(out) in result.stderr


def test_checkpoint_that_does_not_fit_the_config(mirror, tmp_path):
    root = tmp_path / "coco"
    for name in ("annotations_trainval2017.zip", "val2017.zip"):
        result = _script("unpack_coco.py", str(mirror["coco"]["files"][name]), "--root", str(root))
        assert result.returncode == 0, result.stderr
    checkpoint = mirror["checkpoints"]["mayolact_550"]  # maYOLACT weights, fixed-IoU config
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "maiou.evaluate",
            str(ROOT / "configs/coco/fixed_550.py"),
            str(checkpoint),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(mirror["env"], MAIOU_COCO_ROOT=str(root)),
    )
    assert proc.returncode == 2
    line = _error_line(proc.stderr)
    assert line.startswith(f"maiou.evaluate: error: {checkpoint} does not match the model")
    assert "unexpected (in the" in line and "Check that the config matches" in line
    assert "Traceback" not in proc.stderr and not (tmp_path / "out/metrics.json").exists()


def test_training_names_a_missing_imagenet_backbone(tmp_path, monkeypatch, capsys):
    """A COCO training whose ResNet-50 file is absent stops with one line, before building
    anything (and never downloads it)."""
    from maiou import train

    missing = tmp_path / "nowhere/resnet50-19c8e357.pth"
    monkeypatch.setenv("MAIOU_RESNET50", str(missing))
    code = train.main(
        [str(ROOT / "configs/coco/atss_maiou_400.py"), "--work-dir", str(tmp_path / "w")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        f"maiou.train: error: model.backbone.init_cfg.checkpoint: {missing} does not exist"
    )
    assert "imagenet_backbone rule" in err[0] and "MAIOU_RESNET50" in err[0]


def test_hash_in_name_is_checked(mirror, tmp_path):
    wrong = mirror["resnet50"].with_name("resnet50-00000000.pth")
    wrong.write_bytes(mirror["resnet50"].read_bytes())
    try:
        out = tmp_path / "r.pth"
        result = _script(
            "download.py",
            "--url",
            f"{mirror['url']}/models/{wrong.name}",
            "--hash-in-name",
            "--torch-checkpoint",
            "--out",
            str(out),
        )
        assert result.returncode == 1 and not out.exists()
        assert "sha256 mismatch" in _error_line(result.stderr)
        right = f"{mirror['url']}/models/{mirror['resnet50'].name}"
        result = _script(
            "download.py", "--url", right, "--hash-in-name", "--torch-checkpoint", "--out", str(out)
        )
        assert result.returncode == 0, result.stderr
    finally:
        wrong.unlink()


# --------------------------------------------------------------------------------------
# The planner: the published batch, and no GPU.
# --------------------------------------------------------------------------------------
def test_one_gpu_plans_32_images_per_step_and_three_are_refused(tmp_path):
    plan = ("-n", "--config", "preset=coco-train")
    result = snakemake(tmp_path, None, *plan, "gpus_per_run=1", env=None, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "coco-train: 1 GPU(s) x 8 images x accumulation 4 = 32 images per optimizer step"
        in result.stderr
    )
    result = snakemake(tmp_path, None, *plan, "gpus_per_run=3", env=None, timeout=180)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert (
        "gpus_per_run=3 with samples_per_gpu=8 gives 24 images per forward pass, which "
        "does not divide images_per_step=32"
    ) in message
    assert "Use gpus_per_run 1 (accumulation 4), 2 (accumulation 2), 4 (accumulation 1)" in message


def test_coco_preset_without_a_gpu_stops_with_an_estimate(tmp_path):
    # Not a dry run: with device auto and no GPU, nothing may start (no download either).
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    result = snakemake(
        tmp_path,
        None,
        "--cores",
        "1",
        "--config",
        "preset=coco-released",
        "runs=[fixed_550]",
        env=env,
        timeout=180,
    )
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "device=auto: torch sees no GPU here" in message, message[-3000:]
    assert "pass --config device=cpu to go on anyway" in message
    assert not (tmp_path / "data").exists()
