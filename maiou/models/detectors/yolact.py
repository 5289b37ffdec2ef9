"""YOLACT detector that hands the ground-truth masks to its box head's assigner."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.core.mask import BaseInstanceMasks
from mmdet.models.builder import DETECTORS
from mmdet.models.detectors import YOLACT

from maiou.ops.carafe import convert_carafe_to_portable
from maiou.ops.deform_conv import convert_dcn_to_portable

__all__ = ["MaskAwareYOLACT", "masks_to_padded_tensor", "drop_degenerate_gts"]


def masks_to_padded_tensor(masks, pad_shape, device) -> torch.Tensor:
    """One image's instance masks as a (G, H_pad, W_pad) bool tensor on ``device``.

    Converted once, where they enter the model: the box head's assigner reads the bool
    tensor as is, and the segmentation and mask heads get it as 0/1 uint8 through a
    zero-copy ``view(torch.uint8)`` (what mmdet's YOLACT hands them).

    Args:
        masks (BaseInstanceMasks | Tensor | np.ndarray): (G, h, w) binary masks with
            h <= H_pad, w <= W_pad (mmdet's pipelines give h, w = pad_shape already;
            masks at the unpadded image size are zero-padded at the bottom / right,
            where the image is padded too). Non-zero = object.
        pad_shape (tuple): ``img_meta['pad_shape']``; its first two entries are used.
        device (torch.device): where the tensor goes.

    Returns:
        Tensor: (G, H_pad, W_pad) bool, True on the object.
    """
    if isinstance(masks, BaseInstanceMasks):
        tensor = masks.to_tensor(dtype=torch.bool, device=device)
    elif isinstance(masks, np.ndarray):
        tensor = torch.as_tensor(masks != 0, dtype=torch.bool, device=device)
    else:
        tensor = (masks != 0).to(device=device)
    pad_h, pad_w = int(pad_shape[0]), int(pad_shape[1])
    height, width = tensor.shape[-2:]
    if height > pad_h or width > pad_w:
        raise ValueError(f"masks of size {height}x{width} exceed pad_shape {pad_h}x{pad_w}")
    if (height, width) != (pad_h, pad_w):
        tensor = F.pad(tensor, (0, pad_w - width, 0, pad_h - height))
    return tensor


def drop_degenerate_gts(gt_bboxes, gt_labels, gt_masks):
    """Remove the ground truths of one image whose box has no width or height.

    The training pipeline's ``FilterAnnotations`` (4x4 px) already removes them, and the
    random crop / resize after it keep boxes non-degenerate, so on pipeline data this is
    a no-op. It guards direct callers: with ``min_pos_iou=0`` the max-IoU assigner gives
    a zero-area box the anchor of highest IoU (0), whose box target is log(0) and whose
    mask loss is divided by the box's zero width.

    Args:
        gt_bboxes (Tensor): (G, 4) x1, y1, x2, y2 in pixels.
        gt_labels (Tensor): (G,).
        gt_masks (Tensor): (G, H, W).

    Returns:
        tuple[Tensor, Tensor, Tensor]: the kept rows of each.
    """
    keep = (gt_bboxes[:, 2] > gt_bboxes[:, 0]) & (gt_bboxes[:, 3] > gt_bboxes[:, 1])
    if bool(keep.all()):
        return gt_bboxes, gt_labels, gt_masks
    return gt_bboxes[keep], gt_labels[keep], gt_masks[keep]


@DETECTORS.register_module()
class MaskAwareYOLACT(YOLACT):
    """mmdet's ``YOLACT`` whose box head receives the ground-truth masks.

    Differences from the parent, all in :meth:`forward_train` except the last:

    * the masks are converted once per image to bool tensors on the images' device at
      the padded input resolution and passed to ``bbox_head.loss(..., gt_masks=...)``
      (the maIoU assigner uses them as they are; the head ignores them for other
      assigners), and, viewed as 0/1 uint8 without a copy, to the segmentation and mask
      heads, as the parent does;
    * ground truths with a zero-width or zero-height box are dropped (see
      :func:`drop_degenerate_gts`);
    * after building, mmcv ``CARAFEPack`` upsamplers (maYOLACT's ``FPN_CARAFE``, which
      only accepts ``type='carafe'``) are made ``CARAFEPackPortable``: same parameters
      and state dict, mmcv's CUDA op on CUDA, an exact PyTorch version on CPU, so the
      same config trains on a GPU and in the CPU tests; likewise mmcv's DCNv2 layers
      (``ModulatedDeformConv2dPack``, maYOLACT's backbone) become
      ``ModulatedDeformConv2dPackPortable``, whose CPU path is 7-11x faster than mmcv's
      CPU kernel.

    The box head must accept ``gt_masks`` in ``loss`` (``MaskAwareYOLACTHead`` does).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        convert_carafe_to_portable(self)
        convert_dcn_to_portable(self)

    def forward_train(
        self, img, img_metas, gt_bboxes, gt_labels, gt_bboxes_ignore=None, gt_masks=None
    ):
        """Losses of one batch; arguments as ``YOLACT.forward_train``.

        Args:
            img (Tensor): (N, C, H, W) normalised images.
            img_metas (list[dict]): per image, with ``img_shape`` and ``pad_shape``.
            gt_bboxes (list[Tensor]): per image (G, 4), x1, y1, x2, y2 in pixels.
            gt_labels (list[Tensor]): per image (G,).
            gt_bboxes_ignore (list[Tensor] | None): per image (I, 4).
            gt_masks (list[BaseInstanceMasks | Tensor]): per image (G, h, w).

        Returns:
            dict[str, list[Tensor]]: loss_cls, loss_bbox (one per image), loss_segm,
            loss_mask.
        """
        gt_masks = [
            masks_to_padded_tensor(masks, meta["pad_shape"], img.device)
            for masks, meta in zip(gt_masks, img_metas)
        ]
        kept = [
            drop_degenerate_gts(bboxes, labels, masks)
            for bboxes, labels, masks in zip(gt_bboxes, gt_labels, gt_masks)
        ]
        gt_bboxes = [bboxes for bboxes, _, _ in kept]
        gt_labels = [labels for _, labels, _ in kept]
        gt_masks = [masks for _, _, masks in kept]
        # The parent's heads take uint8 masks: the same memory, read as 0/1 bytes.
        gt_masks_uint8 = [masks.view(torch.uint8) for masks in gt_masks]

        # The rest is YOLACT.forward_train (mmdet 2.28.2) plus gt_masks for the box head.
        x = self.extract_feat(img)

        cls_score, bbox_pred, coeff_pred = self.bbox_head(x)
        losses, sampling_results = self.bbox_head.loss(
            cls_score,
            bbox_pred,
            gt_bboxes,
            gt_labels,
            img_metas,
            gt_bboxes_ignore=gt_bboxes_ignore,
            gt_masks=gt_masks,
        )

        segm_head_outs = self.segm_head(x[0])
        loss_segm = self.segm_head.loss(segm_head_outs, gt_masks_uint8, gt_labels)
        losses.update(loss_segm)

        mask_pred = self.mask_head(x[0], coeff_pred, gt_bboxes, img_metas, sampling_results)
        loss_mask = self.mask_head.loss(
            mask_pred, gt_masks_uint8, gt_bboxes, img_metas, sampling_results
        )
        losses.update(loss_mask)

        # check NaN and Inf
        for loss_name in losses.keys():
            assert torch.isfinite(torch.stack(losses[loss_name])).all().item(), (
                "{} becomes infinite or NaN!".format(loss_name)
            )

        return losses
