"""Time of the paired bootstrap for one pair of runs at COCO val2017 size, one thread.

    OMP_NUM_THREADS=1 python -m experiments.benchmarks.bench_bootstrap \
        [--images 5000] [--classes 80] [--dets 100] [--resamples 1000]

Builds, for two runs, a synthetic per-image matching of val2017's size (``--images``
images, ``--classes`` categories, ``--dets`` detections per image, 7.3 ground truths per
image as in val2017; the same layout ``maiou.evaluation.matches`` extracts from a real
``COCOeval``), then times ``maiou.evaluation.bootstrap.bootstrap`` on the pair: each
resample scores mask AP, box AP (10 IoU thresholds, 101 recall points) and mask oLRP of
both runs. The matching is made once and not timed: that is the point of the design (a
real val2017 ``evaluate()`` per run takes minutes, done once by maiou.evaluate).
Also prints the time of one all-ones scoring of one matching, the work a resample repeats
six times (3 metrics x 2 runs), as a check on the total.

The synthetic matching: each detection belongs to an image and a class (half of them to a
class present in the image), draws a best IoU, and is a TP at a threshold while the
class's ground truths in that image last (in score order); the timing depends on the
counts of detections, classes and thresholds, not on which detections are TPs.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from maiou.evaluation.bootstrap import bootstrap
from maiou.evaluation.matches import Matches
from maiou.evaluation.weighted import weighted_ap

IOU_THRS = np.linspace(0.5, 0.95, 10)
REC_THRS = np.linspace(0.0, 1.0, 101)
GTS_PER_IMAGE = 7.3  # COCO val2017: 36,781 non-crowd objects in 5,000 images


def synthetic_matches(
    rng: np.random.Generator, images: int, classes: int, dets: int, quality: float
) -> Matches:
    """A matching of ``images`` x ``dets`` detections; ``quality`` shifts the IoUs up."""
    n_gt = rng.poisson(GTS_PER_IMAGE, images)
    gt_img = np.repeat(np.arange(images), n_gt)
    gt_cls = rng.integers(0, classes, gt_img.size)
    counts = np.zeros((classes, images), dtype=np.int64)
    np.add.at(counts, (gt_cls, gt_img), 1)

    image = np.repeat(np.arange(images), dets)
    own = rng.random(image.size) < 0.5  # half the detections take a class of their image
    first = np.concatenate([[0], np.cumsum(n_gt)])
    pick = first[image] + (rng.random(image.size) * np.maximum(n_gt[image], 1)).astype(int)
    cls = np.where(
        own & (n_gt[image] > 0),
        gt_cls[np.minimum(pick, gt_cls.size - 1)],
        rng.integers(0, classes, image.size),
    )
    score = rng.random(image.size)
    iou = np.clip(rng.beta(2 + 3 * quality, 2, image.size), 0, 1)
    iou[counts[cls, image] == 0] = 0.0

    # Per class, images in order, each image's detections by score: then a stable sort by
    # score, as accumulate() does.
    order = np.lexsort((-score, image, cls))
    image, cls, score, iou = image[order], cls[order], score[order], iou[order]
    group = cls * images + image
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    group_id = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1
    tp = np.zeros((len(IOU_THRS), image.size), dtype=bool)
    for t, thr in enumerate(IOU_THRS):
        hit = iou >= thr
        rank = np.cumsum(hit) - np.r_[0, np.cumsum(hit)][starts][group_id]  # within group
        tp[t] = hit & (rank <= counts[cls, image])
    fp = ~tp
    offsets = np.searchsorted(cls, np.arange(classes + 1))
    final = np.concatenate(
        [o0 + np.argsort(-score[o0:o1], kind="mergesort") for o0, o1 in zip(offsets, offsets[1:])]
    )
    gt_cls_img = np.nonzero(counts)  # (class, image) pairs, class-major
    return Matches(
        img_ids=np.arange(1, images + 1),
        cat_ids=np.arange(1, classes + 1),
        iou_thrs=IOU_THRS,
        rec_thrs=REC_THRS,
        offsets=offsets.astype(np.int64),
        scores=score[final],
        image=image[final],
        tp=tp[:, final],
        fp=fp[:, final],
        tp_iou=np.where(tp[0], iou, 0.0)[final],
        gt_offsets=np.searchsorted(gt_cls_img[0], np.arange(classes + 1)).astype(np.int64),
        gt_image=gt_cls_img[1].astype(np.int64),
        gt_count=counts[gt_cls_img],
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--dets", type=int, default=100, help="detections per image")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    runs = {
        name: [
            {
                kind: synthetic_matches(rng, args.images, args.classes, args.dets, q)
                for kind in ("segm", "bbox")
            }
        ]
        for name, q in (("atss_iou", 0.0), ("atss_maiou", 0.2))
    }
    made = time.perf_counter() - t0
    m = runs["atss_iou"][0]["segm"]
    t0 = time.perf_counter()
    weighted_ap(m, np.ones(m.num_images))
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = bootstrap(runs, [("atss_iou", "atss_maiou")], args.resamples, seed=0)
    total = time.perf_counter() - t0
    print(
        f"paired bootstrap, {args.images} images x {args.classes} classes x {args.dets} "
        f"detections per image ({len(m.scores)} per matching), {args.resamples} resamples "
        f"— CPU ({platform.processor() or platform.machine()}), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print(f"synthetic matchings made in {made:.1f} s (not part of the bootstrap)")
    print(f"one AP scoring of one matching: {one * 1e3:.0f} ms")
    print(
        f"{args.resamples} resamples x (mask AP, box AP, mask oLRP) x 2 runs: {total:.1f} s "
        f"({total / args.resamples * 1e3:.0f} ms per resample)"
    )
    pair = out["pairs"][0]["segm_AP"]
    print(
        f"mask AP difference {100 * pair['delta']:+.2f} [{100 * pair['lo']:+.2f}, "
        f"{100 * pair['hi']:+.2f}] points"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
