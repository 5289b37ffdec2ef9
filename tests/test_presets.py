"""The preset registry (experiments/presets.py): one record per preset, read by the workflow
and the reports, and how a preset spends its training seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments import presets
from maiou import runs as registry

REPO = Path(__file__).resolve().parents[1]


def test_the_schema_names_the_registered_presets_and_their_configs_exist():
    schema = yaml.safe_load((REPO / "experiments/config/schema.yaml").read_text())
    assert schema["properties"]["preset"]["enum"] == list(presets.NAMES)
    for preset in presets.PRESETS.values():
        for run in registry.RUNS:
            assert (REPO / run.config(preset.config_dir)).is_file(), (preset.name, run.name)
        assert preset.seeds and preset.secondary_seeds <= len(preset.seeds)
    with pytest.raises(ValueError, match="unknown preset 'coco'; the presets are embedded"):
        presets.get("coco")


def test_seeds_go_to_the_primary_endpoint():
    everything = list(registry.GROUPS["all"])
    allocation = presets.run_seeds(everything, [0, 1, 2, 3], 1)
    assert set(registry.PRIMARY.runs) < set(everything)
    for run, seeds in allocation.items():
        assert seeds == ([0, 1, 2, 3] if run in registry.PRIMARY.runs else [0]), run
    # 0: every run trains every seed; without all the endpoint's runs, too.
    assert all(s == [0, 1, 2, 3] for s in presets.run_seeds(everything, [0, 1, 2, 3], 0).values())
    beyond = presets.run_seeds(registry.GROUPS["beyond"], [5, 6], 1)
    assert all(s == [5, 6] for s in beyond.values())


def test_the_primary_endpoint_averages_the_three_sizes():
    terms = registry.PRIMARY.terms()
    assert sorted(terms) == sorted(
        f"atss_{overlap}_{size}" for overlap in ("iou", "maiou") for size in (400, 550, 700)
    )
    assert sum(terms.values()) == pytest.approx(0.0)
    assert all(abs(w) == pytest.approx(1 / 3) for w in terms.values())
    assert all(w > 0 for run, w in terms.items() if run.startswith("atss_maiou"))
