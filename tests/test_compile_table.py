"""experiments.scripts.compile_table on hand-made metrics.json files."""

from __future__ import annotations

import csv
import json

import pytest

from experiments.scripts import compile_table
from maiou import runs as registry


def _metrics(segm_ap, segm_olrp, fps=12.5, anchors=341, **extra):
    coco = dict(
        AP=segm_ap,
        AP50=0.5,
        AP75=0.25,
        APs=0.1,
        APm=0.2,
        APl=None,
        oLRP=segm_olrp,
        oLRP_loc=0.2,
        oLRP_FP=0.3,
        oLRP_FN=0.4,
    )
    return {
        "segm": coco,
        "bbox": dict(coco, AP=0.4, oLRP=0.6),
        "speed": {"images_per_s": fps},
        "anchors_per_image": anchors,
        "device": "CPU (test)",
        "dataset": {"images": 8},
        "versions": {"torch": "9.9", "mmdet": "2.28.2"},
        **extra,
    }


@pytest.fixture
def results(tmp_path):
    made = {
        "fixed_550": _metrics(0.3012, 0.7431),  # paper 28.5 / 75.2
        "atss_maiou_550": _metrics(0.2951, 0.7420),  # paper 30.4 / 73.7
        "mayolact_550": _metrics(0.3345, 0.7100, fps=7.0),
    }  # paper 35.2 (test-dev)
    for run, m in made.items():
        (tmp_path / "results" / run).mkdir(parents=True)
        (tmp_path / "results" / run / "metrics.json").write_text(json.dumps(m))
    return tmp_path


def _compile(tmp_path, preset="coco-released", runs=None):
    md, csv_path = tmp_path / "out/table.md", tmp_path / "out/table.csv"
    rc = compile_table.main(
        [
            "--preset",
            preset,
            "--results",
            str(tmp_path / "results"),
            "--md",
            str(md),
            "--csv",
            str(csv_path),
        ]
        + (["--runs", *runs] if runs else [])
    )
    assert rc == 0
    return md.read_text(), list(csv.DictReader(csv_path.open()))


def _row(md: str, first_cell: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row starting with {first_cell!r}")


def test_paper_layout_cells(results):
    md, _ = _compile(results)
    # Row 550: Fixed IoU AP, oLRP, ATSS w. IoU AP, oLRP, ATSS w. maIoU AP, oLRP.
    row = _row(md, "550")
    assert row[1] == "28.5 / 30.1 / +1.6"
    assert row[2] == "75.2 / 74.3 / -0.9"
    assert row[3] == "29.3 / — / —" and row[4] == "74.5 / — / —"  # missing run
    assert row[5] == "30.4 / 29.5 / -0.9"
    assert row[6] == "73.7 / 74.2 / +0.5"
    assert _row(md, "400")[1] == "24.8 / — / —"


def test_detail_and_mayolact_tables(results):
    md, _ = _compile(results)
    box = _row(md, "fixed_550")  # first table listing the run: box detail
    assert box[1] == "40.0" and box[6] == "—"  # box AP; APL None -> dash
    assert box[-3] == "12.5" and box[-2] == "341"  # fps, anchors
    assert box[-1] == "—"  # no training record (released)
    assert _row(md, "atss_iou_550")[1:] == ["—"] * 13  # missing run: all dashes
    assert "test-dev" in md
    mayolact = [line for line in md.splitlines() if line.startswith("| mayolact_550")][-1]
    assert "35.2 / 33.5 / -1.7" in mayolact and "30 / 7.0" in mayolact


def test_header_states_preset_device_versions(results):
    md, _ = _compile(results)
    assert "coco-released" in md and "CPU (test)" in md and "torch 9.9" in md
    assert "missing: " in md and "Compiled:" in md


def test_embedded_labelled_not_comparable(results):
    md, _ = _compile(results, preset="embedded")
    assert "Embedded mini-benchmark" in md and "NOT the paper's setting" in md
    assert "not meaningful" in md
    assert _row(md, "550 (embedded 128 px)")[1] == "28.5 / 30.1 / +1.6"


def test_csv_parses(results):
    _, rows = _compile(results, runs=["fixed_550", "atss_iou_550", "mayolact_550"])
    assert [r["run"] for r in rows] == ["fixed_550", "atss_iou_550", "mayolact_550"]
    fixed = rows[0]
    assert float(fixed["segm_AP"]) == pytest.approx(30.12)
    assert float(fixed["paper_segm_AP"]) == 28.5
    assert float(fixed["delta_segm_AP"]) == pytest.approx(1.6)
    assert float(fixed["delta_segm_oLRP"]) == pytest.approx(-0.9)
    assert rows[1]["segm_AP"] == "" and rows[1]["paper_segm_AP"] == "29.3"
    assert rows[2]["paper_split"] == "test-dev"


def test_no_results_at_all_does_not_crash(tmp_path):
    (tmp_path / "results").mkdir()
    md, rows = _compile(tmp_path, preset="embedded")
    paper_runs = len(registry.GROUPS["all"])  # the default --runs
    assert len(rows) == paper_runs and f"0 of {paper_runs}" in md
    assert not list((tmp_path / "out").glob(".*"))  # no temp files left behind


def test_unreadable_metrics_counts_as_missing(results):
    (results / "results/atss_iou_550/").mkdir()
    (results / "results/atss_iou_550/metrics.json").write_text("{truncated")
    md, _ = _compile(results)
    assert _row(md, "550")[3] == "29.3 / — / —"


def _difference(delta, lo, hi, verdict, seeds, decision=None, covers=None, role="secondary"):
    """One metric of a comparison as bootstrap_runs writes it (fractions). Several seeds:
    the verdict reads (lo, hi) unless ``decision`` (a pooled interval) is given; one seed:
    ``decision``, the images' interval widened by a stored spread (None without one)."""
    several = len(seeds) > 1
    decision = decision or ((lo, hi) if several else None)
    return {
        "delta": delta,
        "lo": lo,
        "hi": hi,
        "covers": covers or ("seeds × images" if several else "images"),
        "verdict": verdict,
        "excludes_0": None if lo is None else (lo > 0 or hi < 0),
        "decision_lo": decision and decision[0],
        "decision_hi": decision and decision[1],
        "seed_sd": 0.005,
        "seed_df": len(seeds) - 1 if several else 4,
        "image_sd": 0.002,
        "role": role,
    }


def _pair(a, b, seeds, note="no stored seed spread for this comparison", **metrics):
    ra, rb = registry.get(a), registry.get(b)
    return {
        "name": f"{b} - {a}",
        "terms": {b: 1.0, a: -1.0},
        "seeds": list(seeds),
        "kind": "pair",
        "title": f"{rb.title} − {ra.title}",
        "size": ra.coco_size,
        "a": a,
        "b": b,
        "families": None,
        "seed_spread": note,
        "fingerprint": None,
        **metrics,
    }


def _bootstrap_record(seeds=(0,)):
    ci = {"value": 0.30, "lo": 0.28, "hi": 0.32}
    return {
        "resamples": 1000,
        "seed": 0,
        "confidence": 0.95,
        "training_seeds": list(seeds),
        "secondary_seeds": 0,
        "pre_stated_seeds": [0, 1, 2, 3, 4],
        "images": 300,
        "seed_noise": "experiments/config/seed_noise_embedded.json",
        "runs": {
            "fixed_550": {"segm_AP": ci, "bbox_AP": ci, "segm_oLRP": ci},
            "atss_maiou_550": {"segm_AP": ci, "bbox_AP": ci, "segm_oLRP": ci},
        },
        "contrasts": [
            _pair(
                "fixed_550",
                "atss_iou_550",
                seeds,
                note="the stored seed spread was measured under another recipe",
                segm_AP=_difference(0.021, 0.008, 0.034, "holds", seeds, decision=(0.001, 0.041)),
                bbox_AP=_difference(-0.004, -0.012, 0.005, "undecided", seeds),
                segm_oLRP=_difference(None, None, None, "undecided", seeds),
            )
        ],
    }


def _compile_with(results, record, preset="embedded", **kw):
    path = results / "bootstrap.json"
    path.write_text(json.dumps(record))
    md, csv_path, comparisons = (
        results / "out/table.md",
        results / "out/table.csv",
        results / "out/comparisons.csv",
    )
    argv = ["--preset", preset, "--results", str(results / "results"), "--bootstrap", str(path)]
    argv += ["--md", str(md), "--csv", str(csv_path), "--comparisons-csv", str(comparisons)]
    for key, values in kw.items():
        argv += [f"--{key.replace('_', '-')}", *map(str, values)]
    assert compile_table.main(argv) == 0
    return (
        md.read_text(),
        {r["run"]: r for r in csv.DictReader(csv_path.open())},
        list(csv.DictReader(comparisons.open())),
    )


@pytest.mark.parametrize("seeds", [(0,), (0, 1)], ids=["one seed", "two seeds"])
def test_comparisons_with_verdicts_in_markdown_and_csv(results, seeds):
    text, rows, comparisons = _compile_with(results, _bootstrap_record(seeds))
    row = _row(text, "550 (embedded 128 px)")  # first match: the paper-layout table
    assert row[1] == "28.5 / 30.1 / +1.6"
    one = len(seeds) == 1
    covers = "images" if one else "seeds × images"
    lines = text.splitlines()
    cmp_row = next(line for line in lines if "ATSS w. IoU − Fixed IoU" in line)
    header = lines[lines.index(cmp_row) - 2]
    names = [c.strip() for c in header.strip().strip("|").split("|")]
    assert names[2:4] == ["mask AP Δ [lo, hi]", "verdict"]
    cells = [c.strip() for c in cmp_row.strip().strip("|").split("|")]
    # The interval each verdict reads: one seed, the stored spread's where there is one and
    # the images-only one, labelled, where there is none; several seeds pooled with a stored
    # spread: the pooled one, the seeds' own beside it.
    assert cells[2:] == [
        "+2.1 [+0.1, +4.1]" if one else "+2.1 [+0.1, +4.1]",
        "holds",
        "-0.4 (images only: [-1.2, +0.5])" if one else "-0.4 [-1.2, +0.5]",
        "undecided",
        "—",
        "undecided",
    ]
    assert "1000 paired resamples" in text and "300 val images" in text
    assert "the 95 % interval each verdict reads" in text
    # Where each comparison's seed spread comes from, in one line; the multiplicity.
    assert (
        "- 550 (embedded 128 px), ATSS w. IoU − Fixed IoU: seeds "
        f"{', '.join(map(str, seeds))}; the stored seed spread was measured" in text
    )
    assert "**3 verdicts** (1 comparisons × 3 metrics" in text
    assert "None is the primary endpoint (its six ATSS runs are not all here)" in text
    iou = rows["atss_iou_550"]
    assert iou["compared_to"] == "fixed_550"
    assert iou["verdict"] == "holds" and iou["interval_covers"] == covers
    assert iou["cmp_verdict_bbox_AP"] == "undecided"
    assert float(iou["cmp_delta_segm_AP"]) == pytest.approx(2.1)
    assert float(iou["cmp_verdict_lo_segm_AP"]) == pytest.approx(0.1)
    assert iou["cmp_verdict_lo_bbox_AP"] == ("" if one else "-1.2")
    assert iou["cmp_images_lo_segm_AP"] == ("0.8" if one else "")
    assert float(iou["cmp_seed_sd_segm_AP"]) == pytest.approx(0.5)
    assert not any("excludes_0" in name for name in iou)
    assert float(rows["fixed_550"]["segm_AP_lo"]) == pytest.approx(28.0)
    assert rows["fixed_550"]["compared_to"] == "" and rows["fixed_550"]["verdict"] == ""
    # comparisons.csv: one row per comparison and metric, every one secondary here.
    assert [(r["metric"], r["role"], r["verdict"]) for r in comparisons] == [
        ("mask AP", "secondary", "holds"),
        ("box AP", "secondary", "undecided"),
        ("mask oLRP", "secondary", "undecided"),
    ]
    assert float(comparisons[0]["lo"]) == pytest.approx(0.1)
    assert float(comparisons[0]["own_lo"]) == pytest.approx(0.8)


def _endpoint(seeds, look, **metrics):
    return {
        "name": "primary",
        "terms": registry.PRIMARY.terms(),
        "seeds": list(seeds),
        "kind": "endpoint",
        "title": registry.PRIMARY.title,
        "size": None,
        "a": None,
        "b": None,
        "families": None,
        "seed_spread": "pooled with the stored spread of seeds 20-29, measured today",
        "fingerprint": "f" * 64,
        "look": look,
        **metrics,
    }


@pytest.mark.parametrize("look", ["confirmatory", "exploratory"])
def test_the_primary_endpoint_leads_the_table_and_is_counted_apart(results, look):
    """The primary endpoint is the first comparison row and the first line under the title,
    labelled primary with its look; the other verdicts are counted as secondary."""
    seeds = (0, 1, 2, 3, 4) if look == "confirmatory" else (0, 1, 2, 3, 4, 5)
    record = _bootstrap_record(seeds)
    pooled = dict(
        _difference(0.012, -0.004, 0.028, "holds", seeds, decision=(0.004, 0.020), role="primary"),
        covers="seeds × images, seed spread pooled with the stored one",
    )
    other = _difference(-0.002, -0.01, 0.006, "undecided", seeds)
    record["contrasts"].insert(
        0, _endpoint(seeds, look, segm_AP=pooled, bbox_AP=other, segm_oLRP=other)
    )
    text, _, comparisons = _compile_with(results, record)
    lines = text.splitlines()
    assert lines[4].startswith(f"**Primary endpoint** ({registry.PRIMARY.title}; seeds ")
    assert lines[4].endswith(
        f"{look}): +1.2 [+0.4, +2.0] (own seeds: [-0.4, +2.8]), half-width 0.80 points: **holds**."
    )
    section = text.split("## Comparisons", 1)[1]
    first = next(line for line in section.splitlines() if line.startswith("| all three"))
    assert f"(**primary**, {look})" in first and "+1.2 [+0.4, +2.0]" in first
    assert section.index("| all three") < section.index("ATSS w. IoU − Fixed IoU")
    assert "**6 verdicts** (2 comparisons × 3 metrics" in text
    assert "**One is primary**" in text and "The other 5 are secondary" in text
    assert ("a later look, exploratory" in text) == (look == "exploratory")
    assert [r["role"] for r in comparisons][:3] == ["primary", "secondary", "secondary"]
    assert comparisons[0]["look"] == look and comparisons[0]["comparison"] == registry.PRIMARY.title


def test_where_mask_awareness_pays(results):
    """One row per assigner family at 550 and one per difference of two families' gains,
    each with the interval its verdict reads; the section needs two families."""
    from experiments.reporting import markdown, table

    seeds = (0, 1)
    record = _bootstrap_record(seeds)

    def gain(delta, verdict):
        c = _difference(delta, delta - 0.01, delta + 0.01, verdict, seeds)
        return {"segm_AP": c, "bbox_AP": c, "segm_oLRP": c}

    record["contrasts"] = [
        _pair("atss_iou_550", "atss_maiou_550", seeds, **gain(0.02, "holds")),
        _pair("tal_iou_550", "tal_maiou_550", seeds, **gain(-0.005, "undecided")),
        {
            **_pair("atss_iou_550", "atss_maiou_550", seeds, **gain(0.025, "holds")),
            "kind": "family",
            "title": "gain in ATSS − gain in TAL",
            "families": ["ATSS", "TAL"],
            "a": None,
            "b": None,
        },
    ]
    path = results / "bootstrap.json"
    path.write_text(json.dumps(record))
    model = table.build("embedded", results / "results", ["atss_iou_550"], seeds, bootstrap=path)
    text = "\n".join(markdown.render_families(model))
    assert "## Where mask-awareness pays: maIoU − IoU per assigner family, 550 (embedded" in text
    assert _row(text, "ATSS")[1:3] == ["+2.0 [+1.0, +3.0]", "holds"]
    assert _row(text, "TAL")[1:3] == ["-0.5 [-1.5, +0.5]", "undecided"]
    assert _row(text, "gain in ATSS − gain in TAL")[1:3] == ["+2.5 [+1.5, +3.5]", "ATSS gains more"]
    record["contrasts"] = record["contrasts"][:1]
    path.write_text(json.dumps(record))
    model = table.build("embedded", results / "results", ["atss_iou_550"], seeds, bootstrap=path)
    assert markdown.render_families(model) == []


def test_bad_bootstrap_file_is_one_clear_error(results, capsys):
    path = results / "bootstrap.json"
    path.write_text("[1, 2]")
    status = compile_table.main(
        [
            "--preset",
            "embedded",
            "--results",
            str(results / "results"),
            "--bootstrap",
            str(path),
            "--md",
            str(results / "t.md"),
            "--csv",
            str(results / "t.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert status != 0 and len(err.splitlines()) == 1
    assert "compile_table: error:" in err and "bootstrap.json: not a bootstrap record" in err


def test_seeds_give_mean_and_sd(tmp_path):
    # Seed 0 in results/<run>, seeds 1 and 2 in results/seed<s>/<run>.
    for seed, ap in ((0, 0.30), (1, 0.32), (2, 0.34)):
        folder = tmp_path / "results" / ("" if seed == 0 else f"seed{seed}") / "fixed_550"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(_metrics(ap, 0.70 + ap / 10)))
    md, csv_path = tmp_path / "t.md", tmp_path / "t.csv"
    assert (
        compile_table.main(
            [
                "--preset",
                "coco-released",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                "fixed_550",
                "--seeds",
                "0",
                "1",
                "2",
                "--md",
                str(md),
                "--csv",
                str(csv_path),
            ]
        )
        == 0
    )
    text = md.read_text()
    assert _row(text, "550")[1] == "28.5 / 32.0 ± 2.0 / +3.5"  # mean 32.0, sd 2.0
    assert "Training seeds: 0, 1, 2" in text
    row = next(csv.DictReader(csv_path.open()))
    assert row["seeds"] == "3" and float(row["segm_AP_sd"]) == pytest.approx(2.0)
    # Only seed 0 asked: the single-seed numbers, no ±.
    assert (
        compile_table.main(
            [
                "--preset",
                "coco-released",
                "--results",
                str(tmp_path / "results"),
                "--runs",
                "fixed_550",
                "--md",
                str(md),
                "--csv",
                str(csv_path),
            ]
        )
        == 0
    )
    assert _row(md.read_text(), "550")[1] == "28.5 / 30.0 / +1.5"


def test_decision_cell_never_shows_minus_zero():
    from experiments.reporting.markdown import decision_cell

    c = {"delta": -0.0004, "lo": -0.0003, "hi": 0.012}
    assert decision_cell(c) == "+0.0 (images only: [+0.0, +1.2])"
    c.update(decision_lo=-0.0002, decision_hi=0.02)
    assert decision_cell(c) == "+0.0 [+0.0, +2.0]"


def test_runs_not_trained_at_32_images_per_step_are_marked(tmp_path):
    at_32 = dict(gpus=1, images_per_forward=8, accumulation=4, images_per_step=32)
    at_16 = dict(gpus=2, images_per_forward=8, accumulation=1, images_per_step=16)
    for run, training in (
        ("fixed_550", at_32),
        ("atss_maiou_550", at_16),
        ("mayolact_550", None),
    ):  # None: a released checkpoint
        (tmp_path / "results" / run).mkdir(parents=True)
        (tmp_path / "results" / run / "metrics.json").write_text(
            json.dumps(_metrics(0.3, 0.7, training=training))
        )
    md, rows = _compile(tmp_path, preset="coco-train")
    assert "atss_maiou_550 at 16 (2 process(es) x 8 images x accumulation 1)" in md
    assert md.count("† Not trained at the paper's 32 images per optimizer step") == 1
    assert _row(md, "atss_maiou_550†")[-1] == "16 (2 x 8 x 1)"
    assert _row(md, "fixed_550")[-1] == "32 (1 x 8 x 4)"
    assert _row(md, "mayolact_550")[-1] == "—"
    assert _row(md, "550")[5].split(" / ")[1] == "30.0†"  # ATSS w. maIoU: mask AP
    assert "†" not in _row(md, "550")[1]  # fixed IoU at 32
    by_run = {row["run"]: row for row in rows}
    assert by_run["atss_maiou_550"]["train_images_per_step"] == "16"
    assert by_run["mayolact_550"]["train_images_per_step"] == ""
    # The embedded preset trains at 8 by design: the batch column, but no mark.
    md, _ = _compile(tmp_path, preset="embedded")
    assert "†" not in md
    assert _row(md, "atss_maiou_550")[-1] == "16 (2 x 8 x 1)"
