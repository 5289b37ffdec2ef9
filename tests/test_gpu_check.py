"""experiments.gpu_check without a GPU: the one-line refusal, the steps' statuses
and the report's targets read from the benchmarks' own output format."""

from __future__ import annotations

import os
import sys

import torch

from experiments import gpu_check

# bench_assigner's and bench_train_iteration's lines, as they print them.
ASSIGNER_OUTPUT = (
    " GTs  mmdet ATSS (IoU) ms  extent ms   ratio  dense ms   ratio  published maIoU ATSS ms"
    "  positives IoU/maIoU\n"
    "   5                 2.03       2.53   1.24x      1.95   0.96x                    20.86"
    "          41/41\n"
    "  15                 3.30       3.79   1.15x      3.19   0.97x                    81.78"
    "         106/103\n"
)
TRAIN_OUTPUT = "atss_iou_550 0.120 s/iteration\nratio atss_maiou_550 / atss_iou_550 = 1.071\n"


def test_without_cuda_one_line_and_status_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    status = gpu_check.main(["--out", str(tmp_path / "r.md")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("gpu_check: error: no CUDA device")
    assert not (tmp_path / "r.md").exists()


def test_steps_report_statuses_and_targets(tmp_path):
    env = dict(os.environ)
    ok = gpu_check.run_step(gpu_check.Step("ok", [sys.executable, "-c", "print('hi')"], 30), env)
    failed = gpu_check.run_step(
        gpu_check.Step("failed", [sys.executable, "-c", "import sys; sys.exit(3)"], 30), env
    )
    slow = gpu_check.run_step(
        gpu_check.Step("slow", [sys.executable, "-c", "import time; time.sleep(5)"], 1), env
    )
    assert ok["status"] == "ok" and ok["output"].strip() == "hi"
    assert failed["status"] == "failed (exit 3)"
    assert slow["status"] == "timed out after 1 s"

    steps = gpu_check.steps(tmp_path)
    assert "--maiou-device" in steps[0].command and steps[2].title.startswith("assigner")
    assert sum(s.timeout_s for s in steps) <= 8 * 60  # the check's budget
    done = [(s, dict(ok)) for s in steps]
    done[2][1]["output"] = ASSIGNER_OUTPUT
    done[3][1]["output"] = TRAIN_OUTPUT
    text = gpu_check.report(["- Device: test"], done)
    assert "| assigner, dense path / mmdet's ATSS, 15 GTs | 0.97x | <= 1.00x | yes |" in text
    assert "| training iteration, atss_maiou_550 / atss_iou_550 | 1.07x | <= 1.05x | no |" in text
    assert text.count("| ok |") == len(steps)
