"""Backbone pretraining on object crops (maiou/pretrain_backbone.py): crop geometry, the
checkpoint loading into every embedded model, determinism, learning, bad input."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from maiou import pretrain_backbone
from maiou import runs as registry
from maiou.data.synthetic import generate_dataset
from maiou.pretrain_backbone import ObjectCrops, PretrainError, pretrain, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
FAMILIES = tuple(registry.run_at(assigner, 550).name for assigner in registry.ASSIGNERS)
RED = (220, 20, 20)


def _config(run="fixed_550"):
    from mmcv import Config

    return Config.fromfile(str(REPO / "configs" / "embedded" / f"{run}.py"))


def _one_square(root: Path, box=(30, 40, 24, 16)):
    """A 100 x 100 grey image with one red rectangle (x, y, w, h) of category 2 of 2."""
    x, y, w, h = box
    image = np.full((100, 100, 3), 100, np.uint8)
    image[y : y + h, x : x + w] = RED
    (root / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    cv2.imwrite(str(root / "train" / "a.png"), image[:, :, ::-1])
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 2,
                "bbox": list(box),
                "area": w * h,
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    (root / "annotations" / "instances_train.json").write_text(json.dumps(coco))
    return root / "annotations" / "instances_train.json", root / "train"


def test_crops_are_centred_on_their_object(tmp_path):
    ann, img_dir = _one_square(tmp_path)
    crops = ObjectCrops(ann, img_dir, mean=[0, 0, 0], std=[1, 1, 1], crop_size=32)
    images, labels = crops.sample(40, np.random.default_rng(0))
    assert images.shape == (40, 3, 32, 32) and images.dtype == torch.float32
    assert labels.tolist() == [1] * 40  # category id 2 is the second of [1, 2]
    # Red minus green survives the brightness / contrast jitter (x 0.5-1.5): 200 on the
    # rectangle, 0 on the grey background.
    red = (images[:, 0] - images[:, 1]) > 50
    assert red[:, 15:17, 15:17].all()  # the crop centre lies on the object
    # The object's longer side (24 px) spans 1/1.6 to 1 of the crop, the shorter 16 px
    # 2/3 of that: its area fraction lies within [(1/1.6)^2 * 2/3, 2/3] up to edge pixels.
    fraction = red.float().mean(dim=(1, 2))
    assert fraction.min() > 0.25 and fraction.max() < 0.72


def test_crop_of_an_untransformed_window_is_the_image(tmp_path):
    """With no context, jitter or photometric change, a crop of a box whose side equals the
    crop size is the image window itself (pixel-centre convention of the warp)."""
    ann, img_dir = _one_square(tmp_path, box=(30, 40, 24, 16))
    crops = ObjectCrops(ann, img_dir, mean=[0, 0, 0], std=[1, 1, 1], crop_size=24)

    class Fixed:  # a Generator stand-in: no context, no shift, no flip, no jitter
        def uniform(self, low=0.0, high=1.0):
            return {(1.0, 1.6): 1.0, (-32, 32): 0.0, (0.5, 1.5): 1.0}.get((low, high), 0.0)

        def random(self):
            return 1.0

    patch = crops.crop(0, Fixed())
    image = cv2.imread(str(img_dir / "a.png"))[:, :, ::-1].astype(np.float32)
    # Box centre (42, 48); side 24 -> window columns 30..53, rows 36..59.
    np.testing.assert_allclose(patch, image[36:60, 30:54], atol=1e-3)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    generate_dataset(root, seed=3, num_train=4, num_val=1, progress=False)
    return root


def test_pretraining_is_deterministic_and_learns(tiny_dataset):
    cfg = _config()
    first, history = pretrain(
        cfg, tiny_dataset, iters=60, batch_size=16, crop_size=32, progress=False
    )
    second, _ = pretrain(cfg, tiny_dataset, iters=60, batch_size=16, crop_size=32, progress=False)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    losses, accuracies = zip(*history)
    # Measured: loss 1.92 -> 1.08, accuracy 0.25 -> 0.62 (chance: 1/8).
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:5])
    assert np.mean(accuracies[-20:]) > 0.4


@pytest.mark.parametrize("run", FAMILIES)
def test_checkpoint_loads_into_every_embedded_backbone(tiny_dataset, tmp_path, run):
    """Every embedded model starts from exactly the pretrained weights; only maYOLACT's DCN
    offset layers (absent from the plain backbone) keep their own initialisation."""
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    weights, _ = pretrain(
        _config(), tiny_dataset, iters=2, batch_size=4, crop_size=32, progress=False
    )
    path = tmp_path / "backbone.pth"
    save_checkpoint(weights, {"iters": 2}, path)
    assert torch.load(path, weights_only=True)["meta"] == {"iters": 2}

    cfg = _config(run)
    assert cfg.model.backbone.init_cfg.type == "Pretrained"
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.data_root + "backbone.pth"
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    model = build_detector(cfg.model)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert set(weights) <= set(loaded)
    for key, value in weights.items():
        assert torch.equal(loaded[key], value), key
    extra = sorted(set(loaded) - set(weights))
    if run.startswith("mayolact"):
        assert extra and all(".conv_offset." in k for k in extra)
        assert all(not loaded[k].any() for k in extra)  # offsets start at zero, as on COCO
    else:
        assert extra == []


def test_bad_dataset_is_named(tmp_path, capsys):
    out = tmp_path / "b.pth"
    code = pretrain_backbone.main(
        ["--data-root", str(tmp_path / "nowhere"), "--out", str(out), "--no-progress"]
    )
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "nowhere/annotations/instances_train.json: no such annotation file" in err

    ann, img_dir = _one_square(tmp_path / "d")
    (img_dir / "a.png").unlink()
    with pytest.raises(PretrainError, match="a.png: missing or not an image"):
        ObjectCrops(ann, img_dir, mean=[0, 0, 0], std=[1, 1, 1])
    ann.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(PretrainError, match="no \\(non-crowd\\) annotated objects"):
        ObjectCrops(ann, img_dir, mean=[0, 0, 0], std=[1, 1, 1])
    ann.write_text("[1, 2]")
    with pytest.raises(PretrainError, match="not a COCO annotation file"):
        ObjectCrops(ann, img_dir, mean=[0, 0, 0], std=[1, 1, 1])


def test_training_names_a_missing_pretrained_backbone(tmp_path, capsys):
    from maiou import train

    code = train.main(
        [
            str(REPO / "configs" / "embedded" / "fixed_550.py"),
            "--work-dir",
            str(tmp_path / "w"),
            "--cfg-options",
            f"model.backbone.init_cfg.checkpoint={tmp_path}/missing.pth",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"model.backbone.init_cfg.checkpoint: {tmp_path}/missing.pth does not exist" in err
    assert "python -m maiou.pretrain_backbone" in err


def test_backbone_check_passes_configs_without_a_local_checkpoint():
    from mmcv import Config

    from maiou.engine.config import check_pretrained_backbone

    for init_cfg in (
        None,
        [dict(type="Kaiming", layer="Conv2d")],
        dict(type="Pretrained", checkpoint="torchvision://resnet50"),
    ):
        check_pretrained_backbone(Config(dict(model=dict(backbone=dict(init_cfg=init_cfg)))))
