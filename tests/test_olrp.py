"""oLRP evaluator: hand-worked cases, bad input, and a brute-force cross-check.

Every case is a tiny hand-made COCO dict. Boxes are [x, y, w, h] in pixels.
"""

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from maiou.evaluation import (
    coco_gt_from_dict,
    coco_metrics,
    load_coco_gt,
    load_results,
    optimal_lrp,
)

H = W = 128


def gt_dict(anns, img_ids=(1,), cat_ids=(1, 2, 3)):
    """COCO gt dict. ``anns``: (image id, category id, bbox or RLE, iscrowd) tuples."""
    out = []
    for i, (img, cat, geom, crowd) in enumerate(anns):
        if isinstance(geom, dict):  # RLE mask
            a = {
                "segmentation": geom,
                "area": float(mask_utils.area(geom)),
                "bbox": mask_utils.toBbox(geom).tolist(),
            }
        else:
            a = {"bbox": list(geom), "area": float(geom[2] * geom[3])}
        out.append({"id": i + 1, "image_id": img, "category_id": cat, "iscrowd": crowd, **a})
    return {
        "images": [{"id": i, "height": H, "width": W} for i in img_ids],
        "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids],
        "annotations": out,
    }


def gt(anns, **kw):
    return coco_gt_from_dict(gt_dict(anns, **kw))


def det(img, cat, geom, score):
    key = "segmentation" if isinstance(geom, dict) else "bbox"
    return {
        "image_id": img,
        "category_id": cat,
        key: geom if key == "segmentation" else list(geom),
        "score": score,
    }


def rect_rle(x, y, w, h):
    m = np.zeros((H, W), np.uint8)
    m[y : y + h, x : x + w] = 1
    return mask_utils.encode(np.asfortranarray(m))


def check_class(res, cat, olrp, loc, fp, fn, thr):
    c = res["per_class"][cat]
    assert c["oLRP"] == pytest.approx(olrp, abs=1e-12)
    for key, want in (("oLRP_loc", loc), ("oLRP_FP", fp), ("oLRP_FN", fn), ("threshold", thr)):
        assert (c[key] is None) if want is None else c[key] == pytest.approx(want, abs=1e-12), key


def test_perfect_detection():
    res = optimal_lrp(gt([(1, 1, [10, 10, 20, 20], 0)]), [det(1, 1, [10, 10, 20, 20], 0.9)], "bbox")
    check_class(res, 1, 0.0, 0.0, 0.0, 0.0, 0.9)
    assert (res["oLRP"], res["oLRP_loc"], res["oLRP_FP"], res["oLRP_FN"]) == (0, 0, 0, 0)


def test_known_iou_bbox():
    # IoU = 75*100 / (100*100) = 0.75 exactly: loc 0.25, oLRP = (0.25 / 0.5) / 1 = 0.5.
    res = optimal_lrp(gt([(1, 1, [0, 0, 100, 100], 0)]), [det(1, 1, [0, 0, 75, 100], 0.6)], "bbox")
    assert res["per_class"][1]["oLRP"] == 0.5 and res["per_class"][1]["oLRP_loc"] == 0.25
    check_class(res, 1, 0.5, 0.25, 0.0, 0.0, 0.6)


def test_known_iou_segm_rle():
    # Same geometry as masks; the detection's box is a 100x100 box that must not be used.
    coco = gt([(1, 1, rect_rle(0, 0, 100, 100), 0)])
    d = det(1, 1, rect_rle(0, 0, 75, 100), 0.6)
    d["bbox"] = [0, 0, 100, 100]
    res = optimal_lrp(coco, [d], "segm")
    check_class(res, 1, 0.5, 0.25, 0.0, 0.0, 0.6)
    assert optimal_lrp(gt([(1, 1, [0, 0, 100, 100], 0)]), [d], "bbox")["oLRP"] == 0.0


def test_all_fp_class():
    res = optimal_lrp(
        gt([(1, 1, [0, 0, 10, 10], 0)]),
        [det(1, 1, [50, 50, 10, 10], 0.9), det(1, 1, [5, 5, 10, 10], 0.8)],
        "bbox",
    )
    check_class(res, 1, 1.0, None, None, 1.0, None)
    assert res["oLRP_loc"] is None and res["oLRP_FP"] is None


def test_class_without_detections_and_class_without_gt():
    coco = gt([(1, 1, [0, 0, 10, 10], 0), (1, 2, [40, 40, 20, 20], 0)])
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 3, [80, 80, 10, 10], 0.99)]
    res = optimal_lrp(coco, dets, "bbox")
    assert set(res["per_class"]) == {1, 2}  # class 3 has no gt: skipped
    check_class(res, 2, 1.0, None, None, 1.0, None)
    assert res["oLRP"] == 0.5 and res["oLRP_FN"] == 0.5
    assert res["oLRP_loc"] == 0.0 and res["oLRP_FP"] == 0.0  # class 2 left out of these


def test_score_tie_across_two_images():
    # Both detections score 0.8. COCOeval's image order (sorted ids: image 1 first, though
    # the file lists image 2 first) then a stable sort puts the FP (image 1) first:
    # prefix 1: (0 + 1 FP + 1 FN) / 2 = 1; prefix 2: (0 + 1 + 0) / 2 = 0.5 -> oLRP 0.5.
    # TP first (file order, or an order-swapping sort) would give 0 at prefix 1.
    coco = gt([(2, 1, [0, 0, 10, 10], 0)], img_ids=(2, 1))
    res = optimal_lrp(
        coco, [det(2, 1, [0, 0, 10, 10], 0.8), det(1, 1, [0, 0, 10, 10], 0.8)], "bbox"
    )
    check_class(res, 1, 0.5, 0.0, 0.5, 0.0, 0.8)


def test_score_tie_many_images_needs_stable_sort():
    # 40 one-detection images, all scored 0.5, listed in reverse. Images 1-20: a FP each,
    # images 21-40: a perfect TP each. In (image id, stable) order all FPs come first, so
    # the minimum is at the end: (20 FP + 0 FN) / (20 + 20) = 0.5. Any order putting a FP
    # after the last TP (reversed images, an unstable sort) gives less.
    ids = tuple(range(40, 0, -1))
    coco = gt([(i, 1, [0, 0, 10, 10], 0) for i in range(21, 41)], img_ids=ids)
    dets = [det(i, 1, [0, 0, 10, 10] if i > 20 else [60, 60, 10, 10], 0.5) for i in ids]
    res = optimal_lrp(coco, dets, "bbox")
    check_class(res, 1, 0.5, 0.0, 0.5, 0.0, 0.5)


def test_crowd_region_detection_ignored():
    # The 0.95 detection lies in a crowd region: neither TP nor FP, and the crowd gt is
    # not counted as a gt. Counted as a FP it would leave oLRP at (1 + 0) / 2 = 0.5.
    coco = gt([(1, 1, [50, 50, 40, 40], 1), (1, 1, [0, 0, 10, 10], 0)])
    res = optimal_lrp(
        coco, [det(1, 1, [55, 55, 10, 10], 0.95), det(1, 1, [0, 0, 10, 10], 0.9)], "bbox"
    )
    check_class(res, 1, 0.0, 0.0, 0.0, 0.0, 0.9)


def test_crowd_only_class_is_skipped():
    coco = gt([(1, 1, [0, 0, 10, 10], 0), (1, 2, [50, 50, 40, 40], 1)])
    res = optimal_lrp(
        coco, [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [55, 55, 10, 10], 0.9)], "bbox"
    )
    assert set(res["per_class"]) == {1}


def test_tp_iou_found_despite_gt_reordering():
    # Listed: crowd, small (area 100), large. evaluateImg matches against gts sorted by
    # ignore flag (small, large, crowd), and after evaluate() the '_ignore' flags are those
    # of the "large" range (crowd, small ignored), so neither order indexes E.ious' columns.
    # TPs: large gt at IoU 0.75 (score 0.9), small gt at IoU 1 (score 0.8).
    coco = gt(
        [(1, 1, [200, 200, 50, 50], 1), (1, 1, [100, 100, 10, 10], 0), (1, 1, [0, 0, 100, 100], 0)]
    )
    res = optimal_lrp(
        coco, [det(1, 1, [0, 0, 75, 100], 0.9), det(1, 1, [100, 100, 10, 10], 0.8)], "bbox"
    )
    # prefix 1: (0.25/0.5 + 0 + 1) / 2 = 0.75; prefix 2: (0.25/0.5 + 0 + 0) / 2 = 0.25
    check_class(res, 1, 0.25, 0.125, 0.0, 0.0, 0.8)


def test_first_minimum_wins():
    # Two gts; detections TP (IoU 1), FP, FP, TP (IoU 1). LRP per prefix:
    # 1/2, 2/3, 3/4, 2/4 -> two exact minima 0.5; the first (score 0.9, FN 0.5, FP 0)
    # is taken, not the last (score 0.6, FN 0, FP 0.5).
    coco = gt([(1, 1, [0, 0, 10, 10], 0), (1, 1, [100, 100, 10, 10], 0)])
    dets = [
        det(1, 1, [0, 0, 10, 10], 0.9),
        det(1, 1, [50, 50, 10, 10], 0.8),
        det(1, 1, [60, 0, 10, 10], 0.7),
        det(1, 1, [100, 100, 10, 10], 0.6),
    ]
    check_class(optimal_lrp(coco, dets, "bbox"), 1, 0.5, 0.0, 0.0, 0.5, 0.9)


def test_minimum_of_one_on_leading_fp():
    # FP (0.9), then a TP at IoU exactly 0.5 (0.8): LRP 2/2 = 1 and (1 + 1 + 0)/2 = 1.
    # The first minimum is the FP prefix; like the authors' code (NaN there), no
    # localisation component, FP component 1, threshold 0.9.
    coco = gt([(1, 1, [0, 0, 100, 100], 0)])
    res = optimal_lrp(
        coco, [det(1, 1, [200, 0, 10, 10], 0.9), det(1, 1, [0, 0, 50, 100], 0.8)], "bbox"
    )
    check_class(res, 1, 1.0, None, 1.0, 1.0, 0.9)


def test_empty_results_score_worst():
    for iou_type, coco in (
        ("bbox", gt([(1, 1, [0, 0, 10, 10], 0), (1, 2, [40, 40, 20, 20], 0)])),
        ("segm", gt([(1, 1, rect_rle(0, 0, 10, 10), 0)])),
    ):
        res = coco_metrics(coco, [], iou_type)
        assert set(res["per_class"]) == {c["category_id"] for c in coco.anns.values()}
        assert res["AP"] == 0.0 and res["oLRP"] == 1.0 and res["oLRP_FN"] == 1.0
        assert res["oLRP_loc"] is None and res["oLRP_FP"] is None


def test_unknown_ids_name_the_file(tmp_path):
    coco = gt([(1, 1, [0, 0, 10, 10], 0)])
    for bad, word, bad_id in (
        (det(7, 1, [0, 0, 1, 1], 0.5), "image", 7),
        (det(1, 99, [0, 0, 1, 1], 0.5), "category", 99),
    ):
        f = tmp_path / f"bad_{word}.json"
        f.write_text(json.dumps([det(1, 1, [0, 0, 10, 10], 0.9), bad]))
        with pytest.raises(ValueError, match=rf"bad_{word}\.json.*{word} ids.*\[{bad_id}\]"):
            load_results(coco, f)
        with pytest.raises(ValueError, match=word):
            coco_metrics(coco, str(f), "bbox")
    f = tmp_path / "garbage.json"
    f.write_text("{not json")
    with pytest.raises(ValueError, match="garbage.json"):
        load_results(coco, f)


def test_results_list_accepted_and_left_unmodified(tmp_path):
    coco = gt([(1, 1, [0, 0, 10, 10], 0)])
    dets = [det(1, 1, [0, 0, 10, 10], 0.9)]
    before = copy.deepcopy(dets)
    f = tmp_path / "res.json"
    f.write_text(json.dumps(dets))
    assert optimal_lrp(coco, dets, "bbox") == optimal_lrp(coco, f, "bbox")
    assert dets == before


def test_bad_ground_truth_names_file_and_key(tmp_path):
    good = gt_dict([(1, 1, [0, 0, 10, 10], 0)])
    for key in ("images", "annotations", "categories"):
        d = dict(good)
        del d[key]
        f = tmp_path / f"no_{key}.json"
        f.write_text(json.dumps(d))
        with pytest.raises(ValueError, match=rf"no_{key}\.json.*'{key}'"):
            load_coco_gt(f)
    f = tmp_path / "text.json"
    f.write_text("images: 1\n")
    with pytest.raises(ValueError, match=r"text\.json.*JSON"):
        load_coco_gt(f)
    f = tmp_path / "list.json"
    f.write_text("[]")
    with pytest.raises(ValueError, match=r"list\.json"):
        load_coco_gt(f)
    f = tmp_path / "ok.json"
    f.write_text(json.dumps(good))
    assert load_coco_gt(f).getAnnIds() == [1]


# ---- cross-checks against independent computations --------------------------------------


def random_case(seed, segm):
    """Random small case: shuffled, non-contiguous image ids, 3 classes, coarse scores (ties)."""
    rng = np.random.default_rng(seed)
    img_ids = [int(i) for i in rng.choice(np.arange(1, 60), rng.integers(1, 5), replace=False)]
    gts, dets = [], []

    def shape(x, y, w, h):
        if segm:
            x, y, w, h = (int(round(v)) for v in (x, y, w, h))
            x, y = min(max(x, 0), W - 2), min(max(y, 0), H - 2)
            return rect_rle(x, y, max(1, min(w, W - x)), max(1, min(h, H - y)))
        return [round(float(v), 1) for v in (x, y, w, h)]

    for img in img_ids:
        for _ in range(rng.integers(0, 5)):
            x, y, w, h = rng.uniform(0, 80, 2).tolist() + rng.uniform(6, 40, 2).tolist()
            cat = int(rng.integers(1, 4))
            gts.append((img, cat, shape(x, y, w, h), 0))
            if rng.random() < 0.8:  # a detection near it, sometimes of another class
                j = rng.normal(0, 0.12, 4) * [w, h, w, h]
                dets.append(
                    det(
                        img,
                        cat if rng.random() < 0.85 else int(rng.integers(1, 4)),
                        shape(x + j[0], y + j[1], w + j[2], h + j[3]),
                        round(float(rng.random()), 1),
                    )
                )
        for _ in range(rng.integers(0, 3)):  # clutter
            b = rng.uniform(0, 80, 2).tolist() + rng.uniform(6, 40, 2).tolist()
            dets.append(det(img, int(rng.integers(1, 4)), shape(*b), round(float(rng.random()), 1)))
    rng.shuffle(img_ids)
    return gt_dict(gts, img_ids=tuple(img_ids)), dets


def iou(a, b, segm):
    if segm:
        ma, mb = mask_utils.decode(a).astype(bool), mask_utils.decode(b).astype(bool)
        return (ma & mb).sum() / (ma | mb).sum()
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def brute_force_olrp(gtd, dets, segm):
    """Direct oLRP: greedy COCO matching at 0.5 (no crowd), then the LRP curve."""
    key = "segmentation" if segm else "bbox"
    out = {}
    for cat in {a["category_id"] for a in gtd["annotations"]}:
        n_gt, rows = 0, []  # rows: (-score, image id, rank in image, is TP, IoU)
        for img in sorted(i["id"] for i in gtd["images"]):
            g = [
                a[key]
                for a in gtd["annotations"]
                if a["image_id"] == img and a["category_id"] == cat
            ]
            n_gt += len(g)
            d = sorted(
                (x for x in dets if x["image_id"] == img and x["category_id"] == cat),
                key=lambda x: -x["score"],
            )[:100]
            used = set()
            for r, x in enumerate(d):
                best, best_iou = None, 0.5
                for j, gg in enumerate(g):
                    v = iou(x[key], gg, segm)
                    if j not in used and v >= best_iou:  # COCO: ties go to the later gt
                        best, best_iou = j, v
                if best is not None:
                    used.add(best)
                rows.append((-x["score"], img, r, best is not None, best_iou))
        rows.sort(key=lambda t: t[:3])
        out[cat] = {
            "oLRP": 1.0,
            "oLRP_loc": None,
            "oLRP_FP": None,
            "oLRP_FN": 1.0,
            "threshold": None,
        }
        if not any(r[3] for r in rows):
            continue
        tp = fp = 0
        loc = 0.0
        curve = []
        for neg_score, _, _, is_tp, v in rows:
            tp, fp, loc = tp + is_tp, fp + (not is_tp), loc + (1 - v if is_tp else 0)
            curve.append(((loc / 0.5 + fp + n_gt - tp) / (fp + n_gt), tp, fp, loc, -neg_score))
        low = min(c[0] for c in curve)
        lrp, tp, fp, loc, score = next(c for c in curve if c[0] <= low + 1e-12)
        # A minimum of 1 can fall on a prefix without TP (e.g. a leading FP, then only
        # TPs at IoU exactly 0.5): no localisation component there.
        out[cat] = {
            "oLRP": lrp,
            "oLRP_loc": loc / tp if tp else None,
            "oLRP_FP": fp / (tp + fp),
            "oLRP_FN": (n_gt - tp) / n_gt,
            "threshold": score,
        }
    return out


@pytest.mark.parametrize("segm,seeds", [(False, range(30)), (True, range(100, 110))])
def test_brute_force_cross_check(segm, seeds):
    # Scores have one decimal, so ties within and across images are common; segm seed 105
    # has a TP at IoU exactly 0.5 after a FP (the minimum-of-1 case).
    n_tp_classes = 0
    for seed in seeds:
        gtd, dets = random_case(seed, segm)
        res = optimal_lrp(coco_gt_from_dict(gtd), dets, "segm" if segm else "bbox")
        want = brute_force_olrp(gtd, dets, segm)
        assert set(res["per_class"]) == set(want), seed
        for cat, w in want.items():
            got = res["per_class"][cat]
            n_tp_classes += w["oLRP_loc"] is not None
            for k, v in w.items():
                assert (got[k] is None) if v is None else got[k] == pytest.approx(v, abs=1e-9), (
                    seed,
                    cat,
                    k,
                )
        if want:
            assert res["oLRP"] == pytest.approx(np.mean([w["oLRP"] for w in want.values()]))
    assert n_tp_classes >= len(seeds)  # the cases do exercise the TP path


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_metrics_matches_independent_cocoeval(iou_type):
    gtd, dets = random_case(7 if iou_type == "bbox" else 103, iou_type == "segm")
    res = coco_metrics(coco_gt_from_dict(copy.deepcopy(gtd)), copy.deepcopy(dets), iou_type)
    ref_gt = coco_gt_from_dict(copy.deepcopy(gtd))
    with contextlib.redirect_stdout(io.StringIO()):
        E = COCOeval(ref_gt, ref_gt.loadRes(copy.deepcopy(dets)), iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    assert res["AP"] == E.stats[0] and 0 < res["AP"] < 1
    keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    assert [-1 if res[k] is None else res[k] for k in keys] == E.stats[:12].tolist()
    assert "Average Precision" in res["summary"] and "Optimal LRP" in res["summary"]
    olrp = optimal_lrp(coco_gt_from_dict(copy.deepcopy(gtd)), copy.deepcopy(dets), iou_type)
    assert {k: res[k] for k in olrp} == olrp
