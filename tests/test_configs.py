"""The COCO and embedded configs against the published setup (docs/paper-facts.md).

Every COCO config must load, build, and carry the published hyper-parameters of its run;
every embedded config must be its COCO run shrunk for a CPU, with the differences between
runs (assigner, anchors, losses, schedule) exactly those of the COCO configs.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import warnings
from pathlib import Path

import pytest
import torch

warnings.filterwarnings("ignore", message="On January 1, 2023, MMCV")
from mmcv import Config  # noqa: E402
from mmcv.ops import ModulatedDeformConv2dPack  # noqa: E402
from mmdet.models import build_detector  # noqa: E402

import maiou.models  # noqa: E402,F401  (registers the plugin components)
from maiou import runs as registry  # noqa: E402
from maiou.ops.carafe import CARAFEPackPortable  # noqa: E402
from maiou.ops.deform_conv import ModulatedDeformConv2dPackPortable  # noqa: E402

CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"

# --------------------------------------------------------------------------------------
# The published setup, written out once (docs/paper-facts.md). The runs come from the
# registry: run name -> (family = assigner key, COCO image size).
# --------------------------------------------------------------------------------------
RUNS = {run.name: (run.assigner, run.coco_size) for run in registry.RUNS}
EMBEDDED_SIZE = dict(registry.EMBEDDED_SIZE)

# docs/paper-facts.md: 550/69, 550/35, 550/18, 550/9, 550/5 with centres at half stride.
COCO_FIXED_SIDES = (69, 35, 18, 9, 5)
NOMINAL_STRIDES = [8, 16, 32, 64, 128]

FAMILIES = {
    "fixed": dict(
        assigner=dict(
            type="MaxIoUAssigner",
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0.0,
            ignore_iof_thr=-1,
            gt_max_assign_all=False,
        ),
        anchors_per_location=3,
        octave_base_scale=3,
        scales_per_octave=1,
        ratios=[0.5, 1.0, 2.0],
        mask_loss_weight=6.125,
        lr=4e-3,
        lr_policy="step",
    ),
    "atss_iou": dict(
        assigner=dict(type="ATSSAssigner", topk=9),
        anchors_per_location=1,
        octave_base_scale=4,
        scales_per_octave=1,
        ratios=[1.0],
        mask_loss_weight=8.0,
        lr=4e-3,
        lr_policy="step",
    ),
    "atss_maiou": dict(
        assigner=dict(type="ATSSmaIoUAssigner", topk=9),
        anchors_per_location=1,
        octave_base_scale=4,
        scales_per_octave=1,
        ratios=[1.0],
        mask_loss_weight=8.0,
        lr=4e-3,
        lr_policy="step",
    ),
    "mayolact": dict(
        assigner=dict(type="ATSSmaIoUAssigner", topk=9),
        anchors_per_location=2,
        octave_base_scale=4,
        scales_per_octave=2,
        ratios=[1.0],
        mask_loss_weight=8.0,
        lr=8e-3,
        lr_policy="CosineAnnealing",
    ),
}
# The box head of the paper's runs: YOLACT's, hard labels through a softmax with OHEM.
YOLACT_HEAD = dict(
    type="MaskAwareYOLACTHead",
    use_ohem=True,
    loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, reduction="none", loss_weight=1.0),
)
# Beyond the paper: ATSS w. IoU's model with TOOD's task alignment in full (its assigner and
# its soft targets through Quality Focal Loss) or with YOLOX's SimOTA.
TAL_HEAD = dict(
    type="TaskAlignedYOLACTHead",
    use_ohem=False,
    loss_cls=dict(type="QualityFocalLoss", use_sigmoid=True, beta=2.0, loss_weight=1.0),
)
# TOOD's exponents of the alignment are the head's train_cfg, for the IoU and the maIoU
# assigner alike (as in mmdet's TOODHead), never one assigner's own.
TAL_EXPONENTS = dict(alpha=1, beta=6)
FAMILIES["tal_iou"] = dict(
    FAMILIES["atss_iou"],
    assigner=dict(type="TaskAlignedAssigner", topk=13),
    head=TAL_HEAD,
    train_cfg=TAL_EXPONENTS,
)
FAMILIES["tal_maiou"] = dict(
    FAMILIES["atss_iou"],
    assigner=dict(type="TaskAlignedmaIoUAssigner", topk=13),
    head=TAL_HEAD,
    train_cfg=TAL_EXPONENTS,
)
_SIMOTA = dict(center_radius=2.5, candidate_topk=10, iou_weight=3.0, cls_weight=1.0)
FAMILIES["simota_iou"] = dict(FAMILIES["atss_iou"], assigner=dict(type="SimOTAAssigner", **_SIMOTA))
FAMILIES["simota_maiou"] = dict(
    FAMILIES["atss_iou"], assigner=dict(type="SimOTAmaIoUAssigner", **_SIMOTA)
)
# How the head calls each family's assigner (maiou/models/dense_heads/yolact_head.py).
ASSIGNER_CALL = {
    "fixed": "max_iou",
    "atss_iou": "atss",
    "atss_maiou": "atss",
    "mayolact": "atss",
    "tal_iou": "task_aligned",
    "tal_maiou": "task_aligned",
    "simota_iou": "simota",
    "simota_maiou": "simota",
}

IMG_NORM = dict(mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)


def expected_train_pipeline(size):
    """docs/paper-facts.md, "Training data pipeline", at `size` x `size`; images left without
    instances are skipped as in the authors' fork (FilterAnnotationsOrSkip)."""
    return [
        dict(type="LoadImageFromFile", to_float32=True),
        dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
        dict(type="FilterAnnotationsOrSkip", min_gt_bbox_wh=(4.0, 4.0)),
        dict(
            type="PhotoMetricDistortion",
            brightness_delta=32,
            contrast_range=(0.5, 1.5),
            saturation_range=(0.5, 1.5),
            hue_delta=18,
        ),
        dict(type="Expand", mean=IMG_NORM["mean"], to_rgb=True, ratio_range=(1, 4)),
        dict(type="MinIoURandomCrop", min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
        dict(type="Resize", img_scale=(size, size), keep_ratio=False),
        dict(type="Normalize", **IMG_NORM),
        dict(type="RandomFlip", flip_ratio=0.5),
        dict(type="DefaultFormatBundle"),
        dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"]),
    ]


def embedded_augmentation(pipeline):
    """A COCO training pipeline less the three augmentations the embedded runs leave out
    (configs/embedded/_base_/datasets/embedded_128.py says why): PhotoMetricDistortion,
    Expand and MinIoURandomCrop."""
    left_out = ("PhotoMetricDistortion", "Expand", "MinIoURandomCrop")
    steps = [copy.deepcopy(step) for step in pipeline if step["type"] not in left_out]
    # The embedded runs keep mmdet's FilterAnnotations (their numbers were measured so).
    for step in steps:
        if step["type"] == "FilterAnnotationsOrSkip":
            step["type"] = "FilterAnnotations"
    return steps


def expected_test_pipeline(size):
    """docs/paper-facts.md, "Test pipeline": resize size x size, normalise, no flip."""
    return [
        dict(type="LoadImageFromFile"),
        dict(
            type="MultiScaleFlipAug",
            img_scale=(size, size),
            flip=False,
            transforms=[
                dict(type="Resize", keep_ratio=False),
                dict(type="Normalize", **IMG_NORM),
                dict(type="ImageToTensor", keys=["img"]),
                dict(type="Collect", keys=["img"]),
            ],
        ),
    ]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
_CFG_CACHE = {}


def load(kind, run):
    """The config of `run` ('coco' or 'embedded'), read once per test session."""
    key = (kind, run)
    if key not in _CFG_CACHE:
        _CFG_CACHE[key] = Config.fromfile(str(CONFIG_ROOT / kind / f"{run}.py"))
    return _CFG_CACHE[key]


def plain(obj):
    """ConfigDict / tuple trees as plain dicts and lists, for == comparisons."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def flat(pairs):
    """[(x, y), ...] -> [x, y, ...] (pytest.approx compares flat sequences only)."""
    return [v for pair in pairs for v in pair]


def build(cfg):
    """The detector of `cfg`, without downloading pretrained weights."""
    model_cfg = copy.deepcopy(cfg.model)  # mmdet's builders update sub-configs in place
    model_cfg.backbone.init_cfg = None
    return build_detector(model_cfg)


def fixed_iou_strides(base_size):
    """YOLACT's fixed-IoU anchor layout for a `base_size` input: stride = base / side,
    side = ceil(base / nominal stride), first centre at half a stride."""
    sides = [math.ceil(base_size / s) for s in NOMINAL_STRIDES]
    strides = [base_size / n for n in sides]
    return sides, strides, [(s / 2, s / 2) for s in strides]


def test_fixed_iou_stride_rule_matches_spec():
    sides, strides, centers = fixed_iou_strides(550)
    assert sides == list(COCO_FIXED_SIDES)
    assert strides == pytest.approx([550 / n for n in COCO_FIXED_SIDES])
    assert flat(centers) == pytest.approx([275 / n for n in COCO_FIXED_SIDES for _ in "xy"])


# --------------------------------------------------------------------------------------
# COCO configs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("run", sorted(RUNS))
def test_coco_config_matches_spec(run):
    family, size = RUNS[run]
    spec = FAMILIES[family]
    cfg = load("coco", run)
    model = cfg.model
    assert cfg.custom_imports == dict(imports=["maiou.models"], allow_failed_imports=False)
    assert model.type == "MaskAwareYOLACT"

    # Backbone: ImageNet ResNet-50, BN trained, nothing frozen, pytorch style.
    backbone = model.backbone
    assert (backbone.type, backbone.depth, backbone.style) == ("ResNet", 50, "pytorch")
    assert backbone.frozen_stages == -1 and backbone.norm_eval is False
    assert plain(backbone.norm_cfg) == dict(type="BN", requires_grad=True)
    # torchvision's ImageNet ResNet-50 (the file `torchvision://resnet50` was in 2020),
    # read from disk: training jobs never download.
    assert plain(backbone.init_cfg) == dict(
        type="Pretrained",
        checkpoint=os.environ.get("MAIOU_RESNET50", "checkpoints/imagenet/resnet50-19c8e357.pth"),
    )
    if family == "mayolact":
        assert plain(backbone.dcn) == dict(type="DCNv2", deform_groups=4, fallback_on_stride=False)
        assert plain(backbone.stage_with_dcn) == [False, True, True, True]
        # FPN with CARAFE upsampling; the CARAFE type is 'carafe' because mmdet's
        # FPN_CARAFE accepts no other name (the built model uses 'carafe_portable').
        assert plain(model.neck) == dict(
            type="FPN_CARAFE",
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            num_outs=5,
            start_level=1,
            order=["conv", "norm", "act"],
            upsample_cfg=dict(
                type="carafe",
                up_kernel=5,
                up_group=1,
                encoder_kernel=3,
                encoder_dilation=1,
                compressed_channels=64,
            ),
        )
    else:
        assert "dcn" not in backbone
        assert plain(model.neck) == dict(
            type="FPN",
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            start_level=1,
            add_extra_convs="on_input",
            num_outs=5,
            upsample_cfg=dict(mode="bilinear"),
        )

    # Box head.
    head = model.bbox_head
    head_spec = spec.get("head", YOLACT_HEAD)
    assert head.type == head_spec["type"]
    assert (head.num_classes, head.in_channels, head.feat_channels) == (80, 256, 256)
    assert (head.num_head_convs, head.num_protos) == (1, 32)
    assert head.use_ohem == head_spec["use_ohem"]
    assert plain(head.loss_cls) == head_spec["loss_cls"]
    assert plain(head.loss_bbox) == dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.5)
    assert plain(head.bbox_coder) == dict(
        type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]
    )
    anchors = head.anchor_generator
    assert anchors.type == "AnchorGenerator"
    assert anchors.octave_base_scale == spec["octave_base_scale"]
    assert anchors.scales_per_octave == spec["scales_per_octave"]
    assert plain(anchors.ratios) == spec["ratios"]
    if family == "fixed":
        # 550-based at every size (the published runs change only the image size).
        _, strides, centers = fixed_iou_strides(550)
        assert plain(anchors.strides) == pytest.approx(strides)
        assert flat(anchors.centers) == pytest.approx(flat(centers))
        assert plain(anchors.base_sizes) == [8, 16, 32, 64, 128]
    else:
        assert plain(anchors.strides) == NOMINAL_STRIDES
        assert "centers" not in anchors and "base_sizes" not in anchors

    # Mask and semantic-segmentation heads.
    assert model.mask_head.type == "MaskAwareYOLACTProtonet"
    assert model.mask_head.mask_upsample == "opencv"  # the authors' fork
    assert (
        model.mask_head.in_channels,
        model.mask_head.num_protos,
        model.mask_head.max_masks_to_train,
    ) == (256, 32, 100)
    assert model.mask_head.loss_mask_weight == spec["mask_loss_weight"]
    assert plain(model.segm_head.loss_segm) == dict(
        type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0
    )
    assert model.mask_head.num_classes == model.segm_head.num_classes == 80

    # Training / test settings.
    train_cfg = model.train_cfg
    assert plain(train_cfg.assigner) == spec["assigner"]
    assert train_cfg.neg_pos_ratio == 3 and train_cfg.allowed_border == -1
    assert train_cfg.pos_weight == -1
    extra = set(train_cfg) - {"assigner", "neg_pos_ratio", "allowed_border", "pos_weight", "debug"}
    assert {key: train_cfg[key] for key in extra} == spec.get("train_cfg", {})
    test_cfg = model.test_cfg
    assert (
        test_cfg.nms_pre,
        test_cfg.score_thr,
        test_cfg.iou_thr,
        test_cfg.top_k,
        test_cfg.max_per_img,
    ) == (1000, 0.05, 0.5, 200, 100)

    # Data.
    assert plain(cfg.data.train.pipeline) == plain(expected_train_pipeline(size))
    for split in ("val", "test"):
        assert plain(cfg.data[split].pipeline) == plain(expected_test_pipeline(size))
    assert cfg.data.samples_per_gpu == 8
    assert cfg.data.train.ann_file == cfg.data_root + "annotations/instances_train2017.json"
    assert cfg.data.train.img_prefix == cfg.data_root + "train2017/"
    for split in ("val", "test"):
        assert cfg.data[split].ann_file == (cfg.data_root + "annotations/instances_val2017.json")
        assert cfg.data[split].img_prefix == cfg.data_root + "val2017/"
    assert cfg.data.train.type == "CocoDataset"

    # Schedule.
    assert plain(cfg.optimizer) == dict(type="SGD", lr=spec["lr"], momentum=0.9, weight_decay=5e-4)
    assert plain(cfg.optimizer_config) == dict(grad_clip=dict(max_norm=35, norm_type=2))
    lr_config = cfg.lr_config
    assert lr_config.policy == spec["lr_policy"]
    assert (lr_config.warmup, lr_config.warmup_iters, lr_config.warmup_ratio) == (
        "linear",
        500,
        0.1,
    )
    if spec["lr_policy"] == "step":
        assert plain(lr_config.step) == [20, 42, 49, 52]
        assert lr_config.get("gamma", 0.1) == 0.1
    else:
        assert lr_config.min_lr_ratio == 0.0 and "step" not in lr_config
    assert plain(cfg.runner) == dict(type="EpochBasedRunner", max_epochs=55)
    assert cfg.checkpoint_config.interval == 1
    # 32 images per optimizer step whatever the GPU count (maiou/engine/batching.py).
    assert cfg.images_per_step == 32
    # The authors evaluate fixed_400 and fixed_700 every 5 epochs, the others every epoch.
    assert cfg.evaluation.interval == (5 if run in ("fixed_400", "fixed_700") else 1)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_coco_model_builds_as_specified(run):
    family, _ = RUNS[run]
    spec = FAMILIES[family]
    model = build(load("coco", run))
    head = model.bbox_head
    per_location = spec["anchors_per_location"]
    assert head.prior_generator.num_base_anchors == [per_location] * 5
    assert head.num_base_priors == per_location
    assert type(head.assigner).__name__ == spec["assigner"]["type"]
    assert head.assigner_call.name == ASSIGNER_CALL[family]
    assert head.assigner_requires_gt_masks == (family.endswith("maiou") or family == "mayolact")
    if spec.get("head") is TAL_HEAD:  # the classifier starts at TOOD's 0.01 prior
        head.init_weights()
        assert torch.allclose(head.conv_cls.bias, torch.tensor(-4.59512))
    deformable = [m for m in model.backbone.modules() if isinstance(m, ModulatedDeformConv2dPack)]
    if family == "mayolact":
        # The 3x3 conv of every bottleneck in stages 2-4 (4 + 6 + 3 blocks).
        assert len(deformable) == 13
        assert all(m.deform_groups == 4 for m in deformable)
        assert all(type(m) is ModulatedDeformConv2dPackPortable for m in deformable)
        assert all(
            not isinstance(m, ModulatedDeformConv2dPack) for m in model.backbone.layer1.modules()
        )
        carafes = [m for m in model.neck.modules() if isinstance(m, CARAFEPackPortable)]
        assert carafes and all(
            (m.up_kernel, m.up_group, m.encoder_kernel, m.encoder_dilation, m.compressed_channels)
            == (5, 1, 3, 1, 64)
            for m in carafes
        )
    else:
        assert not deformable


# --------------------------------------------------------------------------------------
# Embedded configs
# --------------------------------------------------------------------------------------
def signature(cfg):
    """What distinguishes one run from another: assigner, anchors, losses, heads'
    options, backbone / neck tricks, optimiser and lr policy. Anchor strides and centres
    are left out (the fixed-IoU layout is rebased on the embedded size on purpose; tested
    separately), as is everything the CPU shrink changes for all runs alike."""
    model = cfg.model
    anchors = plain(model.bbox_head.anchor_generator)
    anchors.pop("strides")
    anchors.pop("centers", None)
    head = plain(model.bbox_head)
    for key in ("anchor_generator", "num_classes", "in_channels", "feat_channels"):
        head.pop(key)
    mask_head = plain(model.mask_head)
    for key in ("num_classes", "in_channels", "proto_channels"):
        mask_head.pop(key, None)
    segm_head = plain(model.segm_head)
    for key in ("num_classes", "in_channels"):
        segm_head.pop(key)
    neck = plain(model.neck)
    for key in ("in_channels", "out_channels"):
        neck.pop(key)
    lr_config = plain(cfg.lr_config)
    for key in ("by_epoch", "warmup_iters", "step"):  # rescaled to iterations
        lr_config.pop(key, None)
    return dict(
        detector=model.type,
        train_cfg=plain(model.train_cfg),
        test_cfg=plain(model.test_cfg),
        anchors=anchors,
        bbox_head=head,
        mask_head=mask_head,
        segm_head=segm_head,
        dcn=(plain(model.backbone.get("dcn")), plain(model.backbone.get("stage_with_dcn"))),
        neck=neck,
        optimizer=plain(cfg.optimizer),
        optimizer_config=plain(cfg.optimizer_config),
        lr_config=lr_config,
        augmentation=[t for t in plain(cfg.data.train.pipeline) if t["type"] != "Resize"],
    )


def difference(a, b, prefix=""):
    """{path: (value in a, value in b)} for every leaf where the two trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = {}
        for key in sorted(set(a) | set(b), key=str):
            out.update(
                difference(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{prefix}.{key}")
            )
        return out
    return {} if a == b else {prefix: (a, b)}


def shrink_invariant(sig, base_lr, augmentation=lambda pipeline: pipeline):
    """`sig` less what the CPU shrink changes for all runs alike: the optimiser becomes its
    lr relative to `base_lr` (the embedded runs use AdamW, but keep the COCO lr ratios
    between runs: maYOLACT 2x its siblings), and `augmentation` maps the pipeline."""
    sig = copy.deepcopy(sig)
    sig["optimizer"] = dict(lr_ratio=sig["optimizer"]["lr"] / base_lr)
    sig["augmentation"] = plain(augmentation(sig["augmentation"]))
    return sig


def test_embedded_runs_differ_as_coco_runs_do():
    """For every pair of runs, the embedded configs differ exactly as the COCO ones."""
    coco_lr = load("coco", "fixed_550").optimizer.lr
    embedded_lr = load("embedded", "fixed_550").optimizer.lr
    coco = {
        run: shrink_invariant(signature(load("coco", run)), coco_lr, embedded_augmentation)
        for run in RUNS
    }
    embedded = {
        run: shrink_invariant(signature(load("embedded", run)), embedded_lr) for run in RUNS
    }
    for a, b in itertools.combinations(sorted(RUNS), 2):
        assert difference(embedded[a], embedded[b]) == difference(coco[a], coco[b]), (a, b)
    # Stronger still: each embedded run carries its COCO run's signature.
    for run in RUNS:
        assert embedded[run] == coco[run], run


def test_embedded_shrink_is_the_same_for_every_run():
    def shrink(cfg):
        model = cfg.model
        backbone = {
            k: v for k, v in plain(model.backbone).items() if k not in ("dcn", "stage_with_dcn")
        }
        return dict(
            backbone=backbone,
            neck_channels=(
                plain(model.neck.in_channels),
                model.neck.out_channels,
                model.neck.num_outs,
                model.neck.start_level,
            ),
            bbox_head=(
                model.bbox_head.num_classes,
                model.bbox_head.in_channels,
                model.bbox_head.feat_channels,
            ),
            mask_head=(
                model.mask_head.num_classes,
                model.mask_head.in_channels,
                plain(model.mask_head.proto_channels),
            ),
            segm_head=(model.segm_head.num_classes, model.segm_head.in_channels),
            data=(cfg.data.samples_per_gpu, cfg.data.workers_per_gpu),
            optimizer={k: v for k, v in plain(cfg.optimizer).items() if k != "lr"},
            runner=plain(cfg.runner),
            warmup=(cfg.lr_config.warmup_iters, cfg.lr_config.by_epoch),
            evaluation=plain(cfg.evaluation),
            checkpoint=plain(cfg.checkpoint_config),
        )

    shrinks = {run: shrink(load("embedded", run)) for run in RUNS}
    first = shrinks["fixed_550"]
    assert all(s == first for s in shrinks.values())
    # Pretrained weights as on COCO, from the synthetic crops next to the dataset.
    assert first["backbone"]["init_cfg"] == dict(
        type="Pretrained", checkpoint=load("embedded", "fixed_550").data_root + "backbone.pth"
    )
    assert first["neck_channels"][0] == [64, 128, 256, 512]
    assert first["neck_channels"][2:] == (5, 1)  # num_outs and start level as COCO
    assert first["data"] == (8, 0)  # 8 images per iteration, loaded in the training process


def test_the_cpu_shrink_lives_in_one_overlay():
    """Every embedded model is its COCO model with configs/embedded/_base_/cpu_shrink.py
    merged over it (fixed IoU: and its anchors laid out for 128 px), and no other config
    file states any part of the shrink."""
    overlay = Config.fromfile(str(CONFIG_ROOT / "embedded/_base_/cpu_shrink.py")).cpu_shrink
    for run in RUNS:
        expected = Config._merge_a_into_b(plain(overlay), plain(load("coco", run).model))
        got = plain(load("embedded", run).model)
        if RUNS[run][0] == "fixed":
            got["bbox_head"]["anchor_generator"] = expected["bbox_head"]["anchor_generator"]
        assert got == expected, run
    for path in CONFIG_ROOT.rglob("*.py"):
        if path.name != "cpu_shrink.py":
            text = path.read_text()
            for part in ("base_channels", "proto_channels", "feat_channels=64", "out_channels=64"):
                assert part not in text, (path, part)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_embedded_config_matches_its_coco_run(run):
    family, coco_size = RUNS[run]
    size = EMBEDDED_SIZE[coco_size]
    cfg = load("embedded", run)
    coco = load("coco", run)

    # The COCO pipelines at the scaled size (training: less Expand and the hue shift).
    assert plain(cfg.data.train.pipeline) == plain(
        embedded_augmentation(expected_train_pipeline(size))
    )
    for split in ("val", "test"):
        assert plain(cfg.data[split].pipeline) == plain(expected_test_pipeline(size))

    # Anchor layout: fixed-IoU anchors rebased on the middle embedded size exactly as
    # the COCO ones are on 550; ATSS anchors unchanged.
    anchors = cfg.model.bbox_head.anchor_generator
    if family == "fixed":
        _, strides, centers = fixed_iou_strides(EMBEDDED_SIZE[550])
        assert plain(anchors.strides) == pytest.approx(strides)
        assert flat(anchors.centers) == pytest.approx(flat(centers))
    else:
        assert plain(anchors.strides) == plain(coco.model.bbox_head.anchor_generator.strides)

    # Dataset: the synthetic COCO-format data under one data_root.
    root = cfg.data_root
    assert cfg.data.train.ann_file == root + "annotations/instances_train.json"
    assert cfg.data.train.img_prefix == root + "train/"
    for split in ("val", "test"):
        assert cfg.data[split].ann_file == root + "annotations/instances_val.json"
        assert cfg.data[split].img_prefix == root + "val/"
        assert plain(cfg.data[split].classes) == plain(cfg.classes)
    assert plain(cfg.data.train.classes) == plain(cfg.classes)
    for head in ("bbox_head", "mask_head", "segm_head"):
        assert cfg.model[head].num_classes == len(cfg.classes) == cfg.num_classes

    # Schedule: the COCO one in iterations, evaluated and saved at the end.
    max_iters = cfg.runner.max_iters
    assert cfg.runner.type == "IterBasedRunner"
    # Another optimiser than COCO (the same for all runs), same lr ratios between runs.
    assert cfg.optimizer.lr / load("embedded", "fixed_550").optimizer.lr == pytest.approx(
        coco.optimizer.lr / load("coco", "fixed_550").optimizer.lr
    )
    assert cfg.lr_config.by_epoch is False
    assert cfg.lr_config.warmup_iters < coco.lr_config.warmup_iters
    if cfg.lr_config.policy == "step":
        assert plain(cfg.lr_config.step) == [round(max_iters * 0.8), round(max_iters * 0.95)]
    assert cfg.evaluation.interval == max_iters
    assert plain(cfg.evaluation.metric) == ["bbox", "segm"]
    assert cfg.checkpoint_config.interval == max_iters


@pytest.mark.parametrize("run", ["atss_iou_400", "mayolact_550"])
def test_embedded_schedule_follows_the_run_length(run):
    """runner.max_iters alone rescales warm-up, lr steps and intervals (derive_schedule);
    a key set on the command line is kept."""
    from maiou.engine.config import load_config

    path = str(CONFIG_ROOT / "embedded" / f"{run}.py")
    cfg = load_config(path, {"runner.max_iters": 20})
    assert cfg.lr_config.warmup_iters == 1
    assert cfg.checkpoint_config.interval == cfg.evaluation.interval == 20
    if cfg.lr_config.policy == "step":
        assert plain(cfg.lr_config.step) == [16, 19]
        kept = load_config(path, {"runner.max_iters": 20, "lr_config.step": [5]})
        assert plain(kept.lr_config.step) == [5] and kept.lr_config.warmup_iters == 1
    default = load_config(path)
    assert default.lr_config.warmup_iters == 10 and default.evaluation.interval == 200


def test_embedded_classes_are_the_generators():
    from maiou.data.drawing import CATEGORIES

    cfg = load("embedded", "fixed_550")
    names_by_id = [name for _, name, _ in sorted(CATEGORIES)]
    assert list(cfg.classes) == names_by_id


@pytest.mark.parametrize("run", sorted(RUNS))
def test_embedded_model_builds(run):
    family, _ = RUNS[run]
    model = build(load("embedded", run))
    spec = FAMILIES[family]
    assert model.bbox_head.prior_generator.num_base_anchors == ([spec["anchors_per_location"]] * 5)
    assert type(model.bbox_head.assigner).__name__ == spec["assigner"]["type"]
    deformable = [m for m in model.backbone.modules() if isinstance(m, ModulatedDeformConv2dPack)]
    assert len(deformable) == (13 if family == "mayolact" else 0)
    if family == "mayolact":
        assert any(isinstance(m, CARAFEPackPortable) for m in model.neck.modules())


def test_embedded_fused_adamw_makes_the_loops_update():
    """The embedded optimizer is torch's fused AdamW (one kernel, faster on a CPU); its
    update must be the per-parameter loop's up to rounding, weight decay included."""
    import torch
    from mmcv.runner import build_optimizer

    cfg = load("embedded", "fixed_550").optimizer
    assert cfg.get("fused") is True
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3), torch.nn.BatchNorm2d(16))
    grads = [[torch.randn_like(p) for p in module.parameters()] for _ in range(50)]
    weights = []
    for fused in (True, False):
        replica = copy.deepcopy(module)
        optimizer = build_optimizer(replica, dict(cfg, fused=fused))
        for step_grads in grads:
            for param, grad in zip(replica.parameters(), step_grads):
                param.grad = grad.clone()
            optimizer.step()
        weights.append([p.detach() for p in replica.parameters()])
    for fused_w, loop_w, start in zip(*weights, module.parameters()):
        assert not torch.equal(fused_w, start)  # the steps moved the weights
        torch.testing.assert_close(fused_w, loop_w, rtol=0, atol=1e-6)
