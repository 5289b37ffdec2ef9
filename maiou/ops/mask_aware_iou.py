"""Mask-aware IoU (maIoU) between ground-truth boxes with masks and anchor boxes.

For ground truth ``i`` (box ``B``, binary mask ``M`` at image resolution ``H x W``) and
anchor ``j`` (box ``A``), as the published implementation computes it::

    U     = max(|A| + |B| - |A ∩ B|, 1e-6)             continuous coordinates
    C     = #mask pixels inside round(A), clamped to the image
    MOB   = |M| / (|B| + 1e-6)                          mask-over-box ratio
    maIoU = (C / MOB) / U      if IoU(A, B) > 0, else 0

``round`` is ``torch.round`` (half to even), then ``x1, y1`` are clamped at 0 and
``x2`` at ``W``, ``y2`` at ``H``. The one deliberate difference: a ground truth with an
empty mask (MOB = 0, NaN in the published code) gets maIoU 0 against every anchor.

Implementation. The published code builds a ``(H+1) x (W+1)`` integral image per ground
truth over the whole image and loops over ground truths in Python. Here every ground truth
gets an integral image only over a window just covering its mask's extent (outside the
extent the mask is empty, so the counts stay exact), built a size-bucket at a time with
dense cumulative sums, and only the box pairs that intersect are looked up. No Python
loop over ground truths; extra memory proportional to the summed mask extents.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["mask_aware_iou", "mask_aware_iou_pairs", "as_mask_tensor"]

_EPS = 1e-6


def mask_aware_iou(gt_bboxes: Tensor, gt_masks, bboxes: Tensor) -> Tensor:
    """Mask-aware IoU of every (ground truth, anchor) pair.

    Args:
        gt_bboxes: (G, 4) ground-truth boxes, ``x1, y1, x2, y2`` in pixels (float).
        gt_masks: (G, H, W) binary masks at image resolution: a bool/uint8/float tensor or
            numpy array (non-zero = object), or mmdet ``BitmapMasks`` / ``PolygonMasks``.
        bboxes: (N, 4) anchor boxes, ``x1, y1, x2, y2`` in pixels (float).

    Returns:
        (G, N) float32 tensor on ``bboxes``' device. Finite everywhere; 0 where IoU is 0
        and for ground truths whose mask is empty.

    Raises:
        ValueError: wrong shapes, mismatched ground-truth counts, non-finite boxes.
    """
    gt_bboxes, masks, bboxes = _check_inputs(gt_bboxes, gt_masks, bboxes)
    num_gts, num_anchors = gt_bboxes.shape[0], bboxes.shape[0]

    maiou = bboxes.new_zeros((num_gts, num_anchors))
    if num_gts == 0 or num_anchors == 0:
        return maiou
    pair_gt, pair_anchor = _overlapping_pairs(gt_bboxes, bboxes)
    maiou[pair_gt, pair_anchor] = _pairwise_maiou(
        gt_bboxes, _ExtentIntegralImages(masks), bboxes, pair_gt, pair_anchor)
    return maiou


def mask_aware_iou_pairs(gt_bboxes: Tensor, gt_masks, bboxes: Tensor, gt_index: Tensor,
                         anchor_index: Tensor, return_mask_pixels: bool = False):
    """maIoU of selected pairs only: ``mask_aware_iou(...)[gt_index, anchor_index]``.

    For assigners that need maIoU at a few candidate pairs (ATSS: top-k per level), this
    skips the dense (G, N) work. Arguments as :func:`mask_aware_iou`, plus ``gt_index``
    and ``anchor_index``: (P,) int64 indices. Returns (P,) float32, and with
    ``return_mask_pixels`` also the (G,) int pixel count of every mask (free here, a
    full pass over the masks otherwise).
    """
    gt_bboxes, masks, bboxes = _check_inputs(gt_bboxes, gt_masks, bboxes)
    gt_index = torch.as_tensor(gt_index, dtype=torch.int64, device=bboxes.device)
    anchor_index = torch.as_tensor(anchor_index, dtype=torch.int64, device=bboxes.device)
    if gt_index.shape != anchor_index.shape or gt_index.dim() != 1:
        raise ValueError("gt_index and anchor_index must be (P,) tensors of the same length")
    integrals = _ExtentIntegralImages(masks)
    maiou = _pairwise_maiou(gt_bboxes, integrals, bboxes, gt_index, anchor_index)
    return (maiou, integrals.pixel_counts()) if return_mask_pixels else maiou


def _check_inputs(gt_bboxes, gt_masks, bboxes) -> tuple[Tensor, Tensor, Tensor]:
    gt_bboxes = _check_boxes(gt_bboxes, "gt_bboxes")
    bboxes = _check_boxes(bboxes, "bboxes")
    device = bboxes.device
    gt_bboxes = gt_bboxes.to(device=device, dtype=torch.float32)
    bboxes = bboxes.to(dtype=torch.float32)
    masks = as_mask_tensor(gt_masks, device=device)
    if masks.shape[0] != gt_bboxes.shape[0]:
        raise ValueError(
            f"gt_masks holds {masks.shape[0]} masks but gt_bboxes {gt_bboxes.shape[0]} boxes; "
            "pass one mask per ground-truth box")
    return gt_bboxes, masks, bboxes


def _pairwise_maiou(gt_bboxes: Tensor, integrals: "_ExtentIntegralImages", bboxes: Tensor,
                    pair_gt: Tensor, pair_anchor: Tensor) -> Tensor:
    """(P,) maIoU of the pairs (pair_gt[k], pair_anchor[k]); inputs already validated."""
    iou, union = _pairwise_iou_and_union(gt_bboxes[pair_gt], bboxes[pair_anchor])
    # MOB exactly as published: float32 pixel count over (box area + eps).
    gt_area = (gt_bboxes[:, 2] - gt_bboxes[:, 0]) * (gt_bboxes[:, 3] - gt_bboxes[:, 1])
    mob = integrals.pixel_counts().to(torch.float32) / (gt_area + _EPS)
    pair_mob = mob[pair_gt]
    height, width = integrals.image_shape
    # Clamping both corners to [0, W] / [0, H] gives the published clamp wherever the
    # rectangle is non-empty, and an empty rectangle (count 0) everywhere else.
    x1, y1, x2, y2 = torch.round(bboxes[pair_anchor]).unbind(1)
    x1, x2 = (v.clamp(0, width).to(torch.int64) for v in (x1, x2))
    y1, y2 = (v.clamp(0, height).to(torch.int64) for v in (y1, y2))
    count = integrals.rectangle_sums(pair_gt, x1, y1, x2, y2)
    # IoU > 0 gating as published; empty masks (MOB 0) give 0 rather than 0/0. Every pair
    # is computed and the gated ones discarded by `where`, not selected first: selecting
    # would cost a device-to-host sync (the number of kept pairs) on a GPU.
    gated = (iou > 0) & (pair_mob > 0)
    maiou = (count.to(torch.float32) / pair_mob) / union
    return torch.where(gated, maiou, torch.zeros_like(maiou))


def as_mask_tensor(gt_masks, device: torch.device | str | None = None) -> Tensor:
    """Convert masks given in any supported form to a (G, H, W) bool tensor on ``device``."""
    if hasattr(gt_masks, "masks") and hasattr(gt_masks, "to_ndarray") and isinstance(
            gt_masks.masks, np.ndarray):  # mmdet BitmapMasks: no rasterising
        gt_masks = gt_masks.masks
    elif hasattr(gt_masks, "to_ndarray"):  # mmdet PolygonMasks (rasterised at H x W)
        gt_masks = gt_masks.to_ndarray()
    if isinstance(gt_masks, np.ndarray):
        gt_masks = torch.from_numpy(gt_masks)
    if not isinstance(gt_masks, Tensor):
        raise TypeError(
            "gt_masks must be a (G, H, W) tensor or numpy array, or mmdet BitmapMasks/"
            f"PolygonMasks; got {type(gt_masks).__name__}")
    if gt_masks.dim() != 3:
        raise ValueError(f"gt_masks must have shape (G, H, W); got {tuple(gt_masks.shape)}")
    gt_masks = gt_masks.to(device) if device is not None else gt_masks
    if gt_masks.dtype != torch.bool:
        if gt_masks.is_floating_point() and not bool(torch.isfinite(gt_masks).all()):
            raise ValueError("gt_masks contains NaN or Inf")
        gt_masks = gt_masks != 0
    return gt_masks


def _check_boxes(boxes, name: str) -> Tensor:
    if isinstance(boxes, np.ndarray):
        boxes = torch.from_numpy(boxes)
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be an (N, 4) tensor; got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] < 4:
        raise ValueError(f"{name} must have shape (N, 4) in x1, y1, x2, y2; "
                         f"got {tuple(boxes.shape)}")
    boxes = boxes[:, :4]
    if boxes.is_floating_point() and boxes.numel() and not bool(torch.isfinite(boxes).all()):
        raise ValueError(f"{name} contains NaN or Inf coordinates")
    return boxes


def _overlapping_pairs(gt_bboxes: Tensor, bboxes: Tensor) -> tuple[Tensor, Tensor]:
    """Indices (P,), (P,) of the (gt, anchor) pairs whose boxes intersect with positive area.

    Boolean comparisons on the (G, N) grid are several times cheaper than a dense IoU; the
    exact IoU is then computed for the few intersecting pairs only.
    """
    gx1, gy1, gx2, gy2 = (v[:, None] for v in gt_bboxes.unbind(1))
    ax1, ay1, ax2, ay2 = (v[None, :] for v in bboxes.unbind(1))
    overlaps = (ax1 < gx2) & (ax2 > gx1) & (ay1 < gy2) & (ay2 > gy1)
    return torch.nonzero(overlaps, as_tuple=True)


def _pairwise_iou_and_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """IoU and union (floored at 1e-6) of (P, 4) box pairs, with mmdet's float32 formula."""
    lt = torch.maximum(boxes1[:, :2], boxes2[:, :2])
    rb = torch.minimum(boxes1[:, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = (area1 + area2 - inter).clamp(min=_EPS)
    return inter / union, union


class _ExtentIntegralImages:
    """Integral images of G masks, each over a window just covering its mask's extent.

    The extent of a mask is the tight box of its pixels (rows ``[r0, r0 + h)``, columns
    ``[c0, c0 + w)``); outside it the mask is empty, so counts taken in any window that
    covers the extent are exact. Ground truths are grouped into buckets by the binary
    order of magnitude of ``h`` and ``w``; a bucket's masks share one window size (its
    largest extent, so each window is under 2x the extent per side) and their integral
    images are built with two dense cumulative sums. All buckets live in one flat int32
    buffer; ground truth ``g`` owns ``(hb + 1) * (wb + 1)`` entries from ``offset[g]``,
    row-major, ``I[i, j]`` = mask pixels with window row < i and window column < j.
    The Python loop runs over buckets (a handful), never over ground truths.
    """

    def __init__(self, masks: Tensor):
        num_gts, height, width = masks.shape
        self.image_shape = (height, width)
        device = masks.device
        # uint8 max-reductions run several times faster than bool any() on CPU.
        as_bytes = masks.view(torch.uint8)
        row_any, col_any = as_bytes.amax(dim=2) > 0, as_bytes.amax(dim=1) > 0
        rows = torch.arange(height, device=device)
        cols = torch.arange(width, device=device)
        r0 = torch.where(row_any, rows, height).amin(dim=1)
        c0 = torch.where(col_any, cols, width).amin(dim=1)
        h = (torch.where(row_any, rows + 1, 0).amax(dim=1) - r0).clamp_(min=0)
        w = (torch.where(col_any, cols + 1, 0).amax(dim=1) - c0).clamp_(min=0)

        def magnitude(size):
            return torch.ceil(torch.log2(size.clamp(min=1).to(torch.float32))).to(torch.int64)

        buckets, bucket_of = torch.unique(magnitude(h) * 64 + magnitude(w), return_inverse=True)
        num_buckets = len(buckets)
        window_h = torch.zeros(num_buckets, dtype=torch.int64, device=device)
        window_w = torch.zeros_like(window_h)
        window_h.scatter_reduce_(0, bucket_of, h, reduce="amax")
        window_w.scatter_reduce_(0, bucket_of, w, reduce="amax")
        bucket_count = torch.bincount(bucket_of, minlength=num_buckets)
        window_size = (window_h + 1) * (window_w + 1)
        bucket_sizes = window_size * bucket_count
        bucket_start = torch.cumsum(bucket_sizes, 0) - bucket_sizes

        # Per ground truth: window shape, origin (shifted inwards so it stays in the image)
        # and place in the table; ground truths sorted by bucket make each bucket a slice.
        self.hb, self.wb = window_h[bucket_of], window_w[bucket_of]
        self.oy = torch.minimum(r0, height - self.hb)
        self.ox = torch.minimum(c0, width - self.wb)
        order = torch.argsort(bucket_of, stable=True)
        first_of_bucket = torch.cumsum(bucket_count, 0) - bucket_count
        rank = torch.arange(num_gts, device=device) - first_of_bucket[bucket_of[order]]
        self.offset = torch.empty(num_gts, dtype=torch.int64, device=device)
        self.offset[order] = bucket_start[bucket_of[order]] + rank * window_size[bucket_of[order]]

        mask_rows = masks.view(num_gts * height, width)
        first_rows = order * height + self.oy[order]
        first_cols = self.ox[order]
        # One device-to-host copy for all bucket shapes (each copy is a sync on a GPU).
        per_bucket = torch.stack([window_h, window_w, bucket_start, first_of_bucket,
                                  bucket_count], 1).tolist()
        table_size = sum((hb + 1) * (wb + 1) * count for hb, wb, _, _, count in per_bucket)
        self.table = torch.zeros(table_size, dtype=torch.int32, device=device)
        for hb, wb, start, first, count in per_bucket:
            if hb == 0 or wb == 0:
                continue  # empty masks: their single table entry stays 0
            block = self.table[start:start + count * (hb + 1) * (wb + 1)].view(
                count, hb + 1, wb + 1)
            row_index = first_rows[first:first + count, None] + torch.arange(hb, device=device)
            window_rows = mask_rows.index_select(0, row_index.reshape(-1))  # (count * hb, W)
            col_index = first_cols[first:first + count, None] + torch.arange(wb, device=device)
            block[:, 1:, 1:] = torch.gather(
                window_rows, 1, col_index.repeat_interleave(hb, 0)).view(count, hb, wb)
            block.cumsum_(1).cumsum_(2)

    def pixel_counts(self) -> Tensor:
        """(G,) number of pixels of each mask."""
        return self.table.index_select(0, self.offset + (self.hb + 1) * (self.wb + 1) - 1)

    def rectangle_sums(self, gt: Tensor, x1: Tensor, y1: Tensor, x2: Tensor, y2: Tensor) -> Tensor:
        """Mask pixels of ground truth ``gt[k]`` in rows [y1, y2) x columns [x1, x2).

        All arguments are (P,) int64 image coordinates already clamped to the image, with
        ``x1 <= x2`` and ``y1 <= y2`` (pairs with positive box intersection guarantee it).
        """
        oy, ox, hb, wb = (v.index_select(0, gt) for v in (self.oy, self.ox, self.hb, self.wb))
        x1, x2 = (torch.minimum((x - ox).clamp_(min=0), wb) for x in (x1, x2))
        y1, y2 = (torch.minimum((y - oy).clamp_(min=0), hb) for y in (y1, y2))
        base, stride = self.offset.index_select(0, gt), wb + 1

        def at(x, y):
            return self.table.index_select(0, base + y * stride + x)

        return at(x2, y2) - at(x2, y1) - at(x1, y2) + at(x1, y1)
