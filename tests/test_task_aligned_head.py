"""Task alignment in full (maiou/models/dense_heads/task_aligned_yolact_head.py): the soft
classification targets are mmdet 2.28 TOODHead's, on the same assignment, with IoU (the whole
assignment + targets) and with maIoU; the loss is Quality Focal Loss over every anchor,
normalised by the targets' sum as TOOD's."""

from __future__ import annotations

import pytest
import torch
from mmcv import Config, ConfigDict
from mmdet.models import build_detector, build_head
from mmdet.models.losses.gfocal_loss import quality_focal_loss

import maiou.models  # noqa: F401
from maiou.models.dense_heads.task_aligned_yolact_head import alignment_targets
from maiou.testing.scenes import one_image_head_loss, record_calls

IMAGE = 128
NUM_CLASSES = 8
STRIDES = (8, 16, 32, 64, 128)
META = dict(
    img_shape=(IMAGE, IMAGE, 3), pad_shape=(IMAGE, IMAGE, 3), batch_input_shape=(IMAGE, IMAGE)
)


def test_alignment_targets_by_hand():
    """Anchors 0, 1 -> ground truth 0 (t 0.2, 0.4; u 0.5, 0.8); anchor 3 -> ground truth 1
    (t 0.1, u 0.6); anchor 2 background. Target = t / max t of its ground truth * max u."""
    t = torch.tensor([0.2, 0.4, 0.0, 0.1])
    u = torch.tensor([0.5, 0.8, -1e8, 0.6])
    got = alignment_targets(t, u, torch.tensor([0, 1, 3]), torch.tensor([0, 0, 1]), 2)
    expected = torch.tensor([0.2 / 0.4 * 0.8, 0.8, 0.0, 0.6])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def our_head(run):
    cfg = Config.fromfile(f"configs/embedded/{run}.py")
    cfg.model.backbone.init_cfg = None
    return build_detector(cfg.model).bbox_head


def tood_head(assigner):
    """mmdet's TOODHead past its initial epochs, with ``assigner`` as its alignment
    assigner (only its target code runs here)."""
    head = build_head(
        dict(
            type="TOODHead",
            num_classes=NUM_CLASSES,
            in_channels=16,
            anchor_generator=dict(
                type="AnchorGenerator",
                ratios=[1.0],
                octave_base_scale=8,
                scales_per_octave=1,
                strides=list(STRIDES),
            ),
            train_cfg=ConfigDict(
                initial_epoch=4,
                initial_assigner=dict(type="ATSSAssigner", topk=9),
                assigner=dict(type="TaskAlignedAssigner", topk=13),
                alpha=1,
                beta=6,
                allowed_border=-1,
                pos_weight=-1,
                debug=False,
            ),
        )
    )
    head.epoch = 4
    if assigner is not None:
        head.alignment_assigner = assigner
    return head


def run_ours(head, seed=0):
    """One loss call on random features and four occluded objects (maiou/testing/scenes.py), the
    head's per-image targets recorded, and what is needed to redo them with TOOD."""
    targets = record_calls(head, "_get_targets_single")
    r = one_image_head_loss(head, IMAGE, seed)
    flat = lambda outs, c: torch.cat([o[0].permute(1, 2, 0).reshape(-1, c) for o in outs])  # noqa: E731
    sizes = [o.shape[-2:] for o in r["cls_scores"]]
    anchors = torch.cat(head.prior_generator.grid_priors(sizes, device="cpu"))
    logits = flat(r["cls_scores"], NUM_CLASSES).detach()
    deltas = flat(r["bbox_preds"], 4).detach()
    boxes = head.bbox_coder.decode(anchors, deltas, max_shape=META["img_shape"])
    return dict(
        r,
        targets=targets[0][2],
        assignment=r["assign_calls"][0][2],
        logits=logits,
        boxes=boxes,
        anchors=anchors,
    )


def tood_targets(tood, r):
    _, labels, label_weights, _, soft = tood._get_target_single(
        r["logits"].sigmoid(),
        r["boxes"],
        r["anchors"],
        torch.ones(len(r["anchors"]), dtype=torch.bool),
        r["gt"],
        None,
        r["labels"],
        META,
    )
    return labels, label_weights, soft


@pytest.mark.parametrize("seed", range(3))
def test_with_iou_assignment_and_targets_are_toods(seed):
    """tal_iou_550: mmdet's TaskAlignedAssigner called as TOODHead calls it, and TOOD's
    normalised alignment targets (background 0)."""
    r = run_ours(our_head("tal_iou_550"), seed)
    labels, label_weights, _, _, _, _, _, soft = r["targets"]
    tood_labels, tood_weights, tood_soft = tood_targets(tood_head(None), r)
    assert torch.equal(labels, tood_labels) and torch.equal(label_weights, tood_weights)
    torch.testing.assert_close(soft, tood_soft)
    assert (soft[labels == NUM_CLASSES] == 0).all() and (soft[labels < NUM_CLASSES] > 0).any()


@pytest.mark.parametrize("seed", range(3))
def test_with_maiou_the_targets_are_toods_on_the_same_assignment(seed):
    """tal_maiou_550: TOOD's target code on our maIoU assignment gives our targets, so
    they are normalised by the largest maIoU of each ground truth's positives."""
    r = run_ours(our_head("tal_maiou_550"), seed)
    assignment = r["assignment"]

    class Given:
        def assign(self, *args, **kwargs):
            return assignment

    labels, _, _, _, _, _, _, soft = r["targets"]
    tood_labels, _, tood_soft = tood_targets(tood_head(Given()), r)
    assert torch.equal(labels, tood_labels)
    torch.testing.assert_close(soft, tood_soft)
    positive = labels < NUM_CLASSES
    assert positive.any()
    # The best target of each ground truth is its largest maIoU among its positives (times
    # t / (t + 1e-7) for its largest t: TOOD's guard against dividing by 0).
    gt_of = assignment.gt_inds[positive] - 1
    for g in gt_of.unique():
        mine = gt_of == g
        best_u = assignment.max_overlaps[positive][mine].max()
        best_t = assignment.assign_metrics[positive][mine].max()
        expected = best_t / (best_t + 10e-8) * best_u
        torch.testing.assert_close(soft[positive][mine].max(), expected)


def test_the_loss_is_quality_focal_over_every_anchor_normalised_by_the_targets():
    head = our_head("tal_iou_550")
    r = run_ours(head, 0)
    labels, label_weights, _, _, _, _, _, soft = r["targets"]
    logits = r["logits"]
    expected = (quality_focal_loss(logits, (labels, soft)) * label_weights).sum() / max(
        float(soft.sum()), 1.0
    )
    (loss_cls,) = r["losses"]["loss_cls"]
    torch.testing.assert_close(loss_cls.detach(), expected)


def test_the_head_refuses_what_cannot_learn_soft_targets():
    model = Config.fromfile("configs/embedded/tal_iou_550.py").model
    head = dict(model.bbox_head, train_cfg=model.train_cfg)
    with pytest.raises(ValueError, match="use_ohem=False"):
        build_head(dict(head, use_ohem=True))
    atss = ConfigDict(dict(model.train_cfg, assigner=dict(type="ATSSAssigner", topk=9)))
    with pytest.raises(ValueError, match="needs a task-aligned assigner"):
        build_head(dict(head, train_cfg=atss))
