"""Embedded training iteration in the default (NCHW) and channels-last layout, same process.

What ``cpu_channels_last = True`` (configs/embedded/_base_/schedules/sgd_step.py) buys on a
CPU. Builds an embedded config's model twice from the same seed (no pretrained weights:
they do not change the cost), converts one copy with ``.to(memory_format=channels_last)``
as maiou.train does, and times forward + backward + the config's optimiser step on the
same real batches of the embedded train split, alternating the two layouts; prints the
median of each and their ratio.

    python -m experiments.benchmarks.bench_channels_last [--config configs/embedded/atss_iou_550.py]
        [--batches 6] [--repeats 3] [--threads 1]

Needs the embedded dataset (``python -m maiou.data.synthetic --out data/embedded``, or
MAIOU_EMBEDDED_ROOT naming another copy).
"""

import argparse
import copy
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/embedded/atss_iou_550.py"))
    parser.add_argument("--batches", type=int, default=6, help="distinct batches per repeat")
    parser.add_argument(
        "--repeats", type=int, default=3, help="passes over the batches; the first is a warm-up"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from mmcv import Config
    from mmcv.parallel import scatter
    from mmcv.runner import build_optimizer
    from mmcv.utils import get_logger
    from mmdet.datasets import build_dataloader, build_dataset
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    get_logger("mmcv").setLevel(logging.WARNING)  # init_weights logs every parameter

    cfg = Config.fromfile(args.config)
    ann_file = Path(cfg.data.train.ann_file)
    if not ann_file.is_file():
        sys.exit(
            f"{ann_file} not found: generate the embedded dataset first "
            "(python -m maiou.data.synthetic --out data/embedded)"
        )
    loader = build_dataloader(
        build_dataset(cfg.data.train), cfg.data.samples_per_gpu, 0, num_gpus=1, dist=False, seed=0
    )
    batches = []
    for data in loader:
        batches.append(scatter(data, [-1])[0])
        if len(batches) == args.batches:
            break

    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    layouts = {}
    for name in ("default", "channels_last"):
        torch.manual_seed(0)
        model = build_detector(model_cfg)
        model.init_weights()
        model.train()
        if name == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        layouts[name] = (model, build_optimizer(model, cfg.optimizer))

    seconds = {name: [] for name in layouts}
    for repeat in range(args.repeats):
        for name, (model, optimizer) in layouts.items():
            for data in batches:
                start = time.perf_counter()
                loss, _ = model._parse_losses(model(**data))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if repeat:
                    seconds[name].append(time.perf_counter() - start)

    median = {name: statistics.median(s) for name, s in seconds.items()}
    print(
        f"{Path(args.config).name}, batch {cfg.data.samples_per_gpu}, {args.threads} thread(s), "
        f"median of {len(seconds['default'])} iterations each:"
    )
    for name, value in median.items():
        print(f"  {name:14s} {1000 * value:7.1f} ms")
    print(f"  default / channels_last: {median['default'] / median['channels_last']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
