"""Weighted accumulate and the paired bootstrap (maiou.evaluation.matches/weighted/bootstrap).

The claims checked: with all weights 1 the weighted accumulate is pycocotools'
``accumulate()`` (precision array, ``stats[0]``) and our ``optimal_lrp``, bit for bit; an
image of weight k scores like k copies of it (and weight 0 like no image); pooling two
evaluations is the evaluation of the two image sets together.
"""

import contextlib
import copy
import io

import numpy as np
import pytest
import test_olrp as cases
from pycocotools.cocoeval import COCOeval

from maiou.evaluation import coco_gt_from_dict, load_results, optimal_lrp
from maiou.evaluation.bootstrap import Contrast, bootstrap, resample_weights
from maiou.evaluation.by_ratio import mask_ap_by_ratio, ratio_cocoeval
from maiou.evaluation.matches import load_matches, matches_from_cocoeval, save_matches
from maiou.evaluation.weighted import weighted_ap, weighted_olrp, weighted_precision


def evaluated(gtd, dets, iou_type):
    """COCOeval after evaluate() and accumulate() on deep copies of the inputs."""
    coco = coco_gt_from_dict(copy.deepcopy(gtd))
    with contextlib.redirect_stdout(io.StringIO()):
        E = COCOeval(coco, load_results(coco, copy.deepcopy(dets), iou_type), iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def distinct_scores(dets, seed):
    """The same detections with all scores distinct (no ties anywhere)."""
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(dets)
    for d, s in zip(out, rng.permutation(len(out))):
        d["score"] = float(s + 1) / (len(out) + 1)
    return out


def replicated(gtd, dets, counts):
    """Ground truth and detections with image i present counts[i] times (new ids, kept in
    the order of the images), as a bootstrap resample would be written out."""
    imgs = sorted(gtd["images"], key=lambda im: im["id"])
    new_imgs, anns, new_dets, next_id = [], [], [], 1
    for img, k in zip(imgs, counts):
        for _ in range(k):
            new_id = len(new_imgs) + 1
            new_imgs.append(dict(img, id=new_id))
            for a in gtd["annotations"]:
                if a["image_id"] == img["id"]:
                    anns.append(dict(a, id=next_id, image_id=new_id))
                    next_id += 1
            new_dets += [dict(d, image_id=new_id) for d in dets if d["image_id"] == img["id"]]
    return dict(gtd, images=new_imgs, annotations=anns), new_dets


def with_crowds(gtd):
    """Every third box a crowd region: detections matched to one are ignored (neither TP nor
    FP), at some IoU thresholds and not at others."""
    return dict(
        gtd,
        annotations=[dict(a, iscrowd=int(i % 3 == 2)) for i, a in enumerate(gtd["annotations"])],
    )


@pytest.mark.parametrize(
    "iou_type,seeds,crowds",
    [("bbox", range(20), False), ("bbox", range(20, 35), True), ("segm", range(100, 106), False)],
)
def test_weights_one_equal_pycocotools_and_optimal_lrp(iou_type, seeds, crowds):
    # random_case has coarse scores, so ties within and across images are common.
    ignored = 0
    for seed in seeds:
        gtd, dets = cases.random_case(seed, iou_type == "segm")
        if crowds:
            gtd = with_crowds(gtd)
        E = evaluated(gtd, dets, iou_type)
        m = matches_from_cocoeval(E)
        ignored += int((~m.tp & ~m.fp).sum())
        ones = np.ones(m.num_images)
        assert np.array_equal(weighted_precision(m, ones), E.eval["precision"][:, :, :, 0, -1])
        ap = weighted_ap(m, ones)
        assert (ap is None and E.stats[0] == -1) or ap == E.stats[0], seed
        olrp = optimal_lrp(coco_gt_from_dict(copy.deepcopy(gtd)), copy.deepcopy(dets), iou_type)
        assert weighted_olrp(m, ones) == olrp["oLRP"], seed
    assert (ignored > 0) == crowds  # the crowd cases do exercise ignored detections


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_weights_equal_copies_of_images(iou_type):
    checked = 0
    for seed in range(8):
        gtd, dets = cases.random_case(seed + (100 if iou_type == "segm" else 0), iou_type == "segm")
        dets = distinct_scores(dets, seed)
        if iou_type == "bbox" and seed % 2:
            gtd = with_crowds(gtd)
        m = matches_from_cocoeval(evaluated(gtd, dets, iou_type))
        rng = np.random.default_rng(seed)
        for counts in (
            [2] + [1] * (m.num_images - 1),  # one image of weight 2
            [0] + [1] * (m.num_images - 1),  # one image left out
            rng.integers(0, 4, m.num_images),
        ):  # a resample-like draw
            counts = [int(c) for c in counts[: m.num_images]]
            if sum(counts) == 0:
                continue
            E = evaluated(*replicated(gtd, dets, counts), iou_type)
            assert np.array_equal(
                weighted_precision(m, counts), E.eval["precision"][:, :, :, 0, -1]
            ), (seed, counts)
            ap = weighted_ap(m, counts)
            assert (ap is None and E.stats[0] == -1) or ap == E.stats[0]
            # oLRP sums IoUs: 2 * x and x + x may round apart in the last bit.
            want = optimal_lrp(E.cocoGt, E.cocoDt, iou_type)["oLRP"]
            got = weighted_olrp(m, counts)
            assert (got is None and want is None) or got == pytest.approx(want, abs=1e-12)
            checked += 1
    assert checked >= 20


def test_ratio_bins_reuse_the_matching():
    gtd, dets = cases.random_case(102, True)
    coco = coco_gt_from_dict(copy.deepcopy(gtd))
    edges = [0.0, 0.6, 0.9, 1.0]
    bins = mask_ap_by_ratio(coco, copy.deepcopy(dets), edges)
    E = ratio_cocoeval(coco, copy.deepcopy(dets), edges)
    for i, b in enumerate(bins):
        m = matches_from_cocoeval(E, area_index=i)
        ap = weighted_ap(m, np.ones(m.num_images))
        assert (b["AP"] is None) or ap == b["AP"]


def _two_runs(case_seed):
    gtd, dets = cases.random_case(case_seed, False)
    worse = copy.deepcopy(dets)
    for d in worse[::2]:
        d["bbox"] = [d["bbox"][0] + 0.4 * d["bbox"][2]] + d["bbox"][1:]  # shifted: worse IoU
    a = matches_from_cocoeval(evaluated(gtd, dets, "bbox"))
    b = matches_from_cocoeval(evaluated(gtd, worse, "bbox"))
    return {"segm": a, "bbox": a}, {"segm": b, "bbox": b}


def _seeds(*per_seed):
    """{training seed: matches} for seeds 0, 1, ..."""
    return dict(enumerate(per_seed))


AB, AA = Contrast.pair("a", "b"), Contrast.pair("a", "a", name="a - a")


def test_bootstrap_pairs_and_intervals():
    a, b = _two_runs(5)
    runs = {"a": _seeds(a), "b": _seeds(b)}
    n = a["bbox"].num_images
    out = bootstrap(runs, [AB, AA], resamples=200, seed=1)
    again = bootstrap(runs, [AB, AA], resamples=200, seed=1)
    assert out == again  # seeded
    a_ap = out["runs"]["a"]["bbox_AP"]
    assert a_ap["value"] == weighted_ap(a["bbox"], np.ones(n))
    assert a_ap["lo"] <= a_ap["value"] <= a_ap["hi"] and a_ap["covers"] == "images"
    ab, aa = out["contrasts"]
    assert (ab["name"], ab["seeds"], ab["terms"]) == ("b - a", [0], {"b": 1.0, "a": -1.0})
    assert ab["bbox_AP"]["delta"] == pytest.approx(
        out["runs"]["b"]["bbox_AP"]["value"] - a_ap["value"]
    )
    assert ab["bbox_AP"]["lo"] <= ab["bbox_AP"]["delta"] <= ab["bbox_AP"]["hi"]
    # One seed and no stored seed sd: no verdict, whatever the images say.
    assert ab["bbox_AP"]["verdict"] == "undecided" and ab["bbox_AP"]["decision_lo"] is None
    # A run against itself: every resample's difference is exactly 0.
    assert (aa["segm_oLRP"]["lo"], aa["segm_oLRP"]["hi"]) == (0.0, 0.0)
    assert aa["segm_oLRP"]["excludes_0"] is False


def test_seeds_are_paired_and_resampled_together():
    """Two seeds: the per-seed values are each seed's own AP, the value their mean, and the
    interval covers seeds x images; a stored sd is pooled with the seeds or, with one seed,
    borrowed."""
    (a0, b0), (a1, b1) = _two_runs(5), _two_runs(5)
    # Seed 1 of run b: the better detections (b and a swapped), so the seeds disagree.
    runs = {"a": _seeds(a0, b1), "b": _seeds(b0, a1)}
    out = bootstrap(runs, [AB], resamples=100, seed=0, metrics=("bbox_AP",))
    n = a0["bbox"].num_images
    ap_a, ap_b = (weighted_ap(m["bbox"], np.ones(n)) for m in (a0, b0))
    pair = out["contrasts"][0]["bbox_AP"]
    assert pair["per_seed"] == pytest.approx([ap_b - ap_a, ap_a - ap_b])
    assert pair["delta"] == pytest.approx(0.0, abs=1e-12) and pair["covers"] == "seeds × images"
    assert pair["verdict"] == "undecided" and pair["seed_sd"] == pytest.approx(
        abs(ap_b - ap_a) * 2**0.5
    )
    stored = {"b - a": {"bbox_AP": (1e-6, 5)}}
    pooled = bootstrap(runs, [AB], resamples=100, seed=0, metrics=("bbox_AP",), stored_sd=stored)
    c = pooled["contrasts"][0]["bbox_AP"]
    assert c["seed_df"] == 5 and (c["lo"], c["hi"]) == (pair["lo"], pair["hi"])
    assert c["decision_hi"] - c["decision_lo"] < pair["hi"] - pair["lo"]
    one = bootstrap(
        {"a": _seeds(a0), "b": _seeds(b0)},
        [AB],
        resamples=100,
        seed=0,
        metrics=("bbox_AP",),
        stored_sd=stored,
    )["contrasts"][0]["bbox_AP"]
    assert one["seed_sd"] == 1e-6 and one["decision_lo"] is not None
    expected = "reversed" if one["hi"] < 0 else ("holds" if one["lo"] > 0 else "undecided")
    assert one["verdict"] == expected  # a negligible seed sd: the images' interval decides
    with pytest.raises(ValueError, match="share no training seed"):
        bootstrap({"a": {1: a1}, "b": {0: b0}}, [AB], resamples=2)


def test_a_contrast_reads_the_seeds_its_runs_share():
    """A run trained with fewer seeds (a secondary run) is compared on the seeds both have;
    the other contrasts keep all of theirs."""
    (a0, b0), (a1, b1) = _two_runs(5), _two_runs(5)
    runs = {"a": _seeds(a0, a1), "b": _seeds(b0, b1), "c": {0: b0}}
    out = bootstrap(runs, [AB, Contrast.pair("a", "c")], resamples=50, metrics=("bbox_AP",))
    ab, ac = out["contrasts"]
    assert (ab["seeds"], ac["seeds"]) == ([0, 1], [0])
    assert ac["bbox_AP"]["covers"] == "images" and ab["bbox_AP"]["covers"] == "seeds × images"
    assert out["runs"]["c"]["bbox_AP"]["seeds"] == [0]


def test_a_contrast_is_a_weighted_sum_of_runs_resampled_together():
    """(b - a) - (d - c) per seed is the difference of the two pairs' per-seed values, the
    mean of two pairs is their mean, and both come from the same resamples; a contrast of
    a pair with itself is 0 on every resample."""
    (a0, b0), (a1, b1) = _two_runs(5), _two_runs(5)
    runs = {"a": _seeds(a0, a1), "b": _seeds(b0, b1), "c": _seeds(b0, a1), "d": _seeds(a0, a1)}
    cd = Contrast.pair("c", "d")
    diff = Contrast("gains", {"b": 1.0, "a": -1.0, "d": -1.0, "c": 1.0})
    mean = Contrast("mean", {"b": 0.5, "a": -0.5, "d": 0.5, "c": -0.5})
    same = Contrast("(b - a) - (b - a)", {"b": 0.0, "a": 0.0})
    out = bootstrap(runs, [AB, cd, diff, mean, same], resamples=100, metrics=("bbox_AP",))
    ab, cdc, d, m, zero = (c["bbox_AP"] for c in out["contrasts"])
    assert d["per_seed"] == pytest.approx(np.subtract(ab["per_seed"], cdc["per_seed"]))
    assert d["delta"] == pytest.approx(ab["delta"] - cdc["delta"])
    assert m["per_seed"] == pytest.approx(np.add(ab["per_seed"], cdc["per_seed"]) / 2)
    assert d["covers"] == "seeds × images" and d["lo"] <= d["delta"] <= d["hi"]
    assert (zero["delta"], zero["lo"], zero["hi"], zero["verdict"]) == (0.0, 0.0, 0.0, "undecided")
    with pytest.raises(ValueError, match="names e, which has no matching"):
        bootstrap(runs, [Contrast.pair("a", "e")], resamples=2)


def test_resample_weights_draw_every_image_count():
    w = resample_weights(np.random.default_rng(0), 8)
    assert w.shape == (8,) and w.sum() == 8 and set(w) <= set(range(9))


def test_unpaired_runs_and_bad_files_are_refused(tmp_path):
    m1 = matches_from_cocoeval(evaluated(*cases.random_case(1, False), "bbox"))
    m2 = matches_from_cocoeval(evaluated(*cases.random_case(2, False), "bbox"))
    with pytest.raises(ValueError, match="different images"):
        bootstrap(
            {"a": {0: {"segm": m1, "bbox": m1}}, "b": {0: {"segm": m2, "bbox": m2}}},
            [AB],
            resamples=2,
        )
    path = tmp_path / "m.npz"
    save_matches(m1, path)
    back = load_matches(path)
    ones = np.ones(m1.num_images)
    assert weighted_ap(back, ones) == weighted_ap(m1, ones)
    (tmp_path / "bad.npz").write_text("<html>not a matching</html>")
    with pytest.raises(ValueError, match="bad.npz: unreadable matches file"):
        load_matches(tmp_path / "bad.npz")
