"""The run registry (maiou/runs.py) against configs/ and against itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mmcv import Config

from maiou import runs as registry
from maiou.engine.config import inference_image_size

ROOT = Path(__file__).resolve().parents[1]
# The assigner each family's configs name (docs/paper-facts.md, "What differs").
ASSIGNER_TYPE = {
    "fixed": "MaxIoUAssigner",
    "atss_iou": "ATSSAssigner",
    "atss_maiou": "ATSSmaIoUAssigner",
    "mayolact": "ATSSmaIoUAssigner",
    "tal_iou": "TaskAlignedAssigner",
    "tal_maiou": "TaskAlignedmaIoUAssigner",
    "simota_iou": "SimOTAAssigner",
    "simota_maiou": "SimOTAmaIoUAssigner",
}
LR_POLICY = {"step": "step", "cosine": "CosineAnnealing"}


@pytest.mark.parametrize("kind", ["coco", "embedded"])
def test_registry_and_config_files_agree(kind):
    files = {p.stem for p in (ROOT / "configs" / kind).glob("*.py")}
    assert files == set(registry.NAMES), (
        f"configs/{kind}/ without a registry entry: {sorted(files - set(registry.NAMES))}; "
        f"registry entries without a config: {sorted(set(registry.NAMES) - files)}"
    )
    for run in registry.RUNS:
        assert (ROOT / run.config(kind)).is_file()


@pytest.mark.parametrize("run", registry.RUNS, ids=registry.NAMES)
def test_registry_entry_matches_its_configs(run):
    coco = Config.fromfile(str(ROOT / run.coco_config))
    embedded = Config.fromfile(str(ROOT / run.embedded_config))
    assert inference_image_size(coco) == (run.coco_size, run.coco_size)
    assert inference_image_size(embedded) == (run.embedded_size, run.embedded_size)
    for cfg in (coco, embedded):
        assert cfg.model.train_cfg.assigner.type == ASSIGNER_TYPE[run.assigner]
        assert cfg.lr_config.policy == LR_POLICY[run.lr_schedule]


def test_names_sizes_and_styles():
    for run in registry.RUNS:
        assert run.name == f"{run.assigner}_{run.coco_size}"
        assert run.assigner in registry.ASSIGNERS and run.coco_size in registry.EMBEDDED_SIZE
        assert run.colour == registry.ASSIGNERS[run.assigner].colour
        assert run.marker == registry.MARKERS[run.coco_size]
    assert len(set(registry.NAMES)) == len(registry.RUNS)
    colours = [a.colour for a in registry.ASSIGNERS.values()]
    assert len(set(colours)) == len(colours)


def test_the_paper_table_is_complete():
    """Every table assigner has a run at every table size, with val2017 mask AP and oLRP."""
    assert registry.SIZES == (400, 550, 700)
    for assigner in registry.ASSIGNERS.values():
        if not assigner.in_table:
            continue
        for size in registry.SIZES:
            run = registry.run_at(assigner.key, size)
            assert run is not None and run.paper_split == "val2017"
            assert 0 < run.paper["segm_AP"] < 100 and 0 < run.paper["segm_oLRP"] < 100
    for run in registry.RUNS:
        if not registry.ASSIGNERS[run.assigner].in_table and run.published:
            assert run.paper_split == "test-dev" and run.paper["fps"] > 0


def test_groups_and_runs_beyond_the_paper():
    """`runs: all` is the paper's eleven runs; the task-aligned and SimOTA runs are opt-in,
    have no published numbers, and are compared with each other; `runs: beyond` is every
    assigner family's IoU and maIoU run at the families' size."""
    paper = registry.GROUPS["all"]
    assert len(paper) == 11 and all(registry.get(name).published for name in paper)
    assert registry.GROUPS["task_aligned"] == ("tal_iou_550", "tal_maiou_550")
    assert registry.GROUPS["beyond"] == (
        "atss_iou_550",
        "atss_maiou_550",
        "tal_iou_550",
        "tal_maiou_550",
        "simota_iou_550",
        "simota_maiou_550",
    )
    for name in registry.GROUPS["beyond"][2:]:
        run = registry.get(name)
        assert not run.published and run.paper_split is None and dict(run.paper) == {}
        assert run.checkpoint_drive_id is None and name not in paper
    for family in registry.FAMILIES.values():
        assert family in registry.COMPARISONS
    for baseline, contender in registry.COMPARISONS:
        assert baseline in registry.ASSIGNERS and contender in registry.ASSIGNERS


def test_released_files_have_drive_ids():
    drive_id = re.compile(r"[A-Za-z0-9_-]{33}")
    released = registry.released()
    # maYOLACT-700 was never released; runs beyond the paper have nothing to release.
    assert len(released) == len(registry.GROUPS["all"]) - 1
    ids = []
    for run in released:
        assert drive_id.fullmatch(run.checkpoint_drive_id), run.name
        assert drive_id.fullmatch(run.log_drive_id), run.name
        ids += [run.checkpoint_drive_id, run.log_drive_id]
    assert len(set(ids)) == len(ids)


def test_unknown_names_are_named_with_the_valid_ones():
    assert registry.check_names(["fixed_550"]) == ["fixed_550"]
    with pytest.raises(registry.UnknownRunError) as info:
        registry.check_names(["fixed_550", "fixed_999", "atss_1"])
    message = str(info.value)
    assert "unknown runs fixed_999, atss_1;" in message
    assert all(name in message for name in registry.NAMES)
    with pytest.raises(registry.UnknownRunError, match="unknown run nope;"):
        registry.get("nope")


def test_ratio_pairs_follow_the_sizes_present():
    assert registry.ratio_pairs(registry.NAMES) == [
        ("atss_iou_400", "atss_maiou_400"),
        ("atss_iou_550", "atss_maiou_550"),
        ("atss_iou_700", "atss_maiou_700"),
    ]
    assert registry.ratio_pairs(["atss_maiou_700", "atss_iou_700", "atss_iou_550"]) == [
        ("atss_iou_700", "atss_maiou_700")
    ]
    assert registry.ratio_pairs(["fixed_550"]) == []
    assert registry.get(registry.ASSIGNMENT_PICTURE_RUN).assigner == registry.RATIO_TREATMENT
