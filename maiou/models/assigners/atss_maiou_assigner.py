"""ATSS with mask-aware IoU: mmdet's ATSS assignment with maIoU in place of IoU everywhere."""

import torch
from mmdet.core.bbox.assigners.assign_result import AssignResult
from mmdet.core.bbox.assigners.base_assigner import BaseAssigner
from mmdet.core.bbox.assigners.task_aligned_assigner import INF  # mmdet ATSS's value too
from mmdet.core.bbox.builder import BBOX_ASSIGNERS
from mmdet.core.bbox.iou_calculators import bbox_overlaps

from ...ops.mask_aware_iou import DENSE_BUDGET_MIB, IMPLS, as_mask_tensor, mask_aware_iou_pairs


@BBOX_ASSIGNERS.register_module()
class ATSSmaIoUAssigner(BaseAssigner):
    """Adaptive Training Sample Selection (ATSS) driven by mask-aware IoU.

    For each ground truth: the ``topk`` anchors per pyramid level whose centres are closest
    to its box centre are candidates; candidates whose maIoU is at least mean + std of the
    candidates' maIoU, and whose centre lies inside the box (every side > 0.01 px away),
    become positives; an anchor positive for several ground truths goes to the one with
    the highest maIoU. This is mmdet 2.28.2's ``ATSSAssigner`` step for step with maIoU in
    place of IoU (candidate statistics, threshold, tie-break). maIoU is only computed at
    the candidate pairs, the only places the algorithm reads it, and in one method,
    :meth:`overlaps`: with the box IoU there the assignment is mmdet's (tested).

    Ground truths with an empty mask or a degenerate box get no positives.

    The whole assignment is a fixed sequence of tensor operations with no host sync on a GPU
    (selections are written as ``where`` / scatters, not boolean indexing; input checks are
    device-side asserts there): with the dense maIoU path it dispatches about a hundred
    operations per image whatever the number of ground truths, as many as mmdet's ATSS
    with 15 (``experiments/benchmarks/count_assigner_ops.py``).

    Args:
        topk (int): candidates per level for each ground truth (9 in the paper).
        ignore_iof_thr (float): anchors whose IoF with an ignored box exceeds this are
            ignored (-1 disables, as in the paper's configs).
        maiou_impl (str): how maIoU is computed (``maiou.ops.mask_aware_iou``):
            ``"auto"`` (dense integral images on a GPU, extent buckets on the CPU),
            ``"dense"`` or ``"extent"``. All give the same assignment.
        maiou_dense_budget_mib (float): memory budget of the dense integral images, in
            MiB; above it the dense path falls back to extent buckets, with a warning.
        device_asserts (bool, optional): check the inputs with device-side asserts (no host
            read); None, the default: on GPUs only. The op-counting benchmark sets True to
            dispatch on a CPU what a GPU dispatches.
    """

    #: Heads pass the padded-resolution ground-truth masks to assigners that set this.
    requires_gt_masks = True

    def __init__(
        self,
        topk=9,
        ignore_iof_thr=-1,
        maiou_impl="auto",
        maiou_dense_budget_mib=DENSE_BUDGET_MIB,
        device_asserts=None,
    ):
        if maiou_impl not in IMPLS:
            raise ValueError(
                f"ATSSmaIoUAssigner: maiou_impl must be one of "
                f"{', '.join(map(repr, IMPLS))}; got {maiou_impl!r}"
            )
        self.topk = topk
        self.ignore_iof_thr = ignore_iof_thr
        self.maiou_impl = maiou_impl
        self.maiou_dense_budget_mib = maiou_dense_budget_mib
        self.device_asserts = device_asserts

    def assign(
        self,
        bboxes,
        num_level_bboxes,
        gt_bboxes,
        gt_bboxes_ignore=None,
        gt_labels=None,
        gt_masks=None,
    ):
        """Assign a ground truth (1-based index) or background (0) to every anchor.

        Args:
            bboxes (Tensor): (N, 4) anchors, x1y1x2y2 pixels, all levels concatenated.
            num_level_bboxes (list[int]): anchors per level, summing to N.
            gt_bboxes (Tensor): (G, 4) ground-truth boxes.
            gt_bboxes_ignore (Tensor, optional): (I, 4) ignored boxes (crowd).
            gt_labels (Tensor, optional): (G,) labels.
            gt_masks: (G, H, W) ground-truth masks at the padded input resolution (tensor
                or mmdet BitmapMasks/PolygonMasks). Required.

        Returns:
            AssignResult: ``gt_inds`` (N,), ``max_overlaps`` (N,) — the maIoU with the
            assigned ground truth for positives, -1e8 for the rest (as mmdet's ATSS) —
            and ``labels`` (N,) (-1 for background) when ``gt_labels`` is given.
        """
        if gt_masks is None:
            raise ValueError(
                "ATSSmaIoUAssigner needs gt_masks (the ground-truth masks at the padded input "
                "resolution); use a head that passes them, e.g. MaskAwareYOLACTHead"
            )
        bboxes = bboxes[:, :4]
        num_gt, num_bboxes = gt_bboxes.size(0), bboxes.size(0)
        if sum(num_level_bboxes) != num_bboxes:
            raise ValueError(
                f"num_level_bboxes sums to {sum(num_level_bboxes)} but there are "
                f"{num_bboxes} anchors"
            )
        assigned_gt_inds = bboxes.new_zeros((num_bboxes,), dtype=torch.long)
        if num_gt == 0 or num_bboxes == 0:
            assigned_labels = (
                None if gt_labels is None else assigned_gt_inds.new_full((num_bboxes,), -1)
            )
            return AssignResult(
                num_gt, assigned_gt_inds, bboxes.new_zeros((num_bboxes,)), labels=assigned_labels
            )
        masks = as_mask_tensor(gt_masks, device=bboxes.device, device_asserts=self.device_asserts)

        gt_cx = (gt_bboxes[:, 0] + gt_bboxes[:, 2]) / 2.0
        gt_cy = (gt_bboxes[:, 1] + gt_bboxes[:, 3]) / 2.0
        bboxes_cx = (bboxes[:, 0] + bboxes[:, 2]) / 2.0
        bboxes_cy = (bboxes[:, 1] + bboxes[:, 3]) / 2.0
        distances = (
            (bboxes_cx[:, None] - gt_cx[None, :]).pow(2)
            + (bboxes_cy[:, None] - gt_cy[None, :]).pow(2)
        ).sqrt()

        if (
            self.ignore_iof_thr > 0
            and gt_bboxes_ignore is not None
            and gt_bboxes_ignore.numel() > 0
        ):
            ignore_overlaps = bbox_overlaps(bboxes, gt_bboxes_ignore, mode="iof")
            ignore_idxs = ignore_overlaps.max(dim=1).values > self.ignore_iof_thr
            distances = torch.where(ignore_idxs[:, None], INF, distances)
            assigned_gt_inds = torch.where(ignore_idxs, -1, assigned_gt_inds)

        # Candidates: the top-k closest anchor centres per level (fewer if a level is small).
        candidate_idxs = []
        start_idx = 0
        for bboxes_per_level in num_level_bboxes:
            end_idx = start_idx + bboxes_per_level
            selectable_k = min(self.topk, bboxes_per_level)
            _, topk_idxs = distances[start_idx:end_idx].topk(selectable_k, dim=0, largest=False)
            candidate_idxs.append(topk_idxs + start_idx)
            start_idx = end_idx
        candidate_idxs = torch.cat(candidate_idxs, dim=0)  # (C, G)

        gt_index = torch.arange(num_gt, device=bboxes.device)  # broadcasts against (C, G)
        candidate_overlaps, assignable = self.overlaps(
            bboxes, gt_bboxes, masks, candidate_idxs, gt_index
        )
        threshold = candidate_overlaps.mean(0) + candidate_overlaps.std(0)
        is_pos = candidate_overlaps >= threshold[None, :]

        # Positives must have their centre inside the ground-truth box.
        cand_cx, cand_cy = bboxes_cx[candidate_idxs], bboxes_cy[candidate_idxs]
        sides = torch.stack(
            [
                cand_cx - gt_bboxes[:, 0],
                cand_cy - gt_bboxes[:, 1],
                gt_bboxes[:, 2] - cand_cx,
                gt_bboxes[:, 3] - cand_cy,
            ],
            dim=1,
        )
        is_pos &= sides.min(dim=1).values > 0.01
        # A ground truth whose mask is empty has maIoU 0 everywhere: threshold 0 would make
        # every candidate positive, so such ground truths get none.
        is_pos &= assignable[None, :]

        # An anchor positive for several ground truths goes to the highest maIoU. Every
        # candidate pair is written (non-positives as -INF, which is the fill): the pairs are
        # distinct (top-k indices within a level, disjoint levels), so this equals writing
        # the positives only, without the host sync of a boolean selection.
        overlaps_inf = torch.full(
            (num_bboxes, num_gt), -INF, dtype=candidate_overlaps.dtype, device=bboxes.device
        )
        overlaps_inf[candidate_idxs, gt_index] = torch.where(is_pos, candidate_overlaps, -INF)
        max_overlaps, argmax_overlaps = overlaps_inf.max(dim=1)
        positive = max_overlaps != -INF
        assigned_gt_inds = torch.where(positive, argmax_overlaps + 1, assigned_gt_inds)

        assigned_labels = None
        if gt_labels is not None:
            assigned_labels = torch.where(positive, gt_labels[argmax_overlaps], -1).long()
        return AssignResult(num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)

    def overlaps(self, bboxes, gt_bboxes, gt_masks, anchor_index, gt_index):
        """The maIoU of the (anchor, ground truth) pairs the algorithm reads, and which
        ground truths can have positives at all.

        Args:
            bboxes (Tensor): (N, 4) anchors, x1y1x2y2 pixels.
            gt_bboxes (Tensor): (G, 4) ground-truth boxes.
            gt_masks (Tensor): (G, H, W) bool ground-truth masks, padded input resolution.
            anchor_index, gt_index (Tensor): int64 indices of the pairs' anchors and ground
                truths, of broadcastable shapes: here (C, G) candidates (column ``g``: ground
                truth ``g``'s) and (G,) ``arange(G)``.

        Returns:
            tuple[Tensor, Tensor]: the pairs' maIoU in ``gt_bboxes``' dtype, of the
            indices' broadcast shape; (G,) bool, the ground truths whose mask is not empty
            (an empty mask has maIoU 0 with every anchor).
        """
        overlaps, mask_pixels = mask_aware_iou_pairs(
            gt_bboxes,
            gt_masks,
            bboxes,
            gt_index,
            anchor_index,
            return_mask_pixels=True,
            impl=self.maiou_impl,
            dense_budget_mib=self.maiou_dense_budget_mib,
            device_asserts=self.device_asserts,
        )
        return overlaps.to(gt_bboxes.dtype), mask_pixels > 0
