"""Compile the runs' metrics.json into the paper's table (markdown) and a CSV.

    python experiments/scripts/compile_table.py --preset embedded --results results/embedded \
        [--runs fixed_550 ...] --md results/table.md --csv results/table.csv

Markdown: a header (preset, device, software versions, date), then
  1. mask AP / mask oLRP by image size (rows) and assigner (columns): paper / ours / Δ,
     Δ = ours - paper in points, everything in %;
  2. box AP, AP50/75/S/M/L, box oLRP and its components, fps, anchors per image, per run;
  3. mask AP50/75/S/M/L and mask oLRP components, per run;
  4. maYOLACT against the paper's test-dev numbers.
CSV: one row per run with every number (ours, paper, delta). A run without metrics.json
shows "—" (empty in the CSV) instead of failing. Both files are written atomically.
A run trained with another batch than the paper's 32 images per optimizer step (metrics.json
``training``, written by maiou.train) is marked † wherever its numbers appear.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/ for paper_numbers
from paper_numbers import (ASSIGNERS, EMBEDDED_SIZE, PAPER, RUNS, SIZES,  # noqa: E402
                           assigner_and_size)

from maiou.atomic import write_text_atomic  # noqa: E402

DASH = "—"
PAPER_IMAGES_PER_STEP = 32  # 4 GPUs x 8 images
NOT_AT_32 = "†"
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
OLRP_KEYS = ("oLRP", "oLRP_loc", "oLRP_FP", "oLRP_FN")
PRESET_NOTES = {
    "embedded": (
        "**Embedded mini-benchmark** — tiny YOLACTs (backbone pretrained on object crops "
        "of the same data) trained for a few hundred iterations on synthetic CPU-sized "
        "data (images 96/128/160 px standing in for "
        "400/550/700). This is NOT the paper's setting: the paper columns are shown for "
        "reference only and the differences (Δ) are not meaningful here; compare the "
        "assigners with one another instead."),
    "coco-released": (
        "**COCO val2017, the authors' released checkpoints** evaluated with this code. "
        "Δ measures how well the evaluation reproduces the published numbers."),
    "coco-train": (
        "**COCO val2017, models trained with this code** (train2017). Δ measures how well "
        "the training reproduces the published numbers."),
}


def load_metrics(results: Path, runs) -> dict:
    """{run: metrics dict} for the runs whose metrics.json exists and parses."""
    out = {}
    for run in runs:
        path = results / run / "metrics.json"
        try:
            out[run] = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, json.JSONDecodeError) as exc:
            print(f"warning: ignoring unreadable {path}: {exc}", file=sys.stderr)
    return out


def pct(metrics: dict | None, kind: str, key: str):
    """A metric of ours in % (None when the run or the value is missing)."""
    if not metrics:
        return None
    value = metrics.get(kind, {}).get(key)
    return None if value is None else 100.0 * float(value)


def fmt(value, signed: bool = False, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def delta(ours, paper):
    return None if ours is None or paper is None else round(ours, 1) - paper


def run_row(run: str, m: dict | None) -> dict:
    """Every number of one run, flat (for the CSV and the detail tables)."""
    assigner, size = assigner_and_size(run)
    paper = PAPER.get(run, {})
    row = {"run": run, "assigner": assigner, "size": size, "paper_split": paper.get("split")}
    for kind in ("segm", "bbox"):
        for key in COCO_KEYS + OLRP_KEYS:
            row[f"{kind}_{key}"] = pct(m, kind, key)
    row["fps"] = m.get("speed", {}).get("images_per_s") if m else None
    training = (m or {}).get("training") or {}
    for key in ("gpus", "images_per_forward", "accumulation", "images_per_step"):
        row[f"train_{key}"] = training.get(key)
    row["anchors_per_image"] = m.get("anchors_per_image") if m else None
    for key in ("segm_AP", "segm_oLRP", "segm_AP50", "segm_AP75", "segm_APs", "segm_APm",
                "segm_APl", "fps"):
        row[f"paper_{key}"] = paper.get(key)
        if key in ("segm_AP", "segm_oLRP"):
            row[f"delta_{key}"] = delta(row[key], paper.get(key))
    return row


def not_at_32(row: dict) -> bool:
    """Trained by us with another batch than the paper's (unknown batch: not marked)."""
    return row.get("train_images_per_step") not in (None, PAPER_IMAGES_PER_STEP)


def run_label(run: str, row: dict) -> str:
    return run + (NOT_AT_32 if not_at_32(row) else "")


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


def render_markdown(preset: str, runs, metrics: dict, rows: dict, now: str) -> str:
    L = [f"# maIoU reproduction — {preset}", ""]
    L.append(PRESET_NOTES[preset])
    L.append("")
    L.append(f"- Preset: `{preset}`; runs with results: {len(metrics)} of {len(runs)}"
             + (f" (missing: {', '.join(r for r in runs if r not in metrics)})"
                if len(metrics) < len(runs) else ""))
    L.append(f"- Device: {_distinct(metrics, lambda m: m.get('device'))}")
    L.append("- Software: " + _distinct(metrics, lambda m: ", ".join(
        f"{k} {v}" for k, v in sorted(m.get("versions", {}).items()))))
    L.append("- Evaluation images: " + _distinct(
        metrics, lambda m: m.get("dataset", {}).get("images")))
    L.append(f"- Compiled: {now}")
    L.append("- All numbers in %. AP: higher is better; oLRP: lower is better. "
             "Δ = ours − paper, in points.")
    L.append("")

    # 1. The paper's table.
    L.append("## Mask AP and mask oLRP by image size and assigner (paper / ours / Δ)")
    L.append("")
    header = ["Size"]
    for title in ASSIGNERS.values():
        header += [f"{title}: mask AP", f"{title}: mask oLRP"]
    body = []
    for size in SIZES:
        label = f"{size}" + (f" (embedded {EMBEDDED_SIZE[size]} px)" if preset == "embedded" else "")
        cells = [label]
        for prefix in ASSIGNERS:
            run = f"{prefix}_{size}"
            r = rows.get(run) or run_row(run, None)
            mark = NOT_AT_32 if not_at_32(r) else ""
            for key in ("segm_AP", "segm_oLRP"):
                cells.append(f"{fmt(r[f'paper_{key}'])} / {fmt(r[key])}{mark} / "
                             f"{fmt(r[f'delta_{key}'], signed=True)}")
        body.append(cells)
    L += _table(header, body)
    L.append("")
    marked = [run for run in runs if not_at_32(rows[run])]
    if marked:
        L.append(f"{NOT_AT_32} Not trained at the paper's {PAPER_IMAGES_PER_STEP} images per "
                 "optimizer step: " + "; ".join(
                     f"{run} at {rows[run]['train_images_per_step']} ({rows[run]['train_gpus']}"
                     f" process(es) x {rows[run]['train_images_per_forward']} images x "
                     f"accumulation {rows[run]['train_accumulation']})" for run in marked)
                 + ". Its learning rate and warm-up were set for 32, so it is a different "
                 "experiment from the paper's.")
        L.append("")
    L.append("Paper: COCO val2017 (minival)." + (
        " Ours: embedded synthetic val split — not comparable." if preset == "embedded" else ""))
    L.append("")

    # 2. Box detail, speed and anchors.
    L.append("## Box detection, speed and anchors, every run (ours)")
    L.append("")
    header = ["Run", "box AP", "AP50", "AP75", "APS", "APM", "APL",
              "box oLRP", "oLRP loc", "oLRP FP", "oLRP FN", "fps", "anchors / image",
              "images / optimizer step (processes x images x accumulation)"]
    body = []
    for run in runs:
        r = rows[run]
        batch = DASH if r["train_images_per_step"] is None else (
            f"{r['train_images_per_step']} ({r['train_gpus']} x {r['train_images_per_forward']}"
            f" x {r['train_accumulation']})")
        body.append([run_label(run, r)] + [fmt(r[f"bbox_{k}"]) for k in COCO_KEYS + OLRP_KEYS]
                    + [fmt(r["fps"]), DASH if r["anchors_per_image"] is None
                       else str(r["anchors_per_image"]), batch])
    L += _table(header, body)
    L.append("")
    L.append("fps: images/s at batch 1 on the device above (model forward + post-processing); "
             "clean only if nothing else ran meanwhile (`snakemake --resources speed_slot=1`).")
    L.append("")

    # 3. Mask detail.
    L.append("## Mask segmentation detail, every run (ours)")
    L.append("")
    header = ["Run", "mask AP", "AP50", "AP75", "APS", "APM", "APL",
              "mask oLRP", "oLRP loc", "oLRP FP", "oLRP FN"]
    L += _table(header, [[run_label(run, rows[run])]
                         + [fmt(rows[run][f"segm_{k}"]) for k in COCO_KEYS + OLRP_KEYS]
                         for run in runs])
    L.append("")

    # 4. maYOLACT.
    mayolact = [run for run in runs if run.startswith("mayolact")]
    if mayolact:
        L.append("## maYOLACT (paper: COCO test-dev, V100 fps; ours: "
                 + ("embedded val split" if preset == "embedded" else "COCO val2017") + ")")
        L.append("")
        header = ["Run", "mask AP paper / ours / Δ", "AP50 paper / ours", "AP75 paper / ours",
                  "APS paper / ours", "APM paper / ours", "APL paper / ours", "fps paper / ours"]
        body = []
        for run in mayolact:
            r = rows[run]
            cells = [run_label(run, r), f"{fmt(r['paper_segm_AP'])} / {fmt(r['segm_AP'])} / "
                          f"{fmt(r['delta_segm_AP'], signed=True)}"]
            for k in ("AP50", "AP75", "APs", "APm", "APl"):
                cells.append(f"{fmt(r[f'paper_segm_{k}'])} / {fmt(r[f'segm_{k}'])}")
            cells.append(f"{fmt(r['paper_fps'], digits=0)} / {fmt(r['fps'])}")
            body.append(cells)
        L += _table(header, body)
        L.append("")
        L.append("The paper reports maYOLACT on test-dev only; ours is on "
                 + ("the embedded val split" if preset == "embedded" else "val2017")
                 + ", so even on COCO Δ mixes the split difference with the reproduction "
                 "error. maYOLACT-700 was never released.")
        L.append("")
    return "\n".join(L)


def render_csv(rows: dict, runs) -> str:
    fields = list(run_row(RUNS[0], None))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow({k: ("" if v is None else (round(v, 4) if isinstance(v, float) else v))
                         for k, v in rows[run].items()})
    return buf.getvalue()


def compile_table(preset: str, results: Path, runs, md: Path, csv_path: Path,
                  now: str | None = None) -> dict:
    runs = list(runs)
    metrics = load_metrics(Path(results), runs)
    rows = {run: run_row(run, metrics.get(run)) for run in runs}
    now = now or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    write_text_atomic(Path(md), render_markdown(preset, runs, metrics, rows, now))
    write_text_atomic(Path(csv_path), render_csv(rows, runs))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True, choices=sorted(PRESET_NOTES))
    parser.add_argument("--results", required=True, type=Path,
                        help="folder holding <run>/metrics.json")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=RUNS)
    parser.add_argument("--md", required=True, type=Path)
    parser.add_argument("--csv", required=True, type=Path)
    args = parser.parse_args(argv)
    rows = compile_table(args.preset, args.results, args.runs, args.md, args.csv)
    found = sum(r["segm_AP"] is not None for r in rows.values())
    print(f"{args.md}, {args.csv}: {found} of {len(rows)} runs with results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
