"""Training images left without instances are skipped, as in the authors' fork.

The COCO configs' training pipeline (``FilterAnnotationsOrSkip``, maiou/data/skip_empty.py)
on a three-image COCO file: one image with an object, one whose only annotation is a crowd,
one whose only object is under 4 px. The dataset hands out the object image for all three
(mmdet's ``CustomDataset`` draws another image when the pipeline returns None); mmdet 2.28's
``FilterAnnotations`` in the same place trains on the crowd-only image as pure background.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("skip_empty")
    (root / "images").mkdir()
    images, annotations = [], []

    def add(image_id, x, y, w, h, crowd=False):
        annotations.append(
            dict(
                id=len(annotations) + 1,
                image_id=image_id,
                category_id=1,
                bbox=[x, y, w, h],
                area=w * h,
                iscrowd=int(crowd),
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
            )
        )

    for image_id in (1, 2, 3):
        cv2.imwrite(
            str(root / "images" / f"{image_id}.jpg"), np.full((60, 80, 3), 40 * image_id, np.uint8)
        )
        images.append(dict(id=image_id, file_name=f"{image_id}.jpg", width=80, height=60))
    add(1, 10, 10, 50, 40)  # an object
    add(2, 5, 5, 60, 40, crowd=True)  # a crowd and nothing else
    add(3, 30, 30, 3, 3)  # one object of 3 x 3 px (under the 4-px filter)
    (root / "ann.json").write_text(
        json.dumps(
            dict(images=images, annotations=annotations, categories=[dict(id=1, name="person")])
        )
    )
    return root


def _coco_train_dataset(root: Path, filter_step=None):
    from mmcv import Config
    from mmdet.datasets import build_dataset

    import maiou.models  # noqa: F401  (registers FilterAnnotationsOrSkip)

    cfg = Config.fromfile(str(REPO / "configs/coco/atss_maiou_550.py"))
    train = copy.deepcopy(cfg.data.train)
    train.update(
        ann_file=str(root / "ann.json"), img_prefix=str(root / "images"), classes=("person",)
    )
    if filter_step is not None:
        train.pipeline = [
            filter_step if step["type"] == "FilterAnnotationsOrSkip" else step
            for step in train.pipeline
        ]
    return build_dataset(train)


@pytest.mark.parametrize("size", [400, 550, 700])
def test_coco_configs_skip_images_without_instances(size):
    from mmcv import Config

    for family in ("fixed", "atss_iou", "atss_maiou") + (("mayolact",) if size != 400 else ()):
        cfg = Config.fromfile(str(REPO / f"configs/coco/{family}_{size}.py"))
        steps = [step for step in cfg.data.train.pipeline if "Filter" in step["type"]]
        assert [dict(step) for step in steps] == [
            dict(type="FilterAnnotationsOrSkip", min_gt_bbox_wh=(4.0, 4.0))
        ]


def test_images_without_instances_are_redrawn(dataset_files):
    dataset = _coco_train_dataset(dataset_files)
    names = [info["filename"] for info in dataset.data_infos]
    assert names == ["1.jpg", "2.jpg", "3.jpg"]  # none filtered when the dataset is built
    np.random.seed(0)
    for index in range(3):
        data = dataset[index]
        assert data["img_metas"].data["ori_filename"] == "1.jpg"
        assert data["gt_bboxes"].data.shape[0] == 1
    assert dataset.prepare_train_img(1) is None and dataset.prepare_train_img(2) is None


def test_stock_filter_trains_on_the_crowd_only_image(dataset_files):
    """What mmdet 2.28 does in the same place (the behaviour we replace)."""
    stock = dict(type="FilterAnnotations", min_gt_bbox_wh=(4.0, 4.0))
    dataset = _coco_train_dataset(dataset_files, stock)
    np.random.seed(0)
    data = dataset.prepare_train_img(1)
    assert data is not None and data["gt_bboxes"].data.shape[0] == 0
    assert data["img_metas"].data["ori_filename"] == "2.jpg"
