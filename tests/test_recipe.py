"""The recipe fingerprint a stored seed spread is checked against (experiments/recipe.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from experiments import recipe

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_config_files_follow_every_base():
    files = [
        Path(f).relative_to(CONFIGS).as_posix()
        for f in recipe.config_files(CONFIGS / "embedded" / "atss_maiou_550.py")
    ]
    assert files[0] == "embedded/atss_maiou_550.py"
    for base in (
        "embedded/_base_/models/yolact_atss_maiou.py",
        "embedded/_base_/datasets/embedded_128.py",
        "embedded/_base_/schedules/sgd_step.py",
        "coco/_base_/models/yolact_r50_atss_maiou.py",
        "coco/_base_/models/yolact_r50_fixed.py",
        "coco/_base_/schedules/sgd_step_55e.py",
    ):
        assert base in files


def test_the_fingerprint_moves_with_configs_and_settings_not_with_seeds(tmp_path, monkeypatch):
    settings = recipe.default_settings()
    assert "seeds" not in settings and settings["num_train"] == 1600
    default = recipe.pair_fingerprint("atss_iou_400", "atss_maiou_400", "embedded", settings)
    assert default == recipe.pair_fingerprint(
        "atss_iou_400", "atss_maiou_400", "embedded", dict(settings)
    )
    # Another comparison, or any recipe setting changed, is another recipe.
    assert default != recipe.pair_fingerprint(
        "atss_iou_550", "atss_maiou_550", "embedded", settings
    )
    for key, value in (("num_train", 64), ("max_iters_override", 20), ("seed", 1)):
        changed = {**settings, key: value}
        assert recipe.pair_fingerprint("atss_iou_400", "atss_maiou_400", "embedded", changed) != (
            default
        ), key
    # So is a byte changed in a file the runs inherit from (here: the schedule), in a
    # checkout elsewhere (the files are named by their path inside the repository).
    copy = tmp_path / "repo"
    shutil.copytree(CONFIGS, copy / "configs")
    monkeypatch.setattr(recipe, "REPO", copy)
    assert recipe.pair_fingerprint("atss_iou_400", "atss_maiou_400", "embedded", settings) == (
        default
    )
    schedule = copy / "configs/embedded/_base_/schedules/sgd_step.py"
    original = schedule.read_text()
    schedule.write_text(original.replace("max_iters = 200", "max_iters = 201"))
    assert recipe.pair_fingerprint("atss_iou_400", "atss_maiou_400", "embedded", settings) != (
        default
    )
    # Prose is not the recipe: comments, docstrings and blank lines may change freely.
    schedule.write_text(
        original.replace('"""The COCO step', '"""Reworded: the COCO step').replace(
            "max_iters = 200", "\n# a new comment\nmax_iters = 200  # trailing"
        )
    )
    assert recipe.pair_fingerprint("atss_iou_400", "atss_maiou_400", "embedded", settings) == (
        default
    )


def test_config_code_keeps_every_statement_and_drops_only_prose(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text('"""Doc."""\nx = dict(lr=0.1)  # why\n')
    b.write_text("# other words\n\nx = dict(lr=0.1)\n")
    assert recipe.config_code(a) == recipe.config_code(b)
    for changed in (
        "x = dict(lr=0.2)\n",
        "x = dict(lr=0.1, wd=0)\n",
        "y = dict(lr=0.1)\n",
        'x = dict(lr=0.1)\ny = "a string assigned is a value"\n',
    ):
        b.write_text(changed)
        assert recipe.config_code(a) != recipe.config_code(b), changed


def test_seed_noise_names_a_bad_setting_in_one_line(tmp_path, capsys):
    from experiments.scripts import seed_noise

    status = seed_noise.main(
        [
            "--results",
            str(tmp_path),
            "--runs",
            "atss_iou_400",
            "atss_maiou_400",
            "--seeds",
            "3",
            "4",
            "--config",
            "iterations=20",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "--config 'iterations=20': expected KEY=VALUE with KEY one of seed, num_train" in err


@pytest.mark.parametrize("bad", ["[1, 2]", '{"pairs": [{"a": "x", "b": "y", "seeds": [3]}]}'])
def test_seed_noise_refuses_to_add_to_a_file_it_cannot_read(tmp_path, capsys, bad):
    from experiments.scripts import seed_noise

    for seed in (3, 4):
        for run in ("atss_iou_400", "atss_maiou_400"):
            folder = tmp_path / "results" / f"seed{seed}" / run
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(
                '{"segm": {"AP": 0.2, "oLRP": 0.8}, "bbox": {"AP": 0.3, "oLRP": 0.7}}'
            )
    out = tmp_path / "noise.json"
    out.write_text(bad)
    status = seed_noise.main(
        [
            "--results",
            str(tmp_path / "results"),
            "--runs",
            "atss_iou_400",
            "atss_maiou_400",
            "--seeds",
            "3",
            "4",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert f"{out}: not a seed-noise record to add to" in err
    assert out.read_text() == bad  # left as it was
