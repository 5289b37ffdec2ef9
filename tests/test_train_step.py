"""One real training step of every run, and the head / detector contracts.

* Each COCO config of the registry (as is, except no pretrained download) takes a
  forward_train + backward on two 128 x 128 images with three masked objects each:
  losses and gradients are finite.
* ``MaskAwareYOLACTHead`` with a max-IoU assigner computes exactly mmdet's targets and
  losses; with ATSS assigners it follows the assigner; it hands the masks only to
  assigners that ask for them.
* ``MaskAwareYOLACT`` is mmdet's YOLACT plus the masks (padded to ``pad_shape``) for the
  assigner; empty masks and degenerate boxes keep the losses finite.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

warnings.filterwarnings("ignore", message="On January 1, 2023, MMCV")
from mmcv import Config  # noqa: E402
from mmdet.core import BitmapMasks, PolygonMasks  # noqa: E402
from mmdet.core.bbox.assigners import ATSSAssigner, MaxIoUAssigner  # noqa: E402
from mmdet.models import build_detector, build_head  # noqa: E402
from mmdet.models.detectors import YOLACT  # noqa: E402

import maiou.models  # noqa: E402,F401  (registers the plugin components)
from maiou import runs as registry  # noqa: E402
from maiou.models.detectors.yolact import masks_to_padded_tensor  # noqa: E402

CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"
RUNS = list(registry.NAMES)
IMG_SIZE = 128  # down-scaled input for the COCO configs (anchors as configured)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def load(kind, run):
    return Config.fromfile(str(CONFIG_ROOT / kind / f"{run}.py"))


def build_model(cfg, init=True):
    """The detector of `cfg` in train mode, initialised as for training but without
    pretrained weights (the only change to the config)."""
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    model = build_detector(model_cfg)
    if init:
        model.init_weights()
    return model.train()


def ellipse_masks(boxes, height, width):
    """(G, height, width) uint8 masks: the ellipse inscribed in each (x1, y1, x2, y2) box,
    so that masks cover ~79% of their boxes (maIoU differs from IoU)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    masks = np.zeros((len(boxes), height, width), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx, ry = max((x2 - x1) / 2, 1e-6), max((y2 - y1) / 2, 1e-6)
        masks[i] = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
    return masks


def make_batch(num_images=2, size=IMG_SIZE, num_gts=3, num_classes=80, seed=0, img_hw=None):
    """A training batch as mmdet's collate gives it.

    Returns img (N, 3, size, size), img_metas, gt_bboxes [(G, 4) pixels], gt_labels
    [(G,)], gt_masks [BitmapMasks (G, h, w)]. `img_hw` = (h, w) makes the images smaller
    than the padded batch (masks at h x w, pad_shape size x size).
    """
    gen = torch.Generator().manual_seed(seed)
    h, w = img_hw or (size, size)
    img = torch.randn(num_images, 3, size, size, generator=gen)
    img_metas, gt_bboxes, gt_labels, gt_masks = [], [], [], []
    for _ in range(num_images):
        xy = torch.rand(num_gts, 2, generator=gen) * torch.tensor([w, h]) * 0.6
        wh = torch.rand(num_gts, 2, generator=gen) * torch.tensor([w, h]) * 0.35 + 10
        boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w, h]))], 1).round()
        gt_bboxes.append(boxes)
        gt_labels.append(torch.randint(0, num_classes, (num_gts,), generator=gen))
        gt_masks.append(BitmapMasks(ellipse_masks(boxes.tolist(), h, w), h, w))
        img_metas.append(
            dict(
                img_shape=(h, w, 3),
                pad_shape=(size, size, 3),
                ori_shape=(h, w, 3),
                scale_factor=np.ones(4, dtype=np.float32),
                flip=False,
            )
        )
    return img, img_metas, gt_bboxes, gt_labels, gt_masks


def assert_finite_losses_and_grads(model, losses):
    total = sum(sum(values) for values in losses.values())
    assert set(losses) == {"loss_cls", "loss_bbox", "loss_segm", "loss_mask"}
    for name, values in losses.items():
        assert all(torch.isfinite(v).all() for v in values), name
    total.backward()
    with_grad = [(name, p.grad) for name, p in model.named_parameters() if p.grad is not None]
    for name, grad in with_grad:
        assert torch.isfinite(grad).all(), name
    # Every part of the model is trained.
    for part in ("backbone.", "neck.", "bbox_head.", "mask_head.", "segm_head."):
        assert any(name.startswith(part) for name, _ in with_grad), part


def head_and_inputs(run, seed=0):
    """The box head of a COCO run, its outputs on random FPN features of a 128 x 128
    batch, and that batch."""
    cfg = load("coco", run)
    head_cfg = copy.deepcopy(cfg.model.bbox_head)
    head_cfg.update(train_cfg=cfg.model.train_cfg, test_cfg=cfg.model.test_cfg)
    torch.manual_seed(seed)
    head = build_head(head_cfg)
    gen = torch.Generator().manual_seed(seed)
    feats = [
        torch.randn(2, 256, IMG_SIZE // s, IMG_SIZE // s, generator=gen)
        for s in (8, 16, 32, 64, 128)
    ]
    return head, head_cfg, feats, make_batch(seed=seed)


# --------------------------------------------------------------------------------------
# One training step of every COCO run
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", RUNS)
def test_coco_run_trains_one_step(run):
    torch.manual_seed(0)
    model = build_model(load("coco", run))
    img, img_metas, gt_bboxes, gt_labels, gt_masks = make_batch()
    losses = model.forward_train(img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
    assert_finite_losses_and_grads(model, losses)


# --------------------------------------------------------------------------------------
# MaskAwareYOLACTHead
# --------------------------------------------------------------------------------------
def test_max_iou_targets_and_losses_equal_stock_head():
    head, head_cfg, feats, batch = head_and_inputs("fixed_550")
    stock = build_head(dict(head_cfg, type="YOLACTHead"))
    stock.load_state_dict(head.state_dict())
    _, img_metas, gt_bboxes, gt_labels, gt_masks = batch
    masks = [m.to_tensor(torch.uint8, "cpu") for m in gt_masks]

    cls_scores, bbox_preds, _ = head(feats)
    stock_out = stock(feats)
    for ours, theirs in zip((cls_scores, bbox_preds), stock_out[:2]):
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs))

    featmap_sizes = [c.shape[-2:] for c in cls_scores]
    anchors, valid = head.get_anchors(featmap_sizes, img_metas, device="cpu")
    kwargs = dict(
        gt_labels_list=gt_labels,
        label_channels=1,
        unmap_outputs=False,
        return_sampling_results=True,
    )
    ours = head.get_targets(anchors, valid, gt_bboxes, img_metas, **kwargs)
    theirs = stock.get_targets(anchors, valid, gt_bboxes, img_metas, **kwargs)
    for a, b in zip(ours[:4], theirs[:4]):  # labels, label weights, box targets, weights
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert ours[4:6] == theirs[4:6]  # numbers of positives / negatives
    assert ours[4] > 0

    # Whole loss, with masks handed in (a max-IoU assigner must ignore them).
    loss_ours, sampling_ours = head.loss(
        cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_masks=masks
    )
    loss_theirs, sampling_theirs = stock.loss(*stock_out[:2], gt_bboxes, gt_labels, img_metas)
    for name in ("loss_cls", "loss_bbox"):
        assert all(torch.equal(a, b) for a, b in zip(loss_ours[name], loss_theirs[name]))
    for a, b in zip(sampling_ours, sampling_theirs):
        assert torch.equal(a.pos_inds, b.pos_inds)
        assert torch.equal(a.neg_inds, b.neg_inds)
        assert torch.equal(a.pos_assigned_gt_inds, b.pos_assigned_gt_inds)


@pytest.mark.parametrize("run", ["atss_iou_550", "atss_maiou_550", "mayolact_550"])
def test_atss_targets_follow_the_assigner(run):
    """Positives of the head = those of the assigner called on all anchors of the image
    with the per-level anchor counts (and the masks, for maIoU)."""
    head, _, feats, batch = head_and_inputs(run)
    _, img_metas, gt_bboxes, gt_labels, gt_masks = batch
    masks = [m.to_tensor(torch.uint8, "cpu") for m in gt_masks]
    cls_scores, bbox_preds, _ = head(feats)
    _, sampling_results = head.loss(
        cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_masks=masks
    )

    featmap_sizes = [c.shape[-2:] for c in cls_scores]
    anchors, _ = head.get_anchors(featmap_sizes, img_metas, device="cpu")
    for i, sampling in enumerate(sampling_results):
        num_level_anchors = [a.size(0) for a in anchors[i]]
        extra = dict(gt_masks=masks[i]) if head.assigner_requires_gt_masks else {}
        expected = head.assigner.assign(
            torch.cat(anchors[i]), num_level_anchors, gt_bboxes[i], None, gt_labels[i], **extra
        )
        pos = torch.nonzero(expected.gt_inds > 0).squeeze(1)
        assert pos.numel() > 0
        assert torch.equal(sampling.pos_inds, pos)
        assert torch.equal(sampling.pos_assigned_gt_inds, expected.gt_inds[pos] - 1)


class _SpyATSS(ATSSAssigner):
    """ATSSAssigner that records how it is called (the head calls a subclass as its parent:
    ASSIGNER_CALLS in maiou/models/dense_heads/yolact_head.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def assign(
        self, bboxes, num_level_bboxes, gt_bboxes, gt_bboxes_ignore=None, gt_labels=None, **kwargs
    ):
        args = (bboxes, num_level_bboxes, gt_bboxes, gt_bboxes_ignore, gt_labels)
        self.calls.append((args, kwargs))
        return super().assign(*args)


class _SpyATSSWithMasks(_SpyATSS):
    requires_gt_masks = True


class _SpyMaxIoU(MaxIoUAssigner):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def assign(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return super().assign(*args, **kwargs)


def test_an_assigner_the_head_cannot_call_is_named():
    from mmdet.core.bbox.assigners import BaseAssigner

    class Unknown(BaseAssigner):
        def assign(self, *args, **kwargs):
            raise AssertionError("never called")

    head, _, feats, batch = head_and_inputs("atss_iou_550")
    head.assigner = Unknown()
    _, img_metas, gt_bboxes, gt_labels, _ = batch
    cls_scores, bbox_preds, _ = head(feats)
    with pytest.raises(ValueError, match="does not know how to call Unknown: add it to "):
        head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)


@pytest.mark.parametrize("spy", ["max_iou", "atss", "atss_with_masks"])
def test_masks_reach_only_assigners_that_need_them(spy):
    run = "fixed_550" if spy == "max_iou" else "atss_iou_550"
    head, _, feats, batch = head_and_inputs(run)
    _, img_metas, gt_bboxes, gt_labels, gt_masks = batch
    # Bool tensors on the device (what MaskAwareYOLACT hands over) reach the assigner
    # as they are; uint8 ones are converted once in the head.
    masks = [m.to_tensor(torch.bool, "cpu") for m in gt_masks]
    masks[1] = masks[1].to(torch.uint8)
    if spy == "max_iou":
        options = {k: v for k, v in head.train_cfg.assigner.items() if k != "type"}
        head.assigner = _SpyMaxIoU(**options)
    else:
        head.assigner = (_SpyATSSWithMasks if spy == "atss_with_masks" else _SpyATSS)(9)
    cls_scores, bbox_preds, _ = head(feats)
    head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_masks=masks)

    calls = head.assigner.calls
    assert len(calls) == len(img_metas)
    num_anchors = sum(f.shape[-2] * f.shape[-1] for f in feats) * head.num_base_priors
    for i, (args, kwargs) in enumerate(calls):
        if spy == "max_iou":  # mmdet's call, untouched
            assert len(args) == 4 and not kwargs
            assert args[0].shape == (num_anchors, 4) and args[1] is gt_bboxes[i]
        else:
            anchors, num_level_anchors, boxes = args[:3]
            assert anchors.shape == (num_anchors, 4) and boxes is gt_bboxes[i]
            assert num_level_anchors == [
                f.shape[-2] * f.shape[-1] * head.num_base_priors for f in feats
            ]
            if spy == "atss_with_masks":
                assert list(kwargs) == ["gt_masks"] and kwargs["gt_masks"].dtype == torch.bool
                assert torch.equal(kwargs["gt_masks"], masks[i] != 0)
                assert (kwargs["gt_masks"] is masks[i]) == (i != 1)
            else:
                assert "gt_masks" not in kwargs
    # The callers' metas are not modified.
    assert all(not any(k.startswith("_maiou") for k in meta) for meta in img_metas)


@pytest.mark.parametrize("run", ["fixed_550", "atss_maiou_550", "tal_iou_550", "simota_maiou_550"])
def test_the_head_gathers_only_what_the_form_and_the_assigner_take(run):
    """Per image: the masks for assigners that require them, the detached logits and deltas
    of all anchors for forms that need predictions, the anchors per level for forms that
    need level counts (the prior generator's counts); nothing else."""
    from maiou.models.dense_heads.yolact_head import _INPUTS_KEY

    head, _, feats, batch = head_and_inputs(run)
    _, img_metas, _, _, gt_masks = batch
    masks = [m.to_tensor(torch.bool, "cpu") for m in gt_masks]
    cls_scores, bbox_preds, _ = head(feats)
    call = head.assigner_call
    sizes = [c.shape[-2:] for c in cls_scores]
    per_level = tuple(len(a) for a in head.prior_generator.grid_priors(sizes, device="cpu"))
    for meta, image_masks in zip(
        head._with_assigner_inputs(cls_scores, bbox_preds, img_metas, masks), masks
    ):
        inputs = meta[_INPUTS_KEY]
        assert (inputs.gt_masks is image_masks) == head.assigner_requires_gt_masks
        assert (inputs.gt_masks is None) != head.assigner_requires_gt_masks
        for predictions, channels in ((inputs.logits, head.cls_out_channels), (inputs.deltas, 4)):
            if call.needs_predictions:
                assert predictions.shape == (sum(per_level), channels)
                assert not predictions.requires_grad
            else:
                assert predictions is None
        assert inputs.num_level_anchors == (per_level if call.needs_level_counts else None)


def test_head_demands_masks_for_maiou():
    head, _, feats, batch = head_and_inputs("atss_maiou_550")
    _, img_metas, gt_bboxes, gt_labels, _ = batch
    cls_scores, bbox_preds, _ = head(feats)
    with pytest.raises(ValueError, match="ground-truth masks"):
        head.loss(cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas)


# --------------------------------------------------------------------------------------
# MaskAwareYOLACT
# --------------------------------------------------------------------------------------
def test_masks_to_padded_tensor():
    boxes = [[10, 20, 60, 70], [0, 0, 30, 100]]
    bitmap = BitmapMasks(ellipse_masks(boxes, 100, 120), 100, 120)
    out = masks_to_padded_tensor(bitmap, (128, 128, 3), "cpu")
    assert out.shape == (2, 128, 128) and out.dtype == torch.bool
    assert torch.equal(out[:, :100, :120], torch.from_numpy(bitmap.masks != 0))
    assert out[:, 100:].sum() == 0 and out[:, :, 120:].sum() == 0

    polygons = PolygonMasks([[np.array([10.0, 10.0, 50.0, 10.0, 50.0, 40.0, 10.0, 40.0])]], 64, 80)
    out = masks_to_padded_tensor(polygons, (96, 96), "cpu")
    assert out.shape == (1, 96, 96) and out[0, 10:40, 10:50].all() and out.sum() == 40 * 30

    empty = BitmapMasks(np.zeros((0, 100, 120), np.uint8), 100, 120)
    assert masks_to_padded_tensor(empty, (128, 128), "cpu").shape == (0, 128, 128)
    with pytest.raises(ValueError):
        masks_to_padded_tensor(bitmap, (96, 128), "cpu")


def test_detector_hands_padded_masks_to_the_assigner():
    model = build_model(load("embedded", "atss_maiou_550"), init=False)
    spy = _SpyATSSWithMasks(9)
    model.bbox_head.assigner = spy
    img, img_metas, gt_bboxes, gt_labels, gt_masks = make_batch(num_classes=8, img_hw=(100, 120))
    model.forward_train(img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
    for (_, kwargs), masks in zip(spy.calls, gt_masks):
        handed = kwargs["gt_masks"]
        assert handed.shape == (3, IMG_SIZE, IMG_SIZE) and handed.dtype == torch.bool
        assert torch.equal(handed[:, :100, :120], torch.from_numpy(masks.masks != 0))
        assert handed[:, 100:].sum() == 0 and handed[:, :, 120:].sum() == 0


def test_detector_equals_mmdet_yolact_on_the_fixed_run():
    """With a max-IoU assigner, MaskAwareYOLACT.forward_train is YOLACT.forward_train."""
    model = build_model(load("coco", "fixed_550"))
    img, img_metas, gt_bboxes, gt_labels, gt_masks = make_batch()
    ours = model.forward_train(img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
    theirs = YOLACT.forward_train(model, img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert all(torch.equal(a, b) for a, b in zip(ours[name], theirs[name])), name


@pytest.mark.parametrize("run", ["fixed_550", "atss_iou_550", "atss_maiou_550", "mayolact_550"])
def test_empty_masks_and_degenerate_boxes_stay_finite(run):
    """Image 0: one ground truth with an empty mask, one with a zero-width box. Image 1:
    a single ground truth, zero-height (so the image has none left)."""
    model = build_model(load("embedded", run))
    img, img_metas, gt_bboxes, gt_labels, gt_masks = make_batch(num_classes=8)
    masks0 = gt_masks[0].masks.copy()
    masks0[1] = 0  # empty mask, box kept
    gt_bboxes[0][2, 2] = gt_bboxes[0][2, 0]  # x2 == x1
    gt_masks[0] = BitmapMasks(masks0, IMG_SIZE, IMG_SIZE)
    gt_bboxes[1] = torch.tensor([[20.0, 30.0, 60.0, 30.0]])
    gt_labels[1] = gt_labels[1][:1]
    gt_masks[1] = BitmapMasks(np.zeros((1, IMG_SIZE, IMG_SIZE), np.uint8), IMG_SIZE, IMG_SIZE)
    losses = model.forward_train(img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
    assert_finite_losses_and_grads(model, losses)


@pytest.mark.parametrize("run", ["fixed_550", "mayolact_550"])
def test_inference_runs(run):
    """The parent's test path (get_bboxes, fast NMS, mask assembly) is intact."""
    model = build_model(load("embedded", run)).eval()
    img, img_metas, *_ = make_batch(num_images=1, num_classes=8)
    with torch.no_grad():
        ((bbox_results, segm_results),) = model.simple_test(img, img_metas, rescale=True)
    assert len(bbox_results) == len(segm_results) == 8
    assert all(b.shape[1] == 5 for b in bbox_results)


class _ReLUDecisions:
    """The on/off pattern of every ``nn.ReLU`` call of one forward pass, replayed on another.

    ``record`` leaves the ReLUs as they are and stores, per call, the (same-shape) bool
    tensor ``x > 0`` of its input. ``replay`` makes the i-th ReLU call of the next pass
    return ``x`` where the i-th recorded call had ``x > 0`` and 0 elsewhere (in ``x``'s
    memory format), so that its backward differentiates the same piecewise-linear branch
    as the recorded pass; ``flips`` then holds, per call whose own decisions differ,
    (max |x| where they differ, max |x|).
    """

    def __init__(self):
        self.masks, self.flips, self._next = [], [], 0

    def record(self, monkeypatch):
        forward = torch.nn.ReLU.forward

        def recording_forward(relu, x):
            self.masks.append(x.detach() > 0)  # before an in-place ReLU overwrites x
            return forward(relu, x)

        monkeypatch.setattr(torch.nn.ReLU, "forward", recording_forward)

    def replay(self, monkeypatch):

        def replaying_forward(relu, x):
            mask = self.masks[self._next]
            self._next += 1
            assert mask.shape == x.shape
            flipped = mask != (x.detach() > 0)
            if flipped.any():
                self.flips.append(
                    (x.detach()[flipped].abs().max().item(), x.detach().abs().max().item())
                )
            return x.masked_fill(~mask, 0.0)

        monkeypatch.setattr(torch.nn.ReLU, "forward", replaying_forward)

    @property
    def all_replayed(self):
        return self._next == len(self.masks)


@pytest.mark.parametrize("run", ["atss_maiou_550", "mayolact_550"])
def test_channels_last_step_equals_the_default_layout(run, monkeypatch):
    """The embedded runs train on CPUs with channels-last weights (``cpu_channels_last``
    in their schedule, applied by maiou.train) and one thread (OMP_NUM_THREADS from the
    pipeline's ``threads_per_run: 1``): losses and gradients are those of the default layout up to
    float32 rounding, DCNv2 and CARAFE included.

    The comparison is made at one thread, and relative to each gradient's own scale
    (tiny gradients, e.g. CARAFE's ~1e-6, are compared as tightly as large ones). The
    layouts run different, equally valid float32 summation orders (oneDNN's NHWC
    convolutions; torch's channels-last BatchNorm adds the rows of each channel one by
    one in float32, ~10x the rounding of its NCHW kernel), so a pre-activation whose true
    value lies within rounding of 0 can fall on different sides of a ReLU. The forward
    is continuous there (the losses agree to rounding), but the backward passes that
    element's gradient in one layout and blocks it in the other: the full gradient of one
    element, not rounding. Measured on maYOLACT at 1 thread: one value of layer4.0's
    output, 1.2e-7 in float64 at a tensor scale of 4.0 (below one float32 ulp of it), is
    +8.2e-7 in NCHW and -1.3e-6 in NHWC; its dropped gradient reaches the downsample's
    batch statistics (32 values a channel) and moved layer4 / layer3 gradients by up to
    2% of their scale. So the channels-last pass replays the default pass's ReLU
    decisions, both backwards differentiate the same function, and gradients must agree
    to 1e-4 of their scale (measured worst: 9e-6); where the decisions of the two layouts
    differ, the pre-activation must be within 1e-4 of its tensor's scale of 0.
    """
    cfg = load("embedded", run)
    assert cfg.cpu_channels_last is True
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = build_model(cfg)
        nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
        assert nhwc.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        img, img_metas, gt_bboxes, gt_labels, gt_masks = make_batch(num_classes=8)
        decisions = _ReLUDecisions()
        results = []
        for net, replay in ((model, False), (nhwc, True)):
            with monkeypatch.context() as patch:
                (decisions.replay if replay else decisions.record)(patch)
                losses = net.forward_train(img, img_metas, gt_bboxes, gt_labels, gt_masks=gt_masks)
                sum(sum(values) for values in losses.values()).backward()
            results.append((losses, dict(net.named_parameters())))
    finally:
        torch.set_num_threads(threads)
    assert decisions.masks and decisions.all_replayed
    assert all(at_flip <= 1e-4 * scale for at_flip, scale in decisions.flips)
    (losses, params), (losses_nhwc, params_nhwc) = results
    for name in losses:
        torch.testing.assert_close(losses_nhwc[name], losses[name], rtol=1e-4, atol=1e-5)
    for name, param in params.items():
        if param.grad is not None:
            scale = param.grad.abs().max().item()
            error = (params_nhwc[name].grad - param.grad).abs().max().item()
            assert error <= 1e-4 * scale, f"{name}: {error:.3g} at gradient scale {scale:.3g}"
