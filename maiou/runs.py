"""The run registry: every run of the paper's tables, and runs beyond the paper, once.

A run is an assigner at an image size: a row of the published results, or a run the paper
did not publish (its numbers are "—" in the table). Everything else that lists runs derives
from :data:`RUNS`: the workflow's run groups (:data:`GROUPS`) and its check of
``--config runs=[...]``, the coco-released downloads, the table, the comparisons
(:data:`COMPARISONS`), the figures' styles and the tests. Adding a run is one entry below
plus its two config files, ``configs/coco/<name>.py`` and ``configs/embedded/<name>.py``
(``tests/test_runs.py`` checks that the registry and ``configs/`` agree);
docs/adding-an-assigner.md walks through a new assigner.

Published numbers are in % as printed by the authors (``docs/paper-facts.md``). The nine
assigner x size runs are on COCO val2017 (minival); maYOLACT is on COCO test-dev, which is
not the split our coco presets evaluate (val2017).

Importing this module is cheap (no torch): the Snakefile reads it at every start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Assigner:
    """An anchor assigner as a column of the paper's table and a colour in the figures."""

    key: str
    title: str
    colour: str
    # A column of the paper's size x assigner table (mask AP / mask oLRP on val2017).
    in_table: bool = True


ASSIGNERS: Mapping[str, Assigner] = MappingProxyType(
    {
        a.key: a
        for a in (
            Assigner("fixed", "Fixed IoU", "tab:blue"),
            Assigner("atss_iou", "ATSS w. IoU", "tab:orange"),
            Assigner("atss_maiou", "ATSS w. maIoU", "tab:green"),
            Assigner("mayolact", "maYOLACT", "tab:red", in_table=False),
            # Beyond the paper: task alignment in full (TOOD, YOLOv8-seg) and YOLOX's SimOTA.
            Assigner("tal_iou", "TAL w. IoU", "tab:purple", in_table=False),
            Assigner("tal_maiou", "TAL w. maIoU", "tab:brown", in_table=False),
            Assigner("simota_iou", "SimOTA w. IoU", "tab:pink", in_table=False),
            Assigner("simota_maiou", "SimOTA w. maIoU", "tab:olive", in_table=False),
        )
    }
)

# The paired comparisons of the table (baseline, contender), each at every size where both
# runs exist: contender − baseline gets an interval over seeds × images and a verdict.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("fixed", "atss_iou"),
    ("atss_iou", "atss_maiou"),
    ("atss_maiou", "mayolact"),
    ("tal_iou", "tal_maiou"),
    ("simota_iou", "simota_maiou"),
)

# "Where mask-awareness pays": maIoU against IoU inside each assigner family, at one size.
# Family title -> (IoU assigner, maIoU assigner); each pair is also in COMPARISONS.
FAMILIES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "ATSS": ("atss_iou", "atss_maiou"),
        "TAL": ("tal_iou", "tal_maiou"),
        "SimOTA": ("simota_iou", "simota_maiou"),
    }
)
FAMILY_SIZE = 550

# COCO image size -> input size of its embedded counterpart (configs/embedded/_base_/datasets)
# and the figures' marker for it.
EMBEDDED_SIZE: Mapping[int, int] = MappingProxyType({400: 96, 550: 128, 700: 160})
MARKERS: Mapping[int, str] = MappingProxyType({400: "o", 550: "s", 700: "^"})


@dataclass(frozen=True, eq=False)
class Run:
    """One run: its assigner, sizes, config files, published numbers and released files."""

    name: str
    assigner: str  # a key of ASSIGNERS
    coco_size: int
    lr_schedule: str  # 'step' or 'cosine' (the config's lr_config policy)
    # Where the published numbers were measured: 'val2017', 'test-dev', or None (unpublished).
    paper_split: str | None
    paper: Mapping[str, float] = field(repr=False)  # segm_AP, segm_oLRP, ... in %; fps
    checkpoint_drive_id: str | None = None  # released checkpoint (Google Drive file id)
    log_drive_id: str | None = None  # released training log (Google Drive file id)

    @property
    def published(self) -> bool:
        """Whether the paper published numbers for this run."""
        return bool(self.paper)

    @property
    def embedded_size(self) -> int:
        return EMBEDDED_SIZE[self.coco_size]

    @property
    def title(self) -> str:
        """The assigner's column title, e.g. 'ATSS w. maIoU'."""
        return ASSIGNERS[self.assigner].title

    @property
    def colour(self) -> str:
        return ASSIGNERS[self.assigner].colour

    @property
    def marker(self) -> str:
        return MARKERS[self.coco_size]

    @property
    def coco_config(self) -> str:
        """Path of the published run's config, relative to the repository root."""
        return f"configs/coco/{self.name}.py"

    @property
    def embedded_config(self) -> str:
        """Path of its CPU-sized counterpart, relative to the repository root."""
        return f"configs/embedded/{self.name}.py"

    def config(self, kind: str) -> str:
        """``configs/<kind>/<name>.py`` for kind 'coco' or 'embedded'."""
        return {"coco": self.coco_config, "embedded": self.embedded_config}[kind]


def _run(name, assigner, size, split, paper, checkpoint=None, log=None, lr_schedule="step"):
    return Run(name, assigner, size, lr_schedule, split, MappingProxyType(paper), checkpoint, log)


def _val(ap, olrp):
    return {"segm_AP": ap, "segm_oLRP": olrp}


# Mask AP / mask oLRP on val2017 from the paper's assigner table; maYOLACT's test-dev numbers
# and V100 fps from its own table. Drive ids: the "model" and "log" links of the authors'
# README; maYOLACT-700 was never released ("Coming Soon").
RUNS: tuple[Run, ...] = (
    _run(
        "fixed_400",
        "fixed",
        400,
        "val2017",
        _val(24.8, 78.3),
        "1juGIBsbyxb-FPKpssSSYQniTDUt8XRac",
        "1WxebikClTJIaHYxTfw7BUSOS3wZFlOOh",
    ),
    _run(
        "fixed_550",
        "fixed",
        550,
        "val2017",
        _val(28.5, 75.2),
        "1nUyT2rhnYxVa4vNd3BccOwchWKYAnLJp",
        "1FGR-uxeABGcvX8GSy56vCiowQZWbl5F8",
    ),
    _run(
        "fixed_700",
        "fixed",
        700,
        "val2017",
        _val(29.7, 74.3),
        "1X6iwNV39-1juMfzbwaJxBqLcrERleiQK",
        "17fFPT_40tAFjwbmdlgQrBRfdo4txpc8p",
    ),
    _run(
        "atss_iou_400",
        "atss_iou",
        400,
        "val2017",
        _val(25.3, 77.7),
        "1ZofI86srVyHwhEeOKGg8gIbGJiTZjW2f",
        "1R-uHrZtvZ3loei0cP2FN8higOnP2ERgv",
    ),
    _run(
        "atss_iou_550",
        "atss_iou",
        550,
        "val2017",
        _val(29.3, 74.5),
        "1j2eqLPWzmNOtD5M5E1igMDgVhllQGezk",
        "1MLzwxnKLrYT3rJ17QciOFTEVvMYR2vMY",
    ),
    _run(
        "atss_iou_700",
        "atss_iou",
        700,
        "val2017",
        _val(30.8, 73.3),
        "1jOoiPLguZ4x6dihDNuHurI4iTLawCtVw",
        "1QQQhD_47vkYZYEXKCliC9fzJHabaXEpY",
    ),
    _run(
        "atss_maiou_400",
        "atss_maiou",
        400,
        "val2017",
        _val(26.1, 77.1),
        "1ZM6izGY_zPDwuPSTienYpJCW9zFxZKIk",
        "1nkHcvveQSrVhPzMIsmDjhUZagfbg4NF7",
    ),
    _run(
        "atss_maiou_550",
        "atss_maiou",
        550,
        "val2017",
        _val(30.4, 73.7),
        "16Q_MjLsA-vMHpvU_CNxG94Qd4U2P1kjA",
        "1x1Rqh9CP-XxfU3LKqVfXCe438KtEN8jM",
    ),
    _run(
        "atss_maiou_700",
        "atss_maiou",
        700,
        "val2017",
        _val(31.8, 72.5),
        "1uUMUOQoes-biTIMx3JeFcwMnhGMIBxYH",
        "1YuglESo8gt8fEbDavaCKoPd-gSAVDLs6",
    ),
    _run(
        "mayolact_550",
        "mayolact",
        550,
        "test-dev",
        {
            "segm_AP": 35.2,
            "segm_AP50": 56.2,
            "segm_AP75": 37.1,
            "segm_APs": 14.7,
            "segm_APm": 38.0,
            "segm_APl": 51.4,
            "fps": 30.0,
        },
        "13xdrvp3QvNIBJ1OHGUuxMemEogFHrriF",
        "1fUA4zyP-glXheWcdIC3zasn8LSKad1v4",
        lr_schedule="cosine",
    ),
    _run(
        "mayolact_700",
        "mayolact",
        700,
        "test-dev",
        {
            "segm_AP": 37.7,
            "segm_AP50": 59.4,
            "segm_AP75": 39.9,
            "segm_APs": 18.1,
            "segm_APm": 40.8,
            "segm_APl": 52.5,
            "fps": 25.0,
        },
        lr_schedule="cosine",
    ),
    # Beyond the paper (opt-in: the groups "task_aligned" and "beyond"): ATSS's 550 runs
    # with TOOD's task alignment in full, and with YOLOX's SimOTA, instead of ATSS.
    _run("tal_iou_550", "tal_iou", 550, None, {}),
    _run("tal_maiou_550", "tal_maiou", 550, None, {}),
    _run("simota_iou_550", "simota_iou", 550, None, {}),
    _run("simota_maiou_550", "simota_maiou", 550, None, {}),
)
BY_NAME: Mapping[str, Run] = MappingProxyType({run.name: run for run in RUNS})
NAMES: tuple[str, ...] = tuple(BY_NAME)

# FAMILIES' runs: family title -> (IoU run, maIoU run) at FAMILY_SIZE.
FAMILY_RUNS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        family: tuple(BY_NAME[f"{assigner}_{FAMILY_SIZE}"].name for assigner in pair)
        for family, pair in FAMILIES.items()
    }
)

# Named run lists for `--config runs=NAME`: "all" is the paper's runs (the default run);
# runs beyond the paper are opt-in: "beyond" is every family of FAMILIES at FAMILY_SIZE.
GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "all": tuple(run.name for run in RUNS if run.published),
        "task_aligned": tuple(run.name for run in RUNS if run.assigner.startswith("tal_")),
        "beyond": tuple(run for pair in FAMILY_RUNS.values() for run in pair),
    }
)

# The rows of the paper's table: the COCO sizes of the table's assigners.
SIZES: tuple[int, ...] = tuple(
    sorted({run.coco_size for run in RUNS if ASSIGNERS[run.assigner].in_table})
)


@dataclass(frozen=True)
class Endpoint:
    """A comparison stated before any run: contender − baseline in one metric, the
    per-seed difference averaged with equal weights over ``sizes``.

    Its value for one training seed is ``sum(weight * metric(run))`` over :meth:`terms`.
    """

    title: str
    baseline: str  # a key of ASSIGNERS
    contender: str  # a key of ASSIGNERS
    metric: str  # a metric name of maiou/evaluation/metric.py
    sizes: tuple[int, ...]  # COCO sizes

    def terms(self) -> dict[str, float]:
        """{run name: weight}: +1/n for the contender's run at each of the n sizes, -1/n for
        the baseline's."""
        weight = 1.0 / len(self.sizes)
        terms = {}
        for size in self.sizes:
            terms[f"{self.contender}_{size}"] = weight
            terms[f"{self.baseline}_{size}"] = -weight
        return terms

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(self.terms())


# The paper's question as one primary endpoint, fixed before any run: does ATSS with maIoU
# beat ATSS with IoU in mask AP? One number per training seed, the difference averaged over
# the three sizes, so that one interval decides it (docs/uncertainty.md says why this one).
# Every other comparison of the table is secondary.
PRIMARY = Endpoint(
    title="ATSS w. maIoU − ATSS w. IoU, mean over the three sizes",
    baseline="atss_iou",
    contender="atss_maiou",
    metric="segm_AP",
    sizes=SIZES,
)

# maIoU against IoU inside the same assigner, ATSS: the pair the mask-over-box-ratio figure
# compares, and the run whose config draws the assignment picture.
RATIO_BASELINE, RATIO_TREATMENT = PRIMARY.baseline, PRIMARY.contender
ASSIGNMENT_PICTURE_RUN = "atss_maiou_550"


class UnknownRunError(ValueError):
    """A run name that is not in the registry."""


def check_names(names: Iterable[str]) -> list[str]:
    """``names`` as a list if every one is a registered run; else UnknownRunError naming
    the unknown ones and the valid ones."""
    names = list(names)
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise UnknownRunError(
            f"unknown run{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"the runs are: {', '.join(NAMES)} (maiou/runs.py)"
        )
    return names


def get(name: str) -> Run:
    """The registered run ``name`` (UnknownRunError otherwise)."""
    return BY_NAME[check_names([name])[0]]


def run_at(assigner: str, size: int) -> Run | None:
    """The run of ``assigner`` at COCO ``size``, or None if there is none."""
    return BY_NAME.get(f"{assigner}_{size}")


def released() -> list[Run]:
    """The runs whose checkpoints the authors released."""
    return [run for run in RUNS if run.checkpoint_drive_id]


def ratio_pairs(names: Iterable[str]) -> list[tuple[str, str]]:
    """(baseline, treatment) run names per COCO size, for the sizes with both in ``names``,
    smallest size first."""
    names = set(names)
    pairs = []
    for size in SIZES:
        base, treat = run_at(RATIO_BASELINE, size), run_at(RATIO_TREATMENT, size)
        if base and treat and base.name in names and treat.name in names:
            pairs.append((base.name, treat.name))
    return pairs
