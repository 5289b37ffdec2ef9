"""The recipe a stored seed spread belongs to (experiments/recipe.py), the rule that lends
one (experiments/reporting/spread.py) and the step that measures one
(experiments/scripts/seed_noise.py)."""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path

import pytest

from experiments import presets, recipe
from experiments.reporting import spread
from maiou import runs as registry

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
CONFIG_TEXT = """model = dict(
    type='YOLACT',
    backbone=dict(init_cfg=dict(checkpoint='data/embedded/seed3/backbone.pth')))
data = dict(
    samples_per_gpu=8,
    train=dict(ann_file='data/embedded/seed3/annotations/instances_train.json'))
runner = dict(type='IterBasedRunner', max_iters=200)
work_dir = 'work_dirs/embedded/seed3/atss_iou_550'
seed = 3
gpu_ids = [0]
"""


def _metrics(ap=0.2, seed=3, **changes):
    """A metrics.json as maiou.evaluate writes it for a run trained by the pipeline with
    training seed ``seed`` (its own data draw and backbone)."""
    dataset = {"generator_version": 4, "seed": 0, "train_seed": seed, "num_train": 1600}
    record = {
        "segm": {"AP": ap, "oLRP": 0.8},
        "bbox": {"AP": ap + 0.1, "oLRP": 0.7},
        "dataset": {"images": 300},
        "versions": {"torch": "2.14.1", "mmdet": "2.28.2"},
        "trained_from": {
            "config": CONFIG_TEXT.replace("seed3", f"seed{seed}").replace(
                "seed = 3", f"seed = {seed}"
            ),
            "threads": 1,
            "backbone": {
                "path": f"data/embedded/seed{seed}/backbone.pth",
                "sha256": f"{seed:064x}",
                "meta": {
                    "config": "/somewhere/configs/embedded/fixed_550.py",
                    "dataset": dataset,
                    "iters": 1000,
                    "seed": seed,
                    "batch_size": 64,
                    "crop_size": 64,
                    "threads": 1,
                },
            },
            "dataset": dataset,
        },
    }
    for path, value in changes.items():
        node = record
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return record


def test_config_files_follow_every_base():
    files = [
        Path(f).relative_to(CONFIGS).as_posix()
        for f in recipe.config_files(CONFIGS / "embedded" / "atss_maiou_550.py")
    ]
    assert files[0] == "embedded/atss_maiou_550.py"
    for base in (
        "embedded/_base_/models/yolact_atss_maiou.py",
        "embedded/_base_/cpu_shrink.py",
        "embedded/_base_/datasets/embedded_128.py",
        "embedded/_base_/schedules/sgd_step.py",
        "coco/_base_/models/yolact_r50_atss_maiou.py",
        "coco/_base_/models/yolact_r50_fixed.py",
        "coco/_base_/schedules/sgd_step_55e.py",
    ):
        assert base in files


def test_the_recipe_is_what_changes_a_seed_not_the_seed_itself():
    """Seeds, data folders and the seed's own backbone draw leave the recipe as it is;
    the config, the threads, how the backbone was made, the data's parameters, the
    evaluated images and the library versions each change it."""
    base = recipe.run_recipe(_metrics(seed=3))
    assert recipe.run_recipe(_metrics(seed=7, ap=0.5)) == base
    assert base["config"]["data"]["train"]["ann_file"] == "<data>/annotations/instances_train.json"
    assert set(base["config"]) == {"model", "data", "runner"}  # not work_dir, seed, gpu_ids
    for path, value in (
        ("trained_from.config", CONFIG_TEXT.replace("max_iters=200", "max_iters=201")),
        ("trained_from.threads", 2),
        ("trained_from.backbone.meta.iters", 500),
        ("trained_from.backbone.meta.threads", 2),
        ("trained_from.dataset.num_train", 64),
        ("dataset.images", 100),
        ("versions.torch", "2.15.0"),
    ):
        assert recipe.run_recipe(_metrics(**{path: value})) != base, path
    # A backbone not made by maiou.pretrain_backbone is that very file: another file is
    # another recipe, and a comparison whose runs started from it borrows nothing stored.
    foreign = _metrics(**{"trained_from.backbone.meta": {}})
    assert recipe.run_recipe(foreign)["backbone"] == {"sha256": f"{3:064x}"}
    other = _metrics(**{"trained_from.backbone.meta": {}, "trained_from.backbone.sha256": "e" * 64})
    assert recipe.run_recipe(other) != recipe.run_recipe(foreign)
    # A checkpoint trained elsewhere stores no config: no recipe.
    assert recipe.run_recipe(_metrics(**{"trained_from.config": None})) is None


def test_the_fingerprint_of_a_comparison_needs_one_recipe_per_run():
    runs = {"atss_iou_550": [_metrics(seed=s) for s in (3, 4)]}
    runs["atss_maiou_550"] = [_metrics(seed=s, ap=0.3) for s in (3, 4)]
    fingerprint = recipe.fingerprint(runs)
    assert fingerprint and len(fingerprint) == 64
    mixed = copy.deepcopy(runs)
    mixed["atss_maiou_550"][1]["trained_from"]["threads"] = 2
    assert recipe.fingerprint(mixed) is None
    assert recipe.fingerprint({"x": [_metrics(**{"trained_from.config": None})]}) is None


def test_a_stored_config_is_read_not_run():
    assert recipe.config_values("model = dict(a=[1, (2, 3)], b=None)\n") == {
        "model": {"a": [1, [2, 3]], "b": None}
    }
    for bad in ("model = __import__('os').getcwd()\n", "import os\n", "model = dict(\n"):
        with pytest.raises(recipe.RecipeError):
            recipe.config_values(bad)


def _entry(name="primary", seeds=range(20, 25), fingerprint="f" * 64, sd=0.01):
    seeds = list(seeds)
    return {
        "name": name,
        "fingerprint": fingerprint,
        "seeds": seeds,
        "per_seed": {m: [0.0] * len(seeds) for m in ("segm_AP", "bbox_AP", "segm_oLRP")},
        "sd": {m: sd for m in ("segm_AP", "bbox_AP", "segm_oLRP")},
        "measured": "2026-12-07 on vm",
    }


def test_the_rule_that_lends_a_stored_spread():
    """Pooled only with five or more stored seeds, the same fingerprint and no seed in
    common with the run; every other case is named in one line."""
    stored = {
        "primary": _entry(),
        "few": _entry("few", seeds=range(20, 24)),
        "other": _entry("other", fingerprint="e" * 64),
        "overlap": _entry("overlap", seeds=range(0, 5)),
        "mixed": _entry("mixed"),
    }
    fingerprints = {name: "f" * 64 for name in stored} | {"mixed": None, "absent": "f" * 64}
    seeds = {name: [0, 1, 2] for name in fingerprints}
    pooled, notes = spread.usable(stored, fingerprints, seeds)
    assert pooled == {"primary": {m: (0.01, 5) for m in ("segm_AP", "bbox_AP", "segm_oLRP")}}
    assert notes["primary"].startswith("pooled with the stored spread of seeds 20-24")
    assert "fewer than 5: not used" in notes["few"]
    assert "measured under another recipe" in notes["other"]
    assert "shares seeds 0, 1, 2 with this run: not used" in notes["overlap"]
    assert "no single recipe" in notes["mixed"]
    assert notes["absent"] == "no stored seed spread for this comparison"
    # One seed borrows under the same rule.
    _, notes = spread.usable(stored, fingerprints, {"primary": [0]})
    assert notes["primary"].startswith("seed spread from the stored spread of seeds 20-24")


def _write_results(root: Path, seeds, aps):
    for seed in seeds:
        for run, ap in aps.items():
            folder = root / ("" if seed == 0 else f"seed{seed}") / run
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "metrics.json").write_text(json.dumps(_metrics(ap + 0.001 * seed**2, seed)))


def test_seed_noise_measures_every_comparison_and_adds_to_its_record(tmp_path, capsys):
    from experiments.scripts import seed_noise

    results = tmp_path / "results"
    _write_results(results, range(20, 26), {"atss_iou_550": 0.20, "atss_maiou_550": 0.22})
    out = tmp_path / "noise.json"
    argv = ["--results", str(results), "--runs", "atss_iou_550", "atss_maiou_550"]
    assert seed_noise.main([*argv, "--seeds", "20", "21", "22", "23", "--out", str(out)]) == 2
    assert "fewer than 5 seeds" in capsys.readouterr().err and not out.exists()
    assert seed_noise.main([*argv, "--seeds", "20", "21", "22", "23", "24", "--out", str(out)]) == 0
    assert seed_noise.main([*argv, "--seeds", "25", "--out", str(out)]) == 0  # adds seed 25
    record = json.loads(out.read_text())
    (entry,) = record["contrasts"]
    assert entry["name"] == "atss_maiou_550 - atss_iou_550" and entry["seeds"] == list(
        range(20, 26)
    )
    assert entry["per_seed"]["segm_AP"] == pytest.approx([0.02] * 6)
    assert entry["sd"]["segm_AP"] == pytest.approx(0.0, abs=1e-12)
    assert entry["measured"].startswith(datetime.date.today().isoformat())
    assert entry["fingerprint"] == recipe.fingerprint(
        {run: [_metrics(seed=20)] for run in ("atss_iou_550", "atss_maiou_550")}
    )
    assert (
        "| ATSS w. maIoU − ATSS w. IoU at 550 | 20, 21, 22, 23, 24, 25 |" in capsys.readouterr().out
    )
    # A malformed record is named in one line and left as it was.
    out.write_text('{"contrasts": [{"name": "x"}]}')
    assert seed_noise.main([*argv, "--seeds", "20", "21", "22", "23", "24", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: not a seed-spread record" in err


def test_the_stored_embedded_seed_spread_belongs_to_the_default_recipe():
    """experiments/config/seed_noise_embedded.json: every comparison of the default run
    (the primary endpoint first) measured through the pipeline on at least five seeds the
    default run does not report, its runs' configs as trained equal to what configs/
    resolves to today (a change to the embedded configs without a new measurement fails
    here), and one fingerprint per comparison."""
    from experiments.reporting.comparisons import comparisons
    from maiou.engine.config import load_config

    preset = presets.get("embedded")
    stored = spread.read(REPO / "experiments/config/seed_noise_embedded.json")
    wanted = [c.name for c in comparisons(registry.GROUPS["all"])]
    assert wanted[0] == "primary" and set(wanted) <= set(stored)
    digests = {}
    for entry in stored.values():
        assert len(entry["seeds"]) >= spread.MIN_SEEDS
        assert not set(entry["seeds"]) & set(preset.seeds)
        assert len(entry["fingerprint"]) == 64
        digests.update(entry["config_digests"])
    for run, digest in digests.items():
        cfg = load_config(str(REPO / registry.get(run).config("embedded")))
        assert recipe.config_digest({"trained_from": {"config": cfg.pretty_text}}) == digest, run
