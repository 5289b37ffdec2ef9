"""The per-image matching of one COCO evaluation, kept as flat arrays for re-weighting.

``COCOeval.evaluate()`` matches detections to ground truths image by image and category by
category; ``accumulate()`` then concatenates, per category, the detections of all images,
sorts them by score and sums TPs and FPs. A bootstrap resample of the images changes only
how often each image counts, never the matching, so the matching is extracted once
(``matches_from_cocoeval``) and every resample re-weights it
(``maiou.evaluation.weighted``).

Layout of ``Matches`` (D detections, K categories, T IoU thresholds, I images): the
detections of category ``k`` are ``[offsets[k], offsets[k + 1])``, in exactly the order
``accumulate()`` puts them (images in COCOeval's order, each image's detections by score,
then a stable sort by descending score). Ground truths enter only as counts of non-ignored
ground truths per (category, image).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools.cocoeval import COCOeval

from maiou.utils.atomic import atomic_path

from .olrp import IOU_THR, MAX_DETS

__all__ = ["Matches", "load_matches", "matches_from_cocoeval", "save_matches"]

_FIELDS = (
    "img_ids",
    "cat_ids",
    "iou_thrs",
    "rec_thrs",
    "offsets",
    "scores",
    "image",
    "tp",
    "fp",
    "tp_iou",
    "gt_offsets",
    "gt_image",
    "gt_count",
)


@dataclass(frozen=True)
class Matches:
    """One evaluation's matching (see the module docstring for the order of detections).

    Attributes:
        img_ids: (I,) image ids, COCOeval's order.
        cat_ids: (K,) category ids, COCOeval's order.
        iou_thrs: (T,) IoU thresholds of the matching (COCO: 0.50:0.05:0.95).
        rec_thrs: (R,) recall thresholds AP is sampled at (COCO: 101).
        offsets: (K + 1,) int64, category k's detections are ``offsets[k]:offsets[k+1]``.
        scores: (D,) float64 detection scores.
        image: (D,) int64 index into ``img_ids`` of each detection's image.
        tp, fp: (T, D) bool, a true / false positive at each threshold (both False for a
            detection ignored there, e.g. matched to a crowd region).
        tp_iou: (D,) float64 IoU with the matched ground truth at IoU 0.5, 0 for non-TPs
            (for oLRP's localisation error).
        gt_offsets: (K + 1,) int64, category k's ground-truth counts are
            ``gt_offsets[k]:gt_offsets[k+1]`` of ``gt_image`` / ``gt_count``.
        gt_image: (G,) int64 image index; gt_count: (G,) int64 non-ignored ground truths
            of that category in that image (> 0).
    """

    img_ids: np.ndarray
    cat_ids: np.ndarray
    iou_thrs: np.ndarray
    rec_thrs: np.ndarray
    offsets: np.ndarray
    scores: np.ndarray
    image: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tp_iou: np.ndarray
    gt_offsets: np.ndarray
    gt_image: np.ndarray
    gt_count: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.img_ids)

    @property
    def olrp_threshold_index(self) -> int:
        """Row of ``tp`` / ``fp`` at IoU 0.5 (oLRP's threshold)."""
        hits = np.flatnonzero(np.isclose(self.iou_thrs, IOU_THR, rtol=0, atol=1e-12))
        if hits.size == 0:
            raise ValueError(f"matching lacks IoU threshold {IOU_THR} (has {self.iou_thrs})")
        return int(hits[0])


def matches_from_cocoeval(E: COCOeval, area_index: int = 0) -> Matches:
    """Extract the matching of an evaluated ``COCOeval`` (``evaluate()`` has run).

    ``area_index`` selects the area range (0: "all" with COCO's defaults). Uses every
    detection ``evaluate()`` kept (at most ``maxDets[-1]`` per image and category), as
    ``accumulate()`` does for its last ``maxDets``, which must be 100.
    """
    p = E._paramsEval
    if not E.evalImgs or not p.useCats:
        raise ValueError("matches_from_cocoeval needs a COCOeval evaluated per category")
    if p.maxDets[-1] != MAX_DETS:
        raise ValueError(
            f"COCOeval was evaluated with maxDets {p.maxDets}; the bootstrap needs {MAX_DETS} last"
        )
    if not 0 <= area_index < len(p.areaRng):
        raise ValueError(f"area_index {area_index} out of range for {len(p.areaRng)} area ranges")
    t05 = int(np.flatnonzero(np.isclose(p.iouThrs, IOU_THR, rtol=0, atol=1e-12))[0])
    n_img, n_area, n_thr = len(p.imgIds), len(p.areaRng), len(p.iouThrs)
    offsets, gt_offsets = [0], [0]
    scores, image, tp, fp, tp_iou, gt_image, gt_count = [], [], [], [], [], [], []
    for k0, cat_id in enumerate(p.catIds):
        start = k0 * n_area * n_img + area_index * n_img
        c_scores, c_image, c_tp, c_fp, c_iou = [], [], [], [], []
        for i0, e in enumerate(E.evalImgs[start : start + n_img]):
            if e is None:
                continue
            npig = int(np.count_nonzero(e["gtIgnore"] == 0))
            if npig:
                gt_image.append(i0)
                gt_count.append(npig)
            dtm = e["dtMatches"][:, :MAX_DETS]
            dt_ig = e["dtIgnore"][:, :MAX_DETS].astype(bool)
            is_tp = (dtm != 0) & ~dt_ig
            is_fp = (dtm == 0) & ~dt_ig
            iou = np.zeros(dtm.shape[1])
            rows = np.flatnonzero(is_tp[t05])
            if rows.size:
                # evaluateImg re-sorts the gts by ignore flag, so find each matched gt by id
                # in the unsorted list whose columns E.ious has (as olrp_from_cocoeval does).
                key = (e["image_id"], cat_id)
                col = {g["id"]: j for j, g in enumerate(E._gts[key])}
                cols = [col[m] for m in dtm[t05, rows]]
                iou[rows] = np.asarray(E.ious[key])[rows, cols]
            c_scores.append(np.asarray(e["dtScores"][:MAX_DETS], dtype=np.float64))
            c_image.append(np.full(dtm.shape[1], i0, dtype=np.int64))
            c_tp.append(is_tp)
            c_fp.append(is_fp)
            c_iou.append(iou)
        if c_scores:
            s = np.concatenate(c_scores)
            order = np.argsort(-s, kind="mergesort")  # stable, as accumulate()
            scores.append(s[order])
            image.append(np.concatenate(c_image)[order])
            tp.append(np.concatenate(c_tp, axis=1)[:, order])
            fp.append(np.concatenate(c_fp, axis=1)[:, order])
            tp_iou.append(np.concatenate(c_iou)[order])
            offsets.append(offsets[-1] + len(s))
        else:
            offsets.append(offsets[-1])
        gt_offsets.append(len(gt_image))
    empty_tf = np.zeros((n_thr, 0), dtype=bool)
    return Matches(
        img_ids=np.asarray(p.imgIds, dtype=np.int64),
        cat_ids=np.asarray(p.catIds, dtype=np.int64),
        iou_thrs=np.asarray(p.iouThrs, dtype=np.float64),
        rec_thrs=np.asarray(p.recThrs, dtype=np.float64),
        offsets=np.asarray(offsets, dtype=np.int64),
        scores=np.concatenate(scores) if scores else np.zeros(0),
        image=np.concatenate(image) if image else np.zeros(0, dtype=np.int64),
        tp=np.concatenate(tp, axis=1) if tp else empty_tf,
        fp=np.concatenate(fp, axis=1) if fp else empty_tf.copy(),
        tp_iou=np.concatenate(tp_iou) if tp_iou else np.zeros(0),
        gt_offsets=np.asarray(gt_offsets, dtype=np.int64),
        gt_image=np.asarray(gt_image, dtype=np.int64),
        gt_count=np.asarray(gt_count, dtype=np.int64),
    )


def save_matches(m: Matches, path: str | Path) -> None:
    """Write ``m`` as an uncompressed ``.npz`` (temporary file, then rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{name: getattr(m, name) for name in _FIELDS})


def load_matches(path: str | Path) -> Matches:
    """Read a matching written by ``save_matches``; ``ValueError`` naming ``path`` if the
    file is not one (missing arrays, inconsistent shapes)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
            arrays = {name: data[name] for name in _FIELDS if name in names}
    except (OSError, ValueError, AttributeError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(
            f"{path}: unreadable matches file ({exc}); re-run the evaluation that writes it"
        ) from exc
    missing = [name for name in _FIELDS if name not in arrays]
    if missing:
        raise ValueError(
            f"{path}: not a matches file (lacks {', '.join(missing)}); "
            "re-run the evaluation that writes it"
        )
    m = Matches(**arrays)
    D, K = len(m.scores), len(m.cat_ids)
    ok = (
        m.tp.shape == m.fp.shape == (len(m.iou_thrs), D)
        and len(m.image) == D
        and len(m.tp_iou) == D
        and len(m.offsets) == K + 1 == len(m.gt_offsets)
        and m.offsets[-1] == D
        and m.gt_offsets[-1] == len(m.gt_image) == len(m.gt_count)
    )
    if not ok:
        raise ValueError(
            f"{path}: matches file with inconsistent array shapes; re-run the "
            "evaluation that writes it"
        )
    return m
