"""How much time oLRP adds on top of COCO AP, on a synthetic case of realistic size.

Builds a synthetic COCO-like box set (default: 500 images, 80 classes, 20 gt and 100
detections per image, each image drawing its objects from 8 classes), runs ONE
``COCOeval.evaluate()`` (shared by AP and oLRP), then times separately
  - AP:   ``accumulate()`` + ``summarize()`` (the evaluate pass is reported on its own),
  - oLRP: ``olrp_from_cocoeval`` on the same evaluated ``COCOeval``,
taking the best of ``--repeat`` runs for the last two. Prints seconds and the oLRP
overhead as a percentage of AP's own time (evaluate + accumulate + summarize).

    .venv/bin/python -m experiments.benchmarks.bench_olrp [--images 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from maiou.evaluation.olrp import (
    coco_gt_from_dict,
    evaluate_coco,
    load_results,
    olrp_from_cocoeval,
    quiet,
)


def synthetic(n_img: int, n_cls: int, n_gt: int, n_dt: int, cls_per_img: int, seed: int):
    """COCO gt dict and results list. Boxes [x, y, w, h] in pixels on 640x480 images.

    About 70% of detections are jittered copies of ground truths (so several per object:
    TPs and duplicate FPs at a spread of IoUs), the rest are random boxes.
    """
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "height": 480, "width": 640} for i in range(n_img)]
    cats = [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cls)]
    anns, dets = [], []
    for img in range(1, n_img + 1):
        classes = rng.choice(n_cls, cls_per_img, replace=False) + 1
        wh = rng.uniform(8, 200, (n_gt, 2))
        xy = rng.uniform(0, 1, (n_gt, 2)) * (np.array([640, 480]) - wh)
        gcls = rng.choice(classes, n_gt)
        for b, c in zip(np.hstack([xy, wh]), gcls):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img,
                    "category_id": int(c),
                    "bbox": b.round(1).tolist(),
                    "area": float(b[2] * b[3]),
                    "iscrowd": 0,
                }
            )
        n_near = int(0.7 * n_dt)
        src = rng.integers(0, n_gt, n_near)
        jit = rng.normal(0, 0.1, (n_near, 4)) * np.hstack([wh[src], wh[src]])
        near = np.hstack([xy[src], wh[src]]) + jit
        near[:, 2:] = np.maximum(near[:, 2:], 2)
        ncls = np.where(rng.random(n_near) < 0.9, gcls[src], rng.choice(classes, n_near))
        fwh = rng.uniform(8, 200, (n_dt - n_near, 2))
        far = np.hstack([rng.uniform(0, 1, (n_dt - n_near, 2)) * (np.array([640, 480]) - fwh), fwh])
        boxes = np.vstack([near, far])
        dcls = np.concatenate([ncls, rng.choice(classes, n_dt - n_near)])
        scores = np.concatenate(
            [rng.uniform(0.3, 1, n_near), rng.uniform(0.05, 0.6, n_dt - n_near)]
        )
        for b, c, s in zip(boxes, dcls, scores):
            dets.append(
                {
                    "image_id": img,
                    "category_id": int(c),
                    "bbox": b.round(1).tolist(),
                    "score": round(float(s), 4),
                }
            )
    return {"images": images, "categories": cats, "annotations": anns}, dets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--gt-per-image", type=int, default=20)
    ap.add_argument("--dets-per-image", type=int, default=100)
    ap.add_argument("--classes-per-image", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    gtd, dets = synthetic(
        a.images, a.classes, a.gt_per_image, a.dets_per_image, a.classes_per_image, a.seed
    )
    coco_gt = coco_gt_from_dict(gtd, "synthetic")
    coco_dt = load_results(coco_gt, dets, "bbox")

    t0 = time.perf_counter()
    E = evaluate_coco(coco_gt, coco_dt, "bbox")
    t_eval = time.perf_counter() - t0

    t_ap, t_olrp = [], []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        with quiet():
            E.accumulate()
            E.summarize()
        t_ap.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = olrp_from_cocoeval(E)
        t_olrp.append(time.perf_counter() - t0)
    t_acc, t_lrp = min(t_ap), min(t_olrp)

    print(
        f"case: {a.images} images, {a.classes} classes, {len(gtd['annotations'])} gt, "
        f"{len(dets)} detections (bbox)"
    )
    print(
        f"AP={E.stats[0]:.4f}  oLRP={res['oLRP']:.4f}  (loc {res['oLRP_loc']:.4f}, "
        f"FP {res['oLRP_FP']:.4f}, FN {res['oLRP_FN']:.4f})"
    )
    print(f"evaluate():                {t_eval:8.3f} s  (shared by AP and oLRP)")
    print(f"accumulate()+summarize():  {t_acc:8.3f} s  (best of {a.repeat})")
    print(f"oLRP from evaluated eval:  {t_lrp:8.3f} s  (best of {a.repeat})")
    print(
        f"oLRP overhead: {t_lrp:.3f} s = {100 * t_lrp / (t_eval + t_acc):.1f}% of AP's "
        f"{t_eval + t_acc:.2f} s ({100 * t_lrp / t_acc:.0f}% of accumulate+summarize)"
    )


if __name__ == "__main__":
    main()
