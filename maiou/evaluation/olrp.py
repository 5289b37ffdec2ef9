"""Optimal LRP (oLRP), computed the way the authors' evaluator (LRP-Error's modified
pycocotools ``cocoeval.py``) computes it, on top of a stock pycocotools ``COCOeval``.

Definition (docs/paper-facts.md, "oLRP, as the authors' evaluation computes it"):
matching as COCO at IoU 0.5, area "all", 100 detections per image. Per class, the
detections of all images (concatenated in COCOeval's image order, each image already
sorted by score) are sorted by score with a stable sort; at every prefix

    LRP = (sum(1 - IoU over TPs) / (1 - 0.5) + FP + FN) / (TP + FP + FN),  FN = #gt - TP

and oLRP is the first minimum. All values here are fractions in [0, 1] (the paper prints %).

Also here: loading and validating ground truth and results (``load_coco_gt``,
``load_results``) and running one quiet ``COCOeval.evaluate()`` (``evaluate_coco``), which
``coco_metrics`` reuses so that AP and oLRP come from the same evaluation pass.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

__all__ = [
    "IOU_THR",
    "MAX_DETS",
    "coco_gt_from_dict",
    "evaluate_coco",
    "load_coco_gt",
    "load_results",
    "olrp_from_cocoeval",
    "optimal_lrp",
]

IOU_THR = 0.5  # the TP threshold oLRP is defined at
MAX_DETS = 100  # detections per image that take part
_AREA_ALL = (0.0, 1e5**2)  # COCOeval's "all" area range
_IOU_TYPES = ("segm", "bbox")
_GT_KEYS = ("images", "annotations", "categories")
_GT_ANN_KEYS = ("id", "image_id", "category_id", "bbox", "area", "iscrowd")
_COMPONENTS = ("oLRP", "oLRP_loc", "oLRP_FP", "oLRP_FN")


@contextlib.contextmanager
def quiet():
    """Capture pycocotools' progress prints; yields the ``StringIO`` that receives them."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield buf


def _check_iou_type(iou_type: str) -> None:
    if iou_type not in _IOU_TYPES:
        raise ValueError(f"iou_type must be one of {_IOU_TYPES}, got {iou_type!r}")


def _read_json(path: str | Path) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a JSON text file ({e})") from e


def _examples(values: Iterable, n: int = 5) -> str:
    values = sorted(set(values), key=repr)
    more = f" and {len(values) - n} more" if len(values) > n else ""
    return f"{values[:n]}{more}"


def coco_gt_from_dict(data: Any, name: str = "<ground truth>") -> COCO:
    """Validate a COCO ground-truth dict and index it as a pycocotools ``COCO``.

    ``name`` (the file it came from) is put in every error message. Raises ``ValueError``
    when a top-level key (``images``, ``annotations``, ``categories``) is missing or not a
    list, when an annotation lacks a key pycocotools reads (``id``, ``image_id``,
    ``category_id``, ``bbox``, ``area``, ``iscrowd``), refers to an unknown image or
    category, or when annotation ids are duplicated or 0 (pycocotools stores the matched
    gt id with 0 meaning "unmatched", so a gt with id 0 would silently count as a miss).
    """
    if not isinstance(data, dict):
        raise ValueError(
            f"{name}: not a COCO ground-truth file (top level is "
            f"{type(data).__name__}, expected an object)"
        )
    missing = [k for k in _GT_KEYS if k not in data]
    if missing:
        raise ValueError(
            f"{name}: not a COCO ground-truth file: missing key(s) "
            f"{', '.join(repr(k) for k in missing)}"
        )
    for k in _GT_KEYS:
        if not isinstance(data[k], list):
            raise ValueError(f"{name}: key {k!r} must be a list, got {type(data[k]).__name__}")
    img_ids = {img.get("id") for img in data["images"]}
    cat_ids = {cat.get("id") for cat in data["categories"]}
    if None in img_ids:
        raise ValueError(f"{name}: an entry of 'images' has no 'id'")
    if None in cat_ids:
        raise ValueError(f"{name}: an entry of 'categories' has no 'id'")
    seen: set = set()
    for i, ann in enumerate(data["annotations"]):
        lacking = [k for k in _GT_ANN_KEYS if k not in ann]
        if lacking:
            raise ValueError(
                f"{name}: annotations[{i}] lacks key(s) {', '.join(repr(k) for k in lacking)}"
            )
        if ann["id"] == 0 or ann["id"] in seen:
            why = "0 (pycocotools reserves 0 for 'unmatched')" if ann["id"] == 0 else "duplicated"
            raise ValueError(f"{name}: annotations[{i}] has id {ann['id']!r}, which is {why}")
        seen.add(ann["id"])
        if ann["image_id"] not in img_ids:
            raise ValueError(
                f"{name}: annotations[{i}] refers to unknown image id {ann['image_id']!r}"
            )
        if ann["category_id"] not in cat_ids:
            raise ValueError(
                f"{name}: annotations[{i}] refers to unknown category id {ann['category_id']!r}"
            )
    coco = COCO()
    coco.dataset = data
    with quiet():
        coco.createIndex()
    return coco


def load_coco_gt(path: str | Path) -> COCO:
    """Load and validate a COCO ground-truth JSON file (see ``coco_gt_from_dict``).

    Raises ``ValueError`` naming ``path`` if it is not JSON or not a COCO ground truth.
    """
    return coco_gt_from_dict(_read_json(path), name=str(path))


def _empty_results(coco_gt: COCO) -> COCO:
    # pycocotools' loadRes indexes anns[0]; an empty result set is legal (a model that
    # detects nothing) and must score worst, so build the empty results object directly.
    res = COCO()
    res.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": list(coco_gt.dataset["categories"]),
        "annotations": [],
    }
    with quiet():
        res.createIndex()
    return res


def load_results(coco_gt: COCO, results: str | Path | list, iou_type: str | None = None) -> COCO:
    """Validate detection results and load them with ``coco_gt.loadRes``.

    Inputs: ``results`` is a path to a COCO results JSON file or the list itself (items
    with ``image_id``, ``category_id``, ``score`` and ``bbox`` [x, y, w, h] in pixels and/or
    ``segmentation`` as an RLE). ``iou_type`` ("segm", "bbox" or None for either) selects
    which geometry each item must have; for "segm" the ``bbox`` key is dropped (on copies)
    so that instance areas come from the masks, as mmdet does.
    Output: a ``COCO`` results object; an empty list gives one with no annotations.
    Raises ``ValueError`` naming the file (or "results list") for non-JSON input, a
    non-list, items missing keys, or image/category ids absent from ``coco_gt``.
    The caller's dicts are not modified (loadRes writes ids and areas into them).
    """
    if iou_type is not None:
        _check_iou_type(iou_type)
    if isinstance(results, (str, Path)):
        name = str(results)
        results = _read_json(results)
    else:
        name = "results list"
    if not isinstance(results, list):
        raise ValueError(
            f"{name}: results must be a list of detections, got {type(results).__name__}"
        )
    geometry = {"segm": ("segmentation",), "bbox": ("bbox",), None: ()}[iou_type]
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise ValueError(f"{name}: results[{i}] is not an object")
        lacking = [k for k in ("image_id", "category_id", "score") + geometry if k not in r]
        if iou_type is None and "bbox" not in r and "segmentation" not in r:
            lacking.append("bbox or segmentation")
        if lacking:
            raise ValueError(f"{name}: results[{i}] lacks key(s) {', '.join(lacking)}")
    bad_imgs = {r["image_id"] for r in results} - set(coco_gt.getImgIds())
    if bad_imgs:
        raise ValueError(
            f"{name}: results refer to image ids not in the ground truth: {_examples(bad_imgs)}"
        )
    bad_cats = {r["category_id"] for r in results} - set(coco_gt.getCatIds())
    if bad_cats:
        raise ValueError(
            f"{name}: results refer to category ids not in the ground truth: {_examples(bad_cats)}"
        )
    if not results:
        return _empty_results(coco_gt)
    anns = [dict(r) for r in results]
    if iou_type == "segm":
        for a in anns:
            a.pop("bbox", None)
    with quiet():
        return coco_gt.loadRes(anns)


def _as_results(coco_gt: COCO, coco_dt: COCO | str | Path | list, iou_type: str) -> COCO:
    """A results ``COCO`` (checked for unknown ids), or whatever ``load_results`` takes."""
    if not isinstance(coco_dt, COCO):
        return load_results(coco_gt, coco_dt, iou_type)
    anns = coco_dt.dataset.get("annotations", [])
    for key, known, what in (
        ("image_id", coco_gt.getImgIds(), "image"),
        ("category_id", coco_gt.getCatIds(), "category"),
    ):
        bad = {a[key] for a in anns} - set(known)
        if bad:
            raise ValueError(f"results: {what} ids not in the ground truth: {_examples(bad)}")
    return coco_dt


def evaluate_coco(
    coco_gt: COCO, coco_dt: COCO | str | Path | list, iou_type: str = "segm"
) -> COCOeval:
    """Run ``COCOeval.evaluate()`` once with default parameters, its prints captured.

    ``coco_dt`` may be a results ``COCO`` or a path/list (loaded with ``load_results``).
    Returns the evaluated ``COCOeval`` (not yet accumulated).
    """
    _check_iou_type(iou_type)
    coco_dt = _as_results(coco_gt, coco_dt, iou_type)
    E = COCOeval(coco_gt, coco_dt, iou_type)
    with quiet():
        E.evaluate()
    return E


def _class_olrp(
    scores: np.ndarray, tps: np.ndarray, fps: np.ndarray, tp_ious: np.ndarray, npig: int
) -> dict:
    """oLRP of one class from its detections, already in the final (stable-sorted) order.

    ``tps``/``fps``: bool per detection (both False for ignored ones); ``tp_ious``: IoU of
    each TP, 0 elsewhere; ``npig``: number of non-ignored ground truths (> 0).
    """
    worst = {"oLRP": 1.0, "oLRP_loc": None, "oLRP_FP": None, "oLRP_FN": 1.0, "threshold": None}
    if len(scores) == 0 or not tps.any():
        return worst
    tp_num = np.cumsum(tps)
    fp_num = np.cumsum(fps)
    fn_num = npig - tp_num
    # The authors accumulate the localisation error as TP - sum(IoU) rather than
    # sum(1 - IoU); the same float operations keep argmin ties resolving the same way.
    total_loc = tp_num - np.cumsum(tp_ious)
    lrps = (total_loc / (1 - IOU_THR) + fp_num + fn_num) / (tp_num + fp_num + fn_num)
    i = int(np.argmin(lrps))  # first minimum
    tp, fp = int(tp_num[i]), int(fp_num[i])
    # Only a minimum of exactly 1 can sit on a prefix without TP (e.g. a leading FP or a
    # detection matched to a crowd region); the authors get NaN there and skip it in the
    # means, which None reproduces.
    return {
        "oLRP": float(lrps[i]),
        "oLRP_loc": float(total_loc[i] / tp) if tp else None,
        "oLRP_FP": fp / (tp + fp) if tp + fp else None,
        "oLRP_FN": float(fn_num[i] / npig),
        "threshold": float(scores[i]),
    }


def _index_of(seq, value, what: str) -> int:
    for i, v in enumerate(seq):
        if np.allclose(v, value, rtol=0, atol=1e-12):
            return i
    raise ValueError(f"COCOeval parameters lack the {what} oLRP needs ({value})")


def olrp_from_cocoeval(E: COCOeval) -> dict:
    """oLRP from a ``COCOeval`` on which ``evaluate()`` has run (``accumulate`` not needed).

    Reads ``E.evalImgs`` (IoU 0.5, area "all") and, for the IoU of each TP, ``E.ious``.
    Returns ``{"oLRP", "oLRP_loc", "oLRP_FP", "oLRP_FN"}`` (means over classes as fractions;
    component means skip undefined values; None if no class defines one) and ``per_class``:
    ``{category id: {"oLRP", "oLRP_loc", "oLRP_FP", "oLRP_FN", "threshold"}}`` with None
    where undefined. Classes without non-ignored ground truth are left out of ``per_class``.
    """
    p = E._paramsEval  # the parameters evaluate() used, as accumulate() reads them
    if not E.evalImgs or not p.useCats:
        raise ValueError("olrp_from_cocoeval needs a COCOeval evaluated per category")
    if p.maxDets[-1] < MAX_DETS:
        raise ValueError(f"COCOeval was evaluated with maxDets {p.maxDets}; oLRP needs {MAX_DETS}")
    t = _index_of(p.iouThrs, IOU_THR, "IoU threshold")
    a0 = _index_of(p.areaRng, _AREA_ALL, "area range 'all'")
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    per_class = {}
    for k0, cat_id in enumerate(p.catIds):
        start = k0 * n_area * n_img + a0 * n_img
        scores, tps, fps, ious = [], [], [], []
        npig = 0
        # Images in COCOeval's order (sorted ids), each image's detections already sorted
        # by score, exactly what accumulate() concatenates before its stable sort.
        for e in E.evalImgs[start : start + n_img]:
            if e is None:
                continue
            npig += int(np.count_nonzero(e["gtIgnore"] == 0))
            dtm = e["dtMatches"][t, :MAX_DETS]
            dt_ig = e["dtIgnore"][t, :MAX_DETS].astype(bool)
            is_tp = (dtm != 0) & ~dt_ig  # matched (0 = unmatched), not ignored
            iou = np.zeros(len(dtm))
            if is_tp.any():
                # evaluateImg matches against gts re-sorted by ignore flag (and its
                # '_ignore' flags are overwritten by later area ranges), so find each
                # matched gt by id in the unsorted list whose columns E.ious has. Rows of
                # E.ious are the detections in the same score order as evalImgs.
                key = (e["image_id"], cat_id)
                col = {g["id"]: j for j, g in enumerate(E._gts[key])}
                rows = np.flatnonzero(is_tp)
                cols = [col[m] for m in dtm[rows]]
                iou[rows] = np.asarray(E.ious[key])[rows, cols]
            scores.append(np.asarray(e["dtScores"][:MAX_DETS], dtype=float))
            tps.append(is_tp)
            fps.append((dtm == 0) & ~dt_ig)
            ious.append(iou)
        if npig == 0:
            continue  # no ground truth to find: the class takes no part
        s = np.concatenate(scores)
        order = np.argsort(-s, kind="mergesort")  # stable, as accumulate()
        per_class[int(cat_id)] = _class_olrp(
            s[order],
            np.concatenate(tps)[order],
            np.concatenate(fps)[order],
            np.concatenate(ious)[order],
            npig,
        )
    out: dict = {}
    for name in _COMPONENTS:
        vals = [c[name] for c in per_class.values() if c[name] is not None]
        out[name] = float(np.mean(vals)) if vals else None
    out["per_class"] = per_class
    return out


def optimal_lrp(coco_gt: COCO, coco_dt: COCO | str | Path | list, iou_type: str = "segm") -> dict:
    """oLRP of detections ``coco_dt`` against ``coco_gt`` for ``iou_type`` "segm" or "bbox".

    ``coco_gt``: pycocotools ``COCO`` ground truth. ``coco_dt``: results ``COCO`` (from
    ``coco_gt.loadRes``/``load_results``), or a results path/list. Returns the dict of
    ``olrp_from_cocoeval`` (fractions in [0, 1]).
    """
    return olrp_from_cocoeval(evaluate_coco(coco_gt, coco_dt, iou_type))
