"""COCO 2017 instance segmentation, YOLACT augmentation, 550 x 550 input.

docs/paper-facts.md, "Training data pipeline" and "Test pipeline". Training uses train2017,
evaluation val2017 (minival), where the paper's assigner comparison is reported. The
dataset root is `data_root`: 'data/coco/' unless the environment variable
MAIOU_COCO_ROOT names another directory (holding annotations/, train2017/, val2017/).
"""

import os

img_size = 550
dataset_type = "CocoDataset"
data_root = os.environ.get("MAIOU_COCO_ROOT", "data/coco/").rstrip("/") + "/"
img_norm_cfg = dict(mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)
train_pipeline = [
    dict(type="LoadImageFromFile", to_float32=True),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    # As the authors' fork: an image left without instances (crowd-only, or every box
    # under 4 px) is skipped and another drawn (maiou/data/skip_empty.py).
    dict(type="FilterAnnotationsOrSkip", min_gt_bbox_wh=(4.0, 4.0)),
    dict(
        type="PhotoMetricDistortion",
        brightness_delta=32,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta=18,
    ),
    dict(
        type="Expand", mean=img_norm_cfg["mean"], to_rgb=img_norm_cfg["to_rgb"], ratio_range=(1, 4)
    ),
    dict(type="MinIoURandomCrop", min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type="Resize", img_scale=(img_size, img_size), keep_ratio=False),
    dict(type="Normalize", **img_norm_cfg),
    dict(type="RandomFlip", flip_ratio=0.5),
    dict(type="DefaultFormatBundle"),
    dict(type="Collect", keys=["img", "gt_bboxes", "gt_labels", "gt_masks"]),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(
        type="MultiScaleFlipAug",
        img_scale=(img_size, img_size),
        flip=False,
        transforms=[
            dict(type="Resize", keep_ratio=False),
            dict(type="Normalize", **img_norm_cfg),
            dict(type="ImageToTensor", keys=["img"]),
            dict(type="Collect", keys=["img"]),
        ],
    ),
]
data = dict(
    samples_per_gpu=8,  # x 4 GPUs = 32 images per iteration
    workers_per_gpu=4,  # not in docs/paper-facts.md; the authors' value
    train=dict(
        type=dataset_type,
        ann_file=data_root + "annotations/instances_train2017.json",
        img_prefix=data_root + "train2017/",
        pipeline=train_pipeline,
    ),
    val=dict(
        type=dataset_type,
        ann_file=data_root + "annotations/instances_val2017.json",
        img_prefix=data_root + "val2017/",
        pipeline=test_pipeline,
    ),
    test=dict(
        type=dataset_type,
        ann_file=data_root + "annotations/instances_val2017.json",
        img_prefix=data_root + "val2017/",
        pipeline=test_pipeline,
    ),
)
# Every epoch, as the authors' 550 and maYOLACT configs (fixed_400 / fixed_700: every 5).
evaluation = dict(interval=1, metric=["bbox", "segm"])
