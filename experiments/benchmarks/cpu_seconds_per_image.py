"""CPU seconds per image of the COCO models: the numbers behind maiou/engine/device.py's estimate.

For YOLACT (atss_maiou_<size>; the assigners differ by a few %) at 400 / 550 / 700 and
maYOLACT at 550 / 700, random weights, one process:

* train: forward + backward + SGD step of a batch of ``--images`` (default 2) COCO-like
  images (550-px-style occluded masks, 15 ground truths), per image;
* test: inference of one 640 x 480 image at batch 1 with post-processing (masks pasted at
  640 x 480), as maiou.evaluate times it.

Median of ``--repeats`` after one warm-up, in CPU time of this process
(``time.process_time``, one thread), which other work on a shared machine disturbs far less
than wall time. Prints a dict to paste into maiou/engine/device.py.

    OMP_NUM_THREADS=1 python -m experiments.benchmarks.cpu_seconds_per_image [--threads 1]
"""

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from maiou import runs as registry
from maiou.testing.scenes import training_batch

ROOT = Path(__file__).resolve().parents[2]
# (family, size, run): YOLACT timed as its ATSS-maIoU runs, maYOLACT as itself.
CASES = tuple(
    (("mayolact" if run.assigner == "mayolact" else "yolact"), run.coco_size, run.name)
    for run in registry.RUNS
    if run.assigner in ("atss_maiou", "mayolact")
)


def build(run):
    from mmcv import Config
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    cfg = Config.fromfile(str(ROOT / "configs" / "coco" / f"{run}.py"))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    return build_detector(model_cfg)


def seconds(fn, repeats):
    times = []
    for step in range(repeats + 1):
        start = time.process_time()
        fn()
        if step:
            times.append(time.process_time() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {}
    for family, size, run in CASES:
        model = build(run)
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
        data = training_batch(size, args.images, num_gts=15)

        def step():
            losses = model(return_loss=True, **data)
            loss, _ = model._parse_losses(losses)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        train = seconds(step, args.repeats) / args.images
        model.eval()
        img = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
        meta = dict(
            img_shape=(size, size, 3),
            pad_shape=(size, size, 3),
            ori_shape=(480, 640, 3),
            flip=False,
            batch_input_shape=(size, size),
            scale_factor=np.array([size / 640, size / 480] * 2, dtype=np.float32),
        )

        def infer():
            with torch.no_grad():
                model(return_loss=False, rescale=True, img=[img], img_metas=[[meta]])

        test = seconds(infer, args.repeats)
        out[(family, size)] = {"test": round(test, 2), "train": round(train, 2)}
        print(
            f"{run:<16} train {train:6.2f} CPU s/image   test {test:6.2f} CPU s/image", flush=True
        )
    print(
        f"CPU time, {args.threads} thread(s), median of {args.repeats}, torch {torch.__version__}"
    )
    print("CPU_SECONDS_PER_IMAGE = {")
    for key, value in out.items():
        print(f"    {key!r}: {value!r},")
    print("}")


if __name__ == "__main__":
    main()
