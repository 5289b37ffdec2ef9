"""The table model: every number the table shows, built once from the results.

:func:`build` reads every seed's ``metrics.json`` of each run (experiments/reporting/
results.py), the intervals and verdicts (``bootstrap.json``, experiments/scripts/
bootstrap_runs.py) and, on coco-train, the training-curve check, and returns a
:class:`Table`: the run rows (numbers in points, the run's own intervals, and its
comparison as contender) and the comparisons in the table's order, primary endpoint first.
The renderers (experiments/reporting/markdown.py, csv_table.py) only format it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

from experiments import presets
from experiments.reporting import results
from experiments.reporting.records import load_bootstrap, load_curve_check
from maiou.evaluation.intervals import IMAGES
from maiou.evaluation.metric import COMPARED

__all__ = ["Table", "build", "run_columns"]


@dataclass
class Table:
    """What the table shows.

    ``rows``: {run: flat row in points} (results.summarize, with :func:`run_columns`);
    ``per_seed``: {run: its metrics.json records}; ``run_seeds``: {run: its seeds};
    ``boot``: the bootstrap record or None; ``curves``: the curve check or None.
    """

    preset: presets.Preset
    runs: list[str]
    seeds: list[int]
    run_seeds: dict[str, list[int]]
    per_seed: dict
    rows: dict
    boot: dict | None
    curves: dict | None
    compiled: str

    @property
    def comparisons(self) -> list[dict]:
        """The bootstrap record's comparisons in the table's order (primary first)."""
        return (self.boot or {}).get("contrasts", [])

    @property
    def primary(self) -> dict | None:
        return next((c for c in self.comparisons if c["kind"] == "endpoint"), None)


def run_columns(run: str, boot: dict | None) -> dict:
    """The run's own intervals and its comparison as contender (the pair whose ``b`` it is),
    in points, for its row."""
    row: dict = {}
    own = (boot or {}).get("runs", {}).get(run, {})
    for key in COMPARED:
        ci = own.get(key, {})
        row[f"{key}_lo"], row[f"{key}_hi"] = (
            results.points(ci.get("lo")),
            results.points(ci.get("hi")),
        )
    pair = next(
        (p for p in (boot or {}).get("contrasts", []) if p["kind"] == "pair" and p["b"] == run),
        None,
    )
    row["compared_to"] = pair["a"] if pair else None
    row["interval_covers"] = pair["segm_AP"].get("covers") if pair else None
    row["verdict"] = pair["segm_AP"].get("verdict") if pair else None
    for key in COMPARED:
        c = pair[key] if pair else {}
        row[f"cmp_delta_{key}"] = results.points(c.get("delta"))
        # The interval the verdict reads (several seeds: seeds x images, pooled with a
        # stored spread where the rule allows; one seed: images widened by the stored
        # spread, empty without one) ...
        row[f"cmp_verdict_lo_{key}"] = results.points(c.get("decision_lo"))
        row[f"cmp_verdict_hi_{key}"] = results.points(c.get("decision_hi"))
        row[f"cmp_verdict_{key}"] = c.get("verdict")
        # ... and, with one seed, the percentile interval over the test images alone.
        images_only = pair is not None and c.get("covers") == IMAGES
        row[f"cmp_images_lo_{key}"] = results.points(c.get("lo")) if images_only else None
        row[f"cmp_images_hi_{key}"] = results.points(c.get("hi")) if images_only else None
        row[f"cmp_seed_sd_{key}"] = results.points(c.get("seed_sd"))
    return row


def build(
    preset: str,
    results_dir: Path,
    runs,
    seeds,
    secondary_seeds: int = 0,
    bootstrap: Path | None = None,
    curve_check: Path | None = None,
    now: str | None = None,
) -> Table:
    """The table of ``runs`` trained with ``seeds`` (the runs outside the primary endpoint
    with the first ``secondary_seeds``; experiments/presets.py ``run_seeds``)."""
    runs, seeds = list(runs), [int(s) for s in seeds]
    run_seeds = presets.run_seeds(runs, seeds, secondary_seeds)
    per_seed, rows = results.load(Path(results_dir), run_seeds)
    boot = load_bootstrap(bootstrap)
    curves = load_curve_check(curve_check)
    for run, row in rows.items():
        row.update(run_columns(run, boot))
        c = (curves or {}).get("runs", {}).get(run) or {}
        row["off_course_epochs"] = (
            " ".join(map(str, c.get("off_course_epochs", []))) if c.get("checked") else None
        )
    now = now or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Table(presets.get(preset), runs, seeds, run_seeds, per_seed, rows, boot, curves, now)
