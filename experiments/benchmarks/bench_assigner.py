"""Speed of ATSSmaIoUAssigner against mmdet's ATSSAssigner (and the published maIoU ATSS).

Same process, same inputs: a 550 px COCO-like image with irregular, partly occluded masks,
the ATSS YOLACT anchors (1 per location, strides 8..128: 6,416 anchors), 5 / 15 / 50
ground truths. Ours runs with each maIoU implementation: ``extent`` (buckets of extent-sized
integral images, the CPU default) and ``dense`` (whole-image integral images, no host sync,
the GPU default); masks are handed over as bool tensors on the device, as the head does.
"published" is the authors' assigner algorithm: stock ATSS reading a dense maIoU matrix
from the published integral-image loop; both of ours must give its assignment.

    python -m experiments.benchmarks.bench_assigner [--threads 1] [--repeats 20] [--device cpu]
"""

import argparse
import math

import torch
from mmdet.core.bbox.assigners import ATSSAssigner

from experiments.benchmarks.bench_maiou import _median_seconds
from maiou.models.assigners import ATSSmaIoUAssigner
from maiou.testing.reference import published_mask_aware_iou
from maiou.testing.scenes import grid_anchors, occluded_instances

IMAGE_SIZE = 550
ATSS_STRIDES = [8, 16, 32, 64, 128]


def atss_anchors(image_size, device):
    """(N, 4) YOLACT-ATSS anchors (octave base scale 4, ratio 1) and anchors per level."""
    anchors = grid_anchors(image_size, ATSS_STRIDES, 4, 1, [1.0]).to(device)
    return anchors, [math.ceil(image_size / s) ** 2 for s in ATSS_STRIDES]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    anchors, num_level = atss_anchors(IMAGE_SIZE, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"ATSS assigners, {IMAGE_SIZE} px, {len(anchors)} anchors — {name}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    print(
        f"{'GTs':>4}{'mmdet ATSS (IoU) ms':>21}{'extent ms':>11}{'ratio':>8}{'dense ms':>10}"
        f"{'ratio':>8}{'published maIoU ATSS ms':>25}{'positives IoU/maIoU':>21}"
    )
    ratios = {}
    for num_gts in (5, 15, 50):
        gt_bboxes, gt_masks = occluded_instances(IMAGE_SIZE, num_gts, seed=num_gts)
        gt_bboxes, gt_masks = gt_bboxes.to(device), gt_masks.to(device)
        labels = torch.zeros(num_gts, dtype=torch.long, device=device)
        stock = ATSSAssigner(topk=9)
        ours = {impl: ATSSmaIoUAssigner(topk=9, maiou_impl=impl) for impl in ("extent", "dense")}
        published = ATSSAssigner(topk=9)
        published.iou_calculator = lambda b, g, mode="iou": published_mask_aware_iou(
            g, b, gt_masks
        ).t()

        def run_stock():
            return stock.assign(anchors, num_level, gt_bboxes, None, labels)

        def run_ours(impl):
            return ours[impl].assign(anchors, num_level, gt_bboxes, None, labels, gt_masks=gt_masks)

        def run_published():
            return published.assign(anchors, num_level, gt_bboxes, None, labels)

        expected = run_published()
        for impl in ours:
            if not torch.equal(expected.gt_inds, run_ours(impl).gt_inds):
                raise SystemExit(
                    f"{num_gts} GTs: {impl} assignment differs from the published algorithm"
                )
        t_stock = _median_seconds(run_stock, device, args.repeats)
        t_ours = {
            impl: _median_seconds(lambda: run_ours(impl), device, args.repeats) for impl in ours
        }
        t_pub = _median_seconds(run_published, device, max(3, args.repeats // 4))
        ratios[num_gts] = {impl: t / t_stock for impl, t in t_ours.items()}
        cells = "".join(
            f"{t_ours[impl] * 1e3:>{w}.2f}{t_ours[impl] / t_stock:>7.2f}x"
            for impl, w in (("extent", 11), ("dense", 10))
        )
        print(
            f"{num_gts:>4}{t_stock * 1e3:>21.2f}{cells}{t_pub * 1e3:>25.2f}"
            f"{int((run_stock().gt_inds > 0).sum()):>12}/{int((expected.gt_inds > 0).sum())}"
        )
    return ratios


if __name__ == "__main__":
    main()
