"""What the table compares, once: the primary endpoint, then every secondary comparison.

The list is made from the run registry (maiou/runs.py) for the runs at hand, before any
result is read:

1. **the primary endpoint** (``PRIMARY``): ATSS w. maIoU − ATSS w. IoU in mask AP, the
   per-seed difference averaged over the three sizes, when all six of its runs are there;
2. the paired comparisons at one size (``COMPARISONS``: ATSS w. IoU − fixed, ATSS w. maIoU
   − ATSS w. IoU, maYOLACT − ATSS w. maIoU, maIoU − IoU in the other families);
3. the differences between two assigner families' maIoU gains (``FAMILY_RUNS``).

Each is a :class:`maiou.evaluation.bootstrap.Contrast` (a weighted sum of runs, per training
seed) with what the table says of it. Every one but the primary endpoint in its metric is
secondary, and the table counts them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from maiou import runs as registry
from maiou.evaluation.bootstrap import Contrast

__all__ = ["Comparison", "comparisons", "PRIMARY_NAME"]

PRIMARY_NAME = "primary"
"""The contrast name of the primary endpoint (in bootstrap.json and the seed-spread file)."""


@dataclass(frozen=True)
class Comparison:
    """One comparison of the table: its contrast, its kind (``endpoint``, ``pair``,
    ``family``), its title, the COCO size it is at (None for the endpoint, averaged over
    sizes), and for a pair its runs (``a`` baseline, ``b`` contender) or for a difference
    of family gains the two families."""

    contrast: Contrast
    kind: str
    title: str
    size: int | None = None
    a: str | None = None
    b: str | None = None
    families: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        return self.contrast.name

    def is_primary(self, metric: str) -> bool:
        """Whether this comparison in ``metric`` is the primary endpoint."""
        return self.kind == "endpoint" and metric == registry.PRIMARY.metric


def _pair(a: str, b: str) -> Comparison:
    ra, rb = registry.get(a), registry.get(b)
    return Comparison(Contrast.pair(a, b), "pair", f"{rb.title} − {ra.title}", ra.coco_size, a, b)


def _family_gain_difference(first: str, second: str) -> Comparison:
    (a, b), (c, d) = registry.FAMILY_RUNS[first], registry.FAMILY_RUNS[second]
    terms = {b: 1.0, a: -1.0, d: -1.0, c: 1.0}
    return Comparison(
        Contrast(f"({b} - {a}) - ({d} - {c})", terms),
        "family",
        f"gain in {first} − gain in {second}",
        registry.FAMILY_SIZE,
        families=(first, second),
    )


def comparisons(runs) -> list[Comparison]:
    """The comparisons among ``runs``, primary endpoint first, then the pairs by size and
    comparison, then the differences of family gains in the registry's order."""
    runs = set(runs)
    out = []
    if set(registry.PRIMARY.runs) <= runs:
        out.append(
            Comparison(
                Contrast(PRIMARY_NAME, registry.PRIMARY.terms()), "endpoint", registry.PRIMARY.title
            )
        )
    for size in registry.SIZES:
        for a, b in registry.COMPARISONS:
            ra, rb = registry.run_at(a, size), registry.run_at(b, size)
            if ra and rb and ra.name in runs and rb.name in runs:
                out.append(_pair(ra.name, rb.name))
    present = [f for f, pair in registry.FAMILY_RUNS.items() if set(pair) <= runs]
    out += [
        _family_gain_difference(first, second)
        for i, first in enumerate(present)
        for second in present[i + 1 :]
    ]
    return out
