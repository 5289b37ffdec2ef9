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

Two implementations, bit-identical, chosen with ``impl=``:

* ``"extent"``: every ground truth gets an integral image only over a window just covering
  its mask's extent (outside it the mask is empty, so the counts stay exact), built a
  size-bucket at a time; only the box pairs that intersect are looked up. Least work and
  memory, the fastest on a CPU; but the bucket shapes and the intersecting pairs are read
  back by the host (about five device-to-host syncs per call on a GPU).
* ``"dense"``: one integral image over the whole image per ground truth, all built at once
  by two cumulative sums over a (G, H+1, W+1) int32 tensor, and every requested pair
  looked up; a fixed, small number of operations and no host sync, which is what a GPU
  needs (each operation is a kernel launch, each sync drains the queue). It is used while
  the table fits ``dense_budget_mib`` (:data:`DENSE_BUDGET_MIB` by default); above that
  the call falls back to ``"extent"`` with a warning (Python shows it once per place).
* ``"auto"`` (default): ``"dense"`` for tensors on a GPU, ``"extent"`` on the CPU.

Input checks (finite boxes and float masks) raise a ``ValueError`` on the CPU. On other
devices reading the verdict back would be a sync, so there they are device-side asserts
(``torch._assert_async``): the run stops with a device-side assertion instead.
``device_asserts=True`` makes CPU calls check the same way, so that the CPU can run (and
count) exactly the operations a GPU call dispatches.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "mask_aware_iou",
    "mask_aware_iou_pairs",
    "as_mask_tensor",
    "resolve_impl",
    "DENSE_BUDGET_MIB",
    "IMPLS",
]

_EPS = 1e-6

#: Accepted values of ``impl``.
IMPLS = ("auto", "dense", "extent")

#: Default memory budget of the dense path's integral-image table, in MiB: int32
#: G x (H+1) x (W+1), i.e. up to 221 ground truths at 550 px, 136 at 700 px. While it is
#: built, the padded bool masks (a quarter of it) and a temporary of the in-place
#: cumulative sum (up to its size) may exist too.
DENSE_BUDGET_MIB = 256.0


def resolve_impl(
    impl: str,
    num_gts: int,
    height: int,
    width: int,
    device,
    dense_budget_mib: float = DENSE_BUDGET_MIB,
) -> str:
    """The implementation (``"dense"`` or ``"extent"``) that a call will run.

    ``"auto"`` means dense on a GPU (any non-CPU device) and extent on the CPU. Dense
    falls back to extent, with a warning, when its int32 (G, H+1, W+1) table would exceed
    ``dense_budget_mib``. Decided from shapes only (no host sync).
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}; got {impl!r}")
    if impl == "auto":
        impl = "extent" if torch.device(device).type == "cpu" else "dense"
    if impl == "dense":
        table_mib = num_gts * (height + 1) * (width + 1) * 4 / 2**20
        if table_mib > dense_budget_mib:
            warnings.warn(
                f"mask-aware IoU: the dense integral images ({num_gts} ground truths at "
                f"{height}x{width} px, {table_mib:.0f} MiB) exceed the budget of "
                f"{dense_budget_mib:.0f} MiB; using extent buckets for such images",
                RuntimeWarning,
                stacklevel=3,
            )
            impl = "extent"
    return impl


def mask_aware_iou(
    gt_bboxes: Tensor,
    gt_masks,
    bboxes: Tensor,
    impl: str = "auto",
    dense_budget_mib: float = DENSE_BUDGET_MIB,
    device_asserts: bool | None = None,
) -> Tensor:
    """Mask-aware IoU of every (ground truth, anchor) pair.

    Args:
        gt_bboxes: (G, 4) ground-truth boxes, ``x1, y1, x2, y2`` in pixels (float).
        gt_masks: (G, H, W) binary masks at image resolution: a bool/uint8/float tensor or
            numpy array (non-zero = object), or mmdet ``BitmapMasks`` / ``PolygonMasks``.
        bboxes: (N, 4) anchor boxes, ``x1, y1, x2, y2`` in pixels (float).
        impl: ``"auto"``, ``"dense"`` or ``"extent"`` (see the module docstring); all give
            the same numbers.
        dense_budget_mib: memory budget of the dense path's table, in MiB.
        device_asserts: check the inputs with device-side asserts (no host read); None:
            on every device but the CPU (see the module docstring).

    Returns:
        (G, N) float32 tensor on ``bboxes``' device. Finite everywhere; 0 where IoU is 0
        and for ground truths whose mask is empty.

    Raises:
        ValueError: wrong shapes, mismatched ground-truth counts, non-finite boxes, unknown
            ``impl``.
    """
    gt_bboxes, masks, bboxes = _check_inputs(gt_bboxes, gt_masks, bboxes, device_asserts)
    num_gts, num_anchors = gt_bboxes.shape[0], bboxes.shape[0]
    impl = resolve_impl(
        impl, num_gts, masks.shape[1], masks.shape[2], bboxes.device, dense_budget_mib
    )
    if num_gts == 0 or num_anchors == 0:
        return bboxes.new_zeros((num_gts, num_anchors))
    if impl == "dense":
        # Every pair, no selection: selecting the intersecting pairs would be a host sync.
        gt_index = torch.arange(num_gts, device=bboxes.device)[:, None]
        anchor_index = torch.arange(num_anchors, device=bboxes.device)[None, :]
        return _pairwise_maiou(
            gt_bboxes, _DenseIntegralImages(masks), bboxes, gt_index, anchor_index
        )
    maiou = bboxes.new_zeros((num_gts, num_anchors))
    pair_gt, pair_anchor = _overlapping_pairs(gt_bboxes, bboxes)
    maiou[pair_gt, pair_anchor] = _pairwise_maiou(
        gt_bboxes, _ExtentIntegralImages(masks), bboxes, pair_gt, pair_anchor
    )
    return maiou


def mask_aware_iou_pairs(
    gt_bboxes: Tensor,
    gt_masks,
    bboxes: Tensor,
    gt_index: Tensor,
    anchor_index: Tensor,
    return_mask_pixels: bool = False,
    impl: str = "auto",
    dense_budget_mib: float = DENSE_BUDGET_MIB,
    device_asserts: bool | None = None,
):
    """maIoU of selected pairs only: ``mask_aware_iou(...)[gt_index, anchor_index]``.

    For assigners that need maIoU at a few candidate pairs (ATSS: top-k per level), this
    skips the dense (G, N) work. Arguments as :func:`mask_aware_iou`, plus ``gt_index``
    and ``anchor_index``: int64 index tensors of broadcastable shapes (e.g. (P,) and (P,),
    or (1, G) and (C, G)). Returns float32 of their broadcast shape, and with
    ``return_mask_pixels`` also the (G,) int pixel count of every mask (free here, a full
    pass over the masks otherwise).
    """
    gt_bboxes, masks, bboxes = _check_inputs(gt_bboxes, gt_masks, bboxes, device_asserts)
    gt_index = torch.as_tensor(gt_index, dtype=torch.int64, device=bboxes.device)
    anchor_index = torch.as_tensor(anchor_index, dtype=torch.int64, device=bboxes.device)
    try:
        torch.broadcast_shapes(gt_index.shape, anchor_index.shape)
    except RuntimeError:
        raise ValueError(
            "gt_index and anchor_index must be index tensors of broadcastable shapes; got "
            f"{tuple(gt_index.shape)} and {tuple(anchor_index.shape)}"
        ) from None
    impl = resolve_impl(
        impl, masks.shape[0], masks.shape[1], masks.shape[2], bboxes.device, dense_budget_mib
    )
    integrals = (_DenseIntegralImages if impl == "dense" else _ExtentIntegralImages)(masks)
    maiou = _pairwise_maiou(gt_bboxes, integrals, bboxes, gt_index, anchor_index)
    return (maiou, integrals.pixel_counts()) if return_mask_pixels else maiou


def _check_inputs(gt_bboxes, gt_masks, bboxes, device_asserts) -> tuple[Tensor, Tensor, Tensor]:
    gt_bboxes = _check_boxes(gt_bboxes, "gt_bboxes", device_asserts)
    bboxes = _check_boxes(bboxes, "bboxes", device_asserts)
    device = bboxes.device
    gt_bboxes = gt_bboxes.to(device=device, dtype=torch.float32)
    bboxes = bboxes.to(dtype=torch.float32)
    masks = as_mask_tensor(gt_masks, device=device, device_asserts=device_asserts)
    if masks.shape[0] != gt_bboxes.shape[0]:
        raise ValueError(
            f"gt_masks holds {masks.shape[0]} masks but gt_bboxes {gt_bboxes.shape[0]} boxes; "
            "pass one mask per ground-truth box"
        )
    return gt_bboxes, masks, bboxes


def _pairwise_maiou(
    gt_bboxes: Tensor, integrals, bboxes: Tensor, pair_gt: Tensor, pair_anchor: Tensor
) -> Tensor:
    """maIoU of the pairs (pair_gt, pair_anchor), index tensors of broadcastable shapes.

    Inputs already validated; returns float32 of the broadcast shape. Written as a fixed
    sequence of element-wise operations (no selection, no host sync) so that it costs the
    same few kernel launches for any number of pairs.
    """
    gt_boxes, boxes = gt_bboxes[pair_gt], bboxes[pair_anchor]
    iou, union = _pairwise_iou_and_union(gt_boxes, boxes)
    # MOB exactly as published: float32 pixel count over (box area + eps).
    gt_area = (gt_bboxes[:, 2:] - gt_bboxes[:, :2]).prod(1)
    mob = integrals.pixel_counts().to(torch.float32) / (gt_area + _EPS)
    pair_mob = mob[pair_gt]
    height, width = integrals.image_shape
    # Clamping both corners to [0, W] / [0, H] gives the published clamp wherever the
    # rectangle is non-empty, and an empty rectangle (count 0) everywhere else.
    corners = torch.round(boxes)
    xs = corners[..., 0::2].clamp(0, width).to(torch.int64)  # (..., 2): x1, x2
    ys = corners[..., 1::2].clamp(0, height).to(torch.int64)  # (..., 2): y1, y2
    count = integrals.rectangle_sums(pair_gt, xs, ys)
    # IoU > 0 gating as published; empty masks (MOB 0) give 0 rather than 0/0. Every pair
    # is computed and the gated ones discarded by `where`, not selected first: selecting
    # would cost a device-to-host sync (the number of kept pairs) on a GPU.
    gated = (iou > 0) & (pair_mob > 0)
    maiou = (count.to(torch.float32) / pair_mob) / union
    return torch.where(gated, maiou, 0.0)


def as_mask_tensor(
    gt_masks, device: torch.device | str | None = None, device_asserts: bool | None = None
) -> Tensor:
    """Convert masks given in any supported form to a (G, H, W) bool tensor on ``device``.

    A bool tensor already on ``device`` is returned as is (no operation at all); float
    masks are checked to be finite (``device_asserts`` as in :func:`mask_aware_iou`).
    """
    if (
        hasattr(gt_masks, "masks")
        and hasattr(gt_masks, "to_ndarray")
        and isinstance(gt_masks.masks, np.ndarray)
    ):  # mmdet BitmapMasks: no rasterising
        gt_masks = gt_masks.masks
    elif hasattr(gt_masks, "to_ndarray"):  # mmdet PolygonMasks (rasterised at H x W)
        gt_masks = gt_masks.to_ndarray()
    if isinstance(gt_masks, np.ndarray):
        gt_masks = torch.from_numpy(gt_masks)
    if not isinstance(gt_masks, Tensor):
        raise TypeError(
            "gt_masks must be a (G, H, W) tensor or numpy array, or mmdet BitmapMasks/"
            f"PolygonMasks; got {type(gt_masks).__name__}"
        )
    if gt_masks.dim() != 3:
        raise ValueError(f"gt_masks must have shape (G, H, W); got {tuple(gt_masks.shape)}")
    gt_masks = gt_masks.to(device) if device is not None else gt_masks
    if gt_masks.dtype != torch.bool:
        if gt_masks.is_floating_point():
            _check_finite(gt_masks, "gt_masks contains NaN or Inf", device_asserts)
        gt_masks = gt_masks != 0
    return gt_masks


def _check_finite(values: Tensor, message: str, device_asserts: bool | None) -> None:
    """Raise ``ValueError(message)`` unless every value is finite; with ``device_asserts``
    (None: off the CPU) a device-side assert instead (see the module doc)."""
    # x - x is 0 exactly for finite x and NaN for NaN / Inf: the same verdict as isfinite
    # in half its operations (each one a kernel launch on a GPU).
    all_finite = ((values - values) == 0).all()
    if device_asserts is None:
        device_asserts = values.device.type != "cpu"
    if device_asserts:
        torch._assert_async(all_finite, message)  # no host read: the device asserts
    elif not bool(all_finite):
        raise ValueError(message)


def _check_boxes(boxes, name: str, device_asserts: bool | None) -> Tensor:
    if isinstance(boxes, np.ndarray):
        boxes = torch.from_numpy(boxes)
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be an (N, 4) tensor; got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] < 4:
        raise ValueError(
            f"{name} must have shape (N, 4) in x1, y1, x2, y2; got {tuple(boxes.shape)}"
        )
    boxes = boxes[:, :4]
    if boxes.is_floating_point() and boxes.numel():
        _check_finite(boxes, f"{name} contains NaN or Inf coordinates", device_asserts)
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
    """IoU and union (floored at 1e-6) of (..., 4) box pairs, with mmdet's float32 formula.

    Each area is a product of two differences, as mmdet computes it (``prod`` of two
    factors is that one multiplication).
    """
    lt = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    rb = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area1 = (boxes1[..., 2:] - boxes1[..., :2]).prod(-1)
    area2 = (boxes2[..., 2:] - boxes2[..., :2]).prod(-1)
    union = (area1 + area2 - inter).clamp(min=_EPS)
    return inter / union, union


class _DenseIntegralImages:
    """Integral images of G masks over the whole image, built at once.

    ``table[g, i, j]`` (int32, (G, H+1, W+1)) is the number of pixels of mask ``g`` with
    row < i and column < j: the masks padded with a zero first row and column, then two
    cumulative sums. A fixed number of operations for any G (the GPU path); memory
    4 G (H+1) (W+1) bytes.
    """

    def __init__(self, masks: Tensor):
        num_gts, height, width = masks.shape
        self.image_shape = (height, width)
        padded = torch.nn.functional.pad(masks, (1, 0, 1, 0))
        self.table = torch.cumsum(padded, 1, dtype=torch.int32).cumsum_(2)

    def pixel_counts(self) -> Tensor:
        """(G,) number of pixels of each mask."""
        return self.table[:, -1, -1]

    def rectangle_sums(self, gt: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
        """Mask pixels of ground truth ``gt`` in rows [y1, y2) x columns [x1, x2).

        ``gt``: int64 index tensor; ``xs``, ``ys``: (..., 2) int64 ``(x1, x2)`` and
        ``(y1, y2)``, clamped to the image, with ``x1 <= x2`` and ``y1 <= y2`` wherever the
        result is used; shapes broadcast, the result has the broadcast shape of ``...``.
        """
        height, width = self.image_shape
        stride = width + 1
        rows = (gt * ((height + 1) * stride))[..., None] + ys * stride  # (..., 2)
        corners = self.table.view(-1)[rows[..., :, None] + xs[..., None, :]]  # (..., 2, 2)
        per_row = corners[..., 1] - corners[..., 0]  # (..., 2): [x1, x2) on rows y1, y2
        return per_row[..., 1] - per_row[..., 0]


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
        per_bucket = torch.stack(
            [window_h, window_w, bucket_start, first_of_bucket, bucket_count], 1
        ).tolist()
        table_size = sum((hb + 1) * (wb + 1) * count for hb, wb, _, _, count in per_bucket)
        self.table = torch.zeros(table_size, dtype=torch.int32, device=device)
        for hb, wb, start, first, count in per_bucket:
            if hb == 0 or wb == 0:
                continue  # empty masks: their single table entry stays 0
            block = self.table[start : start + count * (hb + 1) * (wb + 1)].view(
                count, hb + 1, wb + 1
            )
            row_index = first_rows[first : first + count, None] + torch.arange(hb, device=device)
            window_rows = mask_rows.index_select(0, row_index.reshape(-1))  # (count * hb, W)
            col_index = first_cols[first : first + count, None] + torch.arange(wb, device=device)
            block[:, 1:, 1:] = torch.gather(
                window_rows, 1, col_index.repeat_interleave(hb, 0)
            ).view(count, hb, wb)
            block.cumsum_(1).cumsum_(2)

    def pixel_counts(self) -> Tensor:
        """(G,) number of pixels of each mask."""
        return self.table.index_select(0, self.offset + (self.hb + 1) * (self.wb + 1) - 1)

    def rectangle_sums(self, gt: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
        """Mask pixels of ground truth ``gt`` in rows [y1, y2) x columns [x1, x2).

        Arguments as :meth:`_DenseIntegralImages.rectangle_sums`.
        """
        shape = torch.broadcast_shapes(gt.shape, xs.shape[:-1], ys.shape[:-1])
        gt = gt.expand(shape).reshape(-1)
        x1, x2 = (v.expand(shape).reshape(-1) for v in xs.unbind(-1))
        y1, y2 = (v.expand(shape).reshape(-1) for v in ys.unbind(-1))
        oy, ox, hb, wb = (v.index_select(0, gt) for v in (self.oy, self.ox, self.hb, self.wb))
        x1, x2 = (torch.minimum((x - ox).clamp_(min=0), wb) for x in (x1, x2))
        y1, y2 = (torch.minimum((y - oy).clamp_(min=0), hb) for y in (y1, y2))
        base, stride = self.offset.index_select(0, gt), wb + 1

        def at(x, y):
            return self.table.index_select(0, base + y * stride + x)

        return (at(x2, y2) - at(x2, y1) - at(x1, y2) + at(x1, y1)).view(shape)
