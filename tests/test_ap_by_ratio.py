"""Mask AP by mask-over-box-ratio bin: hand-worked cases and agreement with pycocotools."""

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from maiou.data.synthetic import mask_to_annotation
from maiou.evaluation.by_ratio import mask_ap_by_ratio, mask_over_box, ratio_bin_edges
from maiou.evaluation.olrp import coco_gt_from_dict, load_results, quiet

SIZE = 64


def square(x, y, side):
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y : y + side, x : x + side] = True
    return mask


def ell(x, y, side, thickness=2):
    """An L: mask over box = (2 * side - thickness) * thickness / side**2, low."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y : y + side, x : x + thickness] = True
    mask[y + side - thickness : y + side, x : x + side] = True
    return mask


def ground_truth(masks_per_image):
    images, anns = [], []
    for image_id, masks in enumerate(masks_per_image, start=1):
        images.append(
            {"id": image_id, "width": SIZE, "height": SIZE, "file_name": f"{image_id}.png"}
        )
        for mask in masks:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    **mask_to_annotation(mask),
                }
            )
    return coco_gt_from_dict(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}
    )


def detection(image_id, mask, score):
    return {
        "image_id": image_id,
        "category_id": 1,
        "score": score,
        "segmentation": mask_to_annotation(mask)["segmentation"],
    }


@pytest.fixture
def two_objects():
    """One image, a filled square (ratio 1) and a thin L (ratio ~0.2)."""
    return ground_truth([[square(4, 4, 16), ell(30, 30, 20)]])


def test_ratio_of_an_annotation():
    assert mask_over_box({"area": 50, "bbox": [0, 0, 10, 10]}) == 0.5
    assert mask_over_box({"area": 0, "bbox": [3, 3, 0, 4]}) == 0.0


def test_each_bin_scores_only_its_objects(two_objects):
    edges = [0.0, 0.5, 1.0]
    only_square = mask_ap_by_ratio(two_objects, [detection(1, square(4, 4, 16), 0.9)], edges)
    assert [b["num_gts"] for b in only_square] == [1, 1]
    assert [b["AP"] for b in only_square] == pytest.approx([0.0, 1.0])
    only_ell = mask_ap_by_ratio(two_objects, [detection(1, ell(30, 30, 20), 0.9)], edges)
    assert [b["AP"] for b in only_ell] == pytest.approx([1.0, 0.0])


def test_unmatched_detection_counts_only_in_its_own_bin(two_objects):
    # A confident false positive shaped like an L (low ratio): it costs precision in the
    # low bin only, as a small false positive costs only APs in COCO.
    dets = [
        detection(1, ell(2, 40, 16), 0.95),
        detection(1, square(4, 4, 16), 0.9),
        detection(1, ell(30, 30, 20), 0.8),
    ]
    low, high = mask_ap_by_ratio(two_objects, dets, [0.0, 0.5, 1.0])
    assert high["AP"] == pytest.approx(1.0)
    assert 0.4 < low["AP"] < 0.6  # recall 1 reached at precision 1/2


def test_one_bin_equals_pycocotools_ap():
    rng = np.random.default_rng(0)
    images, dets = [], []
    for image_id in range(1, 6):
        masks = [
            square(*rng.integers(0, 40, 2), int(rng.integers(5, 20))),
            ell(*rng.integers(0, 40, 2), int(rng.integers(6, 20))),
        ]
        images.append(masks)
        for mask in masks:
            shifted = np.roll(mask, int(rng.integers(-2, 3)), axis=1)
            dets.append(detection(image_id, shifted, float(rng.random())))
    coco_gt = ground_truth(images)
    (one_bin,) = mask_ap_by_ratio(coco_gt, dets, [0.0, 1.0])
    E = COCOeval(coco_gt, load_results(coco_gt, dets, "segm"), "segm")
    with quiet():
        E.evaluate()
        E.accumulate()
        E.summarize()
    assert one_bin["AP"] == pytest.approx(E.stats[0], abs=1e-12)
    assert one_bin["num_gts"] == 10


def test_bin_edges_split_ground_truths_evenly():
    coco_gt = ground_truth([[square(0, 0, 8), square(20, 0, 8), ell(0, 20, 20), ell(30, 30, 16)]])
    edges = ratio_bin_edges(coco_gt, num_bins=2)
    assert edges[0] == 0.0 and edges[-1] == 1.0 and len(edges) == 3
    counts = [b["num_gts"] for b in mask_ap_by_ratio(coco_gt, [], edges)]
    assert counts == [2, 2]


def test_bad_bins_and_empty_ground_truth_raise():
    coco_gt = ground_truth([[square(0, 0, 8)]])
    with pytest.raises(ValueError, match="edges must increase"):
        mask_ap_by_ratio(coco_gt, [], [0.5, 0.5])
    empty = ground_truth([[]])
    with pytest.raises(ValueError, match="no \\(non-crowd\\) ground truths"):
        ratio_bin_edges(empty)
