"""maiou.mask_aware_iou against brute force from the definition and the published loop."""

import importlib

import numpy as np
import pytest
import torch

from maiou import mask_aware_iou
from maiou.ops.mask_aware_iou import mask_aware_iou_pairs, resolve_impl
from maiou.testing.reference import brute_force_maiou, published_mask_aware_iou
from maiou.testing.scenes import grid_anchors, occluded_instances

# The module (the package re-exports a function of the same name).
maiou_op = importlib.import_module("maiou.ops.mask_aware_iou")


def random_case(seed, num_gts=4, num_anchors=40, empty_masks=0):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(4, 40, size=2)
    masks = rng.random((num_gts, height, width)) < rng.uniform(0.1, 0.9)
    masks[:empty_masks] = False
    gt = np.empty((num_gts, 4), np.float32)
    gt[:, :2] = rng.uniform(-3, [width, height], size=(num_gts, 2))
    gt[:, 2:] = gt[:, :2] + rng.uniform(0, 25, size=(num_gts, 2))
    anchors = np.empty((num_anchors, 4), np.float32)
    anchors[:, :2] = rng.uniform(-10, [width + 5, height + 5], size=(num_anchors, 2))
    # Half-pixel sizes exercise round-half-to-even on the corners.
    anchors[:, 2:] = anchors[:, :2] + rng.integers(0, 50, size=(num_anchors, 2)) / 2
    anchors[: num_anchors // 4, :2] = np.round(anchors[: num_anchors // 4, :2] * 2) / 2
    return torch.from_numpy(gt), torch.from_numpy(masks), torch.from_numpy(anchors)


def assert_matches_brute_force(gt, masks, anchors, device=torch.device("cpu")):
    """Both implementations (and "auto"): bit-identical to each other, equal to brute force."""
    args = gt.to(device), masks.to(device), anchors.to(device)
    out = mask_aware_iou(*args)
    for impl in ("dense", "extent"):
        assert torch.equal(mask_aware_iou(*args, impl=impl), out), impl
    assert out.dtype == torch.float32 and out.shape == (len(gt), len(anchors))
    assert out.device.type == device.type and torch.isfinite(out).all()
    out = out.cpu()
    np.testing.assert_allclose(
        out.numpy(), brute_force_maiou(gt, masks, anchors), atol=1e-5, rtol=0
    )
    return out


@pytest.mark.parametrize("seed", range(60))
def test_random_cases_match_brute_force(seed, maiou_device):
    assert_matches_brute_force(*random_case(seed, empty_masks=seed % 3), device=maiou_device)


def test_masks_in_mmdet_formats():
    from mmdet.core import BitmapMasks, PolygonMasks

    gt = torch.tensor([[2.0, 3.0, 12.0, 11.0]])
    anchors = torch.tensor([[0.0, 0.0, 8.0, 8.0], [5.0, 5.0, 16.0, 14.0], [20.0, 0, 24, 4]])
    polygon = [[np.array([2, 3, 12, 3, 12, 11, 2, 11], dtype=np.float64)]]
    poly_masks = PolygonMasks(polygon, 16, 20)
    bitmap = BitmapMasks(poly_masks.to_ndarray(), 16, 20)
    from_poly = mask_aware_iou(gt, poly_masks, anchors)
    from_bitmap = mask_aware_iou(gt, bitmap, anchors)
    from_tensor = mask_aware_iou(gt, torch.from_numpy(bitmap.masks), anchors)
    assert torch.equal(from_poly, from_tensor) and torch.equal(from_bitmap, from_tensor)
    assert from_tensor[0, 1] > 0 and from_tensor[0, 2] == 0


def test_no_ground_truths_or_no_anchors():
    assert mask_aware_iou(
        torch.zeros(0, 4), torch.zeros(0, 7, 9, dtype=torch.bool), torch.rand(5, 4)
    ).shape == (0, 5)
    out = mask_aware_iou(torch.tensor([[0.0, 0, 3, 3]]), torch.ones(1, 7, 9), torch.zeros(0, 4))
    assert out.shape == (1, 0) and out.dtype == torch.float32


def test_empty_mask_gives_zero_where_published_gives_nan(maiou_device):
    gt = torch.tensor([[1.0, 1, 6, 6], [1.0, 1, 6, 6]])
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[1, 2:5, 2:5] = True
    anchors = torch.tensor([[0.0, 0, 4, 4], [2.0, 2, 7, 7]])
    out = mask_aware_iou(
        gt.to(maiou_device), masks.to(maiou_device), anchors.to(maiou_device)
    ).cpu()
    assert torch.equal(out[0], torch.zeros(2)) and (out[1] > 0).all()
    assert torch.isnan(published_mask_aware_iou(gt, anchors, masks)[0]).all()


def test_zero_area_boxes_and_anchors(maiou_device):
    gt = torch.tensor([[3.0, 3, 3, 9], [2.0, 2, 9, 2], [1.0, 1, 8, 8]])
    masks = torch.zeros(3, 10, 10, dtype=torch.bool)
    masks[:, 3:8, 3:6] = True
    anchors = torch.tensor([[0.0, 0, 10, 10], [4.0, 4, 4, 4], [5.0, 1, 5, 9], [2.0, 2, 7, 7]])
    out = assert_matches_brute_force(gt, masks, anchors, maiou_device)
    assert torch.equal(out[:2], torch.zeros(2, 4))
    assert torch.equal(out[:, 1:3], torch.zeros(3, 2))
    assert out[2, 0] > 0 and out[2, 3] > 0


def test_anchors_outside_the_image_and_masks_on_its_borders(maiou_device):
    height, width = 12, 15
    masks = torch.zeros(3, height, width, dtype=torch.bool)
    masks[0, :, 0] = True  # left column, full height
    masks[1, height - 1, :] = True  # bottom row
    masks[2, :4, width - 3 :] = True  # top-right corner
    gt = torch.tensor([[0.0, 0, 1, 12], [0.0, 11, 15, 12], [12.0, 0, 15, 4]])
    anchors = torch.tensor(
        [
            [-20.0, -20, 40, 40],  # covers everything, far beyond every border
            [-5.0, -5, 2.4, 30],  # partly left of the image
            [10.0, 10, 50, 50],  # partly beyond bottom-right
            [13.6, -3, 30, 2.5],  # partly above / right
            [16.0, 0, 30, 12],  # entirely right of the image (touches gt 2 only if it overlaps)
            [-9.0, -9, -1, -1],  # entirely above-left
        ]
    )
    out = assert_matches_brute_force(gt, masks, anchors, maiou_device)
    assert (out[:, 0] > 0).all()
    assert torch.equal(out[:, 5], torch.zeros(3))


def test_mask_pixels_outside_their_box_are_counted(maiou_device):
    masks = torch.zeros(1, 20, 20, dtype=torch.bool)
    masks[0, 2:6, 2:6] = True
    masks[0, 15:18, 15:18] = True  # outside the box below
    gt = torch.tensor([[2.0, 2, 6, 6]])
    anchors = torch.tensor([[1.0, 1, 19, 19], [14.0, 14, 19, 19], [2.0, 2, 6, 6]])
    out = assert_matches_brute_force(gt, masks, anchors, maiou_device)
    assert out[0, 0] > 0 and out[0, 1] == 0  # anchor 1 has IoU 0 with the box: gated out


def test_full_box_mask_makes_maiou_equal_iou_for_integer_anchors():
    from mmdet.core import bbox_overlaps

    rng = np.random.default_rng(3)
    masks = torch.zeros(5, 50, 60, dtype=torch.bool)
    boxes = []
    for k in range(5):
        x1, y1 = rng.integers(0, 40), rng.integers(0, 30)
        x2, y2 = x1 + rng.integers(1, 20), y1 + rng.integers(1, 20)
        masks[k, y1:y2, x1:x2] = True
        boxes.append([x1, y1, x2, y2])
    gt = torch.tensor(boxes, dtype=torch.float32)
    anchors = torch.from_numpy(rng.integers(-5, 65, size=(300, 2))).float()
    sides = torch.from_numpy(rng.integers(1, 25, size=(300, 2)))
    anchors = torch.cat([anchors, anchors + sides], 1)
    out = mask_aware_iou(gt, masks, anchors)
    torch.testing.assert_close(out, bbox_overlaps(gt, anchors), atol=1e-6, rtol=1e-5)


def test_shifting_an_anchor_off_the_mask_lowers_maiou_at_equal_iou():
    # An L-shaped object: its box's left half holds the mask, the right half is mostly empty.
    masks = torch.zeros(1, 40, 40, dtype=torch.bool)
    masks[0, 10:30, 10:20] = True
    masks[0, 26:30, 20:30] = True
    gt = torch.tensor([[10.0, 10, 30, 30]])
    on_mask = torch.tensor([[6.0, 10, 26, 30]])  # shifted left by 4 px
    off_mask = torch.tensor([[14.0, 10, 34, 30]])  # shifted right by 4 px: same IoU
    from mmdet.core import bbox_overlaps

    assert bbox_overlaps(gt, on_mask) == bbox_overlaps(gt, off_mask)
    assert mask_aware_iou(gt, masks, on_mask) > mask_aware_iou(gt, masks, off_mask)


def test_equals_published_algorithm_on_coco_like_image(maiou_device):
    anchors = grid_anchors(160, [8, 16, 32, 64, 128], 4, 1, [1.0]).to(maiou_device)
    gt, masks = occluded_instances(160, 12, seed=5)
    gt, masks = gt.to(maiou_device), masks.to(maiou_device)
    out = mask_aware_iou(gt, masks, anchors, impl="extent")
    torch.testing.assert_close(out, published_mask_aware_iou(gt, anchors, masks), atol=1e-5, rtol=0)
    assert (out > 0).sum() > 100
    assert torch.equal(mask_aware_iou(gt, masks, anchors, impl="dense"), out)
    # The pairs API at ATSS-shaped (1, G) x (C, G) indices reads the same numbers.
    generator = torch.Generator().manual_seed(0)
    candidates = torch.randint(0, len(anchors), (45, len(gt)), generator=generator).to(maiou_device)
    gt_index = torch.arange(len(gt), device=maiou_device)
    for impl in ("dense", "extent"):
        pairs, pixels = mask_aware_iou_pairs(
            gt, masks, anchors, gt_index, candidates, return_mask_pixels=True, impl=impl
        )
        assert torch.equal(pairs, out[gt_index, candidates]), impl
        assert torch.equal(pixels.long(), masks.flatten(1).sum(1)), impl


def test_uint8_and_numpy_masks_and_float_boxes_on_other_dtype():
    gt, masks, anchors = random_case(11)
    expected = mask_aware_iou(gt, masks, anchors)
    assert torch.equal(
        mask_aware_iou(gt.double(), masks.to(torch.uint8) * 255, anchors.double()), expected
    )
    assert torch.equal(mask_aware_iou(gt.numpy(), masks.numpy(), anchors.numpy()), expected)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(gt=torch.tensor([[0.0, 0, float("nan"), 3]])), "gt_bboxes contains NaN"),
        (dict(anchors=torch.tensor([[0.0, float("inf"), 1, 3]])), "bboxes contains NaN"),
        (dict(masks=torch.ones(2, 8, 8)), "2 masks but gt_bboxes 1"),
        (dict(masks=torch.ones(8, 8)), r"shape \(G, H, W\)"),
        (dict(anchors=torch.ones(3)), r"bboxes must have shape \(N, 4\)"),
        (dict(masks=[[1]]), "gt_masks must be"),
    ],
)
def test_bad_input_raises_clear_errors(bad, match):
    args = dict(
        gt=torch.tensor([[0.0, 0, 4, 4]]), masks=torch.ones(1, 8, 8), anchors=torch.rand(3, 4)
    )
    args.update(bad)
    with pytest.raises((ValueError, TypeError), match=match):
        mask_aware_iou(args["gt"], args["masks"], args["anchors"])


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(gt=torch.tensor([[0.0, 0, float("nan"), 3]])), "gt_bboxes contains NaN"),
        (dict(anchors=torch.tensor([[0.0, float("inf"), 1, 3]])), "bboxes contains NaN"),
        (dict(masks=torch.full((1, 8, 8), float("nan"))), "gt_masks contains NaN"),
    ],
)
def test_device_asserts_on_cpu_raise_with_the_same_message(bad, match):
    # What CUDA tensors get (a device-side assert, no host read), run on the CPU.
    args = dict(
        gt=torch.tensor([[0.0, 0, 4, 4]]), masks=torch.ones(1, 8, 8), anchors=torch.rand(3, 4)
    )
    args.update(bad)
    with pytest.raises(RuntimeError, match=match):
        mask_aware_iou(
            args["gt"], args["masks"], args["anchors"], impl="dense", device_asserts=True
        )


def test_impl_selection():
    assert resolve_impl("auto", 15, 550, 550, "cpu") == "extent"
    assert resolve_impl("auto", 15, 550, 550, "cuda") == "dense"
    assert resolve_impl("dense", 15, 550, 550, "cpu") == "dense"
    assert resolve_impl("extent", 15, 550, 550, "cuda") == "extent"
    with pytest.raises(ValueError, match="impl must be one of 'auto', 'dense', 'extent'"):
        mask_aware_iou(
            torch.tensor([[0.0, 0, 4, 4]]), torch.ones(1, 8, 8), torch.rand(3, 4), impl="fused"
        )


def test_dense_falls_back_to_extent_above_its_budget_with_a_warning():
    gt, masks, anchors = random_case(7, num_gts=6)
    table_mib = 6 * (masks.shape[1] + 1) * (masks.shape[2] + 1) * 4 / 2**20
    # At the budget the table fits; a byte less and both APIs fall back.
    assert resolve_impl("dense", 6, masks.shape[1], masks.shape[2], "cpu", table_mib) == "dense"
    expected = mask_aware_iou(gt, masks, anchors, impl="extent")
    with pytest.warns(RuntimeWarning) as caught:
        out = mask_aware_iou(gt, masks, anchors, impl="dense", dense_budget_mib=table_mib * 0.999)
        pairs = mask_aware_iou_pairs(
            gt,
            masks,
            anchors,
            torch.tensor([0, 5]),
            torch.tensor([1, 2]),
            impl="auto",
            dense_budget_mib=0,
        )  # extent on CPU anyway
        mask_aware_iou_pairs(
            gt,
            masks,
            anchors,
            torch.tensor([0, 5]),
            torch.tensor([1, 2]),
            impl="dense",
            dense_budget_mib=0,
        )
    assert torch.equal(out, expected) and torch.equal(pairs, expected[[0, 5], [1, 2]])
    messages = [str(w.message) for w in caught if "exceed the budget" in str(w.message)]
    assert len(messages) == 2 and all("6 ground truths" in m for m in messages)  # dense asks
