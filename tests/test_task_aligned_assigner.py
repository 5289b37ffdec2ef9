"""The task-aligned maIoU assigner (maiou/models/assigners/task_aligned_assigner.py): with
the box IoU as its overlap it is mmdet 2.28's TaskAlignedAssigner; with masks that fill
their boxes it assigns as mmdet's does with IoU; the CPU and a GPU (``--maiou-device cuda``)
assign alike; the YOLACT head calls it as mmdet's TOOD head would."""

from __future__ import annotations

import pytest
import torch
from mmdet.core.bbox.assigners import TaskAlignedAssigner
from mmdet.core.bbox.iou_calculators import bbox_overlaps

from maiou.models.assigners import TaskAlignedmaIoUAssigner
from maiou.testing.scenes import occluded_instances, one_image_head_loss

IMAGE = 128
NUM_CLASSES = 8


def scene(seed, num_gts, num_anchors=300, image=IMAGE, integer=False):
    """Anchors, predicted boxes near them, class probabilities, ground truths and labels."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(num_anchors, 2, generator=gen) * image
    sizes = 8 + torch.rand(num_anchors, 2, generator=gen) * image / 3
    anchors = torch.cat([centres - sizes / 2, centres + sizes / 2], 1)
    jitter = torch.randn(num_anchors, 4, generator=gen) * 4
    boxes = (anchors + jitter).clamp(0, image)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    gt, masks = occluded_instances(image, num_gts, seed=seed)
    if integer:
        boxes, gt = boxes.round(), gt.round()
    scores = torch.rand(num_anchors, NUM_CLASSES, generator=gen).softmax(-1)
    labels = torch.randint(0, NUM_CLASSES, (num_gts,), generator=gen)
    return anchors, boxes, scores, gt, masks, labels


def assert_same(a, b):
    assert torch.equal(a.gt_inds, b.gt_inds)
    assert torch.allclose(a.max_overlaps, b.max_overlaps)
    assert torch.equal(a.labels, b.labels)
    assert torch.allclose(a.assign_metrics, b.assign_metrics)


class WithBoxIoU(TaskAlignedmaIoUAssigner):
    """The same assignment with the box IoU as the overlap."""

    def overlaps(self, decode_bboxes, gt_bboxes, gt_masks):
        return bbox_overlaps(decode_bboxes, gt_bboxes)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_gts", [1, 5, 20])
@pytest.mark.parametrize("alpha, beta", [(1, 6), (0.5, 2.0)])
def test_with_iou_it_is_mmdets_task_aligned_assigner(seed, num_gts, alpha, beta):
    anchors, boxes, scores, gt, _, labels = scene(seed, num_gts)
    args = (scores, boxes, anchors, gt, None, labels, alpha, beta)
    stock = TaskAlignedAssigner(topk=13).assign(*args)
    ours = WithBoxIoU(topk=13).assign(*args)
    assert_same(ours, stock)
    assert (ours.gt_inds > 0).sum() > 0


@pytest.mark.parametrize("seed", range(6))
def test_box_filling_masks_reduce_maiou_to_iou(seed):
    """Integer boxes and masks that fill them: maIoU = IoU (up to MOB's 1e-6), so the same
    anchors are assigned as by mmdet's assigner with IoU; irregular masks change the
    assignment."""
    anchors, boxes, scores, gt, irregular, labels = scene(seed, 12, integer=True)
    filled = torch.zeros_like(irregular)
    for k, (x1, y1, x2, y2) in enumerate(gt.long().tolist()):
        filled[k, y1:y2, x1:x2] = True
    iou = TaskAlignedAssigner(topk=13).assign(scores, boxes, anchors, gt, None, labels)
    maiou = TaskAlignedmaIoUAssigner()
    same = maiou.assign(scores, boxes, anchors, gt, None, labels, gt_masks=filled)
    assert torch.equal(same.gt_inds, iou.gt_inds) and torch.equal(same.labels, iou.labels)
    assert torch.allclose(same.max_overlaps, iou.max_overlaps)
    other = maiou.assign(scores, boxes, anchors, gt, None, labels, gt_masks=irregular)
    assert not torch.equal(other.gt_inds, iou.gt_inds)


def test_cpu_and_device_assign_alike(maiou_device):
    anchors, boxes, scores, gt, masks, labels = scene(3, 15)
    assigner = TaskAlignedmaIoUAssigner()
    cpu = assigner.assign(scores, boxes, anchors, gt, None, labels, gt_masks=masks)
    moved = [t.to(maiou_device) for t in (scores, boxes, anchors, gt, labels, masks)]
    dev = assigner.assign(*moved[:4], None, moved[4], gt_masks=moved[5])
    assert dev.gt_inds.device.type == maiou_device.type
    assert torch.equal(dev.gt_inds.cpu(), cpu.gt_inds)
    assert torch.allclose(dev.max_overlaps.cpu(), cpu.max_overlaps)


def test_no_ground_truth_and_bad_arguments():
    anchors, boxes, scores, _, _, _ = scene(0, 1)
    empty = TaskAlignedmaIoUAssigner().assign(
        scores, boxes, anchors, torch.zeros(0, 4), None, torch.zeros(0, dtype=torch.long)
    )
    assert (empty.gt_inds == 0).all() and (empty.labels == -1).all()
    with pytest.raises(ValueError, match="topk must be >= 1"):
        TaskAlignedmaIoUAssigner(topk=0)
    anchors, boxes, scores, gt, _, labels = scene(0, 2)
    with pytest.raises(ValueError, match="needs gt_masks"):
        TaskAlignedmaIoUAssigner().assign(scores, boxes, anchors, gt, None, labels)


def test_the_head_hands_over_probabilities_and_decoded_boxes():
    """MaskAwareYOLACTHead calls the assigner with what mmdet's TOODHead would: softmax
    probabilities of the foreground classes and the decoded predicted boxes, over the
    inside anchors."""
    from mmcv import Config
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    cfg = Config.fromfile("configs/embedded/tal_iou_550.py")
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.type = "MaskAwareYOLACTHead"  # the hard-label head, softmax scores
    cfg.model.bbox_head.use_ohem = True
    cfg.model.bbox_head.loss_cls = dict(
        type="CrossEntropyLoss", use_sigmoid=False, reduction="none", loss_weight=1.0
    )
    model = build_detector(cfg.model)
    head = model.bbox_head
    r = one_image_head_loss(head)
    ((scores, boxes, anchors, gt_given, _, labels_given, *_), _, _) = r["assign_calls"][0]
    cls_scores, bbox_preds = r["cls_scores"], r["bbox_preds"]

    flat = lambda outs, c: torch.cat([o[0].permute(1, 2, 0).reshape(-1, c) for o in outs])  # noqa: E731
    sizes = [o.shape[-2:] for o in cls_scores]
    all_anchors = torch.cat(head.prior_generator.grid_priors(sizes, device="cpu"))
    assert torch.equal(anchors, all_anchors)  # every anchor lies inside a 128 px image here
    expected_scores = flat(cls_scores, NUM_CLASSES + 1).softmax(-1)[:, :NUM_CLASSES]
    assert torch.allclose(scores, expected_scores)
    expected_boxes = head.bbox_coder.decode(
        all_anchors, flat(bbox_preds, 4), max_shape=(IMAGE, IMAGE, 3)
    )
    assert torch.allclose(boxes, expected_boxes)
    assert torch.equal(gt_given, r["gt"]) and torch.equal(labels_given, r["labels"])
    assert not scores.requires_grad and not boxes.requires_grad


def tal_model(run):
    from mmcv import Config

    import maiou.models  # noqa: F401

    return Config.fromfile(f"configs/embedded/{run}.py").model


@pytest.mark.parametrize("run", ["tal_iou_550", "tal_maiou_550"])
def test_the_head_ranks_with_the_exponents_of_its_train_cfg(run):
    """alpha and beta are the head's train_cfg's, as in mmdet's TOODHead, for mmdet's
    assigner and ours alike: retuning them retunes both runs of the pair, and no assigner
    config holds its own."""
    from mmcv import ConfigDict
    from mmdet.models import build_head

    model = tal_model(run)
    assert (model.train_cfg.alpha, model.train_cfg.beta) == (1, 6)
    assert not {"alpha", "beta"} & set(model.train_cfg.assigner)
    train_cfg = ConfigDict(dict(model.train_cfg, alpha=0.5, beta=3.0))
    head = build_head(dict(model.bbox_head, train_cfg=train_cfg))
    ((args, kwargs, result),) = one_image_head_loss(head)["assign_calls"]
    assert args[6:] == (0.5, 3.0)
    # ... and they count: TOOD's exponents rank the same predictions otherwise.
    tood = head.assigner.assign(*args[:6], 1, 6, **kwargs)
    assert not torch.allclose(result.assign_metrics, tood.assign_metrics)


def test_the_exponents_are_nowhere_but_in_train_cfg():
    from mmcv import ConfigDict
    from mmdet.models import build_head

    model = tal_model("tal_maiou_550")
    train_cfg = ConfigDict({k: v for k, v in model.train_cfg.items() if k != "beta"})
    with pytest.raises(ValueError, match="takes beta from the head's train_cfg"):
        build_head(dict(model.bbox_head, train_cfg=train_cfg))
    with pytest.raises(TypeError, match="alpha"):
        TaskAlignedmaIoUAssigner(topk=13, alpha=1.0)
