"""The Snakemake workflow: dry-run job counts, config validation, and one real embedded run.

Every snakemake call runs with ``--directory`` in a tmp folder, so the repository's data/,
work_dirs/, results/ and reports/ are never touched.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import presets
from maiou import runs as registry

ROOT = Path(__file__).resolve().parents[1]
ALL_RUNS = len(registry.GROUPS["all"])  # the default run list
RELEASED = len(registry.released())  # the runs coco-released evaluates
EMBEDDED = presets.get("embedded")
SEEDS = len(EMBEDDED.seeds)  # training seeds of the primary endpoint's runs by default
ENDPOINT_RUNS = len(registry.PRIMARY.runs)
# Trainings of the default embedded run: the endpoint's runs every seed, the others fewer.
DEFAULT_TRAININGS = SEEDS * ENDPOINT_RUNS + EMBEDDED.secondary_seeds * (ALL_RUNS - ENDPOINT_RUNS)


def snakemake(
    workdir: Path, *args: str, snakefile: Path = ROOT / "Snakefile", timeout: int = 120
) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run as {rule: count}; {} for 'Nothing to be done'."""
    if "Nothing to be done" in output:
        return {}
    block = output.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def dry_run(workdir: Path, *config: str, **kw) -> dict[str, int]:
    result = snakemake(workdir, "-n", *(["--config", *config] if config else []), **kw)
    assert result.returncode == 0, result.stdout + result.stderr
    return job_counts(result.stdout + result.stderr)


def test_embedded_dry_run_lists_every_job(tmp_path):
    counts = dry_run(tmp_path)
    # A train draw and a backbone per seed; every run of the primary endpoint trains
    # every seed, the others the first secondary_seeds.
    assert counts == {
        "embedded_dataset": SEEDS,
        "embedded_backbone": SEEDS,
        "contact_sheet": 1,
        "train": DEFAULT_TRAININGS,  # each evaluated in its own process (maiou.train)
        "bootstrap": 1,
        "compile_table": 1,
        "plot_results": 1,
        "ratio_gain": 1,
        "assignment_picture": 1,
        "all": 1,
        "total": DEFAULT_TRAININGS + 2 * SEEDS + 7,
    }


def test_table_target_builds_only_its_dependencies(tmp_path):
    result = snakemake(tmp_path, "-n", "results/table.md", "--config", "runs=[fixed_550]")
    assert result.returncode == 0, result.stderr
    # Without the primary endpoint's runs every run trains every seed.
    assert job_counts(result.stdout + result.stderr) == {
        "embedded_dataset": SEEDS,
        "embedded_backbone": SEEDS,
        "train": SEEDS,
        "bootstrap": 1,
        "compile_table": 1,
        "total": 3 * SEEDS + 2,
    }


def test_coco_released_dry_run(tmp_path):
    counts = dry_run(tmp_path, "preset=coco-released")
    # val2017 + annotations (no train2017), the released checkpoints (no maYOLACT-700).
    assert RELEASED == ALL_RUNS - 1
    assert counts == {
        "coco_download": 2,
        "coco_unpack": 2,
        "download_checkpoint": RELEASED,
        "evaluate": RELEASED,
        "bootstrap": 1,
        "compile_table": 1,
        "plot_results": 1,
        "ratio_gain": 1,
        "assignment_picture": 1,
        "all": 1,
        "total": 2 * RELEASED + 10,
    }


def test_coco_train_dry_run(tmp_path):
    counts = dry_run(tmp_path, "preset=coco-train")
    # The authors' training logs of the ten released runs, for the curve check and figure,
    # and the ImageNet ResNet-50, fetched before any training (imagenet_backbone).
    assert counts == {
        "coco_download": 3,
        "coco_unpack": 3,
        "imagenet_backbone": 1,
        "train": ALL_RUNS,  # one GPU each: evaluated in the training process
        "bootstrap": 1,
        "compile_table": 1,
        "plot_results": 1,
        "ratio_gain": 1,
        "assignment_picture": 1,
        "download_log": 10,
        "training_curves": 1,
        "all": 1,
        "total": ALL_RUNS + 24,
    }


def test_coco_train_log_url_override_and_reference(tmp_path):
    result = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--config",
        "preset=coco-train",
        "runs=[atss_maiou_550,mayolact_700]",
        "log_urls={atss_maiou_550: 'http://127.0.0.1:9/a.log'}",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "--log atss_maiou_550 --log-url http://127.0.0.1:9/a.log" in out
    # Training names the log for the curve check; maYOLACT-700 has none.
    assert "MAIOU_REFERENCE_LOG=checkpoints/coco/logs/atss_maiou_550.log" in out
    assert out.count("MAIOU_REFERENCE_LOG=") == 1
    assert "--curve-check" in out


def test_each_training_process_gets_threads_per_run(tmp_path):
    """coco-train with 2 processes per run: each process's OMP/MKL threads are
    threads_per_run (the job counts 2 x 3), so 2 processes never share 6 threads each."""
    result = snakemake(
        tmp_path,
        "-n",
        "-p",
        "--config",
        "preset=coco-train",
        "runs=[atss_maiou_550]",
        "gpus_per_run=2",
        "threads_per_run=3",
    )
    assert result.returncode == 0, result.stderr
    train = result.stdout.split("rule train:", 1)[1].split("\nrule ", 1)[0]
    assert "--nproc_per_node=2" in train and "--evaluate-to" not in train
    assert "rule evaluate:" in result.stdout  # torchrun runs: evaluated by a job of its own
    assert re.search(r"export OMP_NUM_THREADS=3 MKL_NUM_THREADS=3\s", train), train


def test_seeds_train_and_evaluate_every_run_per_seed(tmp_path):
    result = snakemake(
        tmp_path, "-n", "-p", "--config", "runs=[atss_iou_400,atss_maiou_400]", "seeds=[0,1,2]"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    counts = job_counts(out)
    assert (counts["train"], counts.get("evaluate"), counts["bootstrap"]) == (6, None, 1)
    # Seed 0 keeps the single-seed folders; seeds 1 and 2 get their own, trained with
    # their seed.
    assert "work_dirs/embedded/atss_iou_400/final.pth" in out
    assert "results/embedded/seed2/atss_maiou_400/metrics.json" in out
    assert re.search(r"--work-dir work_dirs/embedded/seed1/atss_iou_400[\s\\]+--seed 1", out)
    # Each seed trains on its own draw of the train split, from its own backbone.
    assert "MAIOU_EMBEDDED_ROOT=data/embedded/seed2" in out
    assert "--out data/embedded/seed2 --seed 0 --train-seed 2" in out
    assert "--out data/embedded/seed2/backbone.pth --seed 2" in out
    assert "--seeds 0 1 2 --secondary-seeds 1" in out  # the report steps' allocation


@pytest.mark.parametrize(
    "override, named",
    [
        ("bogus_key=1", "bogus_key"),
        ("preset=coco-everything", "coco-everything"),
        ("threads_per_run=0", "threads_per_run"),
        ("bootstrap_resamples=5", "bootstrap_resamples"),
        ("seeds=[0,-1]", "seeds"),
        ("log_urls={fixed_550: 'ftp://x/y.log'}", "log_urls"),
    ],
)
def test_schema_rejects_bad_config(tmp_path, override, named):
    result = snakemake(tmp_path, "-n", "--config", override)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "ValidationError" in message and named in message, message


@pytest.mark.parametrize(
    "key, override",
    [
        ("runs", "runs=[fixed_550,fixed_999]"),
        ("log_urls", "log_urls={fixed_999: 'http://x/y.log'}"),
    ],
)
def test_unknown_run_is_named_with_the_valid_ones(tmp_path, key, override):
    result = snakemake(tmp_path, "-n", "--config", override)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    line = next(line for line in message.splitlines() if "unknown run fixed_999" in line)
    assert f"config '{key}'" in line and all(name in line for name in registry.NAMES), message


def test_run_groups(tmp_path):
    """`runs: task_aligned` and `runs: beyond` plan the runs beyond the paper; an unknown
    group is named."""
    for group in ("task_aligned", "beyond"):
        planned = dry_run(tmp_path, f"runs={group}")
        runs = len(registry.GROUPS[group])
        assert planned["train"] == SEEDS * runs and "evaluate" not in planned
    for name in ("paper", "fixed_999"):  # not a group; a single run is written as a list
        result = snakemake(tmp_path, "-n", "--config", f"runs={name}")
        assert result.returncode != 0
        assert f"config 'runs': no group '{name}'; the groups are all, task_aligned, beyond" in (
            result.stdout + result.stderr
        )


def test_runs_default_to_the_registry(tmp_path):
    explicit = dry_run(tmp_path, "runs=[" + ",".join(registry.GROUPS["all"]) + "]")
    assert dry_run(tmp_path) == explicit == dry_run(tmp_path, "runs=all")


# ------------------------------------------------------------------------------------
# One real run: the primary endpoint's six ATSS runs with two seeds and the task-aligned
# pair with one (a family beside ATSS), 3 iterations, 16 + 8 synthetic images.
# ------------------------------------------------------------------------------------
SMOKE_RUNS = [*registry.PRIMARY.runs, "tal_iou_550", "tal_maiou_550"]
SMOKE = [
    f"runs=[{','.join(SMOKE_RUNS)}]",
    "seeds=[0,1]",
    "secondary_seeds=1",
    "num_train=16",
    "num_val=8",
    "max_iters_override=3",
    "pretrain_iters_override=2",
    "samples_per_gpu=2",
    "speed_images=4",
]
FIGURES = (
    "ap_olrp_vs_size",
    "speed_accuracy",
    "embedded_contact_sheet",
    "ap_gain_by_mask_box_ratio",
    "assignment_iou_vs_maiou",
)


@pytest.mark.slow(seconds=150)
def test_embedded_end_to_end(tmp_path):
    # A private copy of the workflow and configs: the config-change check below edits one.
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "Snakefile", repo)
    shutil.copytree(
        ROOT / "experiments",
        repo / "experiments",
        ignore=shutil.ignore_patterns("__pycache__", "benchmarks"),
    )
    shutil.copytree(
        ROOT / "configs", repo / "configs", ignore=shutil.ignore_patterns("__pycache__")
    )
    work = tmp_path / "work"
    snakefile = repo / "Snakefile"

    start = time.monotonic()
    result = snakemake(work, "--cores", "2", "--config", *SMOKE, snakefile=snakefile, timeout=600)
    elapsed = time.monotonic() - start
    logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in (work / "logs").rglob("*.log"))
    assert result.returncode == 0, result.stderr[-5000:] + logs
    print(f"embedded end-to-end: {elapsed:.0f} s")

    md = (work / "results/table.md").read_text()
    lines = md.splitlines()
    assert "Embedded mini-benchmark" in md and "runs with results: 8 of 8" in md
    # The primary endpoint leads: the first line under the title's note, then the first
    # comparison row, over two seeds that are not the pre-stated ones (a later look).
    assert lines[4].startswith(f"**Primary endpoint** ({registry.PRIMARY.title}; seeds 0, 1")
    comparisons = md.split("## Comparisons", 1)[1]
    rows = [
        line for line in comparisons.splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert rows[1].startswith(f"| all three (mean) | {registry.PRIMARY.title} (**primary**, ")
    assert re.search(r"\| [+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] \| \w+ \|", rows[1])
    # The task-aligned pair trained one seed: its comparison shows the images-only interval,
    # labelled, is undecided, and a note says why in one line.
    images_only = r"[+-]\d+\.\d \(images only: \[[+-]\d+\.\d, [+-]\d+\.\d\]\)"
    tal_row = next(line for line in rows if "TAL w. maIoU − TAL w. IoU" in line)
    assert re.search(rf"{images_only} \| undecided", tal_row), tal_row
    assert (
        "- 550 (embedded 128 px), TAL w. maIoU − TAL w. IoU: seeds 0; no stored seed spread" in md
    )
    assert "**One is primary**" in md and "a later look, exploratory" in md
    # Runs beyond the paper: "—" for the paper's numbers.
    beyond = md.split("## Runs beyond the paper", 1)[1]
    tal = next(line for line in beyond.splitlines() if line.startswith("| tal_maiou_550 |"))
    assert re.search(r"\| — / \d+\.\d / — \|", tal), tal
    # Where mask-awareness pays: a row per family and one for the difference of their gains
    # (on the one seed both families have).
    families = md.split("## Where mask-awareness pays", 1)[1].split("\n## ", 1)[0]
    for first_cell in ("ATSS", "TAL", "gain in ATSS − gain in TAL"):
        assert any(line.startswith(f"| {first_cell} |") for line in families.splitlines())
    runs = list(csv.DictReader((work / "results/table.csv").open()))
    assert [r["run"] for r in runs] == SMOKE_RUNS
    assert {r["seeds"] for r in runs} == {"2", "1"}
    for row in runs:
        assert 0.0 <= float(row["segm_AP"]) <= 100.0
        assert 0.0 <= float(row["segm_oLRP"]) <= 100.0
        assert float(row["fps"]) > 0 and int(row["anchors_per_image"]) > 0
    compared = list(csv.DictReader((work / "results/comparisons.csv").open()))
    assert [c["role"] for c in compared][:2] == ["primary", "secondary"]
    assert compared[0]["seeds"] == "0 1" and compared[0]["look"] == "exploratory"
    from PIL import Image

    for name in FIGURES:
        with Image.open(work / f"reports/{name}.png") as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 200
    gain = list(csv.DictReader((work / "reports/ap_gain_by_mask_box_ratio.csv").open()))
    assert {row["size"] for row in gain} == {"400", "550", "700"}
    for key in ("atss_iou_550", "seed1/atss_maiou_550"):
        assert (work / f"benchmarks/embedded/train/{key}.tsv").is_file()
        assert (work / f"work_dirs/embedded/{key}/iter_3.pth").is_file()
    # Each seed trained on its own draw, from its own backbone.
    assert (work / "data/embedded/seed1/backbone.pth").is_file()
    assert (
        json.loads((work / "results/embedded/seed1/atss_iou_400/metrics.json").read_text())[
            "trained_from"
        ]["backbone"]["path"]
        == "data/embedded/seed1/backbone.pth"
    )

    # Snakemake's own report: one page with the table and every figure.
    report = work / "report.html"
    result = snakemake(work, "--report", str(report), "--config", *SMOKE, snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-3000:]
    page = report.read_text()
    for name in ("table.md", "table.csv", "comparisons.csv", *(f"{f}.png" for f in FIGURES)):
        assert name in page, name
    assert "primary endpoint" in page and "Figures" in page

    # Nothing changed: nothing to do.
    assert dry_run(work, *SMOKE, snakefile=snakefile) == {}

    # One run's config edited: only that run's seeds, the table and the figures are redone.
    with (repo / "configs/embedded/atss_iou_550.py").open("a") as f:
        f.write("\n# edited by test_pipeline\n")
    assert dry_run(work, *SMOKE, snakefile=snakefile) == {
        "train": 2,
        "bootstrap": 1,
        "compile_table": 1,
        "plot_results": 1,
        "ratio_gain": 1,
        "all": 1,
        "total": 7,
    }
    result = snakemake(work, "-n", "--config", *SMOKE, snakefile=snakefile)
    assert "wildcards: run=atss_iou_550" in result.stdout
    assert "run=seed1/atss_iou_550" in result.stdout
    assert "run=atss_maiou_550" not in result.stdout


# ------------------------------------------------------------------------------------
# experiments.scripts.download against a local HTTP server that honours Range.
# ------------------------------------------------------------------------------------
def _serve(payload: bytes):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            start = 0
            if self.headers.get("Range"):
                start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1))
                self.send_response(206)
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(payload) - start))
            self.end_headers()
            self.wfile.write(payload[start:])

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/file.zip"


def _download(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.scripts.download", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_download_resumes_and_checks_md5(tmp_path):
    import hashlib

    payload = bytes(range(256)) * 20000
    md5 = hashlib.md5(payload).hexdigest()
    server, url = _serve(payload)
    try:
        out = tmp_path / "dl/file.zip"
        out.parent.mkdir()
        (tmp_path / "dl/file.zip.part").write_bytes(payload[:12345])  # an interrupted run
        result = _download("--url", url, "--md5", md5, "--out", str(out))
        assert result.returncode == 0, result.stderr
        assert "restarting" not in result.stderr  # continued, not restarted
        assert out.read_bytes() == payload and not (tmp_path / "dl/file.zip.part").exists()

        bad = tmp_path / "dl/bad.zip"
        result = _download("--url", url, "--md5", "0" * 32, "--out", str(bad))
        assert result.returncode == 1 and "md5 mismatch" in result.stderr
        assert not bad.exists() and not (tmp_path / "dl/bad.zip.part").exists()
    finally:
        server.shutdown()


def test_download_offline_message_names_url_and_place(tmp_path):
    out = tmp_path / "x.zip"
    result = _download("--url", "http://127.0.0.1:9/x.zip", "--out", str(out))  # port 9: closed
    assert result.returncode == 1
    assert "http://127.0.0.1:9/x.zip" in result.stderr and str(out) in result.stderr
    assert not out.exists()
