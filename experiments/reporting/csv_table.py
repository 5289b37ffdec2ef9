"""The table as CSV, from the table model: ``results/table.csv``, one row per run with every
number (ours, paper, Δ, its intervals and its comparison as contender), and
``results/comparisons.csv``, one row per comparison and metric, primary endpoint first."""

from __future__ import annotations

import csv
import io

from maiou import runs as registry
from maiou.evaluation.metric import COMPARED, METRICS

from .results import points, summarize
from .table import Table, run_columns

__all__ = ["render_runs", "render_comparisons"]

COMPARISON_FIELDS = (
    "comparison",
    "kind",
    "role",
    "look",
    "size",
    "metric",
    "seeds",
    "delta",
    "lo",
    "hi",
    "covers",
    "verdict",
    "own_lo",
    "own_hi",
    "seed_sd",
    "seed_df",
    "image_sd",
    "seed_spread",
)


def _write(fields, rows) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("" if v is None else (round(v, 4) if isinstance(v, float) else v))
                for k, v in row.items()
            }
        )
    return buf.getvalue()


def render_runs(table: Table) -> str:
    fields = list({**summarize(registry.NAMES[0], []), **run_columns(registry.NAMES[0], None)})
    fields.append("off_course_epochs")
    return _write(fields, (table.rows[run] for run in table.runs))


def render_comparisons(table: Table) -> str:
    """Every comparison in every metric: Δ, the interval the verdict reads (lo, hi) and the
    run's own seeds' (own_lo, own_hi), in points."""
    rows = []
    for c in table.comparisons:
        for key in COMPARED:
            d = c[key]
            rows.append(
                {
                    "comparison": c["title"],
                    "kind": c["kind"],
                    "role": d.get("role"),
                    "look": c.get("look"),
                    "size": c.get("size"),
                    "metric": METRICS[key].label,
                    "seeds": " ".join(map(str, c["seeds"])),
                    "delta": points(d.get("delta")),
                    "lo": points(d.get("decision_lo")),
                    "hi": points(d.get("decision_hi")),
                    "covers": d.get("covers"),
                    "verdict": d.get("verdict"),
                    "own_lo": points(d.get("lo")),
                    "own_hi": points(d.get("hi")),
                    "seed_sd": points(d.get("seed_sd")),
                    "seed_df": d.get("seed_df"),
                    "image_sd": points(d.get("image_sd")),
                    "seed_spread": c.get("seed_spread"),
                }
            )
    return _write(COMPARISON_FIELDS, rows)
