"""The synthetic embedded dataset: determinism, COCO validity, occlusion statistics, reruns."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from maiou.data import synthetic
from maiou.data.drawing import (
    CATEGORIES,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_PIXELS,
    generate_image,
)
from maiou.data.synthetic import generate_dataset, read_marker

SMALL = {"num_train": 6, "num_val": 3}


def _files(root: Path) -> dict:
    """Relative path -> bytes of every file under ``root``."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _load(root: Path, split: str) -> dict:
    return json.loads((root / "annotations" / f"instances_{split}.json").read_text())


def _ratios(annotations) -> np.ndarray:
    return np.array([a["area"] / (a["bbox"][2] * a["bbox"][3]) for a in annotations])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """~120 images (~600 annotations): enough for stable statistics, generated in ~1 s."""
    root = tmp_path_factory.mktemp("synthetic")
    assert generate_dataset(root, seed=7, num_train=100, num_val=20, progress=False)
    return root


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_dataset(a, seed=11, progress=False, **SMALL)
    generate_dataset(b, seed=11, progress=False, **SMALL)
    generate_dataset(c, seed=12, progress=False, **SMALL)
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    assert len([k for k in files_a if k.endswith(".png")]) == 9
    assert files_a == files_b
    assert set(files_a) == set(files_c)
    for name in ("annotations/instances_train.json", "train/000000.png", "val/000002.png"):
        assert files_a[name] != files_c[name], name


def test_a_train_draw_of_its_own_keeps_the_val_split(tmp_path):
    """``train_seed`` redraws the train split alone: every training seed of the embedded
    benchmark trains on its own draw and is scored on the same val images."""
    base, other = tmp_path / "base", tmp_path / "other"
    generate_dataset(base, seed=11, progress=False, **SMALL)
    generate_dataset(other, seed=11, train_seed=12, progress=False, **SMALL)
    files_base, files_other = _files(base), _files(other)
    vals = [k for k in files_base if k.startswith("val/")]
    assert vals and all(files_base[k] == files_other[k] for k in vals)
    assert files_base["train/000000.png"] != files_other["train/000000.png"]
    # The train split of train_seed 12 is the train split of seed 12.
    twelve = tmp_path / "twelve"
    generate_dataset(twelve, seed=12, progress=False, **SMALL)
    assert files_other["train/000000.png"] == _files(twelve)["train/000000.png"]


def test_images_do_not_depend_on_split_size(tmp_path):
    # Each image has its own seed (seed, split, index), so growing a split keeps its prefix.
    generate_dataset(tmp_path / "few", seed=5, num_train=2, num_val=1, progress=False)
    generate_dataset(tmp_path / "more", seed=5, num_train=4, num_val=1, progress=False)
    for name in ("train/000000.png", "train/000001.png", "val/000000.png"):
        assert (tmp_path / "few" / name).read_bytes() == (tmp_path / "more" / name).read_bytes()


def test_generate_image_is_deterministic_and_masks_disjoint():
    img1, inst1 = generate_image(np.random.default_rng(3), image_size=96)
    img2, inst2 = generate_image(np.random.default_rng(3), image_size=96)
    assert img1.shape == (96, 96, 3) and img1.dtype == np.uint8
    assert np.array_equal(img1, img2)
    assert [i["category_id"] for i in inst1] == [i["category_id"] for i in inst2]
    stack = np.stack([i["mask"] for i in inst1]).astype(int)
    # Occluded pixels belong to the nearest object only.
    assert stack.sum(0).max() <= 1


def test_coco_fields_masks_boxes_and_areas(dataset):
    for split, count in (("train", 100), ("val", 20)):
        coco = _load(dataset, split)
        assert [c["id"] for c in coco["categories"]] == [c[0] for c in CATEGORIES]
        assert {c["supercategory"] for c in coco["categories"]} == {"compact", "thin"}
        assert len(coco["images"]) == count
        images = {im["id"]: im for im in coco["images"]}
        assert len(images) == count
        for im in coco["images"]:
            with Image.open(dataset / split / im["file_name"]) as pil:
                assert pil.size == (im["width"], im["height"]) == (128, 128)
                assert pil.mode == "RGB"
        ids = [a["id"] for a in coco["annotations"]]
        assert len(set(ids)) == len(ids) and min(ids) >= 1
        union = {}
        for ann in coco["annotations"]:
            im = images[ann["image_id"]]
            assert ann["iscrowd"] == 0
            assert isinstance(ann["segmentation"]["counts"], str)
            m = mask_utils.decode(ann["segmentation"]).astype(bool)
            assert m.shape == (im["height"], im["width"])
            assert ann["area"] == int(m.sum()) >= MIN_VISIBLE_PIXELS
            rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
            assert ann["bbox"] == [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]
            assert 0.0 <= ann["occluded_fraction"] <= 1.0 - MIN_VISIBLE_FRACTION + 1e-4
            seen = union.setdefault(ann["image_id"], np.zeros_like(m))
            assert not (seen & m).any(), "visible masks of one image must not overlap"
            seen |= m


def test_pycocotools_loads_it(dataset):
    coco = COCO(str(dataset / "annotations" / "instances_val.json"))
    assert len(coco.getImgIds()) == 20
    assert len(coco.getCatIds()) == len(CATEGORIES)
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[1]))[0]
    assert coco.annToMask(ann).sum() == ann["area"]


def test_occlusion_and_mask_over_box_statistics(dataset):
    anns = _load(dataset, "train")["annotations"] + _load(dataset, "val")["annotations"]
    assert len(anns) > 400
    ratio = _ratios(anns)
    occluded = np.array([a["occluded_fraction"] for a in anns])
    # The box should often say little about the object: many masks fill under 40 % of it.
    assert 0.35 <= np.median(ratio) <= 0.7
    assert np.mean(ratio < 0.4) >= 0.2
    # ...and occlusion should be common, often heavy.
    assert np.mean(occluded > 0.05) >= 0.3
    assert np.mean(occluded > 0.25) >= 0.15
    # Every category appears, and thin silhouettes fill their boxes less than compact ones.
    groups = {cid: sup for cid, _, sup in CATEGORIES}
    cats = np.array([a["category_id"] for a in anns])
    assert set(cats.tolist()) == set(groups)
    thin = np.array([groups[c] == "thin" for c in cats])
    assert np.median(ratio[thin]) + 0.15 < np.median(ratio[~thin])
    # Scales vary: small and large objects both occur (128 px images).
    areas = np.array([a["area"] for a in anns])
    assert np.mean(areas < 300) > 0.1 and np.mean(areas > 2000) > 0.05


def test_rerun_with_same_parameters_is_a_no_op(tmp_path, monkeypatch):
    assert generate_dataset(tmp_path, seed=1, progress=False, **SMALL)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}

    def fail(*args, **kwargs):
        raise AssertionError("must not regenerate")

    monkeypatch.setattr(synthetic, "_split_dataset", fail)
    assert generate_dataset(tmp_path, seed=1, progress=False, **SMALL) is False
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_different_parameters_regenerate_and_remove_stale_images(tmp_path):
    generate_dataset(tmp_path, seed=1, num_train=4, num_val=2, progress=False)
    (tmp_path / "train" / "notes.txt").write_text("not ours")
    assert generate_dataset(tmp_path, seed=1, num_train=2, num_val=2, progress=False)
    names = sorted(p.name for p in (tmp_path / "train").glob("*.png"))
    assert names == ["000000.png", "000001.png"]
    assert (tmp_path / "train" / "notes.txt").exists()  # only our NNNNNN.png files are deleted
    assert read_marker(tmp_path)["num_train"] == 2
    assert len(_load(tmp_path, "train")["images"]) == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_interrupted_generation_is_not_complete(tmp_path, monkeypatch):
    calls = []
    real = synthetic._encode_png

    def crash_on_third(image):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(image)

    monkeypatch.setattr(synthetic, "_encode_png", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path, seed=2, progress=False, **SMALL)
    assert read_marker(tmp_path) is None
    monkeypatch.setattr(synthetic, "_encode_png", real)
    assert generate_dataset(tmp_path, seed=2, progress=False, **SMALL)
    assert read_marker(tmp_path)["seed"] == 2


def test_rejects_bad_object_counts(tmp_path):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, seed=0, min_objects=5, max_objects=2, progress=False)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "--out",
        str(out),
        "--seed",
        "3",
        "--num-train",
        "3",
        "--num-val",
        "2",
        "--image-size",
        "64",
        "--no-progress",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "maiou.data.synthetic", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    assert len(list((out / "train").glob("*.png"))) == 3
    assert _load(out, "val")["images"][0]["width"] == 64
    marker = read_marker(out)
    assert marker["seed"] == 3 and marker["image_size"] == 64
    # The same command again (in-process, to skip a second interpreter start) does nothing.
    assert synthetic.main(args) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_contact_sheet_renders(dataset, tmp_path):
    from experiments.scripts import contact_sheet

    out = tmp_path / "sheet.png"
    assert (
        contact_sheet.main(
            ["--data", str(dataset), "--split", "val", "--num", "4", "--out", str(out)]
        )
        == 0
    )
    with Image.open(out) as pil:
        assert pil.format == "PNG" and pil.size[0] > 400
    assert not list(tmp_path.glob("*.tmp"))


def test_categories_own_a_hue_and_stand_out_from_the_background(dataset):
    """Each category is drawn in its own hue (eighths of the colour circle), strongly
    saturated on a greyish background: the embedded configs rely on it (no hue shift in
    their augmentation)."""
    import cv2

    coco = COCO(str(dataset / "annotations" / "instances_train.json"))
    hue_errors, object_sat, background_sat = [], [], []
    for image_id in coco.getImgIds()[:40]:
        info = coco.loadImgs(image_id)[0]
        rgb = np.asarray(Image.open(dataset / "train" / info["file_name"]).convert("RGB"))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float64) / 255.0
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        covered = np.zeros(rgb.shape[:2], dtype=bool)
        for ann in anns:
            mask = coco.annToMask(ann).astype(bool)
            covered |= mask
            # Mean hue as an angle average (hue wraps around at red).
            angle = 2 * np.pi * hsv[..., 0][mask]
            mean_hue = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * np.pi) % 1.0
            target = (ann["category_id"] - 1) / len(CATEGORIES)
            hue_errors.append(min(abs(mean_hue - target), 1 - abs(mean_hue - target)))
            object_sat.append(np.median(hsv[..., 1][mask]))
        background_sat.append(np.median(hsv[..., 1][~covered]))
    hue_errors = np.array(hue_errors)
    # Half the distance to the next category's hue is 1/16 = 0.0625.
    assert np.percentile(hue_errors, 95) < 0.045, np.percentile(hue_errors, 95)
    assert np.median(object_sat) > 0.6 > 0.35 > np.median(background_sat)
