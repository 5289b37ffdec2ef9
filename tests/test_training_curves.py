"""Training logs, the per-epoch curve check, the curves figure and the authors'-log download.

The logs are written by mmcv's own TextLoggerHook (text log through the runner's logger and
``.log.json``) during short CPU runs of a toy model under mmcv's EpochBasedRunner; the
mmcv 0.6 lines (the authors' mmdet 2.1 logs) are hand-written in that version's layout.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from mmcv.runner import EpochBasedRunner
from mmcv.utils import get_logger
from mmcv_sleeps import skip_runner_sleeps

from maiou.engine.training_log import LogFormatError, epoch_means, read_log
from maiou.hooks import TrainingCurveCheckHook

ROOT = Path(__file__).resolve().parents[1]


class Toy(torch.nn.Module):
    """Two loss terms and their sum, as mmdet detectors log them; ``scale`` multiplies all."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((4,), 0.5))
        self.scale = scale

    def train_step(self, data, optimizer):
        loss_a = ((data * self.w).sum(1) - 1).pow(2).mean() * self.scale
        loss_b = self.w.abs().mean() * 0.1 * self.scale
        loss = loss_a + loss_b
        return dict(
            loss=loss,
            num_samples=len(data),
            log_vars={"loss_a": loss_a.item(), "loss_b": loss_b.item(), "loss": loss.item()},
        )


def train(work_dir: Path, scale: float = 1.0, reference=None, epochs: int = 3):
    """3 epochs x 10 iterations, logged every 2; returns (text log, json log)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = Toy(scale)
    data = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    text_log = work_dir / "train.log"
    logger = get_logger(f"maiou_curves_{work_dir.name}_{id(work_dir)}", log_file=str(text_log))
    runner = EpochBasedRunner(
        model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        work_dir=str(work_dir),
        logger=logger,
        max_epochs=epochs,
    )
    runner.register_training_hooks(
        lr_config=dict(policy="step", step=[2]),
        optimizer_config=dict(grad_clip=None),
        log_config=dict(interval=2, hooks=[dict(type="TextLoggerHook")]),
    )
    if reference is not None:
        runner.register_hook(TrainingCurveCheckHook(reference=str(reference), tolerance=0.10))
    runner.run([loader], [("train", 1)])
    for handler in logger.handlers:
        handler.flush()
    (json_log,) = work_dir.glob("*.log.json")
    return text_log, json_log


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("curves")
    with pytest.MonkeyPatch.context() as patch:
        skip_runner_sleeps(patch.setattr)  # they were 20 of the 21 s these nine epochs took
        ref_text, ref_json = train(root / "authors")
        on = train(root / "on_course", reference=ref_json)
        off = train(root / "off_course", scale=1.5, reference=ref_text)
    return {"root": root, "ref_text": ref_text, "ref_json": ref_json, "on": on, "off": off}


def test_text_and_json_logs_agree(runs):
    text, js = read_log(runs["ref_text"]), read_log(runs["ref_json"])
    assert len(text) == len(js) == 15  # 3 epochs x 5 logged intervals
    assert [(r["epoch"], r["iter"]) for r in text] == [(r["epoch"], r["iter"]) for r in js]
    assert [r["iter"] for r in js[:5]] == [2, 4, 6, 8, 10]
    for a, b in zip(text, js):
        for key in ("loss_a", "loss_b", "loss"):
            assert a[key] == pytest.approx(b[key], abs=1e-4)  # text: 4 decimals
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-3)  # text: 3 significant digits
    assert js[0]["lr"] == pytest.approx(0.05) and js[-1]["lr"] == pytest.approx(0.005)
    means = epoch_means(js)
    assert list(means) == [1, 2, 3] and means[3] < means[1]


def test_mmcv_06_layouts_parse(tmp_path):
    # The layout of mmcv 0.6's TextLoggerHook (mmdet 2.1), with its eta "1 day, h:mm:ss",
    # an evaluation line, an iteration-based line and a two-group lr.
    text = tmp_path / "20200620_100000.log"
    text.write_text(
        "2020-06-20 10:00:00,000 - mmdet - INFO - Environment info: ...\n"
        "2020-06-20 10:05:00,000 - mmdet - INFO - Epoch [1][50/7330]\tlr: 1.000e-03, "
        "eta: 1 day, 2:03:04, time: 0.512, data_time: 0.011, memory: 7104, "
        "loss_cls: 1.1000, loss_bbox: 0.5000, loss_segm: 0.2500, loss: 1.8500\n"
        "2020-06-20 10:06:00,000 - mmdet - INFO - Epoch [1][100/7330]\tlr: 2.000e-03, "
        "eta: 23:59:00, time: 0.510, data_time: 0.010, memory: 7104, loss_cls: 1.0000, "
        "loss_bbox: 0.4000, loss_segm: 0.2000, loss: 1.6000\n"
        "2020-06-20 12:00:00,000 - mmdet - INFO - Epoch(val) [1][5000]\tbbox_mAP: 0.1000\n"
        "2020-06-20 12:10:00,000 - mmdet - INFO - Epoch [2][50/7330]\tlr_backbone: 4.000e-03 "
        "lr_head: 8.000e-03, eta: 22:00:00, time: 0.500, data_time: 0.010, memory: 7104, "
        "loss_cls: 0.9000, loss: 1.2000\n"
    )
    records = read_log(text)
    assert [(r["epoch"], r["iter"]) for r in records] == [(1, 50), (1, 100), (2, 50)]
    assert records[0] == {
        "epoch": 1,
        "iter": 50,
        "lr": 1e-3,
        "loss_cls": 1.1,
        "loss_bbox": 0.5,
        "loss_segm": 0.25,
        "loss": 1.85,
    }
    assert records[2]["lr"] == 4e-3 and records[2]["lr_head"] == 8e-3
    assert epoch_means(records) == pytest.approx({1: 1.725, 2: 1.2})
    js = tmp_path / "20200620_100000.log.json"
    js.write_text(
        '{"env_info": "x", "config": "y", "seed": 0}\n'
        '{"mode": "train", "epoch": 1, "iter": 50, "lr": 0.001, "memory": 7104, '
        '"data_time": 0.011, "loss_cls": 1.1, "loss": 1.85, "time": 0.512}\n'
        '{"mode": "val", "epoch": 2, "iter": 5000, "lr": 0.001, "bbox_mAP": 0.1}\n'
    )
    assert read_log(js) == [{"epoch": 1, "iter": 50, "lr": 0.001, "loss_cls": 1.1, "loss": 1.85}]
    it = tmp_path / "iter.log"
    it.write_text(
        "2021-01-01 00:00:00,000 - mmdet - INFO - Iter [50/600]\tlr: 2.000e-03, "
        "eta: 0:01:00, time: 0.100, data_time: 0.001, loss: 3.0000\n"
    )
    assert read_log(it) == [{"epoch": None, "iter": 50, "lr": 2e-3, "loss": 3.0}]


def test_hook_on_course(runs):
    check = json.loads((runs["root"] / "on_course/curve_check.json").read_text())
    assert [e["epoch"] for e in check["epochs"]] == [1, 2, 3]
    assert check["off_course_epochs"] == [] and check["tolerance"] == 0.10
    for e in check["epochs"]:
        assert e["relative_difference"] < 1e-3  # the same run, up to the log's rounding
    assert "OFF COURSE" not in runs["on"][0].read_text()
    assert "curve check: epoch 1" in runs["on"][0].read_text()


def test_hook_off_course_warns_in_the_log(runs):
    check = json.loads((runs["root"] / "off_course/curve_check.json").read_text())
    assert check["off_course_epochs"] == [1, 2, 3]
    ours, authors = epoch_means(read_log(runs["off"][1])), epoch_means(read_log(runs["ref_text"]))
    for e in check["epochs"]:  # the hook's epoch means are the logged ones (all iterations)
        assert e["ours"] == pytest.approx(ours[e["epoch"]], abs=1e-4)
        assert e["authors"] == pytest.approx(authors[e["epoch"]], abs=1e-4)
        assert (
            e["relative_difference"] == pytest.approx(abs(e["ours"] - e["authors"]) / e["authors"])
            and e["relative_difference"] > 0.1
        )
    log = runs["off"][0].read_text()
    assert log.count("OFF COURSE: epoch") == 3 and "WARNING" in log


def test_hook_refuses_a_bad_reference(tmp_path):
    (tmp_path / "page.log").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    with pytest.raises(LogFormatError, match="page.log: an HTML page"):
        train(tmp_path / "w", reference=tmp_path / "page.log", epochs=1)
    (tmp_path / "empty.log").write_text("nothing logged here\n")
    with pytest.raises(LogFormatError, match="empty.log: no training record"):
        read_log(tmp_path / "empty.log")
    (tmp_path / "bin.log").write_bytes(b"\x80\x04\x95\xff\xfe")
    with pytest.raises(LogFormatError, match="bin.log: not a text file"):
        read_log(tmp_path / "bin.log")


def test_curves_figure_and_table_flag(runs, tmp_path):
    import shutil

    work, refs = tmp_path / "work", tmp_path / "logs"
    for run, source in (("atss_iou_400", "on_course"), ("atss_maiou_400", "off_course")):
        (work / run).mkdir(parents=True)
        for f in (runs["root"] / source).glob("*.log.json"):
            shutil.copy(f, work / run)
    refs.mkdir()
    shutil.copy(runs["ref_json"], refs / "atss_iou_400.log")  # JSON format
    shutil.copy(runs["ref_text"], refs / "atss_maiou_400.log")  # text format
    from experiments.scripts import plot_training_curves as script

    png, check = tmp_path / "reports/training_curves.png", tmp_path / "curve_check.json"
    assert (
        script.main(
            [
                "--work",
                str(work),
                "--reference-dir",
                str(refs),
                "--runs",
                "atss_iou_400",
                "atss_maiou_400",
                "fixed_400",
                "--out",
                str(png),
                "--check",
                str(check),
            ]
        )
        == 0
    )
    from PIL import Image

    with Image.open(png) as image:
        assert image.format == "PNG" and min(image.size) > 200
    result = json.loads(check.read_text())["runs"]
    assert result["atss_iou_400"]["off_course_epochs"] == []
    assert result["atss_maiou_400"]["off_course_epochs"] == [1, 2, 3]
    assert result["fixed_400"]["checked"] is False

    from experiments.scripts import compile_table as table

    (tmp_path / "results").mkdir()
    md, csv_path = tmp_path / "t.md", tmp_path / "t.csv"
    assert (
        table.main(
            [
                "--preset",
                "coco-train",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                "atss_iou_400",
                "atss_maiou_400",
                "fixed_400",
                "--curve-check",
                str(check),
                "--md",
                str(md),
                "--csv",
                str(csv_path),
            ]
        )
        == 0
    )
    text = md.read_text()
    assert "**Off course** (training loss left the authors' curve" in text
    row = next(line for line in text.splitlines() if line.startswith("| atss_maiou_400 | 3"))
    assert "1, 2, 3" in row and "**OFF COURSE**" in row
    assert "| atss_iou_400 | 3 | none | on course" in text
    assert "| fixed_400 | 0 | — | not checked" in text
    import csv

    rows = {r["run"]: r for r in csv.DictReader(csv_path.open())}
    assert rows["atss_maiou_400"]["off_course_epochs"] == "1 2 3"
    assert rows["atss_iou_400"]["off_course_epochs"] == ""


def _serve(payload: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/log"


def test_download_log_checks_it_is_a_log(runs, tmp_path):
    def download(url, out):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "experiments.scripts.download",
                "--log",
                "atss_iou_400",
                "--log-url",
                url,
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    server, url = _serve(runs["ref_text"].read_bytes())
    try:
        result = download(url, tmp_path / "logs/atss_iou_400.log")
        assert result.returncode == 0, result.stderr
        assert "15 training records" in result.stderr
        assert (tmp_path / "logs/atss_iou_400.log").read_bytes() == runs["ref_text"].read_bytes()
    finally:
        server.shutdown()
    server, url = _serve(b"<!DOCTYPE html><html><title>Google Drive</title></html>")
    try:
        result = download(url, tmp_path / "bad/atss_iou_400.log")
        assert result.returncode == 1 and "an HTML page, not a training log" in result.stderr
        assert not (tmp_path / "bad/atss_iou_400.log").exists()
        assert not (tmp_path / "bad/atss_iou_400.log.part").exists()
    finally:
        server.shutdown()


def test_coco_configs_enable_the_check_when_the_pipeline_names_a_log(monkeypatch):
    from maiou.engine.config import load_config

    monkeypatch.setenv("MAIOU_REFERENCE_LOG", "checkpoints/coco/logs/atss_maiou_550.log")
    hooks = load_config(str(ROOT / "configs/coco/atss_maiou_550.py")).custom_hooks
    assert (
        dict(
            type="TrainingCurveCheckHook",
            tolerance=0.10,
            reference="checkpoints/coco/logs/atss_maiou_550.log",
        )
        in hooks
    )
    monkeypatch.delenv("MAIOU_REFERENCE_LOG")
    hooks = load_config(str(ROOT / "configs/coco/atss_maiou_550.py")).custom_hooks
    assert dict(type="TrainingCurveCheckHook", tolerance=0.10, reference=None) in hooks
    assert TrainingCurveCheckHook(reference=None).reference is None  # off: a no-op hook
