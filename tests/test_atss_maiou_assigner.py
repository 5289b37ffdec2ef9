"""ATSSmaIoUAssigner against mmdet's ATSSAssigner, the published algorithm and hand cases."""

import numpy as np
import pytest
import torch
from mmdet.core.anchor import AnchorGenerator
from mmdet.core.bbox.assigners import ATSSAssigner
from mmdet.core.bbox.iou_calculators import bbox_overlaps

from maiou import mask_aware_iou
from maiou.models.assigners import ATSSmaIoUAssigner
from maiou.testing.scenes import occluded_instances

IMAGE = 128


def atss_anchors(image_size=IMAGE):
    """YOLACT-ATSS anchors (octave base scale 4, ratio 1, strides 8..128) and level sizes."""
    generator = AnchorGenerator(
        strides=[8, 16, 32, 64, 128], ratios=[1.0], octave_base_scale=4, scales_per_octave=1
    )
    sizes = [(int(np.ceil(image_size / s)),) * 2 for s in (8, 16, 32, 64, 128)]
    per_level = generator.grid_priors([(h, w) for h, w in sizes], device="cpu")
    return torch.cat(per_level), [len(a) for a in per_level]


def box_masks(boxes, size=IMAGE):
    masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        masks[k, y1:y2, x1:x2] = True
    return masks


def published_atss_maiou(gt_bboxes, masks, anchors, num_level, labels):
    """The published assigner: stock ATSS code reading a dense maIoU matrix."""
    stock = ATSSAssigner(topk=9)
    stock.iou_calculator = lambda bboxes, gts, mode="iou": mask_aware_iou(gts, masks, bboxes).t()
    return stock.assign(anchors, num_level, gt_bboxes, None, labels)


def assert_same_assignment(a, b):
    assert torch.equal(a.gt_inds, b.gt_inds)
    assert torch.equal(a.labels, b.labels)
    torch.testing.assert_close(a.max_overlaps, b.max_overlaps, rtol=0, atol=1e-6)


def assert_identical(a, b):
    """Bit for bit: indices, overlaps and labels (dtypes included)."""
    assert a.num_gts == b.num_gts
    for field in ("gt_inds", "max_overlaps", "labels"):
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None and y is None) or (x.dtype == y.dtype and torch.equal(x, y)), field


class WithBoxIoU(ATSSmaIoUAssigner):
    """The same assignment with the box IoU at the candidate pairs (every ground truth
    assignable: boxes have no empty mask)."""

    def overlaps(self, bboxes, gt_bboxes, gt_masks, anchor_index, gt_index):
        iou = bbox_overlaps(bboxes, gt_bboxes)[anchor_index, gt_index]
        return iou, torch.ones(len(gt_bboxes), dtype=torch.bool)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ignore", [False, True])
def test_with_iou_it_is_mmdets_atss_assigner(seed, ignore):
    """Bit for bit, on float boxes of one to fifteen ground truths, with ignored boxes."""
    anchors, num_level = atss_anchors()
    gen = torch.Generator().manual_seed(seed)
    num_gts = (1, 6, 15)[seed]
    x1y1 = torch.rand(num_gts, 2, generator=gen) * 100
    gt = torch.cat(
        [x1y1, (x1y1 + 4 + torch.rand(num_gts, 2, generator=gen) * 60).clamp(max=IMAGE)], 1
    )
    labels = torch.randint(0, 80, (num_gts,), generator=gen)
    ignored = torch.tensor([[0.0, 0, 40, 40], [90, 70, 128, 128]]) if ignore else None
    thr = 0.5 if ignore else -1
    masks = torch.zeros(num_gts, IMAGE, IMAGE, dtype=torch.bool)  # unread by the swap
    ours = WithBoxIoU(topk=9, ignore_iof_thr=thr).assign(
        anchors, num_level, gt, ignored, labels, gt_masks=masks
    )
    stock = ATSSAssigner(topk=9, ignore_iof_thr=thr).assign(anchors, num_level, gt, ignored, labels)
    assert_identical(ours, stock)
    assert (ours.gt_inds > 0).sum() > 0


@pytest.mark.parametrize("impl", ["dense", "extent"])
@pytest.mark.parametrize("ignore", [False, True])
def test_full_box_masks_reduce_to_mmdet_atss(impl, ignore):
    anchors, num_level = atss_anchors()
    rng = np.random.default_rng(0)
    # With ignored (crowd) boxes, anchors covered by them are ignored (-1) as in mmdet.
    ignored = torch.tensor([[0.0, 0, 40, 40], [90, 70, 128, 128]]) if ignore else None
    thr = 0.5 if ignore else -1
    for _ in range(5):
        x1y1 = rng.integers(0, 100, size=(6, 2))
        x2y2 = np.minimum(x1y1 + rng.integers(4, 60, size=(6, 2)), IMAGE)
        boxes = np.concatenate([x1y1, x2y2], 1)
        gt = torch.tensor(boxes, dtype=torch.float32)
        labels = torch.from_numpy(rng.integers(0, 80, size=6))
        ours = ATSSmaIoUAssigner(topk=9, ignore_iof_thr=thr, maiou_impl=impl).assign(
            anchors, num_level, gt, ignored, labels, gt_masks=box_masks(boxes)
        )
        stock = ATSSAssigner(topk=9, ignore_iof_thr=thr).assign(
            anchors, num_level, gt, ignored, labels
        )
        assert_same_assignment(ours, stock)
        assert (ours.gt_inds > 0).sum() > 0
        assert ((ours.gt_inds == -1).sum() > 0) == ignore


@pytest.mark.parametrize("seed", range(4))
def test_equals_published_algorithm_on_occluded_masks(seed):
    anchors, num_level = atss_anchors()
    gt, masks = occluded_instances(IMAGE, 8, seed=seed)
    labels = torch.arange(len(gt))
    expected = published_atss_maiou(gt, masks, anchors, num_level, labels)
    for impl in ("dense", "extent"):
        ours = ATSSmaIoUAssigner(topk=9, maiou_impl=impl).assign(
            anchors, num_level, gt, None, labels, gt_masks=masks
        )
        assert_same_assignment(ours, expected)


@pytest.mark.parametrize("num_gts", [2, 6, 30])
def test_dense_and_extent_give_identical_assignments(num_gts, maiou_device):
    """Bit-identical AssignResults, with and without labels, an empty mask included; on
    CUDA inputs with ``--maiou-device cuda``."""
    anchors, num_level = atss_anchors(160)
    gt, masks = occluded_instances(160, num_gts, seed=num_gts)
    masks[0] = False
    anchors, gt, masks = anchors.to(maiou_device), gt.to(maiou_device), masks.to(maiou_device)
    labels = torch.arange(num_gts, device=maiou_device)
    for given in (None, labels):
        results = [
            ATSSmaIoUAssigner(topk=9, maiou_impl=impl).assign(
                anchors, num_level, gt, None, given, gt_masks=masks
            )
            for impl in ("dense", "extent", "auto")
        ]
        assert_identical(results[0], results[1])
        assert_identical(results[0], results[2])
        assert results[0].gt_inds.device.type == maiou_device.type
        assert (results[0].gt_inds > 0).sum() > 0 and not (results[0].gt_inds == 1).any()


def test_dense_budget_fallback_gives_the_same_assignment():
    anchors, num_level = atss_anchors()
    gt, masks = occluded_instances(IMAGE, 8, seed=1)
    dense = ATSSmaIoUAssigner(maiou_impl="dense").assign(anchors, num_level, gt, gt_masks=masks)
    tiny = ATSSmaIoUAssigner(maiou_impl="dense", maiou_dense_budget_mib=0.01)
    with pytest.warns(RuntimeWarning, match="exceed the budget"):
        fallen_back = tiny.assign(anchors, num_level, gt, gt_masks=masks)
    assert_identical(fallen_back, dense)


def test_unknown_maiou_impl_is_refused():
    with pytest.raises(ValueError, match="maiou_impl must be one of 'auto', 'dense', 'extent'"):
        ATSSmaIoUAssigner(maiou_impl="triton")


def test_occlusion_moves_positives_onto_the_visible_mask():
    # The box spans 16..112 but only its left quarter is visible (the rest is occluded).
    gt = torch.tensor([[16.0, 32.0, 112.0, 96.0]])
    masks = torch.zeros(1, IMAGE, IMAGE, dtype=torch.bool)
    masks[0, 32:96, 16:40] = True
    anchors, num_level = atss_anchors()
    iou_pos = ATSSAssigner(topk=9).assign(anchors, num_level, gt).gt_inds > 0
    maiou_pos = ATSSmaIoUAssigner(topk=9).assign(anchors, num_level, gt, gt_masks=masks).gt_inds > 0
    centre_x = (anchors[:, 0] + anchors[:, 2]) / 2
    assert iou_pos.any() and maiou_pos.any()
    assert not torch.equal(iou_pos, maiou_pos)
    # Anchors chosen only by IoU sit over the empty (occluded) part; maIoU favours the mask.
    assert centre_x[maiou_pos].mean() < centre_x[iou_pos].mean()
    assert (
        mask_aware_iou(gt, masks, anchors[iou_pos & ~maiou_pos])
        < mask_aware_iou(gt, masks, anchors[maiou_pos]).min()
    ).all()


def test_empty_masks_and_degenerate_boxes_get_no_positives_and_no_nan():
    anchors, num_level = atss_anchors()
    boxes = [[10, 10, 60, 60], [70, 70, 120, 120], [40, 40, 40, 90], [30, 80, 90, 80]]
    masks = box_masks(boxes)
    masks[1] = False  # an empty mask with a real box
    gt = torch.tensor(boxes, dtype=torch.float32)
    result = ATSSmaIoUAssigner(topk=9).assign(
        anchors, num_level, gt, None, torch.arange(4), gt_masks=masks
    )
    assigned = set(result.gt_inds[result.gt_inds > 0].tolist())
    assert assigned == {1}
    positives = result.gt_inds > 0
    assert torch.isfinite(result.max_overlaps).all()
    assert (result.max_overlaps[positives] > 0).all()


def test_no_ground_truth_and_no_anchor():
    anchors, num_level = atss_anchors()
    result = ATSSmaIoUAssigner().assign(
        anchors,
        num_level,
        torch.zeros(0, 4),
        None,
        torch.zeros(0, dtype=torch.long),
        gt_masks=torch.zeros(0, IMAGE, IMAGE),
    )
    assert (result.gt_inds == 0).all() and (result.labels == -1).all()
    result = ATSSmaIoUAssigner().assign(
        torch.zeros(0, 4), [0, 0], torch.tensor([[0.0, 0, 9, 9]]), gt_masks=torch.ones(1, 16, 16)
    )
    assert result.gt_inds.numel() == 0


def test_levels_with_fewer_anchors_than_topk():
    anchors, num_level = atss_anchors(IMAGE)
    assert num_level[-1] < 9  # 1 anchor on the coarsest level
    boxes = [[20, 20, 100, 100]]
    gt = torch.tensor(boxes, dtype=torch.float32)
    result = ATSSmaIoUAssigner(topk=9).assign(anchors, num_level, gt, gt_masks=box_masks(boxes))
    stock = ATSSAssigner(topk=9).assign(anchors, num_level, gt)
    assert torch.equal(result.gt_inds, stock.gt_inds)


def test_masks_are_required_and_levels_checked():
    anchors, num_level = atss_anchors()
    gt = torch.tensor([[0.0, 0, 9, 9]])
    with pytest.raises(ValueError, match="needs gt_masks"):
        ATSSmaIoUAssigner().assign(anchors, num_level, gt)
    with pytest.raises(ValueError, match="num_level_bboxes sums"):
        ATSSmaIoUAssigner().assign(
            anchors, num_level[:-1], gt, gt_masks=torch.ones(1, IMAGE, IMAGE)
        )


def test_registered_under_published_name():
    from mmdet.core.bbox.builder import build_assigner

    assigner = build_assigner(dict(type="ATSSmaIoUAssigner", topk=9))
    assert isinstance(assigner, ATSSmaIoUAssigner) and assigner.requires_gt_masks
    assert assigner.maiou_impl == "auto"
    assert build_assigner(dict(type="ATSSmaIoUAssigner", maiou_impl="dense")).maiou_impl == "dense"
