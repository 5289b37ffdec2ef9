"""COCO AP and oLRP of a matching whose images carry integer weights.

An image of weight k counts k times: its detections add k to the TP / FP sums at their
place in the score order and its ground truths k to the number to find, as if the image
were in the evaluated set k times (weight 0: as if absent). With all weights 1 the results
equal pycocotools' ``accumulate()`` + ``summarize()`` (``WeightedScorer.precision`` equals
``COCOeval.eval["precision"][:, :, :, area, -1]`` element for element, ``ap`` equals
``stats[0]``) and ``maiou.evaluation.optimal_lrp`` exactly: the same float operations run on
the same integer-valued sums.

Only the true positives are visited. Why that is exact: along a category's score order,
recall rises only at a TP, so every recall threshold's first index (``accumulate()``'s
``searchsorted``) is a TP; precision falls at every FP, so the running maximum of precision
from the right, read at a TP, is a maximum over TPs only; and LRP falls (weakly) only at a
TP, so its minimum sits on one. Counts are integers (int64), the FPs before a TP are all
detections before it minus the TPs and the ignored ones, so nothing is rounded.
"""

from __future__ import annotations

import numpy as np

from .matches import Matches
from .olrp import IOU_THR

__all__ = ["WeightedScorer", "weighted_ap", "weighted_olrp", "weighted_precision"]


def _concat(parts) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


class WeightedScorer:
    """Index of one ``Matches`` (built once), scoring any image weights quickly.

    Weights: shape (I,), non-negative integers (int or float dtype).
    """

    def __init__(self, m: Matches):
        self.m = m
        T, K = len(m.iou_thrs), len(m.cat_ids)
        self.T, self.K, self.t05 = T, K, m.olrp_threshold_index
        tp_pos, ig_pos, ig_before, seg_off, ig_off, class_start = [], [], [], [0], [0], []
        for k in range(K):
            d0, d1 = int(m.offsets[k]), int(m.offsets[k + 1])
            for t in range(T):
                tp = d0 + np.flatnonzero(m.tp[t, d0:d1])
                ig = d0 + np.flatnonzero(~m.tp[t, d0:d1] & ~m.fp[t, d0:d1])
                tp_pos.append(tp)
                ig_pos.append(ig)
                ig_before.append(np.searchsorted(ig, tp) + ig_off[-1])  # ignored before it
                seg_off.append(seg_off[-1] + len(tp))
                ig_off.append(ig_off[-1] + len(ig))
                class_start.append(np.full(len(tp), d0))
        self.tp_pos = _concat(tp_pos)
        self.seg_off = np.asarray(seg_off, dtype=np.int64)
        seg_of_slot = np.repeat(np.arange(K * T), np.diff(self.seg_off))
        self.seg_start_of_slot = self.seg_off[seg_of_slot]
        self.class_start = _concat(class_start)
        self.ig_pos = _concat(ig_pos)
        ig_off = np.asarray(ig_off, dtype=np.int64)
        self.ig_hi = _concat(ig_before)
        self.ig_lo = ig_off[seg_of_slot]
        self.iou_of_slot = m.tp_iou[self.tp_pos]
        self.gt_class = np.repeat(np.arange(K), np.diff(m.gt_offsets))

    def _weights(self, weights) -> np.ndarray:
        w = np.asarray(weights)
        if w.shape != (self.m.num_images,):
            raise ValueError(f"weights must have shape ({self.m.num_images},), got {w.shape}")
        return w.astype(np.int64)

    def _counts(self, w: np.ndarray):
        """Per TP slot: weight, weighted TPs and FPs up to it (int64); per class: weighted
        number of ground truths (float64)."""
        m = self  # the index arrays
        wd = w[self.m.image]
        all_cs = np.concatenate([[0], np.cumsum(wd)])
        wt = wd[m.tp_pos]
        tp_cs = np.concatenate([[0], np.cumsum(wt)])
        slots = np.arange(1, len(wt) + 1)
        tp_sum = tp_cs[slots] - tp_cs[m.seg_start_of_slot]
        seen = all_cs[m.tp_pos + 1] - all_cs[m.class_start]  # every detection up to the TP
        if len(m.ig_pos):
            ig_cs = np.concatenate([[0], np.cumsum(wd[m.ig_pos])])
            seen = seen - (ig_cs[m.ig_hi] - ig_cs[m.ig_lo])
        fp_sum = seen - tp_sum
        npig = np.bincount(
            self.gt_class, weights=w[self.m.gt_image] * self.m.gt_count, minlength=self.K
        )
        return wt, tp_sum, fp_sum, npig

    def precision(self, weights) -> np.ndarray:
        """Interpolated precision (T, R, K) as ``accumulate()`` computes it, -1 for
        categories without (weighted) ground truth."""
        return self._precision(*self._counts(self._weights(weights)))

    def _precision(self, wt, tp_sum, fp_sum, npig) -> np.ndarray:
        T, K, rec = self.T, self.K, self.m.rec_thrs
        precision = -np.ones((T, len(rec), K))
        for k in np.flatnonzero(npig > 0):
            for t in range(T):
                s = k * T + t
                a, b = self.seg_off[s], self.seg_off[s + 1]
                q = np.zeros(len(rec))
                if b > a:
                    tp = tp_sum[a:b]
                    rc = tp / npig[k]
                    pr = tp / (fp_sum[a:b] + tp + np.spacing(1))
                    pr = np.maximum.accumulate(pr[::-1])[::-1]
                    inds = np.searchsorted(rc, rec, side="left")
                    hit = inds < b - a
                    q[hit] = pr[inds[hit]]
                precision[t, :, k] = q
        return precision

    def _olrp(self, wt, tp_sum, fp_sum, npig) -> float | None:
        per_class = []
        for k in np.flatnonzero(npig > 0):
            s = k * self.T + self.t05
            a, b = self.seg_off[s], self.seg_off[s + 1]
            w = wt[a:b]
            if not w.any():
                per_class.append(1.0)  # nothing found: the worst oLRP
                continue
            tp_num, fp_num = tp_sum[a:b], fp_sum[a:b]
            fn_num = npig[k] - tp_num
            # Same float operations as olrp._class_olrp (zeros it adds between TPs change
            # no sum), so weights 1 reproduce it bit for bit.
            total_loc = tp_num - np.cumsum(self.iou_of_slot[a:b] * w)
            lrps = (total_loc / (1 - IOU_THR) + fp_num + fn_num) / (tp_num + fp_num + fn_num)
            per_class.append(float(lrps.min()))
        return float(np.mean(per_class)) if per_class else None

    def scores(self, weights, ap: bool = True, olrp: bool = True) -> dict:
        """{"AP": float | None, "oLRP": float | None} for ``weights`` (those asked for)."""
        counts = self._counts(self._weights(weights))
        out = {}
        if ap:
            s = self._precision(*counts)
            valid = s[s > -1]
            out["AP"] = float(np.mean(valid)) if valid.size else None
        if olrp:
            out["oLRP"] = self._olrp(*counts)
        return out


def weighted_precision(m: Matches, weights) -> np.ndarray:
    """``WeightedScorer(m).precision(weights)``."""
    return WeightedScorer(m).precision(weights)


def weighted_ap(m: Matches, weights) -> float | None:
    """AP over the matching's IoU thresholds, recall thresholds and categories (COCO's
    ``stats[0]`` for the full matching at area "all"), None if no category has ground
    truth."""
    return WeightedScorer(m).scores(weights, olrp=False)["AP"]


def weighted_olrp(m: Matches, weights) -> float | None:
    """oLRP (mean over categories with ground truth, as ``optimal_lrp``), None if none."""
    return WeightedScorer(m).scores(weights, ap=False)["oLRP"]
