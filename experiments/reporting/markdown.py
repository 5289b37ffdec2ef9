"""The table as markdown (``results/table.md``), section by section, from the table model.

1. a header (preset, device, software versions, seeds, date) that leads with the primary
   endpoint's verdict;
2. mask AP / mask oLRP by image size (rows) and assigner (columns): paper / ours / Δ,
   Δ = ours - paper in points, everything in %;
3. box AP, AP50/75/S/M/L, box oLRP and its components, fps, anchors per image, per run;
4. mask AP50/75/S/M/L and mask oLRP components, per run;
5. maYOLACT against the paper's test-dev numbers; runs beyond the paper, their published
   numbers "—";
6. the comparisons, primary endpoint first: Δ [lo, hi] of mask AP, box AP and mask oLRP
   with the 95 % interval each verdict reads, the verdicts, and how many there are;
7. with several assigner families, where mask-awareness pays;
8. on coco-train, the training curves against the authors'.
"""

from __future__ import annotations

from maiou import runs as registry
from maiou.engine.batching import DEFAULT_IMAGES_PER_STEP
from maiou.evaluation.metric import COMPARED, METRICS

from .results import COCO_KEYS, DASH, OLRP_KEYS, fmt, points
from .table import Table

__all__ = ["render", "NOT_AT_32"]

NOT_AT_32 = "†"
DETAIL_HEADER = ["AP50", "AP75", "APS", "APM", "APL"]
OLRP_HEADER = ["oLRP loc", "oLRP FP", "oLRP FN"]


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return lines


def not_at_32(row: dict, table: Table) -> bool:
    """Trained by us at another batch than the paper's (unknown batch: not marked); only
    where the preset trains at the paper's batch, else the mark would be on every run."""
    return table.preset.distributed and row.get("train_images_per_step") not in (
        None,
        DEFAULT_IMAGES_PER_STEP,
    )


def run_label(run: str, table: Table) -> str:
    return run + (NOT_AT_32 if not_at_32(table.rows[run], table) else "")


def _distinct(metrics: dict, get) -> str:
    values = []
    for m in metrics.values():
        v = get(m)
        if v not in values:
            values.append(v)
    return "; ".join(map(str, values)) if values else DASH


def _versions(metrics: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(metrics.get("versions", {}).items()))


def decision_cell(c: dict) -> str:
    """Δ and the interval its verdict reads, in points; beside it the interval of the
    run's own seeds where a stored spread was pooled, or with one seed and no usable
    spread the images-only interval, labelled."""
    if c.get("delta") is None:
        return DASH

    def pt(key):
        return fmt(points(c[key]), signed=True)

    if c.get("decision_lo") is not None:
        cell = f"{pt('delta')} [{pt('decision_lo')}, {pt('decision_hi')}]"
        if c.get("covers") not in (None, "seeds × images", "images") and c.get("lo") is not None:
            cell += f" (own seeds: [{pt('lo')}, {pt('hi')}])"
        return cell
    if c.get("lo") is not None:
        return f"{pt('delta')} (images only: [{pt('lo')}, {pt('hi')}])"
    return pt("delta")


def primary_sentence(table: Table) -> str | None:
    """One line: the primary endpoint's value, interval, verdict and look."""
    p = table.primary
    if p is None:
        return None
    c = p["segm_AP"]
    half = (
        DASH
        if c.get("decision_lo") is None
        else f"{50 * (c['decision_hi'] - c['decision_lo']):.2f}"
    )
    return (
        f"**Primary endpoint** ({p['title']}; seeds {', '.join(map(str, p['seeds']))}, "
        f"{p.get('look', 'confirmatory')}): {decision_cell(c)}, half-width {half} points: "
        f"**{c.get('verdict') or 'undecided'}**."
    )


def render_header(table: Table) -> list[str]:
    """The title, the preset's note and the facts every number depends on."""
    metrics = {run: ms[0] for run, ms in table.per_seed.items()}  # facts: the first seed's
    missing = [r for r in table.runs if r not in metrics]
    L = [f"# maIoU reproduction — {table.preset.name}", "", table.preset.table_note, ""]
    sentence = primary_sentence(table)
    if sentence:
        L += [sentence, ""]
    L.append(
        f"- Preset: `{table.preset.name}`; runs with results: {len(metrics)} of {len(table.runs)}"
        + (f" (missing: {', '.join(missing)})" if missing else "")
    )
    L.append(f"- Device: {_distinct(metrics, lambda m: m.get('device'))}")
    L.append("- Software: " + _distinct(metrics, _versions))
    L.append(
        "- Evaluation images: " + _distinct(metrics, lambda m: m.get("dataset", {}).get("images"))
    )
    if len(table.seeds) > 1:
        fewer = sorted({len(s) for s in table.run_seeds.values()} - {len(table.seeds)})
        short = [run for run, ms in table.per_seed.items() if len(ms) < len(table.run_seeds[run])]
        L.append(
            f"- Training seeds: {', '.join(map(str, table.seeds))}"
            + (
                "; the runs outside the primary endpoint: the first " + " / ".join(map(str, fewer))
                if fewer
                else ""
            )
            + ". Ours = mean over a run's seeds; ± = their standard deviation (training "
            "randomness)" + (f"; runs missing a seed: {', '.join(short)}" if short else "") + "."
        )
    if table.curves is not None:
        off = [r for r in table.runs if table.curves["runs"].get(r, {}).get("off_course_epochs")]
        if off:
            L.append(
                f"- **Off course** (training loss left the authors' curve; see the last "
                f"section): {', '.join(off)}"
            )
    L.append(f"- Compiled: {table.compiled}")
    L.append(
        "- All numbers in %. AP: higher is better; oLRP: lower is better. "
        "Δ = ours − paper, in points."
    )
    L.append("")
    return L


def _ours(row: dict, key: str) -> str:
    sd = row.get(f"{key}_sd")
    return fmt(row[key]) + ("" if sd is None else f" ± {sd:.1f}")


def render_paper_table(table: Table) -> list[str]:
    """Mask AP and oLRP by size and assigner, paper / ours (± sd) / Δ."""
    from .results import summarize

    L = ["## Mask AP and mask oLRP by image size and assigner (paper / ours / Δ)", ""]
    header = ["Size"]
    columns = [a for a in registry.ASSIGNERS.values() if a.in_table]
    for assigner in columns:
        header += [f"{assigner.title}: mask AP", f"{assigner.title}: mask oLRP"]
    body = []
    for size in registry.SIZES:
        cells = [table.preset.size_label(size)]
        for assigner in columns:
            run = registry.run_at(assigner.key, size).name
            r = table.rows.get(run) or summarize(run, [])
            mark = NOT_AT_32 if not_at_32(r, table) else ""
            for key in ("segm_AP", "segm_oLRP"):
                cells.append(
                    f"{fmt(r[f'paper_{key}'])} / {_ours(r, key)}{mark} / "
                    f"{fmt(r[f'delta_{key}'], signed=True)}"
                )
        body.append(cells)
    L += _table(header, body)
    L.append("")
    marked = [run for run in table.runs if not_at_32(table.rows[run], table)]
    if marked:
        rows = table.rows
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
        + (
            f" Ours: {table.preset.evaluated_on} — not comparable."
            if table.preset.data == "synthetic"
            else ""
        )
    )
    L.append("")
    return L


def render_box_detail(table: Table) -> list[str]:
    """Box AP and oLRP with their parts, fps, anchors and the training batch."""
    L = ["## Box detection, speed and anchors, every run (ours)", ""]
    header = ["Run", "box AP", *DETAIL_HEADER, "box oLRP", *OLRP_HEADER, "fps", "anchors / image"]
    header.append("images / optimizer step (processes x images x accumulation)")
    body = []
    for run in table.runs:
        r = table.rows[run]
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
            [run_label(run, table)]
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


def render_mask_detail(table: Table) -> list[str]:
    """Mask AP and oLRP with their parts, every run."""
    header = ["Run", "mask AP", *DETAIL_HEADER, "mask oLRP", *OLRP_HEADER]
    body = [
        [run_label(run, table)] + [fmt(table.rows[run][f"segm_{k}"]) for k in COCO_KEYS + OLRP_KEYS]
        for run in table.runs
    ]
    return ["## Mask segmentation detail, every run (ours)", "", *_table(header, body), ""]


def render_mayolact(table: Table) -> list[str]:
    """Runs published on test-dev only (maYOLACT), on every published number."""
    mayolact = [run for run in table.runs if registry.get(run).paper_split == "test-dev"]
    if not mayolact:
        return []
    ours = table.preset.evaluated_on
    L = [f"## maYOLACT (paper: COCO test-dev, V100 fps; ours: {ours})", ""]
    header = ["Run", "mask AP paper / ours / Δ"]
    header += [f"{k} paper / ours" for k in ("AP50", "AP75", "APS", "APM", "APL", "fps")]
    body = []
    for run in mayolact:
        r = table.rows[run]
        cells = [
            run_label(run, table),
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
        f"The paper reports maYOLACT on test-dev only; ours is on {ours}, so even on COCO Δ "
        "mixes the split difference with the reproduction error. maYOLACT-700 was never "
        "released."
    )
    L.append("")
    return L


def render_unpublished(table: Table) -> list[str]:
    """Runs the paper did not publish (maiou/runs.py): ours, with "—" for the paper."""
    unpublished = [run for run in table.runs if not registry.get(run).published]
    if not unpublished:
        return []
    L = ["## Runs beyond the paper (no published numbers: paper and Δ are —)", ""]
    header = ["Run", "assigner", "mask AP paper / ours / Δ", "mask oLRP paper / ours / Δ"]
    body = []
    for run in unpublished:
        r = table.rows[run]
        cells = [run_label(run, table), registry.get(run).title]
        for key in ("segm_AP", "segm_oLRP"):
            paper, delta = fmt(r[f"paper_{key}"]), fmt(r[f"delta_{key}"], signed=True)
            cells.append(f"{paper} / {_ours(r, key)} / {delta}")
        body.append(cells)
    return L + _table(header, body) + [""]


def _metric_header(first: str) -> list[str]:
    header = [first]
    for i, key in enumerate(COMPARED):
        label = METRICS[key].label
        header += [f"{label} Δ [lo, hi]", "verdict" if i == 0 else f"{label} verdict"]
    return header


def render_comparisons(table: Table) -> list[str]:
    """Every comparison, the primary endpoint first: Δ and the interval its verdict reads,
    in points, the verdicts, their count and how to read them."""
    boot = table.boot
    found = [c for c in table.comparisons if c["kind"] != "family"]
    confidence = round(100 * boot["confidence"])
    L = [f"## Comparisons: Δ [lo, hi], the {confidence} % interval each verdict reads", ""]
    L += [
        f"Δ = contender − baseline, in points, on the same {boot['images']} val images, paired "
        f"by training seed (the seeds all its runs have; Δ is their mean); "
        f"{boot['resamples']} paired resamples of the images (resampling seed {boot['seed']}). "
        "The interval covers the training seeds (with a draw per seed, also the train data "
        "and the pretrained backbone) and the choice of test images: a t interval over the "
        "per-seed Δ and the image bootstrap, half-widths added in quadrature. Where the rule "
        "of docs/uncertainty.md allows (same recipe, at least five other seeds), the seed "
        "part pools a stored spread, and the run's own interval is shown beside it; with "
        "one seed and no such spread the images-only interval is shown, labelled, and the "
        "verdict is undecided. verdict: holds = the interval is wholly on the paper's side "
        "of 0 (contender better), reversed = wholly on the other side, undecided = it "
        "contains 0. Higher AP and lower oLRP are better.",
        "",
    ]
    body, notes = [], []
    for c in found:
        if c["kind"] == "endpoint":
            where, name = "all three (mean)", f"{c['title']} (**primary**, {c.get('look')})"
        else:
            where, name = table.preset.size_label(c["size"]), c["title"]
        cells = [where, name]
        for key in COMPARED:
            cells += [decision_cell(c[key]), c[key].get("verdict") or DASH]
        body.append(cells)
        seeds = ", ".join(map(str, c["seeds"]))
        notes.append(f"- {where}, {c['title']}: seeds {seeds}; {c['seed_spread']}.")
    header = ["Size", "Comparison"] + _metric_header("")[1:]
    L += _table(header, body) if body else ["No pair of compared runs among the runs."]
    L.append("")
    if notes:
        L += ["Seeds and seed spread of each comparison:", "", *notes, ""]
    if table.comparisons:
        L += [multiplicity(table), ""]
    return L


def render_families(table: Table) -> list[str]:
    """Where mask-awareness pays: maIoU − IoU per assigner family at one size, and the
    differences between the families' gains."""
    gains = {
        family: c
        for c in table.comparisons
        if c["kind"] == "pair"
        for family, pair in registry.FAMILY_RUNS.items()
        if pair == (c["a"], c["b"])
    }
    if len(gains) < 2:
        return []
    confidence = round(100 * table.boot["confidence"])
    L = [
        "## Where mask-awareness pays: maIoU − IoU per assigner family, "
        f"{table.preset.size_label(registry.FAMILY_SIZE)}",
        "",
    ]
    L += [
        "Each family's gain is its maIoU run − its IoU run (the same assigner, only the "
        "overlap measure differs); a difference of gains, e.g. ATSS − TAL, is maIoU's gain "
        "in ATSS less its gain in TAL, paired by seed and by image resample like the gains, "
        f"so its {confidence} % interval covers the same seeds and images. A claim that "
        "maIoU helps one family more than another is a claim about that row, not about the "
        "two gains side by side. Verdicts as in the comparisons above (all secondary); for a "
        "difference of gains, holds = the first family gains more, reversed = the second "
        "does. ATSS hands YOLACT's head hard labels; TAL learns its soft alignment targets "
        "(Quality Focal Loss); SimOTA keeps YOLACT's head (docs/deviations.md).",
        "",
    ]
    body = []
    for family, c in gains.items():
        cells = [family]
        for key in COMPARED:
            cells += [decision_cell(c[key]), c[key].get("verdict") or DASH]
        body.append(cells)
    for c in table.comparisons:
        if c["kind"] != "family":
            continue
        first, second = c["families"]
        words = {"holds": f"{first} gains more", "reversed": f"{second} gains more"}
        cells = [c["title"]]
        for key in COMPARED:
            cells += [decision_cell(c[key]), words.get(c[key]["verdict"], "undecided")]
        body.append(cells)
    return L + _table(_metric_header("Family: maIoU − IoU"), body) + [""]


def multiplicity(table: Table) -> str:
    """How many verdicts the table makes, which one answers the paper's question, and how
    to read the rest."""
    confidence = round(100 * table.boot["confidence"])
    roles = [c[key].get("role") for c in table.comparisons for key in COMPARED]
    primary, total = roles.count("primary"), len(roles)
    secondary = total - primary
    text = (
        f"**{total} verdicts** ({len(table.comparisons)} comparisons × {len(COMPARED)} "
        f"metrics, the differences of family gains included), each from its own "
        f"{confidence} % interval, not adjusted for the others. "
    )
    if primary:
        p = table.primary
        text += (
            "**One is primary**, stated before any run (maiou/runs.py `PRIMARY`): "
            f"{p['title']}; it answers the paper's question"
            + (
                "."
                if p.get("look") == "confirmatory"
                else ", but these seeds are not the pre-stated ones "
                f"({', '.join(map(str, table.boot['pre_stated_seeds']))}): a later look, "
                "exploratory, its 95 % no longer a 5 % error rate."
            )
            + f" The other {secondary} are secondary: "
        )
    else:
        text += (
            "None is the primary endpoint (its six ATSS runs are not all here); all "
            f"{secondary} are secondary: "
        )
    return text + (
        f"even if every interval were exact, about {secondary * (100 - confidence) / 100:.1f} "
        "of them would exclude the true difference by chance, so read a lone holds or "
        "reversed among them as a lead to re-test with more seeds, not as a finding."
    )


def render_curve_check(table: Table) -> list[str]:
    """Each run's training loss against the authors', epoch by epoch."""
    curves = table.curves
    tol = 100 * curves.get("tolerance", 0.1)
    L = [f"## Training curves against the authors' logs (tolerance {tol:.0f} %)", ""]
    L.append(
        "After each epoch, our mean total training loss is compared with the authors' "
        "at the same epoch (their released log); more than the tolerance apart "
        "(relative to theirs) is off course. Curves: reports/training_curves.png."
    )
    L.append("")
    body = []
    for run in table.runs:
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


def render(table: Table) -> str:
    """The whole table, section by section."""
    L = render_header(table)
    L += render_paper_table(table)
    L += render_box_detail(table)
    L += render_mask_detail(table)
    L += render_mayolact(table)
    L += render_unpublished(table)
    if table.boot is not None:
        L += render_comparisons(table)
        L += render_families(table)
    if table.curves is not None:
        L += render_curve_check(table)
    return "\n".join(L)
