"""One full training iteration of atss_iou_550 against atss_maiou_550, same process.

Builds both COCO configs' models (no pretrained download; the two differ only in the
assigner), feeds the same COCO-like batch (550 x 550 images, irregular occluded masks) and
times forward + backward + SGD step (lr 0, same cost), median of ``--repeats`` after one warm-up.

    python -m experiments.benchmarks.bench_train_iteration [--images 2] [--gts 15]
        [--repeats 3] [--device cpu] [--threads 2] [--maiou-impl auto]

``--maiou-impl`` sets the maIoU implementation of atss_maiou_550's assigner (``auto``, the
configs' default: dense integral images on a GPU, extent buckets on a CPU).
"""

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch

from maiou.testing.scenes import training_batch

ROOT = Path(__file__).resolve().parents[2]
SIZE = 550


def build(run, device):
    from mmcv import Config
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    cfg = Config.fromfile(str(ROOT / "configs" / "coco" / f"{run}.py"))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    model = build_detector(model_cfg).to(device).train()
    # lr 0: the SGD step costs the same, and repeating one batch from random weights
    # at the real lr diverges within a few steps (NaN scores would stop the timing).
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    return model, optimizer


def seconds_per_iteration(model, optimizer, data, repeats, device):
    times = []
    for step in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        losses = model(return_loss=True, **data)
        loss, _ = model._parse_losses(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first iteration warms up allocators and caches
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--gts", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--maiou-impl", default="auto", choices=["auto", "dense", "extent"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = training_batch(SIZE, args.images, args.gts, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"one training iteration, {args.images} x {SIZE} px images, {args.gts} GTs each — "
        f"{name}, {args.threads} thread(s), median of {args.repeats}, maIoU impl "
        f"{args.maiou_impl}"
    )
    timings = {}
    # Alternate the two runs so drift on a shared machine hits both alike.
    models = {run: build(run, device) for run in ("atss_iou_550", "atss_maiou_550")}
    models["atss_maiou_550"][0].bbox_head.assigner.maiou_impl = args.maiou_impl
    for _ in range(2):
        for run, (model, optimizer) in models.items():
            t = seconds_per_iteration(model, optimizer, data, args.repeats, device)
            timings[run] = min(timings.get(run, float("inf")), t)
    for run, t in timings.items():
        print(f"{run:<16} {t:8.3f} s/iteration")
    ratio = timings["atss_maiou_550"] / timings["atss_iou_550"]
    print(f"ratio atss_maiou_550 / atss_iou_550 = {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main()
