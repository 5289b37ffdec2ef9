"""YOLACT's prototype head with the authors' test-time mask upsampling.

At test time each detection's mask (sigmoid of prototypes x coefficients, cropped to its
box, at the prototype resolution: 138 x 138 for a 550 input) is resized to the image and
thresholded at 0.5. The authors' fork resizes each mask with ``mmcv.imresize`` (OpenCV's
bilinear ``INTER_LINEAR`` on float32); mmdet 2.28 resizes all of them with
``F.interpolate(mode='bilinear', align_corners=False)``. Both sample at pixel centres, but
they round differently, so a few pixels next to the 0.5 contour can flip;
experiments/benchmarks/compare_mask_upsampling.py measures how many and what it does to
mask AP. :class:`MaskAwareYOLACTProtonet` does the fork's (``mask_upsample='opencv'``, the
default) or mmdet's (``'torch'``); it has the parent's parameters and state-dict keys.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.builder import HEADS
from mmdet.models.dense_heads import YOLACTProtonet

__all__ = ["MaskAwareYOLACTProtonet", "upsample_masks"]

METHODS = ("opencv", "torch")


def upsample_masks(
    mask_pred: torch.Tensor, size: tuple[int, int], method: str = "opencv"
) -> np.ndarray:
    """Binary masks at ``size`` from soft masks.

    Args:
        mask_pred: (N, h, w) mask probabilities in [0, 1].
        size: (height, width) of the output, in pixels.
        method: 'opencv' (the fork: ``cv2.resize(..., INTER_LINEAR)`` per mask, float32) or
            'torch' (mmdet 2.28: ``F.interpolate(bilinear, align_corners=False)``).

    Returns:
        (N, height, width) uint8 array of 0 / 1: the resized probability > 0.5.
    """
    height, width = int(size[0]), int(size[1])
    if mask_pred.shape[0] == 0:
        return np.zeros((0, height, width), dtype=np.uint8)
    if method == "torch":
        up = (
            F.interpolate(
                mask_pred.unsqueeze(0), (height, width), mode="bilinear", align_corners=False
            ).squeeze(0)
            > 0.5
        )
        return up.cpu().numpy().astype(np.uint8)
    if method != "opencv":
        raise ValueError(f"mask_upsample must be one of {METHODS}, got {method!r}")
    import cv2

    masks = mask_pred.detach().float().cpu().numpy()
    return np.stack(
        [(cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) > 0.5) for m in masks]
    ).astype(np.uint8)


@HEADS.register_module()
class MaskAwareYOLACTProtonet(YOLACTProtonet):
    """mmdet's ``YOLACTProtonet`` whose test-time masks are upsampled by ``mask_upsample``
    ('opencv': the authors' fork, default; 'torch': mmdet 2.28)."""

    def __init__(self, *args, mask_upsample: str = "opencv", **kwargs):
        super().__init__(*args, **kwargs)
        if mask_upsample not in METHODS:
            raise ValueError(f"mask_upsample must be one of {METHODS}, got {mask_upsample!r}")
        self.mask_upsample = mask_upsample

    @staticmethod
    def output_size(img_meta: dict, rescale: bool) -> tuple[int, int]:
        """(H, W) of the pasted masks: the original image, or the network input."""
        ori_shape = img_meta["ori_shape"]
        if rescale:
            return int(ori_shape[0]), int(ori_shape[1])
        scale_factor = img_meta["scale_factor"]
        return (
            int(np.round(ori_shape[0] * scale_factor[1])),
            int(np.round(ori_shape[1] * scale_factor[0])),
        )

    def get_seg_masks(self, mask_pred, label_pred, img_meta, rescale):
        """Per-class lists of (H, W) uint8 masks, H x W from :meth:`output_size`."""
        cls_segms = [[] for _ in range(self.num_classes)]
        if mask_pred.size(0) == 0:
            return cls_segms
        masks = upsample_masks(mask_pred, self.output_size(img_meta, rescale), self.mask_upsample)
        for mask, label in zip(masks, label_pred):
            cls_segms[label].append(mask)
        return cls_segms
