"""The synthetic embedded dataset (maiou/data/synthetic.py) at 128 x 128 input.

COCO-format instance segmentation: data_root/annotations/instances_{train,val}.json with
images in data_root/{train,val}/. `data_root` is 'data/embedded/' unless the environment
variable MAIOU_EMBEDDED_ROOT names another directory.

The COCO runs' pipelines (variants.md, "Training data pipeline", "Test pipeline") at a
scaled input size, COCO 400 / 550 / 700 -> 96 / 128 / 160 here (multiples of 32 with nearly
the same ratios: 0.75 / 1 / 1.25 vs 0.73 / 1 / 1.27). Training keeps COCO's filter, resize,
normalisation and flip and leaves out its three augmentations, the same for every run:
`PhotoMetricDistortion`, `Expand` and `MinIoURandomCrop`. In 600 iterations the embedded
nets underfit (train-split AP = val AP), and every augmentation slowed their learning;
fresh synthetic images (1600 train images, generation takes seconds) do the job of
augmentation instead. Measured, one seed each, mask AP / box AP on atss_iou_400 and
atss_iou_550 (100 val images, 400 train images unless said):
* with COCO's augmentations less Expand and the hue shift (the previous default):
  10.6 / 18.8 and 13.9 / 21.4;
* without MinIoURandomCrop: 12.4 / 20.6 and 17.7 / 27.4 (atss_maiou_400: 11.5 / 19.2 ->
  13.0 / 22.3);
* without PhotoMetricDistortion too: 14.7 / 24.6 and 23.7 / 29.8; the train split then
  scored 35.1 box AP against val's 24.6 on atss_iou_400, a first sign of overfitting;
* with 1600 instead of 400 train images: 16.4 / 28.8 and 23.2 / 32.2 (4000: 15.2 / 29.6
  on atss_iou_400).
Earlier, `Expand` (zoom-out by up to 4x onto a mean-filled canvas) had shrunk most objects to
a few pixels at 128 px (atss_iou_550 from scratch: box AP 10.6 with it, 13.8 without), and
COCO's hue shift (+-36 degrees) would blur the categories' own hues, 45 degrees apart
(maiou/data/synthetic.py).
"""
import os

img_size = 128
dataset_type = 'CocoDataset'
data_root = os.environ.get('MAIOU_EMBEDDED_ROOT', 'data/embedded/').rstrip('/') + '/'
# The one list of class names (its length is `num_classes` in ../models/*.py; a test
# checks both against the generator's CATEGORIES), in category-id order 1..8.
classes = ('disc', 'square', 'triangle', 'ring', 'crescent', 'bracket', 'cross', 'bar')
img_norm_cfg = dict(
    mean=[123.68, 116.78, 103.94], std=[58.40, 57.12, 57.38], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(4.0, 4.0)),
    dict(type='Resize', img_scale=(img_size, img_size), keep_ratio=False),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='RandomFlip', flip_ratio=0.5),
    dict(type='DefaultFormatBundle'),
    dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=(img_size, img_size),
        flip=False,
        transforms=[
            dict(type='Resize', keep_ratio=False),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img']),
            dict(type='Collect', keys=['img']),
        ])
]
data = dict(
    samples_per_gpu=8,  # one process: 8 images per iteration (COCO: 4 x 8)
    workers_per_gpu=1,
    train=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + 'annotations/instances_train.json',
        img_prefix=data_root + 'train/',
        pipeline=train_pipeline),
    val=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + 'annotations/instances_val.json',
        img_prefix=data_root + 'val/',
        pipeline=test_pipeline),
    test=dict(
        type=dataset_type,
        classes=classes,
        ann_file=data_root + 'annotations/instances_val.json',
        img_prefix=data_root + 'val/',
        pipeline=test_pipeline))
# `evaluation` (once, after the last iteration) is set with the schedule.
