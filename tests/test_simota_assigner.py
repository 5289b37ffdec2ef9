"""SimOTA with maIoU (maiou/models/assigners/simota_assigner.py): with the box IoU as its
overlap it is mmdet 2.28's SimOTAAssigner on random scenes; with masks that fill their boxes
it assigns as mmdet's does with IoU; maIoU is what it ranks by otherwise; the CPU and a GPU
assign alike; the YOLACT head calls it as mmdet's YOLOX head would."""

from __future__ import annotations

import pytest
import torch
from mmdet.core.bbox.assigners import SimOTAAssigner
from mmdet.core.bbox.iou_calculators import bbox_overlaps

from maiou.models.assigners import SimOTAmaIoUAssigner
from maiou.testing.reference import brute_force_maiou
from maiou.testing.scenes import occluded_instances, one_image_head_loss

IMAGE = 128
NUM_CLASSES = 8


def scene(seed, num_gts, num_priors=400, integer=False):
    """Priors (centre, stride) on a 128 px image, predicted boxes around them, class
    probabilities, ground truths (occluded shapes), their masks and labels."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(num_priors, 2, generator=gen) * IMAGE
    strides = torch.tensor([8.0, 16.0, 32.0])[torch.randint(0, 3, (num_priors,), generator=gen)]
    priors = torch.cat([centres, strides[:, None].expand(-1, 2)], 1)
    sizes = strides[:, None] * (2 + 4 * torch.rand(num_priors, 2, generator=gen))
    boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], 1).clamp(0, IMAGE)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    gt, masks = occluded_instances(IMAGE, num_gts, seed=seed)
    if integer:
        boxes, gt = boxes.round(), gt.round()
    scores = torch.rand(num_priors, NUM_CLASSES, generator=gen).softmax(-1)
    labels = torch.randint(0, NUM_CLASSES, (num_gts,), generator=gen)
    return priors, boxes, scores, gt, masks, labels


class WithBoxIoU(SimOTAmaIoUAssigner):
    """The same assignment with the box IoU as the overlap."""

    def overlaps(self, decoded_bboxes, gt_bboxes, gt_masks):
        return bbox_overlaps(decoded_bboxes, gt_bboxes)


def assert_same(ours, stock):
    assert torch.equal(ours.gt_inds, stock.gt_inds)
    assert torch.equal(ours.labels, stock.labels)
    positive = stock.gt_inds > 0
    assert torch.allclose(ours.max_overlaps[positive], stock.max_overlaps[positive])
    assert torch.equal(ours.max_overlaps[~positive], stock.max_overlaps[~positive])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("num_gts", [1, 4, 15])
def test_with_iou_it_is_mmdets_simota_assigner(seed, num_gts):
    priors, boxes, scores, gt, _, labels = scene(seed, num_gts)
    stock = SimOTAAssigner().assign(scores, priors, boxes, gt, labels)
    ours = WithBoxIoU().assign(scores, priors, boxes, gt, labels)
    assert_same(ours, stock)
    positives = int((ours.gt_inds > 0).sum())
    assert positives > 0
    # Several ground truths competed for priors: the tie-break of step 6 was exercised.
    if num_gts == 15:
        assert len(ours.gt_inds[ours.gt_inds > 0].unique()) > 1


def test_with_iou_other_weights_and_radius():
    priors, boxes, scores, gt, _, labels = scene(11, 6)
    kwargs = dict(center_radius=1.5, candidate_topk=5, iou_weight=1.0, cls_weight=2.0)
    stock = SimOTAAssigner(**kwargs).assign(scores, priors, boxes, gt, labels)
    assert_same(WithBoxIoU(**kwargs).assign(scores, priors, boxes, gt, labels), stock)


@pytest.mark.parametrize("seed", range(4))
def test_box_filling_masks_reduce_maiou_to_iou(seed):
    """Integer boxes with masks that fill them: maIoU = IoU (up to MOB's 1e-6), so mmdet's
    SimOTA with IoU assigns the same priors; the objects' own masks change the assignment."""
    priors, boxes, scores, gt, irregular, labels = scene(seed, 8, integer=True)
    filled = torch.zeros_like(irregular)
    for k, (x1, y1, x2, y2) in enumerate(gt.long().tolist()):
        filled[k, y1:y2, x1:x2] = True
    stock = SimOTAAssigner().assign(scores, priors, boxes, gt, labels)
    assigner = SimOTAmaIoUAssigner()
    same = assigner.assign(scores, priors, boxes, gt, labels, gt_masks=filled)
    assert torch.equal(same.gt_inds, stock.gt_inds) and torch.equal(same.labels, stock.labels)
    other = assigner.assign(scores, priors, boxes, gt, labels, gt_masks=irregular)
    assert not torch.equal(other.gt_inds, stock.gt_inds)


def test_the_overlap_is_maiou_from_its_definition():
    priors, boxes, _, gt, masks, _ = scene(5, 3, num_priors=40)
    expected = torch.as_tensor(brute_force_maiou(gt, masks, boxes)).t()
    got = SimOTAmaIoUAssigner().overlaps(boxes, gt, masks)
    assert got.shape == (40, 3)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)


def test_a_lone_prior_far_from_everything_is_never_assigned():
    """No valid prior at all: nothing is assigned (mmdet returns early there)."""
    priors = torch.tensor([[5.0, 5.0, 8.0, 8.0]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    gt = torch.tensor([[100.0, 100.0, 120.0, 120.0]])
    masks = torch.zeros(1, IMAGE, IMAGE, dtype=torch.bool)
    masks[0, 100:120, 100:120] = True
    scores = torch.full((1, NUM_CLASSES), 1 / NUM_CLASSES)
    labels = torch.tensor([2])
    stock = SimOTAAssigner().assign(scores, priors, boxes, gt, labels)
    ours = SimOTAmaIoUAssigner().assign(scores, priors, boxes, gt, labels, gt_masks=masks)
    assert torch.equal(ours.gt_inds, stock.gt_inds) and (ours.gt_inds == 0).all()
    assert (ours.labels == -1).all()


def test_no_ground_truth_and_bad_arguments():
    priors, boxes, scores, gt, masks, labels = scene(0, 2)
    empty = SimOTAmaIoUAssigner().assign(
        scores, priors, boxes, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
    )
    assert (empty.gt_inds == 0).all() and (empty.labels == -1).all()
    with pytest.raises(ValueError, match="candidate_topk must be >= 1"):
        SimOTAmaIoUAssigner(candidate_topk=0)
    with pytest.raises(ValueError, match="needs gt_masks"):
        SimOTAmaIoUAssigner().assign(scores, priors, boxes, gt, labels)


def test_cpu_and_device_assign_alike(maiou_device):
    priors, boxes, scores, gt, masks, labels = scene(3, 10)
    assigner = SimOTAmaIoUAssigner()
    cpu = assigner.assign(scores, priors, boxes, gt, labels, gt_masks=masks)
    moved = [t.to(maiou_device) for t in (scores, priors, boxes, gt, labels, masks)]
    dev = assigner.assign(*moved[:5], gt_masks=moved[5])
    assert dev.gt_inds.device.type == maiou_device.type
    assert torch.equal(dev.gt_inds.cpu(), cpu.gt_inds)
    assert torch.allclose(dev.max_overlaps.cpu(), cpu.max_overlaps)


def test_the_head_hands_over_priors_as_yolox_does():
    """MaskAwareYOLACTHead calls SimOTA with what mmdet's YOLOXHead hands it: class
    probabilities, the anchors as (centre x, centre y, stride x, stride y) priors and the
    decoded predicted boxes, over the inside anchors."""
    from mmcv import Config
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    cfg = Config.fromfile("configs/embedded/simota_maiou_550.py")
    cfg.model.backbone.init_cfg = None
    head = build_detector(cfg.model).bbox_head
    r = one_image_head_loss(head)
    ((scores, priors, boxes, gt_given, labels_given, _), kwargs, _) = r["assign_calls"][0]

    sizes = [o.shape[-2:] for o in r["cls_scores"]]
    anchors = head.prior_generator.grid_priors(sizes, device="cpu")
    expected_priors = torch.cat(
        [
            torch.cat([(a[:, :2] + a[:, 2:]) / 2, a.new_full((len(a), 2), float(s))], 1)
            for a, s in zip(anchors, (8, 16, 32, 64, 128))
        ]
    )
    assert torch.equal(priors, expected_priors)
    logits = [o[0].permute(1, 2, 0).reshape(-1, NUM_CLASSES + 1) for o in r["cls_scores"]]
    assert torch.allclose(scores, torch.cat(logits).softmax(-1)[:, :NUM_CLASSES])
    assert boxes.shape == (len(expected_priors), 4) and not boxes.requires_grad
    assert torch.equal(gt_given, r["gt"]) and torch.equal(labels_given, r["labels"])
    assert torch.equal(kwargs["gt_masks"], torch.as_tensor(r["masks"]).bool())
    assert len(r["sampling"][0].pos_inds) > 0
