"""The synthetic embedded dataset (maiou/data/synthetic.py) at 128 x 128 input.

COCO-format instance segmentation: data_root/annotations/instances_{train,val}.json with
images in data_root/{train,val}/. `data_root` is 'data/embedded/' unless the environment
variable MAIOU_EMBEDDED_ROOT names another directory.

The COCO runs' pipelines (docs/paper-facts.md, "Training data pipeline", "Test pipeline")
at a scaled input size, COCO 400 / 550 / 700 -> 96 / 128 / 160 here (multiples of 32 with
nearly the same ratios: 0.75 / 1 / 1.25 vs 0.73 / 1 / 1.27). Training keeps COCO's filter,
resize, normalisation and flip and leaves out its three augmentations, the same for every
run: `PhotoMetricDistortion`, `Expand` and `MinIoURandomCrop`. The short embedded runs
underfit and each of them slowed learning; more synthetic images (generation takes
seconds) take their place. The measurements: docs/embedded-benchmark.md.
"""

import os

img_size = 128
dataset_type = "CocoDataset"
data_root = os.environ.get("MAIOU_EMBEDDED_ROOT", "data/embedded/").rstrip("/") + "/"
# The one list of class names (its length is `num_classes` in ../models/*.py; a test
# checks both against the generator's CATEGORIES), in category-id order 1..8.
classes = ("disc", "square", "triangle", "ring", "crescent", "bracket", "cross", "bar")
img_norm_cfg = dict(mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)
train_pipeline = [
    dict(type="LoadImageFromFile", to_float32=True),
    dict(type="LoadAnnotations", with_bbox=True, with_mask=True),
    dict(type="FilterAnnotations", min_gt_bbox_wh=(4.0, 4.0)),
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
    samples_per_gpu=8,  # one process: 8 images per iteration (COCO: 4 x 8)
    # Loaded in the training process (COCO: 4 workers): 8 small images take ~10 ms of a
    # ~170 ms iteration, and on 2 shared cores that costs less than a worker process plus
    # the transfer of its batches (docs/embedded-benchmark.md, "Where the time goes").
    workers_per_gpu=0,
    train=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + "annotations/instances_train.json",
        img_prefix=data_root + "train/",
        pipeline=train_pipeline,
    ),
    val=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + "annotations/instances_val.json",
        img_prefix=data_root + "val/",
        pipeline=test_pipeline,
    ),
    test=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + "annotations/instances_val.json",
        img_prefix=data_root + "val/",
        pipeline=test_pipeline,
    ),
)
# `evaluation` (once, after the last iteration) is set with the schedule.
