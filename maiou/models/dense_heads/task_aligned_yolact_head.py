"""YOLACT box head that learns TOOD's soft classification targets: task alignment in full.

With a task-aligned assigner, TOOD (and YOLOv8) do not only pick positives by the alignment
``t = s ** alpha * u ** beta``; they also learn it: the classification target of a positive
anchor is ``t``, normalised per ground truth so that its best-aligned positive gets that
ground truth's largest overlap ``u`` among its positives, and every other anchor's target
is 0. So the overlap measure enters the loss as well as the assignment: with maIoU both the
ranking and the targets use maIoU.

YOLACT's softmax classification with OHEM has no place for a soft target, so this head
classifies with a sigmoid per class, learned with Quality Focal Loss over every anchor
(TOOD's loss and normaliser); box regression, mask coefficients and the mask branch stay
YOLACT's (docs/deviations.md lists what differs from TOOD).
"""

from __future__ import annotations

import torch
from mmdet.core import reduce_mean
from mmdet.models.builder import HEADS

from .assigner_calls import TaskAlignedCall
from .yolact_head import MaskAwareYOLACTHead

__all__ = ["TaskAlignedYOLACTHead", "alignment_targets"]


def alignment_targets(assign_metrics, overlaps, pos_inds, pos_gt_inds, num_gts):
    """TOOD's classification target of every anchor, per anchor (0 for non-positives).

    For the positives ``P_g`` of ground truth ``g``:
    ``target = t / (max_{P_g} t + 1e-7) * max_{P_g} u`` (mmdet's ``TOODHead``, which loops
    over ground truths; one scatter here).

    Args:
        assign_metrics (Tensor): (A,) ``t`` of each anchor with its assigned ground truth.
        overlaps (Tensor): (A,) ``u`` of each anchor with its assigned ground truth.
        pos_inds (Tensor): (P,) indices of the positive anchors.
        pos_gt_inds (Tensor): (P,) their ground truths, 0-based.
        num_gts (int): G, the number of ground truths.

    Returns:
        Tensor: (A,) float targets in [0, 1].
    """
    t, u = assign_metrics[pos_inds], overlaps[pos_inds]
    best_t = t.new_zeros(num_gts).scatter_reduce(0, pos_gt_inds, t, "amax", include_self=False)
    best_u = u.new_zeros(num_gts).scatter_reduce(0, pos_gt_inds, u, "amax", include_self=False)
    targets = assign_metrics.new_zeros(assign_metrics.shape, dtype=torch.float)
    targets[pos_inds] = t / (best_t[pos_gt_inds] + 10e-8) * best_u[pos_gt_inds]
    return targets


@HEADS.register_module()
class TaskAlignedYOLACTHead(MaskAwareYOLACTHead):
    """``MaskAwareYOLACTHead`` for task-aligned assigners, learning TOOD's soft targets.

    Loss, per batch:

    1. Targets: the assigner's positives (``TaskAlignedAssigner`` or
       ``TaskAlignedmaIoUAssigner``), their classes and box deltas as YOLACT's, and the soft
       classification target of every anchor (:func:`alignment_targets`).
    2. Classification: Quality Focal Loss (``loss_cls``, sigmoid) of every inside anchor
       against (class, soft target), divided by the sum of the soft targets over the batch
       (averaged over processes, at least 1), as TOOD.
    3. Boxes: ``loss_bbox`` (Smooth-L1 on deltas) over the positives, divided by their
       number, as YOLACT.

    Same constructor as ``YOLACTHead``; it requires ``use_ohem=False`` and a sigmoid
    ``loss_cls`` that takes (label, score) targets (``QualityFocalLoss``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.use_ohem or not self.use_sigmoid_cls:
            raise ValueError(
                "TaskAlignedYOLACTHead learns soft targets with a sigmoid loss and no OHEM: "
                "set use_ohem=False and loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True)"
            )
        if self.assigner_call is not None and not isinstance(self.assigner_call, TaskAlignedCall):
            raise ValueError(
                "TaskAlignedYOLACTHead needs a task-aligned assigner (TaskAlignedAssigner or "
                f"TaskAlignedmaIoUAssigner), got {type(self.assigner).__name__}"
            )

    def _extra_targets(self, assign_result, sampling_result, num_anchors):
        """The (num_anchors,) soft classification targets of one image."""
        return (
            alignment_targets(
                assign_result.assign_metrics,
                assign_result.max_overlaps,
                sampling_result.pos_inds,
                sampling_result.pos_assigned_gt_inds,
                assign_result.num_gts,
            ),
        )

    def loss(
        self,
        cls_scores,
        bbox_preds,
        gt_bboxes,
        gt_labels,
        img_metas,
        gt_bboxes_ignore=None,
        gt_masks=None,
    ):
        """Args and returns as :meth:`MaskAwareYOLACTHead.loss`; each term of the loss dict
        (``loss_cls``, ``loss_bbox``) is a one-element list, the form YOLACT's detector
        checks."""
        img_metas = self._with_assigner_inputs(cls_scores, bbox_preds, img_metas, gt_masks)
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, img_metas, device=cls_scores[0].device
        )
        targets = self.get_targets(
            anchor_list,
            valid_flag_list,
            gt_bboxes,
            img_metas,
            gt_bboxes_ignore_list=gt_bboxes_ignore,
            gt_labels_list=gt_labels,
            label_channels=self.cls_out_channels,
            unmap_outputs=True,
            return_sampling_results=True,
        )
        if targets is None:
            return None
        labels, label_weights, bbox_targets, bbox_weights = (
            torch.cat([level.reshape(-1, *level.shape[2:]) for level in per_level])
            for per_level in targets[:4]
        )
        num_total_pos, sampling_results, soft_targets = targets[4], targets[6], targets[7]
        soft_targets = torch.cat([level.reshape(-1) for level in soft_targets])
        logits, deltas = (
            torch.cat([out.permute(0, 2, 3, 1).reshape(-1, channels) for out in outputs])
            for outputs, channels in ((cls_scores, self.cls_out_channels), (bbox_preds, 4))
        )

        cls_normaliser = reduce_mean(soft_targets.sum().detach()).clamp(min=1).item()
        loss_cls = (
            self.loss_cls(logits, (labels, soft_targets), label_weights, avg_factor=1.0)
            / cls_normaliser
        )
        positive = (labels >= 0) & (labels < self.num_classes)
        loss_bbox = self.loss_bbox(
            deltas[positive],
            bbox_targets[positive],
            bbox_weights[positive],
            avg_factor=num_total_pos,
        )
        return dict(loss_cls=[loss_cls], loss_bbox=[loss_bbox]), sampling_results
