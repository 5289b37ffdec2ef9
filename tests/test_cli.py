"""Command lines end in one line for an expected error (maiou.utils.cli), a traceback on --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maiou.utils.cli import ERROR_STATUS, UserError, entry_point

ROOT = Path(__file__).resolve().parents[1]


@entry_point("prog")
def _main(argv):
    kind = argv[0]
    if kind == "user":
        raise UserError("bad.pth: not a checkpoint;\nre-download it")
    if kind == "missing":
        open(argv[1])
    if kind == "bug":
        raise ZeroDivisionError("a bug")
    return int(kind)


def test_expected_errors_print_one_line(tmp_path, capsys):
    assert _main(["user"]) == ERROR_STATUS
    assert capsys.readouterr().err == "prog: error: bad.pth: not a checkpoint; re-download it\n"
    missing = tmp_path / "nope.json"
    assert _main(["missing", str(missing)]) == ERROR_STATUS
    assert capsys.readouterr().err == f"prog: error: {missing}: No such file or directory\n"
    assert _main(["0"]) == 0 and _main(["3"]) == 3


def test_debug_shows_the_traceback_and_bugs_keep_theirs(monkeypatch):
    with pytest.raises(UserError):
        _main(["user", "--debug"])
    monkeypatch.setenv("MAIOU_DEBUG", "1")
    with pytest.raises(UserError):
        _main(["user"])
    monkeypatch.delenv("MAIOU_DEBUG")
    with pytest.raises(ZeroDivisionError):
        _main(["bug"])


def _one_error_line(status, err, prog, *fragments):
    assert status == ERROR_STATUS, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1, err
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_train_bad_key_from_the_command_line(tmp_path):
    """The real `python -m` path: one line, no traceback, nothing started."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "maiou.train",
            "configs/embedded/fixed_550.py",
            "--work-dir",
            str(tmp_path / "w"),
            "--cfg-options",
            "model.bbox_hed.num_classes=5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    _one_error_line(
        proc.returncode,
        proc.stderr,
        "maiou.train",
        "'model' has no key 'bbox_hed'",
        "did you mean 'bbox_head'",
    )
    assert not (tmp_path / "w").exists()


def test_train_debug_raises(tmp_path):
    from maiou import train
    from maiou.engine.config import ConfigError

    with pytest.raises(ConfigError, match="bbox_hed"):
        train.main(
            [
                str(ROOT / "configs/embedded/fixed_550.py"),
                "--work-dir",
                str(tmp_path),
                "--cfg-options",
                "model.bbox_hed.num_classes=5",
                "--debug",
            ]
        )


def test_evaluate_bad_checkpoint(tmp_path, monkeypatch, capsys):
    from maiou import evaluate
    from maiou.data.synthetic import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, seed=0, num_train=1, num_val=2, progress=False)
    monkeypatch.setenv("MAIOU_EMBEDDED_ROOT", str(data))
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_text("<!DOCTYPE html><html>quota exceeded</html>")
    status = evaluate.main(
        [
            str(ROOT / "configs/embedded/fixed_550.py"),
            str(checkpoint),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    _one_error_line(status, capsys.readouterr().err, "maiou.evaluate", str(checkpoint))
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_pretrain_and_synthetic_bad_input(tmp_path, capsys):
    from maiou import pretrain_backbone
    from maiou.data import synthetic

    status = pretrain_backbone.main(
        ["--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "b.pth"), "--no-progress"]
    )
    _one_error_line(
        status, capsys.readouterr().err, "maiou.pretrain_backbone", "no such annotation file"
    )
    status = synthetic.main(
        ["--out", str(tmp_path / "d"), "--seed", "0", "--min-objects", "5", "--max-objects", "2"]
    )
    _one_error_line(
        status, capsys.readouterr().err, "maiou.data.synthetic", "min_objects <= max_objects"
    )
