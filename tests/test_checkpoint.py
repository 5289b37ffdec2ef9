"""Safe checkpoint loading and strict loading of released checkpoints (maiou/engine/checkpoint.py).

Most models are tiny test-local YOLACTs (ResNet-50 layout at 1/8 width, 16 FPN channels)
built with mmdet's registries: one like the nine assigner runs, one like maYOLACT (DCNv2 in
stages 2-4, FPN_CARAFE, 2 anchors per location), so the key layouts cover every module
family of the released checkpoints; each builds in well under a second. The full-size
configs/coco models are checked against the authors' layout too (about 1-2 s each).
"""

import hashlib
import os
import os.path as osp
import pickle
import time

import numpy as np
import pytest
import torch
from mmcv import Config
from mmcv.runner import save_checkpoint
from mmdet.models import build_detector

from maiou import runs as registry
from maiou.engine.checkpoint import (
    CheckpointError,
    load_released_checkpoint,
    load_untrusted_checkpoint,
    read_checkpoint_meta,
)
from maiou.utils.digest import file_digest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CH = 16  # feature channels of the tiny models
NUM_CLASSES = 3
IN_CHANNELS = [32, 64, 128, 256]  # ResNet-50 stage widths / 8


def tiny_yolact_cfg(num_anchors=3, mayolact=False):
    """A shrunk YOLACT config dict; ``mayolact`` adds DCNv2 + FPN_CARAFE like the paper."""
    ratios = [0.5, 1.0, 2.0] if num_anchors == 3 else [1.0]
    scales_per_octave = 2 if mayolact else 1
    # ResNet-50's layout (Bottleneck blocks, which DCN needs) at 1/8 of the width.
    backbone = dict(
        type="ResNet",
        depth=50,
        base_channels=8,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=False,
        style="pytorch",
    )
    neck = dict(
        type="FPN",
        in_channels=IN_CHANNELS,
        out_channels=CH,
        start_level=1,
        add_extra_convs="on_input",
        num_outs=5,
        upsample_cfg=dict(mode="bilinear"),
    )
    if mayolact:
        backbone.update(
            dcn=dict(type="DCNv2", deform_groups=4, fallback_on_stride=False),
            stage_with_dcn=(False, True, True, True),
        )
        neck = dict(
            type="FPN_CARAFE",
            in_channels=IN_CHANNELS,
            out_channels=CH,
            num_outs=5,
            start_level=1,
            order=("conv", "norm", "act"),
            upsample_cfg=dict(
                type="carafe",
                up_kernel=5,
                up_group=1,
                encoder_kernel=3,
                encoder_dilation=1,
                compressed_channels=8,
            ),
        )
    return dict(
        type="YOLACT",
        backbone=backbone,
        neck=neck,
        bbox_head=dict(
            type="YOLACTHead",
            num_classes=NUM_CLASSES,
            in_channels=CH,
            feat_channels=CH,
            anchor_generator=dict(
                type="AnchorGenerator",
                octave_base_scale=3,
                scales_per_octave=scales_per_octave,
                ratios=ratios,
                strides=[8, 16, 32, 64, 128],
            ),
            bbox_coder=dict(
                type="DeltaXYWHBBoxCoder",
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2],
            ),
            loss_cls=dict(
                type="CrossEntropyLoss", use_sigmoid=False, reduction="none", loss_weight=1.0
            ),
            loss_bbox=dict(type="SmoothL1Loss", beta=1.0, loss_weight=1.5),
            num_head_convs=1,
            num_protos=4,
            use_ohem=True,
        ),
        mask_head=dict(
            type="YOLACTProtonet",
            in_channels=CH,
            num_protos=4,
            proto_channels=(CH, CH, CH, None, CH, 4),
            num_classes=NUM_CLASSES,
            max_masks_to_train=10,
            loss_mask_weight=6.125,
        ),
        segm_head=dict(
            type="YOLACTSegmHead",
            num_classes=NUM_CLASSES,
            in_channels=CH,
            loss_segm=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
        ),
        train_cfg=dict(
            assigner=dict(
                type="MaxIoUAssigner",
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0.0,
                ignore_iof_thr=-1,
                gt_max_assign_all=False,
            ),
            allowed_border=-1,
            pos_weight=-1,
            neg_pos_ratio=3,
            debug=False,
        ),
        test_cfg=dict(
            nms_pre=100, min_bbox_size=0, score_thr=0.05, iou_thr=0.5, top_k=20, max_per_img=10
        ),
    )


def build(num_anchors=3, mayolact=False, seed=0):
    torch.manual_seed(seed)
    model = build_detector(Config(dict(model=tiny_yolact_cfg(num_anchors, mayolact))).model)
    model.init_weights()
    return model


@pytest.fixture(scope="module")
def yolact():
    return build()


@pytest.fixture(scope="module")
def mayolact():
    return build(num_anchors=1, mayolact=True)


def randomized(state_dict, seed=1):
    """Same keys/shapes/dtypes, different values (so a load is observable)."""
    gen = torch.Generator().manual_seed(seed)
    out = type(state_dict)()
    for k, v in state_dict.items():
        out[k] = (
            torch.randn(v.shape, generator=gen).to(v.dtype)
            if v.is_floating_point()
            else v.clone() + 1
        )
    if hasattr(state_dict, "_metadata"):
        out._metadata = state_dict._metadata
    return out


def assert_same_tensors(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


class Evil:
    """Unpickling this runs ``touch <marker>`` (a stand-in for any payload)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ------------------------------------------------------------------------------------------
# Loading into the model
# ------------------------------------------------------------------------------------------
def saved(tmp_path, state_dict, name="released.pth"):
    path = tmp_path / name
    torch.save({"state_dict": state_dict, "meta": {"epoch": 1}}, path)
    return path


@pytest.mark.parametrize("which", ["yolact", "mayolact"])
def test_released_checkpoint_loads_strictly(which, request, tmp_path):
    model = request.getfixturevalue(which)
    ours = randomized(model.state_dict())
    target = build(num_anchors=1, mayolact=True, seed=7) if which == "mayolact" else build(seed=7)
    load_released_checkpoint(target, saved(tmp_path, ours))
    assert_same_tensors(target.state_dict(), ours)


def test_layout_covers_every_module_family(mayolact):
    """The families compared against the authors' fork are all present in the keys."""
    keys = set(mayolact.state_dict())
    for key in [
        "backbone.conv1.weight",
        "backbone.layer2.0.conv2.conv_offset.weight",
        "neck.upsample_modules.0.channel_compressor.weight",
        "neck.upsample_modules.0.content_encoder.weight",
        "neck.lateral_convs.0.conv.weight",
        "neck.fpn_convs.4.conv.weight",
        "bbox_head.head_convs.0.conv.weight",
        "bbox_head.conv_cls.weight",
        "bbox_head.conv_reg.weight",
        "bbox_head.conv_coeff.weight",
        "segm_head.segm_conv.weight",
        "mask_head.protonet.10.weight",
    ]:
        assert key in keys, key
    # maYOLACT: 2 scales per octave x 1 ratio = 2 anchors, (num_classes + 1) logits each.
    assert mayolact.state_dict()["bbox_head.conv_cls.weight"].shape[0] == 2 * (NUM_CLASSES + 1)


def test_ddp_module_prefix_is_stripped(yolact, tmp_path):
    ours = randomized(yolact.state_dict(), seed=2)
    wrapped = type(ours)((f"module.{k}", v) for k, v in ours.items())
    target = build(seed=8)
    load_released_checkpoint(target, saved(tmp_path, wrapped))
    assert_same_tensors(target.state_dict(), ours)


def test_missing_and_unexpected_keys_are_listed(yolact, tmp_path):
    released = yolact.state_dict()
    released.pop("bbox_head.conv_coeff.bias")
    released["bbox_head.extra_branch.weight"] = torch.zeros(1)
    path = saved(tmp_path, released)
    with pytest.raises(CheckpointError) as info:
        load_released_checkpoint(build(), path)
    msg = str(info.value)
    assert msg.startswith(str(path))
    assert "1 missing" in msg and "bbox_head.conv_coeff.bias" in msg
    assert "1 unexpected" in msg and "bbox_head.extra_branch.weight" in msg


def test_long_listings_are_truncated(yolact, tmp_path):
    released = yolact.state_dict()
    for k in [k for k in released if k.startswith("backbone.layer1.")]:
        released.pop(k)
    with pytest.raises(CheckpointError, match=r"\.\.\. \(\d+ more\)"):
        load_released_checkpoint(build(), saved(tmp_path, released))


def test_shape_mismatch_names_key_and_shapes(yolact, tmp_path):
    """A fixed-IoU (3 anchors) checkpoint cannot go into an ATSS (1 anchor) model."""
    atss_model = build(num_anchors=1)
    path = tmp_path / "fixed.pth"
    torch.save(yolact.state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_released_checkpoint(atss_model, path)
    msg = str(info.value)
    assert str(path) in msg and "shape mismatches" in msg and "bbox_head.conv_cls.weight" in msg
    assert "(12, 16, 3, 3) vs model (4, 16, 3, 3)" in msg


# The authors' model settings, transcribed from kemaloksuz/Mask-aware-IoU
# configs/mayolact/yolact_r50_4x8_coco_scale{400,550,700}[_ATSSwIoU|_ATSSwmaIoU].py and
# mayolact_r50_4x8_coco_scale550.py, built with *stock* mmdet modules (their fork changed
# only parameter-free assignment code). Anchor sizes/strides do not affect parameters and
# are left at defaults; the anchors per location do (3 fixed, 1 ATSS, 2 maYOLACT).
RUNS = list(registry.GROUPS["all"])  # the runs the authors trained


def authors_model_cfg(run):
    assigner = registry.get(run).assigner
    fixed, mayolact = assigner == "fixed", assigner == "mayolact"
    model = dict(
        type="YOLACT",
        backbone=dict(
            type="ResNet",
            depth=50,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            frozen_stages=-1,
            norm_cfg=dict(type="BN", requires_grad=True),
            norm_eval=False,
            zero_init_residual=False,
            style="pytorch",
        ),
        neck=dict(
            type="FPN",
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            start_level=1,
            add_extra_convs="on_input",
            num_outs=5,
            upsample_cfg=dict(mode="bilinear"),
        ),
        bbox_head=dict(
            type="YOLACTHead",
            num_classes=80,
            in_channels=256,
            feat_channels=256,
            anchor_generator=dict(
                type="AnchorGenerator",
                octave_base_scale=3 if fixed else 4,
                scales_per_octave=2 if mayolact else 1,
                ratios=[0.5, 1.0, 2.0] if fixed else [1.0],
                strides=[8, 16, 32, 64, 128],
            ),
            loss_cls=dict(
                type="CrossEntropyLoss", use_sigmoid=False, reduction="none", loss_weight=1.0
            ),
            num_head_convs=1,
            num_protos=32,
            use_ohem=True,
        ),
        mask_head=dict(
            type="YOLACTProtonet",
            in_channels=256,
            num_protos=32,
            num_classes=80,
            max_masks_to_train=100,
        ),
        segm_head=dict(type="YOLACTSegmHead", num_classes=80, in_channels=256),
    )
    if mayolact:
        # the authors' spelling, `deformable_groups`, is mmcv's deprecated alias
        model["backbone"].update(
            dcn=dict(type="DCNv2", deformable_groups=4, fallback_on_stride=False),
            stage_with_dcn=(False, True, True, True),
        )
        model["neck"] = dict(
            type="FPN_CARAFE",
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            num_outs=5,
            start_level=1,
            order=("conv", "norm", "act"),
            upsample_cfg=dict(
                type="carafe",
                up_kernel=5,
                up_group=1,
                encoder_kernel=3,
                encoder_dilation=1,
                compressed_channels=64,
            ),
        )
    return model


@pytest.mark.parametrize("run", RUNS)
def test_coco_configs_take_the_released_layout(run, tmp_path):
    """Our full-size configs/coco models load a checkpoint of the authors' models as is."""
    cfg = Config.fromfile(osp.join(REPO, registry.get(run).coco_config))
    ours = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    authors = build_detector(Config(dict(model=authors_model_cfg(run))).model)
    released = randomized(authors.state_dict())
    load_released_checkpoint(ours, saved(tmp_path, released))
    assert_same_tensors(ours.state_dict(), released)


# ------------------------------------------------------------------------------------------
# Loading genuine files
# ------------------------------------------------------------------------------------------
def test_mmcv_save_checkpoint_with_meta_loads(yolact, tmp_path):
    """mmcv's own output (meta with config text, time string, numpy scalar, optimizer)."""
    source = build(seed=3)
    source.CLASSES = ("a", "b", "c")
    optimizer = torch.optim.SGD(source.parameters(), lr=0.01, momentum=0.9)
    path = tmp_path / "epoch_3.pth"
    meta = dict(
        epoch=3,
        iter=12,
        config="model = dict(type='YOLACT')\n",
        seed=7,
        exp_name="tiny.py",
        time=time.asctime(),
        hook_msgs=dict(last_ckpt=str(path), best_score=np.float64(0.25), best_iter=np.int64(12)),
    )
    save_checkpoint(source, str(path), optimizer=optimizer, meta=meta)

    target = build(seed=4)
    load_released_checkpoint(target, path)
    assert_same_tensors(target.state_dict(), source.state_dict())

    loaded_meta = read_checkpoint_meta(path)
    assert loaded_meta["epoch"] == 3 and loaded_meta["iter"] == 12
    assert loaded_meta["CLASSES"] == ("a", "b", "c")
    assert float(loaded_meta["hook_msgs"]["best_score"]) == 0.25
    assert "mmcv_version" in loaded_meta


def test_legacy_format_checkpoint_loads(yolact, tmp_path):
    """torch<1.6 (the authors' era) wrote the non-zip format."""
    ours = randomized(yolact.state_dict(), seed=5)
    path = tmp_path / "legacy.pth"
    torch.save(
        {"state_dict": ours, "meta": {"epoch": 55, "CLASSES": ("a",)}},
        path,
        _use_new_zipfile_serialization=False,
    )
    loaded = load_untrusted_checkpoint(path)
    assert_same_tensors(loaded, ours)
    assert loaded._metadata == ours._metadata


def test_raw_state_dict_loads(yolact, tmp_path):
    path = tmp_path / "raw.pth"
    torch.save(yolact.state_dict(), path)
    assert_same_tensors(load_untrusted_checkpoint(path), yolact.state_dict())
    assert read_checkpoint_meta(path) == {}


# ------------------------------------------------------------------------------------------
# Refusing unsafe content
# ------------------------------------------------------------------------------------------
def _evil_files(tmp_path, marker):
    weights = {"w": torch.zeros(2)}
    zip_path, legacy_path = tmp_path / "evil_zip.pth", tmp_path / "evil_legacy.pth"
    torch.save({"state_dict": weights, "meta": {"x": Evil(marker)}}, zip_path)
    torch.save(
        {"state_dict": weights, "meta": Evil(marker)},
        legacy_path,
        _use_new_zipfile_serialization=False,
    )
    nested = tmp_path / "evil_in_state_dict.pth"
    torch.save({"state_dict": {"w": torch.zeros(2), "v": Evil(marker)}}, nested)
    files = [zip_path, legacy_path, nested]
    for protocol in (2, 4):  # plain pickles, as a hand-made "checkpoint" would be
        path = tmp_path / f"evil_p{protocol}.pkl"
        path.write_bytes(pickle.dumps(Evil(marker), protocol=protocol))
        files.append(path)
    return files


def test_payload_is_live_under_plain_pickle(tmp_path):
    """Sanity check of the test itself: unrestricted unpickling does run the payload."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Evil(marker)))
    assert marker.exists()


def test_malicious_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "MARKER"
    for path in _evil_files(tmp_path, marker):
        with pytest.raises(CheckpointError) as info:
            load_untrusted_checkpoint(path)
        msg = str(info.value)
        assert msg.startswith(str(path)) and "Nothing in it was executed" in msg, msg
        if not path.name.endswith("p4.pkl"):  # torch names the global it refused
            assert "posix.system" in msg or "os.system" in msg, msg
        assert "weights_only" not in msg, msg  # never advise unsafe loading
        with pytest.raises(CheckpointError):
            read_checkpoint_meta(path)
        assert not marker.exists(), path


def test_malicious_checkpoint_refused_even_with_env_override(tmp_path, monkeypatch):
    """TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD must not turn the safe path unsafe."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "MARKER"
    path = _evil_files(tmp_path, marker)[0]
    with pytest.raises(CheckpointError):
        load_untrusted_checkpoint(path)
    assert not marker.exists()


def test_object_dtype_numpy_is_refused(tmp_path):
    """The numpy allow-list covers numeric scalars only, not object arrays."""
    path = tmp_path / "objarray.pth"
    torch.save(
        {"state_dict": {"w": torch.zeros(1)}, "meta": {"a": np.array([None, "x"], dtype=object)}},
        path,
    )
    with pytest.raises(CheckpointError, match="numpy.*_reconstruct"):
        load_untrusted_checkpoint(path)


# ------------------------------------------------------------------------------------------
# Damaged or wrong files
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["zip", "legacy"])
@pytest.mark.parametrize("fraction", [0.5, 0.02])
def test_truncated_file_is_reported_by_name(yolact, tmp_path, fmt, fraction):
    full = tmp_path / "full.pth"
    torch.save(
        {"state_dict": yolact.state_dict(), "meta": {"epoch": 1}},
        full,
        _use_new_zipfile_serialization=(fmt == "zip"),
    )
    data = full.read_bytes()
    cut = tmp_path / f"cut_{fmt}.pth"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError) as info:
        load_untrusted_checkpoint(cut)
    msg = str(info.value)
    assert msg.startswith(str(cut)) and "again" in msg, msg


def test_missing_empty_html_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_untrusted_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_untrusted_checkpoint(tmp_path)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_untrusted_checkpoint(empty)
    html = tmp_path / "drive.pth"
    html.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning")
    with pytest.raises(CheckpointError, match="HTML page"):
        load_untrusted_checkpoint(html)
    text = tmp_path / "notes.pth"
    text.write_text("just some text")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_untrusted_checkpoint(text)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x80" + bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match=str(garbage)):
        load_untrusted_checkpoint(garbage)


def test_files_without_tensors_are_not_checkpoints(tmp_path):
    for name, obj in [
        ("meta_only", {"meta": {"epoch": 1}}),
        ("empty_sd", {"state_dict": {}}),
        ("list", [1, 2, 3]),
        ("mixed", {"w": torch.zeros(1), "note": "x"}),
    ]:
        path = tmp_path / f"{name}.pth"
        torch.save(obj, path)
        with pytest.raises(CheckpointError, match=str(path)):
            load_untrusted_checkpoint(path)


# ------------------------------------------------------------------------------------------
# Checksums
# ------------------------------------------------------------------------------------------
def test_file_digest(tmp_path):
    path = tmp_path / "blob.pth"
    data = os.urandom(3 << 20)  # spans several read chunks when chunk_mib=1
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    assert file_digest(path, "md5", chunk_mib=1) == hashlib.md5(data).hexdigest()
