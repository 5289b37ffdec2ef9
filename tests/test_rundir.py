"""The run-directory module (maiou/rundir.py): run keys, the fingerprint and superseded runs,
metrics of every seed; and the figures reading seeds as the table does."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from experiments.reporting import table
from experiments.reporting.results import load
from experiments.scripts import plot_results
from maiou import rundir


def test_run_keys_round_trip():
    assert rundir.run_key("atss_iou_400", 0) == "atss_iou_400"
    assert rundir.run_key("atss_iou_400", 3) == "seed3/atss_iou_400"
    for key in ("atss_iou_400", "seed12/mayolact_550"):
        assert rundir.run_key(*rundir.split_key(key)) == key
    assert rundir.seed_dir("results", 0).as_posix() == "results"
    assert rundir.seed_dir("results", 2).as_posix() == "results/seed2"
    with pytest.raises(ValueError, match="not a run key"):
        rundir.split_key("seed0/atss_iou_400")


def test_fingerprint_covers_files_options_and_seed(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.pth"
    a.write_text("model = 1\n")
    b.write_bytes(b"\x00\x01")
    fp = rundir.fingerprint([a, b], "--cfg-options x=1", 0)
    # The same digest the pipeline's shell step wrote before (cat files; echo options seed).
    shell = hashlib.sha256(a.read_bytes() + b.read_bytes() + b"--cfg-options x=1 0\n")
    assert fp == shell.hexdigest()
    assert fp != rundir.fingerprint([a, b], "--cfg-options x=2", 0)
    assert fp != rundir.fingerprint([a, b], "--cfg-options x=1", 1)
    a.write_text("model = 2\n")
    assert fp != rundir.fingerprint([a, b], "--cfg-options x=1", 0)


def test_prepare_resumes_the_same_run_and_supersedes_another(tmp_path):
    work = tmp_path / "atss_iou_400"
    assert not rundir.prepare(work, "f1")  # a new run
    (work / "iter_10.pth").write_bytes(b"x")
    assert not rundir.prepare(work, "f1")  # interrupted: resumes
    assert (work / "iter_10.pth").exists()
    assert rundir.prepare(work, "f2")  # another config: afresh, the old one kept aside
    assert not (work / "iter_10.pth").exists()
    assert (tmp_path / "atss_iou_400.superseded/iter_10.pth").exists()
    assert (work / ".fingerprint").read_text() == "f2\n"
    (work / "iter_20.pth").write_bytes(b"y")
    assert rundir.prepare(work, "f3")  # a second change replaces the older superseded run
    assert sorted(p.name for p in (tmp_path / "atss_iou_400.superseded").iterdir()) == [
        ".fingerprint",
        "iter_20.pth",
    ]


def test_prepare_from_the_command_line(tmp_path):
    config = tmp_path / "c.py"
    config.write_text("x = 1\n")
    work = tmp_path / "run"

    def prepare(options):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "maiou.rundir",
                "prepare",
                str(work),
                "--seed",
                "0",
                "--inputs",
                str(config),
                f"--options={options}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert prepare("--cfg-options runner.max_iters=20") == ""
    assert "starting afresh" in prepare("--cfg-options runner.max_iters=40")
    assert (tmp_path / "run.superseded").is_dir()


def _metrics(ap: float) -> dict:
    return {"segm": {"AP": ap, "oLRP": 0.9}, "bbox": {"AP": ap / 2}, "device": "cpu"}


def test_load_metrics_reads_every_seed_in_order(tmp_path, capsys):
    for seed, ap in ((0, 0.10), (2, 0.30)):
        path = rundir.seed_dir(tmp_path, seed) / "atss_iou_400/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_metrics(ap)))
    bad = rundir.seed_dir(tmp_path, 1) / "atss_iou_400/metrics.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{")
    got = rundir.load_metrics(tmp_path, ["atss_iou_400", "fixed_400"], seeds=(0, 1, 2))
    assert list(got) == ["atss_iou_400"]
    assert [m["segm"]["AP"] for m in got["atss_iou_400"]] == [0.10, 0.30]
    assert f"ignoring unreadable {bad}" in capsys.readouterr().err


def test_size_figure_points_are_the_tables_numbers_with_two_seeds(tmp_path):
    runs = ["atss_iou_400", "atss_maiou_400", "atss_maiou_550"]
    for seed in (0, 1):
        for i, run in enumerate(runs):
            path = rundir.seed_dir(tmp_path, seed) / run / "metrics.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(_metrics(0.1 + 0.05 * i + 0.02 * seed)))
    rows = table.build("embedded", tmp_path, runs, (0, 1)).rows
    _, figure_rows = load(tmp_path, {run: [0, 1] for run in runs})
    points = plot_results.size_points(figure_rows, "atss_maiou", "AP")
    assert points == [
        (400, rows["atss_maiou_400"]["segm_AP"], "atss_maiou_400"),
        (550, rows["atss_maiou_550"]["segm_AP"], "atss_maiou_550"),
    ]
    assert points[0][1] == pytest.approx(100 * (0.15 + 0.17) / 2)  # the mean of both seeds
