"""COCO-like inputs for the tests and the benchmarks: anchors of a YOLACT image and occluded
irregular masks."""

import math

import numpy as np
import torch


def grid_anchors(
    image_size: int, strides, octave_base_scale: float, scales_per_octave: int, ratios
) -> torch.Tensor:
    """(N, 4) anchors laid out as mmdet's AnchorGenerator does (x1, y1, x2, y2, pixels).

    Base size per level equals the stride, as in ATSS (YOLACT's fixed-IoU base sizes
    8..128 coincide with its strides too); centres at half a stride.
    """
    anchors = []
    scales = [octave_base_scale * 2 ** (i / scales_per_octave) for i in range(scales_per_octave)]
    for level, stride in enumerate(strides):
        base = 8 * 2**level
        size = math.ceil(image_size / stride)
        centres = (torch.arange(size, dtype=torch.float32) + 0.5) * stride
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        shapes = []
        for ratio in ratios:
            for scale in scales:
                w = base * scale / math.sqrt(ratio)
                h = base * scale * math.sqrt(ratio)
                shapes.append((w, h))
        wh = torch.tensor(shapes, dtype=torch.float32)  # (A, 2)
        c = torch.stack([cx.reshape(-1), cy.reshape(-1)], 1)[:, None, :]  # (S, 1, 2)
        anchors.append(torch.cat([c - wh / 2, c + wh / 2], 2).reshape(-1, 4))
    return torch.cat(anchors)


def occluded_instances(image_size: int, num_gts: int, seed: int = 0):
    """Irregular, partly occluded instance masks and their (visible-extent) boxes.

    Each object is a union of random ellipses inside a random box (COCO-like scale spread);
    objects painted later hide the pixels of earlier ones. Returns ``gt_bboxes`` (G, 4)
    float32 and ``gt_masks`` (G, H, W) bool; every mask is non-empty.
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((0, image_size, image_size), dtype=bool)
    while len(masks) < num_gts:
        side = float(np.exp(rng.uniform(np.log(12), np.log(image_size * 0.7))))
        bw, bh = side * rng.uniform(0.5, 1.5, size=2)
        x0, y0 = rng.uniform(0, image_size - bw / 2), rng.uniform(0, image_size - bh / 2)
        r0, r1 = int(max(y0, 0)), int(min(y0 + bh, image_size))
        c0, c1 = int(max(x0, 0)), int(min(x0 + bw, image_size))
        if r1 - r0 < 2 or c1 - c0 < 2:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        shape = np.zeros(yy.shape, dtype=bool)
        for _ in range(rng.integers(2, 6)):
            cx, cy = rng.uniform(c0, c1), rng.uniform(r0, r1)
            ax, ay = rng.uniform(0.15, 0.5) * (c1 - c0), rng.uniform(0.15, 0.5) * (r1 - r0)
            shape |= ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
        if shape.sum() < 16:
            continue
        masks[:, r0:r1, c0:c1] &= ~shape  # the new object hides what was painted before
        new = np.zeros((1, image_size, image_size), dtype=bool)
        new[0, r0:r1, c0:c1] = shape
        masks = np.concatenate([masks[masks.any(axis=(1, 2))], new])
    boxes = []
    for mask in masks:
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    return torch.tensor(boxes, dtype=torch.float32), torch.from_numpy(masks)


def training_batch(image_size: int, num_images: int, num_gts: int, device="cpu") -> dict:
    """``forward_train`` keyword arguments for ``num_images`` random square images with
    ``num_gts`` occluded instances each (:func:`occluded_instances`, seeds 100, 101, ...)
    and random labels of 80 classes; the same batch on every call."""
    from mmdet.core import BitmapMasks

    generator = torch.Generator().manual_seed(0)
    img = torch.randn(num_images, 3, image_size, image_size, generator=generator).to(device)
    metas, boxes, labels, masks = [], [], [], []
    for i in range(num_images):
        gt_bboxes, gt_masks = occluded_instances(image_size, num_gts, seed=100 + i)
        shape = (image_size, image_size, 3)
        metas.append(
            dict(
                img_shape=shape,
                pad_shape=shape,
                ori_shape=shape,
                scale_factor=1.0,
                flip=False,
                batch_input_shape=(image_size, image_size),
            )
        )
        boxes.append(gt_bboxes.to(device))
        labels.append(torch.randint(0, 80, (len(gt_bboxes),), generator=generator).to(device))
        masks.append(BitmapMasks(gt_masks.numpy().astype("uint8"), image_size, image_size))
    return dict(img=img, img_metas=metas, gt_bboxes=boxes, gt_labels=labels, gt_masks=masks)


def record_calls(obj, name: str) -> list:
    """Wrap method ``name`` of ``obj`` so that every call appends (args, kwargs, result) to
    the returned list."""
    calls, method = [], getattr(obj, name)

    def recording(*args, **kwargs):
        result = method(*args, **kwargs)
        calls.append((args, kwargs, result))
        return result

    setattr(obj, name, recording)
    return calls


def one_image_head_loss(head, image_size: int = 128, seed: int = 0) -> dict:
    """``head.loss`` on random FPN features (64 channels, strides 8-128) of one image with
    four occluded objects (classes 0, 3, 5, 7; masks passed), the assigner's calls recorded.

    Returns the features' ``cls_scores`` and ``bbox_preds``, ``gt``, ``masks``, ``labels``,
    ``meta``, the loss call's ``losses`` and ``sampling`` results, and ``assign_calls``."""
    assign_calls = record_calls(head.assigner, "assign")
    torch.manual_seed(seed)
    feats = [torch.randn(1, 64, image_size // s, image_size // s) for s in (8, 16, 32, 64, 128)]
    cls_scores, bbox_preds, _ = head(feats)
    gt, masks = occluded_instances(image_size, 4, seed=seed + 1)
    shape = (image_size, image_size, 3)
    meta = dict(img_shape=shape, pad_shape=shape, batch_input_shape=(image_size, image_size))
    labels = torch.tensor([0, 3, 5, 7])
    losses, sampling = head.loss(cls_scores, bbox_preds, [gt], [labels], [meta], gt_masks=[masks])
    return dict(
        cls_scores=cls_scores,
        bbox_preds=bbox_preds,
        gt=gt,
        masks=masks,
        labels=labels,
        meta=meta,
        losses=losses,
        sampling=sampling,
        assign_calls=assign_calls,
    )
