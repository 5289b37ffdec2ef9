"""Test-time mask upsampling (maiou/models/dense_heads/yolact_protonet.py).

'opencv' is the authors' fork: ``mmcv.imresize`` (OpenCV bilinear) per mask, then > 0.5;
'torch' must reduce to stock mmdet 2.28 ``YOLACTProtonet.get_seg_masks``.
"""

from __future__ import annotations

import mmcv
import numpy as np
import pytest
import torch
from mmdet.models.dense_heads import YOLACTProtonet

from maiou.models.dense_heads.yolact_protonet import MaskAwareYOLACTProtonet, upsample_masks


def _soft_masks(n=6, h=35, w=35, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # Smooth blobs: what sigmoid(prototypes x coefficients) looks like. The last two masks
    # stay within 1e-6 of 0.5, where the two ways' rounding (values differ by ~1e-7) decides.
    low = torch.rand(n, 1, 5, 5, generator=generator)
    masks = (
        torch.nn.functional.interpolate(low, (h, w), mode="bicubic", align_corners=False)
        .squeeze(1)
        .clamp(0, 1)
    )
    masks[-2:] = 0.5 + 1e-6 * (2 * torch.rand(2, h, w, generator=generator) - 1)
    return masks


@pytest.mark.parametrize("rescale", [True, False])
def test_torch_way_is_stock_mmdet_and_opencv_way_is_the_forks(rescale):
    masks = _soft_masks()
    labels = torch.tensor([0, 2, 2, 1, 0, 3])
    meta = dict(ori_shape=(97, 130, 3), scale_factor=np.array([0.9, 1.1, 0.9, 1.1]))
    stock = YOLACTProtonet(num_classes=4).get_seg_masks(masks, labels, meta, rescale)
    ours = MaskAwareYOLACTProtonet(num_classes=4, mask_upsample="torch").get_seg_masks(
        masks, labels, meta, rescale
    )
    fork = MaskAwareYOLACTProtonet(num_classes=4).get_seg_masks(masks, labels, meta, rescale)
    height, width = (97, 130) if rescale else (107, 117)
    differ = 0
    for label in range(4):
        assert len(ours[label]) == len(stock[label]) == len(fork[label])
        for a, b in zip(ours[label], stock[label]):
            np.testing.assert_array_equal(a, b)
        for index, mask in enumerate(fork[label]):
            # The fork: mmcv.imresize(mask, (w, h)) of the float32 mask, then > 0.5.
            source = masks[labels == label][index].numpy().astype(np.float32)
            expected = (mmcv.imresize(source, (width, height)) > 0.5).astype(np.uint8)
            assert mask.shape == (height, width) and mask.dtype == np.uint8
            np.testing.assert_array_equal(mask, expected)
            differ += int((mask != stock[label][index]).sum())
    # The two ways are not the same function: pixels whose value is within rounding of 0.5
    # can flip (on real masks a few per million, experiments/benchmarks/
    # compare_mask_upsampling.py).
    assert differ > 0


def test_empty_and_bad_method():
    assert upsample_masks(torch.zeros(0, 5, 5), (7, 9), "opencv").shape == (0, 7, 9)
    with pytest.raises(ValueError, match="mask_upsample must be one of"):
        MaskAwareYOLACTProtonet(num_classes=2, mask_upsample="nearest")
