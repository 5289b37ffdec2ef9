"""SimOTA (YOLOX) with mask-aware IoU: a cost-based dynamic assigner.

SimOTA treats assignment as a transport problem solved greedily: every ground truth takes
the ``k`` predictions that are cheapest to match to it, where the cost mixes how wrong the
class score is, how poorly the *predicted* box overlaps the ground truth, and whether the
anchor lies near the object; ``k`` itself grows with how well the predictions already
overlap the ground truth. The overlap enters twice: in the cost (``-log u``) and in ``k``.
YOLOX and mmdet's ``SimOTAAssigner`` (the IoU baseline's assigner) use the box IoU for
``u``; this one uses maIoU(predicted box, ground-truth box, ground-truth mask) in both
places, so that predictions covering the object's pixels are cheaper and a ground truth
whose best predictions cover its mask gets more positives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.core.bbox.assigners.assign_result import AssignResult
from mmdet.core.bbox.assigners.base_assigner import BaseAssigner
from mmdet.core.bbox.builder import BBOX_ASSIGNERS

from .predicted_box_maiou import predicted_box_maiou

__all__ = ["SimOTAmaIoUAssigner"]

# mmdet's SimOTAAssigner's INF: the cost of a pair outside the box-and-centre prior, and
# (negated) the max_overlaps of a prior that is not assigned.
_OUTSIDE_COST = 100000.0


@BBOX_ASSIGNERS.register_module()
class SimOTAmaIoUAssigner(BaseAssigner):
    """Assign each prior a ground truth (1-based index) or background (0) by SimOTA.

    mmdet 2.28's ``SimOTAAssigner`` with maIoU for ``u`` (:meth:`overlaps`, the one place
    the overlap is computed: with the box IoU there the assignment is mmdet's, tested),
    written over all N priors at once (no boolean selection, no loop over ground truths).
    Steps, as there:

    1. The centre prior: a prior whose centre lies inside some ground-truth box, or within
       ``center_radius`` strides of some ground-truth centre, is *valid*; a (prior, ground
       truth) pair is *central* if the centre lies in both that box and that radius.
    2. ``u`` (N, G): the maIoU of every predicted box with every ground truth.
    3. The cost (N, G): ``cls_weight * BCE(sqrt(s), one-hot(class)) summed over classes
       + iou_weight * -log(u + eps) + 1e5 * (not central)``, ``s`` the predicted class
       probabilities; invalid priors are never chosen.
    4. Dynamic k: per ground truth, the integer part of the sum of its ``candidate_topk``
       largest ``u`` over valid priors, at least 1.
    5. Each ground truth takes its ``k`` cheapest priors.
    6. A prior taken by several ground truths goes to the cheapest of all ground truths.

    One difference, where no prior is valid at all: mmdet returns ``max_overlaps`` 0 there,
    this -1e5 (finding out would be a host sync on a GPU); the assignment is the same.

    Args:
        center_radius (float): radius of the centre prior, in strides (2.5).
        candidate_topk (int): overlaps summed for the dynamic k (10).
        iou_weight (float): weight of the overlap cost (3).
        cls_weight (float): weight of the classification cost (1).
    """

    #: Heads pass the padded-resolution ground-truth masks to assigners that set this.
    requires_gt_masks = True

    def __init__(self, center_radius=2.5, candidate_topk=10, iou_weight=3.0, cls_weight=1.0):
        if candidate_topk < 1:
            raise ValueError(
                f"SimOTAmaIoUAssigner: candidate_topk must be >= 1, got {candidate_topk}"
            )
        self.center_radius = center_radius
        self.candidate_topk = candidate_topk
        self.iou_weight = iou_weight
        self.cls_weight = cls_weight

    def assign(
        self,
        pred_scores,
        priors,
        decoded_bboxes,
        gt_bboxes,
        gt_labels,
        gt_bboxes_ignore=None,
        eps=1e-7,
        gt_masks=None,
    ):
        """Args:
            pred_scores (Tensor): (N, C) predicted class probabilities.
            priors (Tensor): (N, 4) prior centre x, y and its level's stride x, y (pixels).
            decoded_bboxes (Tensor): (N, 4) predicted boxes, x1y1x2y2 pixels.
            gt_bboxes (Tensor): (G, 4) ground-truth boxes.
            gt_labels (Tensor): (G,) class indices.
            gt_bboxes_ignore: unused (as in mmdet).
            eps (float): added to ``u`` inside the log.
            gt_masks: (G, H, W) ground-truth masks at the padded input resolution; required.

        Returns:
            AssignResult: ``gt_inds`` (N,), ``max_overlaps`` (N,) (``u`` with the assigned
            ground truth, -1e5 elsewhere) and ``labels`` (N,) (-1 for background).
        """
        num_gt, num_priors = gt_bboxes.size(0), priors.size(0)
        assigned_gt_inds = priors.new_zeros((num_priors,), dtype=torch.long)
        if num_gt == 0 or num_priors == 0:
            return self._empty(num_gt, assigned_gt_inds)

        # 1. The centre prior.
        valid, central = self._centre_prior(priors, gt_bboxes)
        # 2. Overlaps of the predicted boxes, zero for invalid priors (they never count).
        overlaps = self.overlaps(decoded_bboxes, gt_bboxes, gt_masks).detach()
        overlaps = torch.where(valid[:, None], overlaps, 0.0)
        # 3. The cost; invalid priors cost more than any valid one.
        one_hot = F.one_hot(gt_labels.long(), pred_scores.size(-1)).to(torch.float32)
        scores = pred_scores.detach().to(torch.float32).sqrt()[:, None, :]
        cls_cost = F.binary_cross_entropy(
            scores.expand(-1, num_gt, -1),
            one_hot[None].expand(num_priors, -1, -1),
            reduction="none",
        ).sum(-1)
        cost = (
            cls_cost.to(pred_scores.dtype) * self.cls_weight
            - torch.log(overlaps + eps) * self.iou_weight
            + (~central) * _OUTSIDE_COST
        )
        cost = torch.where(valid[:, None], cost, float("inf"))
        # 4. Dynamic k per ground truth (zeros of invalid priors add nothing to the sum; k is
        # at most the number of valid priors, so invalid ones are never among the k cheapest).
        top_overlaps = overlaps.topk(min(self.candidate_topk, num_priors), dim=0).values
        dynamic_k = top_overlaps.sum(0).int().clamp(min=1)  # (G,)
        # 5. The k cheapest priors of each ground truth: a prior's rank in its column.
        order = cost.argsort(dim=0)
        rank = torch.empty_like(order).scatter_(
            0, order, torch.arange(num_priors, device=cost.device)[:, None].expand_as(order)
        )
        matching = (rank < dynamic_k[None, :]) & valid[:, None]  # (N, G)
        # 6. Priors taken several times: only the cheapest ground truth of all.
        cheapest = F.one_hot(cost.argmin(dim=1), num_gt).bool()
        matching = torch.where(matching.sum(1, keepdim=True) > 1, cheapest, matching)

        positive = matching.any(dim=1)
        matched = matching.to(torch.uint8).argmax(dim=1)
        assigned_gt_inds = torch.where(positive, matched + 1, 0)
        max_overlaps = torch.where(
            positive, overlaps.gather(1, matched[:, None]).squeeze(1), -_OUTSIDE_COST
        ).to(torch.float32)
        labels = torch.where(positive, gt_labels[matched], -1).long()
        return AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=labels)

    def overlaps(self, decoded_bboxes, gt_bboxes, gt_masks):
        """(N, G) maIoU of every predicted box with every ground truth (box and mask)."""
        return predicted_box_maiou(decoded_bboxes, gt_bboxes, gt_masks, type(self).__name__)

    def _centre_prior(self, priors, gt_bboxes):
        """(N,) valid priors and (N, G) central pairs (step 1); strict inequalities, as mmdet."""
        centres, strides = priors[:, None, :2], priors[:, None, 2:]  # (N, 1, 2)
        in_box = torch.cat([centres - gt_bboxes[:, :2], gt_bboxes[:, 2:] - centres], dim=2)
        gt_centres = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / 2.0  # (G, 2)
        radius = self.center_radius * strides
        in_radius = torch.cat(
            [centres - (gt_centres - radius), (gt_centres + radius) - centres], dim=2
        )
        in_box, in_radius = in_box.min(dim=2).values > 0, in_radius.min(dim=2).values > 0
        return in_box.any(dim=1) | in_radius.any(dim=1), in_box & in_radius

    @staticmethod
    def _empty(num_gt, assigned_gt_inds):
        return AssignResult(
            num_gt,
            assigned_gt_inds,
            assigned_gt_inds.new_zeros(assigned_gt_inds.shape, dtype=torch.float32),
            labels=torch.full_like(assigned_gt_inds, -1),
        )
