"""COCO AP/AR and oLRP from one ``COCOeval.evaluate()`` pass."""

from __future__ import annotations

import time
from pathlib import Path

from pycocotools.coco import COCO

from .olrp import IOU_THR, MAX_DETS, evaluate_coco, olrp_from_cocoeval, quiet

__all__ = ["STAT_KEYS", "coco_metrics"]

# Names of COCOeval.stats[0:12], in order.
STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _olrp_summary(olrp: dict) -> str:
    """oLRP lines in the layout of the authors' summarize() (undefined shown as -1)."""
    lines = []
    for key, title in (
        ("oLRP", "Optimal LRP"),
        ("oLRP_loc", "Optimal LRP Loc"),
        ("oLRP_FP", "Optimal LRP FP"),
        ("oLRP_FN", "Optimal LRP FN"),
    ):
        v = olrp[key]
        lines.append(
            f" {title:<18}      @[ IoU={IOU_THR:<9.2f} | area={'all':>6s} | "
            f"maxDets={MAX_DETS:>3d} ] = {-1 if v is None else v:0.3f}"
        )
    return "\n".join(lines) + "\n"


def coco_metrics(
    coco_gt: COCO,
    coco_dt: COCO | str | Path | list,
    iou_type: str = "segm",
    return_cocoeval: bool = False,
):
    """The 12 COCO stats and oLRP of ``coco_dt`` against ``coco_gt`` for "segm" or "bbox".

    ``coco_dt`` may be a results ``COCO`` or a results path/list (validated by
    ``load_results``; an empty list scores AP 0 and oLRP 1). One ``evaluate()`` feeds both
    ``accumulate()``/``summarize()`` and the oLRP.

    Returns a flat dict, all metric values fractions in [0, 1]:
    - ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl``, ``AR1``, ``AR10``, ``AR100``,
      ``ARs``, ``ARm``, ``ARl``: ``COCOeval.stats[0:12]``, None where pycocotools gives -1
      (no ground truth in that area range);
    - ``oLRP``, ``oLRP_loc``, ``oLRP_FP``, ``oLRP_FN``, ``per_class``: as ``optimal_lrp``;
    - ``summary``: pycocotools' printed summary followed by the oLRP lines;
    - ``timing_s``: seconds spent in ``evaluate``, ``accumulate`` (+summarize) and ``olrp``.

    With ``return_cocoeval`` the evaluated ``COCOeval`` comes too, as ``(dict, COCOeval)``
    (its per-image matching feeds the bootstrap, ``maiou.evaluation.matches``).
    """
    t0 = time.perf_counter()
    E = evaluate_coco(coco_gt, coco_dt, iou_type)
    t1 = time.perf_counter()
    with quiet():
        E.accumulate()
    with quiet() as buf:
        E.summarize()
    t2 = time.perf_counter()
    olrp = olrp_from_cocoeval(E)
    t3 = time.perf_counter()
    out: dict = {k: (None if v == -1 else float(v)) for k, v in zip(STAT_KEYS, E.stats)}
    out.update(olrp)
    out["summary"] = buf.getvalue() + _olrp_summary(olrp)
    out["timing_s"] = {"evaluate": t1 - t0, "accumulate": t2 - t1, "olrp": t3 - t2}
    return (out, E) if return_cocoeval else out
