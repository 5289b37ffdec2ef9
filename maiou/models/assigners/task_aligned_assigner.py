"""The task-aligned assigner (TOOD, YOLOv8-seg) with box IoU or with mask-aware IoU.

A dynamic assigner: it ranks anchors by how well the network already does on each ground
truth, the alignment ``t = s ** alpha * u ** beta``, where ``s`` is the predicted probability
of the ground truth's class and ``u`` the overlap between the *predicted* box and the
ground-truth box. TOOD and YOLOv8 use the box IoU for ``u`` (mmdet's ``TaskAlignedAssigner``,
the IoU baseline's assigner); this one uses maIoU(predicted box, ground-truth box,
ground-truth mask) instead (maiou/ops/mask_aware_iou.py), so that a predicted box covering
much of the object's pixels ranks above one of the same IoU covering background.

Only ``u`` changes. The candidates stay restricted to anchors whose centre lies inside the
ground-truth *box*, as in TOOD: the comparison then isolates the overlap measure (the
paper's question), and maIoU already scores boxes over little of the mask low, which is what
a mask-centre rule would add.
"""

from __future__ import annotations

import torch
from mmdet.core.bbox.assigners.assign_result import AssignResult
from mmdet.core.bbox.assigners.base_assigner import BaseAssigner
from mmdet.core.bbox.assigners.task_aligned_assigner import INF
from mmdet.core.bbox.builder import BBOX_ASSIGNERS

from .predicted_box_maiou import predicted_box_maiou

__all__ = ["TaskAlignedmaIoUAssigner"]


@BBOX_ASSIGNERS.register_module()
class TaskAlignedmaIoUAssigner(BaseAssigner):
    """Assign each anchor a ground truth (1-based index) or background (0), task-aligned.

    mmdet 2.28's ``TaskAlignedAssigner`` vectorised over ground truths, with maIoU for ``u``
    (:meth:`overlaps`, the one place the overlap is computed: with the box IoU there the
    assignment is mmdet's, tested). Steps, as there:

    1. ``u`` (N, G): the maIoU of every predicted box with every ground truth (box and
       mask), and ``s`` (N, G): the predicted probability of each ground truth's class; the
       alignment ``t = s ** alpha * u ** beta``.
    2. Candidates: the top-k anchors by ``t`` per ground truth (over all pyramid levels).
    3. Positives: candidates with ``t > 0`` whose anchor centre lies inside the ground-truth
       box (more than 0.01 px from every side).
    4. An anchor positive for several ground truths goes to the one it overlaps most (``u``).

    ``alpha`` and ``beta`` are arguments of :meth:`assign`, as in mmdet's: the head passes
    its ``train_cfg``'s to whichever task-aligned assigner it drives, so the IoU and the
    maIoU run of a pair rank with the same exponents.

    Args:
        topk (int): candidates per ground truth (13 in TOOD and YOLOv8).
    """

    #: Heads pass the padded-resolution ground-truth masks to assigners that set this.
    requires_gt_masks = True

    def __init__(self, topk=13):
        if topk < 1:
            raise ValueError(f"TaskAlignedmaIoUAssigner: topk must be >= 1, got {topk}")
        self.topk = topk

    def assign(
        self,
        pred_scores,
        decode_bboxes,
        anchors,
        gt_bboxes,
        gt_bboxes_ignore=None,
        gt_labels=None,
        alpha=1,
        beta=6,
        gt_masks=None,
    ):
        """Args:
            pred_scores (Tensor): (N, C) predicted class probabilities of the anchors.
            decode_bboxes (Tensor): (N, 4) predicted boxes, x1y1x2y2 pixels.
            anchors (Tensor): (N, 4) anchors, x1y1x2y2 pixels.
            gt_bboxes (Tensor): (G, 4) ground-truth boxes.
            gt_bboxes_ignore: unused (as in TOOD).
            gt_labels (Tensor): (G,) class indices; required (they pick ``s``).
            alpha (float): exponent of the class score in ``t`` (1 in TOOD and YOLOv8).
            beta (float): exponent of the overlap in ``t`` (6 in TOOD and YOLOv8).
            gt_masks: (G, H, W) ground-truth masks at the padded input resolution; required.

        Returns:
            AssignResult: ``gt_inds`` (N,), ``max_overlaps`` (N,) (``u`` with the assigned
            ground truth, -1e8 elsewhere), ``labels`` (N,) (-1 for background), and
            ``assign_metrics`` (N,) (``t`` with the assigned ground truth, 0 elsewhere).
        """
        if gt_labels is None:
            raise ValueError("TaskAlignedmaIoUAssigner needs gt_labels (they pick the scores)")
        anchors = anchors[:, :4]
        num_gt, num_bboxes = gt_bboxes.size(0), anchors.size(0)
        assigned_gt_inds = anchors.new_zeros((num_bboxes,), dtype=torch.long)
        if num_gt == 0 or num_bboxes == 0:
            result = AssignResult(
                num_gt,
                assigned_gt_inds,
                anchors.new_zeros((num_bboxes,)),
                labels=assigned_gt_inds.new_full((num_bboxes,), -1),
            )
            result.assign_metrics = anchors.new_zeros((num_bboxes,))
            return result

        # 1. Overlaps, scores and the alignment, all (N, G).
        overlaps = self.overlaps(decode_bboxes, gt_bboxes, gt_masks).detach()
        bbox_scores = pred_scores[:, gt_labels].detach()
        alignment = bbox_scores**alpha * overlaps**beta

        # 2. The top-k anchors by alignment, per ground truth: (k, G).
        topk = min(self.topk, num_bboxes)
        candidate_metrics, candidate_idxs = alignment.topk(topk, dim=0, largest=True)

        # 3. Positives: aligned at all, anchor centre inside the box.
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2.0  # (N, 2)
        candidate_centres = centres[candidate_idxs]  # (k, G, 2)
        distances = torch.cat(
            [candidate_centres - gt_bboxes[:, :2], gt_bboxes[:, 2:] - candidate_centres], dim=2
        )
        is_pos = (candidate_metrics > 0) & (distances.min(dim=2).values > 0.01)

        # 4. Each anchor to the positive ground truth it overlaps most.
        gt_index = torch.arange(num_gt, device=anchors.device).expand_as(candidate_idxs)
        candidate_overlaps = torch.where(is_pos, overlaps[candidate_idxs, gt_index], -INF)
        positive_overlaps = torch.full_like(overlaps, -INF).scatter(
            0, candidate_idxs, candidate_overlaps
        )  # top-k indices are distinct per ground truth: no two writes collide
        max_overlaps, argmax_overlaps = positive_overlaps.max(dim=1)
        assigned = max_overlaps != -INF
        assigned_gt_inds = torch.where(assigned, argmax_overlaps + 1, 0)
        assign_metrics = torch.where(
            assigned, alignment.gather(1, argmax_overlaps[:, None]).squeeze(1), 0.0
        )
        assigned_labels = torch.where(assigned, gt_labels[argmax_overlaps], -1)
        result = AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)
        result.assign_metrics = assign_metrics
        return result

    def overlaps(self, decode_bboxes, gt_bboxes, gt_masks):
        """(N, G) maIoU of every predicted box with every ground truth (box and mask)."""
        return predicted_box_maiou(decode_bboxes, gt_bboxes, gt_masks, type(self).__name__)
