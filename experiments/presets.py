"""The workflow's presets: what each one trains or downloads, on which data, with which seeds.

A preset is a whole way to run the benchmark (``--config preset=NAME``): the embedded CPU
mini-benchmark, the authors' released checkpoints on COCO, or training on COCO. Everything
the workflow and the reports ask about "which preset" they ask the record here: adding a
preset is one :class:`Preset` below plus its config folder ``configs/<config_dir>/``
(docs/adding-an-assigner.md, "A new preset"). The schema (experiments/config/schema.yaml)
takes its names from :data:`NAMES` through a test.

Importing this module is cheap (no torch): the Snakefile reads it at every start.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Preset:
    """One way to run the benchmark.

    Where a run's models come from (``trains``: trained here, else downloaded), what they
    start from (``backbone``), the data (``data``, ``coco_archives``), how seeds are spent
    (``seeds``, ``secondary_seeds``, ``draw_per_seed``) and what the GPU, batch and report
    rules apply (``needs_gpu``, ``distributed``, ``reference_logs``).
    """

    name: str
    config_dir: str  # configs/<config_dir>/<run>.py
    data_root: str  # default of `data_root`
    data_env: str  # the environment variable its configs read the data root from
    # Default training seeds (`seeds: null`) of the primary endpoint's runs
    # (maiou/runs.py, PRIMARY); every other run trains the first `secondary_seeds` of them
    # (0: all). Without the endpoint's runs among `runs`, every run trains every seed.
    seeds: tuple[int, ...]
    secondary_seeds: int
    # Each training seed s also draws its own train split and pretrains its own backbone on
    # it (the embedded benchmark): the seed spread then covers the data draw and the
    # backbone, which another machine would draw anew (docs/uncertainty.md).
    draw_per_seed: bool
    trains: bool  # trains every run; else evaluates the released checkpoints
    data: str  # "synthetic" (generated) or "coco" (downloaded)
    coco_archives: tuple[str, ...]  # COCO zips it downloads
    backbone: str  # "pretrained here", "imagenet" (downloaded) or "released"
    needs_gpu: bool  # `device: auto` stops before any download without a GPU
    distributed: bool  # torchrun over gpus_per_run at the paper's batch (images_per_step)
    reference_logs: bool  # the authors' training logs: curve check and curves figure
    evaluated_on: str  # what "ours" is measured on, for the table and figures
    table_note: str  # the table's opening paragraph

    def size_label(self, coco_size: int) -> str:
        """A row label of the table: the COCO size, with the embedded input size."""
        from maiou.runs import EMBEDDED_SIZE

        if self.config_dir == "embedded":
            return f"{coco_size} (embedded {EMBEDDED_SIZE[coco_size]} px)"
        return str(coco_size)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                name="embedded",
                config_dir="embedded",
                data_root="data/embedded",
                data_env="MAIOU_EMBEDDED_ROOT",
                seeds=(0, 1, 2, 3),
                secondary_seeds=1,
                draw_per_seed=True,
                trains=True,
                data="synthetic",
                coco_archives=(),
                backbone="pretrained here",
                needs_gpu=False,
                distributed=False,
                reference_logs=False,
                evaluated_on="the embedded synthetic val split",
                table_note=(
                    "**Embedded mini-benchmark** — tiny YOLACTs (backbone pretrained on object "
                    "crops of the same data) trained for a few hundred iterations on synthetic "
                    "CPU-sized data (images 96/128/160 px standing in for 400/550/700). This is "
                    "NOT the paper's setting: the paper columns are shown for reference only and "
                    "the differences (Δ) are not meaningful here; compare the assigners with one "
                    "another instead."
                ),
            ),
            Preset(
                name="coco-released",
                config_dir="coco",
                data_root="data/coco",
                data_env="MAIOU_COCO_ROOT",
                seeds=(0,),
                secondary_seeds=0,
                draw_per_seed=False,
                trains=False,
                data="coco",
                coco_archives=("annotations_trainval2017", "val2017"),
                backbone="released",
                needs_gpu=True,
                distributed=False,
                reference_logs=False,
                evaluated_on="COCO val2017",
                table_note=(
                    "**COCO val2017, the authors' released checkpoints** evaluated with this "
                    "code. Δ measures how well the evaluation reproduces the published numbers."
                ),
            ),
            Preset(
                name="coco-train",
                config_dir="coco",
                data_root="data/coco",
                data_env="MAIOU_COCO_ROOT",
                seeds=(0,),
                secondary_seeds=0,
                draw_per_seed=False,
                trains=True,
                data="coco",
                coco_archives=("annotations_trainval2017", "val2017", "train2017"),
                backbone="imagenet",
                needs_gpu=True,
                distributed=True,
                reference_logs=True,
                evaluated_on="COCO val2017",
                table_note=(
                    "**COCO val2017, models trained with this code** (train2017). Δ measures "
                    "how well the training reproduces the published numbers."
                ),
            ),
        )
    }
)
NAMES: tuple[str, ...] = tuple(PRESETS)


def get(name: str) -> Preset:
    """The preset ``name``; ValueError naming the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; the presets are {', '.join(NAMES)}") from None


def run_seeds(runs, seeds, secondary_seeds: int) -> dict[str, list[int]]:
    """{run: the training seeds it trains}: the primary endpoint's runs (maiou/runs.py,
    ``PRIMARY``) train every seed and the other runs the first ``secondary_seeds`` of them
    (0: all), when all of the endpoint's runs are among ``runs``; otherwise every run trains
    every seed. The seeds go where the paper's question is: the other comparisons then read
    a stored seed spread or stay undecided (docs/uncertainty.md)."""
    from maiou.runs import PRIMARY

    seeds = [int(s) for s in seeds]
    endpoint = set(PRIMARY.runs)
    split = secondary_seeds > 0 and endpoint <= set(runs)
    return {
        run: seeds[:secondary_seeds] if split and run not in endpoint else list(seeds)
        for run in runs
    }
