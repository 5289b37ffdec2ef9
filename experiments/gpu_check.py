"""Everything a GPU must show, as one command: tests, timings and a short training on CUDA.

    python -m experiments.gpu_check [--out reports/gpu_check.md] [--work DIR]

For a GPU machine that is lent for minutes: run it once, read the report. On one CUDA
device, in about 8 minutes (each step has its own time limit, ``STEPS``):

1. the maIoU operator's and the assigners' tests with CUDA inputs (``--maiou-device cuda``);
2. ``bench_maiou`` (ours against the published loop) and ``bench_assigner`` (extent and
   dense against mmdet's ATSS), on the GPU;
3. one training iteration of atss_iou_550 against atss_maiou_550 at 8 images x 550 px;
4. CARAFE (``compare_carafe_cuda``) and DCNv2 (``bench_deform_conv --device cuda``): mmcv's
   CUDA kernels against the portable PyTorch versions, outputs and gradients;
5. a short embedded training (synthetic data, atss_maiou_550, 100 iterations) with
   ``--device cuda``, and its evaluation.

Writes one markdown report: device, driver, versions, the targets with the measured value
(assigner at 15 ground truths <= 1.0x mmdet's ATSS: the dense path does fewer operations;
training iteration <= 1.05x) and every step's status, time and output. A step that fails
or times out is reported and the next one runs; the exit status is 1 if any failed.
Without CUDA it prints one line and exits with status 2. docs/performance.md says what
each figure means.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from maiou.rundir import FINAL_NAME
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import UserError, entry_point

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass(frozen=True)
class Step:
    title: str
    command: list[str]
    timeout_s: int


def python_m(module: str, *args) -> list[str]:
    """``python -m module args...`` with this interpreter."""
    return [PY, "-m", module, *map(str, args)]


def steps(work: Path) -> list[Step]:
    """The check's steps; ``work`` holds the short training's data and outputs. Their time
    limits add up to 8 minutes."""
    data, run = work / "embedded", work / "atss_maiou_550"
    config = ROOT / "configs/embedded/atss_maiou_550.py"
    short = ["runner.max_iters=100", "checkpoint_config.interval=100", "evaluation.interval=100"]
    short += ["lr_config.warmup_iters=5", "lr_config.step=[80,95]"]
    tests = [
        "tests/test_mask_aware_iou.py",
        "tests/test_atss_maiou_assigner.py",
        "tests/test_task_aligned_assigner.py",
        "tests/test_simota_assigner.py",
    ]
    bench = "experiments.benchmarks."
    train = "short embedded training on the GPU"
    return [
        Step(
            "operator and assigner tests, CUDA inputs",
            python_m("pytest", "-q", "-p", "no:cacheprovider", *tests, "--maiou-device", "cuda"),
            120,
        ),
        Step(
            "maIoU operator: ours vs the published loop",
            python_m(bench + "bench_maiou", "--device", "cuda"),
            45,
        ),
        Step(
            "assigner: ours (extent, dense) vs mmdet's ATSS",
            python_m(bench + "bench_assigner", "--device", "cuda"),
            45,
        ),
        Step(
            "training iteration, atss_maiou_550 vs atss_iou_550, 8 x 550 px",
            python_m(
                bench + "bench_train_iteration", "--device", "cuda", "--images", 8, "--repeats", 5
            ),
            75,
        ),
        Step(
            "CARAFE: mmcv's CUDA kernel vs the portable one",
            python_m(bench + "compare_carafe_cuda"),
            45,
        ),
        Step(
            "DCNv2: mmcv's CUDA kernel vs the portable one",
            python_m(bench + "bench_deform_conv", "--device", "cuda"),
            30,
        ),
        Step(
            f"{train}: data",
            python_m(
                "maiou.data.synthetic",
                "--out",
                data,
                "--seed",
                0,
                "--num-train",
                200,
                "--num-val",
                50,
                "--no-progress",
            ),
            20,
        ),
        Step(
            f"{train}: backbone",
            python_m(
                "maiou.pretrain_backbone",
                "--data-root",
                data,
                "--out",
                data / "backbone.pth",
                "--iters",
                100,
                "--no-progress",
            ),
            30,
        ),
        Step(
            f"{train}: 100 iterations of atss_maiou_550",
            python_m(
                "maiou.train",
                config,
                "--work-dir",
                run,
                "--seed",
                0,
                "--device",
                "cuda",
                "--no-validate",
                "--cfg-options",
                *short,
            ),
            45,
        ),
        Step(
            f"{train}: evaluation",
            python_m(
                "maiou.evaluate",
                config,
                run / FINAL_NAME,
                "--out",
                work / "results",
                "--device",
                "cuda",
                "--no-progress",
            ),
            25,
        ),
    ]


# Targets: (title, step whose output holds the value, pattern, limit).
TARGETS = [
    (
        "assigner, dense path / mmdet's ATSS, 15 GTs",
        2,
        re.compile(r"^\s*15\s+\S+\s+\S+\s+\S+x\s+\S+\s+(\S+)x", re.M),
        1.0,
    ),
    (
        "training iteration, atss_maiou_550 / atss_iou_550",
        3,
        re.compile(r"^ratio atss_maiou_550 / atss_iou_550 = (\S+)", re.M),
        1.05,
    ),
]


def run_step(step: Step, env: dict) -> dict:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            step.command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=step.timeout_s
        )
        status, output = (
            "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})",
            proc.stdout + proc.stderr,
        )
    except subprocess.TimeoutExpired as exc:
        status = f"timed out after {step.timeout_s} s"
        output = "".join(
            x.decode() if isinstance(x, bytes) else (x or "") for x in (exc.stdout, exc.stderr)
        )
    return dict(status=status, seconds=time.monotonic() - start, output=output)


def environment() -> list[str]:
    import mmcv
    import torch

    driver = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if shutil.which("nvidia-smi")
        else "unknown (no nvidia-smi)"
    )
    return [
        f"- Device: {torch.cuda.get_device_name(0)} "
        f"(compute capability {'.'.join(map(str, torch.cuda.get_device_capability(0)))})",
        f"- Driver: {driver}; torch {torch.__version__} built for CUDA {torch.version.cuda}; "
        f"mmcv-full {mmcv.__version__}",
        f"- Date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
    ]


def report(header: list[str], done: list[tuple[Step, dict]]) -> str:
    lines = [
        "# GPU check",
        "",
        *header,
        "",
        "## Targets",
        "",
        "| target | measured | limit | met |",
        "|---|---|---|---|",
    ]
    for title, index, pattern, limit in TARGETS:
        found = pattern.search(done[index][1]["output"]) if index < len(done) else None
        value = float(found.group(1)) if found else None
        lines.append(
            f"| {title} | {'—' if value is None else f'{value:.2f}x'} | <= {limit:.2f}x | "
            f"{'—' if value is None else ('yes' if value <= limit else 'no')} |"
        )
    lines += ["", "## Steps", "", "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {s.title} | {r['status']} | {r['seconds']:.0f} |" for s, r in done]
    for step, result in done:
        tail = "\n".join(result["output"].strip().splitlines()[-40:])
        lines += ["", f"### {step.title}", "", "```", " ".join(step.command), "", tail, "```"]
    return "\n".join(lines) + "\n"


@entry_point("gpu_check")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports/gpu_check.md")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for the short training (default: a temporary one)",
    )
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            "no CUDA device: torch sees no GPU here (torch.cuda.is_available() is False); "
            "run this on a GPU machine"
        )
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    header = environment()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = args.work or Path(tmp)
        env["MAIOU_EMBEDDED_ROOT"] = str(work / "embedded")
        done = []
        for step in steps(work):
            print(f"gpu_check: {step.title} ...", flush=True)
            done.append((step, run_step(step, env)))
            print(
                f"gpu_check:   {done[-1][1]['status']} in {done[-1][1]['seconds']:.0f} s",
                flush=True,
            )
            write_text_atomic(args.out, report(header, done))  # a report even if cut short
    print(f"gpu_check: report in {args.out}")
    return 0 if all(r["status"] == "ok" for _, r in done) else 1


if __name__ == "__main__":
    sys.exit(main())
