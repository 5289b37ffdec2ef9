"""The metrics every comparison reports, once: where each comes from, which way is better,
what it is called; and the one confidence level of every interval.

``metrics.json`` (maiou.evaluate) holds ``m[kind][score]`` as a fraction; the bootstrap
scores the same number from the per-image matches of ``kind`` (maiou.evaluation.weighted).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["CONFIDENCE", "COMPARED", "Metric", "METRICS"]

CONFIDENCE = 0.95
"""Two-sided coverage of every interval the benchmark reports."""


@dataclass(frozen=True)
class Metric:
    """One number of a run: ``name`` (e.g. ``segm_AP``), the matching it is scored from
    (``kind``: ``segm`` or ``bbox``), its key there (``score``: ``AP`` or ``oLRP``), which
    direction is better, and its label in tables and figures."""

    name: str
    kind: str
    score: str
    higher_is_better: bool
    label: str

    def of(self, metrics: Mapping) -> float:
        """This metric's value in a ``metrics.json`` record."""
        return float(metrics[self.kind][self.score])


METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        m.name: m
        for m in (
            Metric("segm_AP", "segm", "AP", True, "mask AP"),
            Metric("bbox_AP", "bbox", "AP", True, "box AP"),
            Metric("segm_oLRP", "segm", "oLRP", False, "mask oLRP"),
        )
    }
)
COMPARED: tuple[str, ...] = tuple(METRICS)
"""The metrics every comparison reports, in table order."""
