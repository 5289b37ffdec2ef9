"""Compile the runs' metrics.json into the paper's table (markdown) and a CSV.

    python -m experiments.scripts.compile_table --preset embedded --results results/embedded \
        [--runs RUN ...] [--bootstrap results/embedded/bootstrap.json] \
        --md results/table.md --csv results/table.csv

Markdown: a header (preset, device, software versions, date), then
  1. mask AP / mask oLRP by image size (rows) and assigner (columns): paper / ours / Δ,
     Δ = ours - paper in points, everything in %;
  2. box AP, AP50/75/S/M/L, box oLRP and its components, fps, anchors per image, per run;
  3. mask AP50/75/S/M/L and mask oLRP components, per run;
  4. maYOLACT against the paper's test-dev numbers;
  4b. runs beyond the paper (maiou/runs.py), their published numbers "—";
  5. (with --bootstrap, from experiments/scripts/bootstrap_runs.py) the paired comparisons:
     Δ [lo, hi] of mask AP, box AP and mask oLRP with a 95 % interval over seeds × images
     (one seed: images) and a verdict (holds / reversed / undecided).
With --seeds 0 1 2 (seed s's runs in <results>/seed<s>/), ours are means over the seeds and
the paper table shows ± their standard deviation; the CSV has <key>_sd columns.
With --curve-check (coco-train; experiments/scripts/plot_training_curves.py), runs whose
epoch-mean training loss left the authors' by more than the tolerance are flagged.
CSV: one row per run with every number (ours, paper, delta) and, with --bootstrap, the
run's intervals and its comparison against the run the table compares it with (cmp_*;
``verdict`` and ``interval_covers`` for mask AP).
A run without metrics.json shows "—" (empty in the CSV) instead of failing. Both files are
written atomically. On the coco presets, a run trained with another batch than the paper's 32
images per optimizer step (metrics.json ``training``, written by maiou.train) is marked †
wherever its numbers appear.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import json
import sys
from pathlib import Path

from experiments.scripts.bootstrap_runs import load_bootstrap
from experiments.scripts.results_data import (
    COCO_KEYS,
    DASH,
    OLRP_KEYS,
    fmt,
    load,
    points,
    summarize,
)
from maiou import runs as registry
from maiou.engine.batching import DEFAULT_IMAGES_PER_STEP
from maiou.evaluation.intervals import IMAGES
from maiou.utils.atomic import write_text_atomic
from maiou.utils.cli import UserError, entry_point

NOT_AT_32 = "†"
PRESET_NOTES = {
    "embedded": (
        "**Embedded mini-benchmark** — tiny YOLACTs (backbone pretrained on object crops "
        "of the same data) trained for a few hundred iterations on synthetic CPU-sized "
        "data (images 96/128/160 px standing in for "
        "400/550/700). This is NOT the paper's setting: the paper columns are shown for "
        "reference only and the differences (Δ) are not meaningful here; compare the "
        "assigners with one another instead."
    ),
    "coco-released": (
        "**COCO val2017, the authors' released checkpoints** evaluated with this code. "
        "Δ measures how well the evaluation reproduces the published numbers."
    ),
    "coco-train": (
        "**COCO val2017, models trained with this code** (train2017). Δ measures how well "
        "the training reproduces the published numbers."
    ),
}


# Bootstrapped metrics (bootstrap.json keys) and their titles in the comparison table.
BOOT_METRICS = {"segm_AP": "mask AP", "bbox_AP": "box AP", "segm_oLRP": "mask oLRP"}


def _load_record(path: Path | None, fields: dict, what: str, script: str) -> dict | None:
    """The JSON record at ``path`` (None without one), whose ``fields`` (name -> type) must
    be present; else one error naming the file and the script that writes it."""
    if path is None:
        return None
    try:
        record = json.loads(Path(path).read_text())
        missing = [name for name, kind in fields.items() if not isinstance(record.get(name), kind)]
        if missing:
            raise ValueError(f"lacks {' / '.join(repr(name) for name in missing)}")
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(
            f"{path}: not a {what} ({exc}); re-run python -m experiments.scripts.{script}"
        ) from exc
    return record


def load_curve_check(path: Path | None) -> dict | None:
    """The training-curve check (plot_training_curves.py --check), or None without one."""
    return _load_record(path, {"runs": dict}, "training-curve check", "plot_training_curves")


def render_curve_check(curves: dict, runs) -> list[str]:
    """Section 6: each run's training loss against the authors', epoch by epoch."""
    tol = 100 * curves.get("tolerance", 0.1)
    L = [f"## Training curves against the authors' logs (tolerance {tol:.0f} %)", ""]
    L.append(
        "After each epoch, our mean total training loss is compared with the authors' "
        "at the same epoch (their released log); more than the tolerance apart "
        "(relative to theirs) is off course. Curves: reports/training_curves.png."
    )
    L.append("")
    body = []
    for run in runs:
        c = curves["runs"].get(run)
        if not c or not c.get("checked"):
            body.append(
                [run, "0", DASH, "not checked" + (f" ({c['why']})" if c and c.get("why") else "")]
            )
            continue
        off = c["off_course_epochs"]
        worst = max(e["relative_difference"] for e in c["epochs"])
        body.append(
            [
                run,
                str(len(c["epochs"])),
                ", ".join(map(str, off)) or "none",
                (
                    f"**OFF COURSE** (up to {100 * worst:.1f} % apart)"
                    if off
                    else f"on course (at most {100 * worst:.1f} % apart)"
                ),
            ]
        )
    L += _table(["Run", "epochs compared", "off course at epochs", "verdict"], body)
    L.append("")
    return L


def _boot_columns(run: str, boot: dict | None) -> dict:
    """The run's bootstrap intervals and its comparison (as contender b), in points."""
    row: dict = {}
    own = (boot or {}).get("runs", {}).get(run, {})
    for key in BOOT_METRICS:
        ci = own.get(key, {})
        row[f"{key}_lo"], row[f"{key}_hi"] = points(ci.get("lo")), points(ci.get("hi"))
    pair = next((p for p in (boot or {}).get("pairs", []) if p["b"] == run), None)
    row["compared_to"] = pair["a"] if pair else None
    row["interval_covers"] = pair["segm_AP"].get("covers") if pair else None
    row["verdict"] = pair["segm_AP"].get("verdict") if pair else None
    for key in BOOT_METRICS:
        c = pair[key] if pair else {}
        row[f"cmp_delta_{key}"] = points(c.get("delta"))
        # The interval the verdict reads (several seeds: seeds x images; one seed: images
        # widened by the stored seed spread, empty without one) ...
        row[f"cmp_verdict_lo_{key}"] = points(c.get("decision_lo"))
        row[f"cmp_verdict_hi_{key}"] = points(c.get("decision_hi"))
        row[f"cmp_verdict_{key}"] = c.get("verdict")
        # ... and, with one seed, the percentile interval over the test images alone.
        images_only = pair is not None and c.get("covers") == IMAGES
        row[f"cmp_images_lo_{key}"] = points(c.get("lo")) if images_only else None
        row[f"cmp_images_hi_{key}"] = points(c.get("hi")) if images_only else None
        row[f"cmp_seed_sd_{key}"] = points(c.get("seed_sd"))
    return row


def table_row(run: str, per_seed: list, boot: dict | None = None) -> dict:
    """The run's summary (results_data.summarize) with, from ``boot``, its intervals and its
    comparison; ``off_course_epochs`` is filled from the training-curve check."""
    return {**summarize(run, per_seed), **_boot_columns(run, boot), "off_course_epochs": None}


def not_at_32(row: dict, preset: str) -> bool:
    """Trained by us with another batch than the paper's (unknown batch: not marked).

    Never on the embedded preset: its configs train at 8 images per step by design and the
    whole table is declared not comparable, so the mark would be on every run."""
    return preset != "embedded" and row.get("train_images_per_step") not in (
        None,
        DEFAULT_IMAGES_PER_STEP,
    )


def run_label(run: str, row: dict, preset: str) -> str:
    return run + (NOT_AT_32 if not_at_32(row, preset) else "")


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return lines


def _distinct(metrics: dict, get) -> str:
    values = []
    for m in metrics.values():
        v = get(m)
        if v not in values:
            values.append(v)
    return "; ".join(map(str, values)) if values else DASH


def _decision_cell(c: dict) -> str:
    """Δ and the interval its verdict reads, in points; with one seed and no usable seed
    spread, Δ with its images-only interval, labelled so."""
    if c.get("delta") is None:
        return DASH

    def pt(key):
        return fmt(points(c[key]), signed=True)

    if c.get("decision_lo") is not None:
        return f"{pt('delta')} [{pt('decision_lo')}, {pt('decision_hi')}]"
    if c.get("lo") is not None:
        return f"{pt('delta')} (images only: [{pt('lo')}, {pt('hi')}])"
    return pt("delta")


def _is_primary(pair: dict) -> bool:
    """The paper's main question: ATSS w. maIoU against ATSS w. IoU (mask AP)."""
    return (registry.get(pair["a"]).assigner, registry.get(pair["b"]).assigner) == (
        registry.RATIO_BASELINE,
        registry.RATIO_TREATMENT,
    )


def render_comparisons(preset: str, boot: dict) -> list[str]:
    """Section 5: every paired comparison, Δ and the interval its verdict reads, in points."""
    seeds = boot.get("training_seeds", [0])
    several = len(seeds) > 1
    confidence = round(100 * boot["confidence"])
    L = [f"## Paired comparisons: Δ [lo, hi], the {confidence} % interval each verdict reads", ""]
    text = (
        f"Δ = contender − baseline, in points, on the same {boot['images']} val images, "
        "paired by training seed"
        + (
            f" (seeds {', '.join(map(str, seeds))}; Δ is their mean)"
            if several
            else f" (training seed {seeds[0]})"
        )
        + f"; {boot['resamples']} paired resamples of the images (resampling seed "
        f"{boot['seed']}). "
    )
    if several:
        text += (
            "The interval covers the training seeds and the choice of test images: a t "
            "interval over the per-seed Δ and the image bootstrap, half-widths added in "
            "quadrature (slightly conservative, docs/uncertainty.md). "
        )
    else:
        text += (
            "With one seed the interval shown is the one the verdict reads: Δ ± "
            "t·√(sd_seed² + sd_images²), sd_seed the per-seed sd of the same comparison "
            "measured under the same recipe"
            + (f" (`{boot['seed_noise']}`)" if boot.get("seed_noise") else "")
            + ", t with that measurement's seeds − 1 degrees of freedom. Where no such "
            "spread exists the images-only interval is shown, labelled, and the verdict is "
            "undecided; the notes below say why. "
        )
    text += (
        "verdict: holds = the interval is wholly on the paper's side of 0 (contender "
        "better), reversed = wholly on the other side, undecided = it contains 0. Higher "
        "AP and lower oLRP are better (docs/uncertainty.md)."
    )
    L += [text, ""]
    header = ["Size", "Comparison"]
    for i, title in enumerate(BOOT_METRICS.values()):
        header += [f"{title} Δ [lo, hi]", "verdict" if i == 0 else f"{title} verdict"]
    body, notes = [], []
    for pair in boot["pairs"]:
        a, b = registry.get(pair["a"]), registry.get(pair["b"])
        name = f"{b.title} − {a.title}" + (" (primary)" if _is_primary(pair) else "")
        size = _size_label(preset, a.coco_size)
        cells = [size, name]
        for key in BOOT_METRICS:
            c = pair[key]
            cells += [_decision_cell(c), c.get("verdict") or DASH]
        body.append(cells)
        if not several and pair.get("seed_spread"):
            notes.append(f"- {size}, {b.title} − {a.title}: {pair['seed_spread']}.")
    L += _table(header, body) if body else ["No pair of compared runs among the runs."]
    L.append("")
    if notes:
        L += ["One seed, where each verdict's seed spread comes from:", "", *notes, ""]
    if body:
        L += [multiplicity(boot["pairs"], confidence), ""]
    return L


def _family_of(a: str, b: str) -> str | None:
    """The assigner family (maiou/runs.py FAMILY_RUNS) whose (IoU run, maIoU run) is (a, b)."""
    return next((f for f, pair in registry.FAMILY_RUNS.items() if pair == (a, b)), None)


def render_families(preset: str, boot: dict) -> list[str]:
    """Where mask-awareness pays: maIoU − IoU per assigner family at one size, and the
    differences between the families' gains, each with the interval its verdict reads."""
    rows = {family: p for p in boot["pairs"] if (family := _family_of(p["a"], p["b"]))}
    if len(rows) < 2:
        return []
    confidence = round(100 * boot["confidence"])
    size = _size_label(preset, registry.FAMILY_SIZE)
    L = [f"## Where mask-awareness pays: maIoU − IoU per assigner family, {size}", ""]
    L += [
        "Each family's gain is its maIoU run − its IoU run (the same assigner, only the "
        "overlap measure differs); a difference of gains, e.g. ATSS − TAL, is maIoU's gain "
        "in ATSS less its gain in TAL, paired by seed and by image resample like the gains, "
        f"so its {confidence} % interval covers the same seeds and images. A claim that "
        "maIoU helps one family more than another is a claim about that row, not about the "
        "two gains side by side. Verdicts as in the paired comparisons; for a difference "
        "of gains, holds = the first family gains more, reversed = the second does. "
        "ATSS hands YOLACT's head hard labels; TAL learns its soft alignment targets "
        "(Quality Focal Loss); SimOTA keeps YOLACT's head (docs/deviations.md).",
        "",
    ]
    header = ["Family: maIoU − IoU"]
    for i, title in enumerate(BOOT_METRICS.values()):
        header += [f"{title} Δ [lo, hi]", "verdict" if i == 0 else f"{title} verdict"]
    body = []
    for family, pair in rows.items():
        cells = [family]
        for key in BOOT_METRICS:
            cells += [_decision_cell(pair[key]), pair[key].get("verdict") or DASH]
        body.append(cells)
    for contrast in boot.get("contrasts", []):
        first, second = (_family_of(*contrast[k]) for k in ("first", "second"))
        cells = [f"gain in {first} − gain in {second}"]
        words = {"holds": f"{first} gains more", "reversed": f"{second} gains more"}
        for key in BOOT_METRICS:
            cells += [
                _decision_cell(contrast[key]),
                words.get(contrast[key]["verdict"], "undecided"),
            ]
        body.append(cells)
    return L + _table(header, body) + [""]


def multiplicity(pairs: list[dict], confidence: int) -> str:
    """How many verdicts the table makes, which answer the paper's question, and how to
    read the rest."""
    verdicts = len(pairs) * len(BOOT_METRICS)
    primary = sum(_is_primary(p) for p in pairs)
    return (
        f"**{verdicts} verdicts** ({len(pairs)} comparison{'s' * (len(pairs) != 1)} × "
        f"{len(BOOT_METRICS)} metrics), "
        f"each from its own {confidence} % interval, not adjusted for the others. "
        + (
            f"The primary {'ones are the ' + str(primary) if primary > 1 else 'one is the one'} "
            "marked (primary), in mask AP: does ATSS with maIoU beat ATSS with IoU at each "
            "size — the paper's question. "
            if primary
            else "None of them is the paper's primary question (ATSS w. maIoU − ATSS w. "
            "IoU, mask AP). "
        )
        + f"Even if every interval were exact, about {verdicts * (100 - confidence) / 100:.1f} "
        f"of the {verdicts} "
        "would exclude the true difference by chance, so read a lone holds or reversed "
        "among the rest as a lead to re-test with more seeds, not as a finding."
    )


def _versions(metrics: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(metrics.get("versions", {}).items()))


def render_header(preset: str, runs, per_seed: dict, seeds, curves: dict | None, now: str):
    """The title, the preset's note and the facts every number depends on."""
    metrics = {run: ms[0] for run, ms in per_seed.items()}  # header facts: the first seed's
    missing = [r for r in runs if r not in metrics]
    L = [f"# maIoU reproduction — {preset}", "", PRESET_NOTES[preset], ""]
    L.append(
        f"- Preset: `{preset}`; runs with results: {len(metrics)} of {len(runs)}"
        + (f" (missing: {', '.join(missing)})" if missing else "")
    )
    L.append(f"- Device: {_distinct(metrics, lambda m: m.get('device'))}")
    L.append("- Software: " + _distinct(metrics, _versions))
    L.append(
        "- Evaluation images: " + _distinct(metrics, lambda m: m.get("dataset", {}).get("images"))
    )
    if len(seeds) > 1:
        short = [run for run, ms in per_seed.items() if len(ms) < len(seeds)]
        L.append(
            f"- Training seeds: {', '.join(map(str, seeds))}. Ours = mean over seeds; "
            "± = standard deviation over seeds (training randomness)"
            + (f"; runs missing a seed: {', '.join(short)}" if short else "")
            + "."
        )
    if curves is not None:
        off = [run for run in runs if curves["runs"].get(run, {}).get("off_course_epochs")]
        if off:
            L.append(
                f"- **Off course** (training loss left the authors' curve; see the last "
                f"section): {', '.join(off)}"
            )
    L.append(f"- Compiled: {now}")
    L.append(
        "- All numbers in %. AP: higher is better; oLRP: lower is better. "
        "Δ = ours − paper, in points."
    )
    L.append("")
    return L


def _size_label(preset: str, size: int) -> str:
    return f"{size}" + (
        f" (embedded {registry.EMBEDDED_SIZE[size]} px)" if preset == "embedded" else ""
    )


def render_paper_table(preset: str, runs, rows: dict) -> list[str]:
    """Section 1: mask AP and oLRP by size and assigner, paper / ours (± sd) / Δ."""
    L = ["## Mask AP and mask oLRP by image size and assigner (paper / ours / Δ)", ""]
    header = ["Size"]
    columns = [a for a in registry.ASSIGNERS.values() if a.in_table]
    for assigner in columns:
        header += [f"{assigner.title}: mask AP", f"{assigner.title}: mask oLRP"]
    body = []
    for size in registry.SIZES:
        cells = [_size_label(preset, size)]
        for assigner in columns:
            run = registry.run_at(assigner.key, size).name
            r = rows.get(run) or table_row(run, [])
            mark = NOT_AT_32 if not_at_32(r, preset) else ""
            for key in ("segm_AP", "segm_oLRP"):
                sd = r.get(f"{key}_sd")
                ours = fmt(r[key]) + ("" if sd is None else f" ± {sd:.1f}")
                cells.append(
                    f"{fmt(r[f'paper_{key}'])} / {ours}{mark} / "
                    f"{fmt(r[f'delta_{key}'], signed=True)}"
                )
        body.append(cells)
    L += _table(header, body)
    L.append("")
    marked = [run for run in runs if not_at_32(rows[run], preset)]
    if marked:
        L.append(
            f"{NOT_AT_32} Not trained at the paper's {DEFAULT_IMAGES_PER_STEP} images per "
            "optimizer step: "
            + "; ".join(
                f"{run} at {rows[run]['train_images_per_step']} ({rows[run]['train_gpus']}"
                f" process(es) x {rows[run]['train_images_per_forward']} images x "
                f"accumulation {rows[run]['train_accumulation']})"
                for run in marked
            )
            + ". Its learning rate and warm-up were set for 32, so it is a different "
            "experiment from the paper's."
        )
        L.append("")
    L.append(
        "Paper: COCO val2017 (minival)."
        + (" Ours: embedded synthetic val split — not comparable." if preset == "embedded" else "")
    )
    L.append("")
    return L


DETAIL_HEADER = ["AP50", "AP75", "APS", "APM", "APL"]
OLRP_HEADER = ["oLRP loc", "oLRP FP", "oLRP FN"]


def render_box_detail(preset: str, runs, rows: dict) -> list[str]:
    """Section 2: box AP and oLRP with their parts, fps, anchors and the training batch."""
    L = ["## Box detection, speed and anchors, every run (ours)", ""]
    header = ["Run", "box AP", *DETAIL_HEADER, "box oLRP", *OLRP_HEADER, "fps", "anchors / image"]
    header.append("images / optimizer step (processes x images x accumulation)")
    body = []
    for run in runs:
        r = rows[run]
        batch = (
            DASH
            if r["train_images_per_step"] is None
            else (
                f"{r['train_images_per_step']} ({r['train_gpus']} x {r['train_images_per_forward']}"
                f" x {r['train_accumulation']})"
            )
        )
        anchors = DASH if r["anchors_per_image"] is None else str(r["anchors_per_image"])
        body.append(
            [run_label(run, r, preset)]
            + [fmt(r[f"bbox_{k}"]) for k in COCO_KEYS + OLRP_KEYS]
            + [fmt(r["fps"]), anchors, batch]
        )
    L += _table(header, body)
    L.append("")
    L.append(
        "fps: images/s at batch 1 on the device above (model forward + post-processing); "
        "clean only if nothing else ran meanwhile (`snakemake --resources speed_slot=1`)."
    )
    L.append("")
    return L


def render_mask_detail(preset: str, runs, rows: dict) -> list[str]:
    """Section 3: mask AP and oLRP with their parts, every run."""
    header = ["Run", "mask AP", *DETAIL_HEADER, "mask oLRP", *OLRP_HEADER]
    body = [
        [run_label(run, rows[run], preset)]
        + [fmt(rows[run][f"segm_{k}"]) for k in COCO_KEYS + OLRP_KEYS]
        for run in runs
    ]
    return ["## Mask segmentation detail, every run (ours)", "", *_table(header, body), ""]


def render_mayolact(preset: str, runs, rows: dict) -> list[str]:
    """Section 4: runs published on test-dev only (maYOLACT), on every published number."""
    mayolact = [run for run in runs if registry.get(run).paper_split == "test-dev"]
    if not mayolact:
        return []
    ours = "embedded val split" if preset == "embedded" else "COCO val2017"
    L = [f"## maYOLACT (paper: COCO test-dev, V100 fps; ours: {ours})", ""]
    header = ["Run", "mask AP paper / ours / Δ"]
    header += [f"{k} paper / ours" for k in ("AP50", "AP75", "APS", "APM", "APL", "fps")]
    body = []
    for run in mayolact:
        r = rows[run]
        cells = [
            run_label(run, r, preset),
            f"{fmt(r['paper_segm_AP'])} / {fmt(r['segm_AP'])} / "
            f"{fmt(r['delta_segm_AP'], signed=True)}",
        ]
        for k in ("AP50", "AP75", "APs", "APm", "APl"):
            cells.append(f"{fmt(r[f'paper_segm_{k}'])} / {fmt(r[f'segm_{k}'])}")
        cells.append(f"{fmt(r['paper_fps'], digits=0)} / {fmt(r['fps'])}")
        body.append(cells)
    L += _table(header, body)
    L.append("")
    L.append(
        "The paper reports maYOLACT on test-dev only; ours is on "
        + ("the embedded val split" if preset == "embedded" else "val2017")
        + ", so even on COCO Δ mixes the split difference with the reproduction "
        "error. maYOLACT-700 was never released."
    )
    L.append("")
    return L


def render_unpublished(preset: str, runs, rows: dict) -> list[str]:
    """Runs the paper did not publish (maiou/runs.py): ours, with "—" for the paper."""
    unpublished = [run for run in runs if not registry.get(run).published]
    if not unpublished:
        return []
    L = ["## Runs beyond the paper (no published numbers: paper and Δ are —)", ""]
    header = ["Run", "assigner", "mask AP paper / ours / Δ", "mask oLRP paper / ours / Δ"]
    body = []
    for run in unpublished:
        r = rows[run]
        cells = [run_label(run, r, preset), registry.get(run).title]
        for key in ("segm_AP", "segm_oLRP"):
            sd = r.get(f"{key}_sd")
            ours = fmt(r[key]) + ("" if sd is None else f" ± {sd:.1f}")
            cells.append(
                f"{fmt(r[f'paper_{key}'])} / {ours} / {fmt(r[f'delta_{key}'], signed=True)}"
            )
        body.append(cells)
    return L + _table(header, body) + [""]


def render_markdown(
    preset: str,
    runs,
    metrics: dict,
    rows: dict,
    now: str,
    boot: dict | None = None,
    seeds=(0,),
    curves: dict | None = None,
) -> str:
    """The whole table, section by section. ``metrics``: {run: [metrics per seed]} (a single
    dict per run is taken as one seed)."""
    per_seed = {run: ([m] if isinstance(m, dict) else m) for run, m in metrics.items()}
    L = render_header(preset, runs, per_seed, seeds, curves, now)
    L += render_paper_table(preset, runs, rows)
    L += render_box_detail(preset, runs, rows)
    L += render_mask_detail(preset, runs, rows)
    L += render_mayolact(preset, runs, rows)
    L += render_unpublished(preset, runs, rows)
    if boot is not None:
        L += render_comparisons(preset, boot)
        L += render_families(preset, boot)
    if curves is not None:
        L += render_curve_check(curves, runs)
    return "\n".join(L)


def render_csv(rows: dict, runs) -> str:
    fields = list(table_row(registry.NAMES[0], []))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow(
            {
                k: ("" if v is None else (round(v, 4) if isinstance(v, float) else v))
                for k, v in rows[run].items()
            }
        )
    return buf.getvalue()


def compile_table(
    preset: str,
    results: Path,
    runs,
    md: Path,
    csv_path: Path,
    now: str | None = None,
    bootstrap: Path | None = None,
    seeds=(0,),
    curve_check: Path | None = None,
) -> dict:
    runs, seeds = list(runs), list(seeds)
    metrics, rows = load(Path(results), runs, seeds)
    boot = None if bootstrap is None else load_bootstrap(bootstrap)
    curves = load_curve_check(curve_check)
    for run, row in rows.items():
        row.update(_boot_columns(run, boot))
        c = (curves or {}).get("runs", {}).get(run) or {}
        row["off_course_epochs"] = (
            " ".join(map(str, c.get("off_course_epochs", []))) if c.get("checked") else None
        )
    now = now or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    write_text_atomic(
        Path(md), render_markdown(preset, runs, metrics, rows, now, boot, seeds, curves)
    )
    write_text_atomic(Path(csv_path), render_csv(rows, runs))
    return rows


@entry_point("compile_table")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True, choices=sorted(PRESET_NOTES))
    parser.add_argument(
        "--results", required=True, type=Path, help="folder holding <run>/metrics.json"
    )
    parser.add_argument(
        "--runs", nargs="+", default=list(registry.GROUPS["all"]), choices=registry.NAMES
    )
    parser.add_argument("--md", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument(
        "--bootstrap",
        type=Path,
        default=None,
        help="bootstrap.json of experiments/scripts/bootstrap_runs.py",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        help="training seeds (seed s's runs in --results/seed<s>/, 0's in --results itself)",
    )
    parser.add_argument(
        "--curve-check",
        type=Path,
        default=None,
        help="curve_check.json of experiments/scripts/plot_training_curves.py",
    )
    args = parser.parse_args(argv)
    rows = compile_table(
        args.preset,
        args.results,
        args.runs,
        args.md,
        args.csv,
        bootstrap=args.bootstrap,
        seeds=args.seeds,
        curve_check=args.curve_check,
    )
    found = sum(r["segm_AP"] is not None for r in rows.values())
    print(f"{args.md}, {args.csv}: {found} of {len(rows)} runs with results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
