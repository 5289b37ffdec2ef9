"""Evaluate one run: inference, COCO AP + oLRP (box and mask), speed, into one metrics.json.

    python -m maiou.evaluate CONFIG CHECKPOINT --out DIR [--device cpu|cuda]
        [--speed-images 50] [--warmup 5] [--max-images N] [--cfg-options k=v ...]

Writes ``DIR/results.bbox.json``, ``DIR/results.segm.json`` (COCO results),
``DIR/matches.bbox.npz``, ``DIR/matches.segm.npz`` (the per-image matching, re-weighted by
the bootstrap: ``maiou.evaluation.matches``) and ``DIR/metrics.json``: the 12 COCO numbers
and oLRP with its components for boxes and masks, images/s at batch 1 (model forward +
post-processing, after a warm-up), anchors per image, the config, the checkpoint's sha256,
package versions, the device and what the model was trained from (``trained_from``: the
training's resolved config as its checkpoint stored it, the starting backbone's sha256 and
how it was made, the train data's parameters), from which experiments/recipe.py computes
the recipe a seed spread belongs to. Every file is written to a temporary name and renamed, so
a killed run leaves no half-written output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from maiou.engine.config import inference_image_size, load_config
from maiou.rundir import METRICS_NAME
from maiou.utils.atomic import write_json_atomic
from maiou.utils.cli import DEBUG_HELP, entry_point

PROG = "maiou.evaluate"
__all__ = ["evaluate", "anchors_per_image", "main"]


def anchors_per_image(model, image_size: tuple[int, int], device) -> int:
    """Anchors the head lays on one ``image_size`` (h, w) input (all levels)."""
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, *image_size, device=device))
    generator = model.bbox_head.prior_generator
    return int(sum(n * f.shape[-2] * f.shape[-1] for n, f in zip(generator.num_base_priors, feats)))


def _subset(coco, img_ids):
    """The ground truth restricted to ``img_ids`` (for --max-images)."""
    from maiou.evaluation import coco_gt_from_dict

    keep = set(img_ids)
    data = coco.dataset
    return coco_gt_from_dict(
        {
            "images": [i for i in data["images"] if i["id"] in keep],
            "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
            "categories": data["categories"],
        },
        name=f"first {len(keep)} images",
    )


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import mmcv
    import mmdet

    import maiou

    try:
        pycocotools = version("pycocotools")  # the module has no __version__
    except PackageNotFoundError:
        pycocotools = "unknown"
    import cv2
    import numpy
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "mmcv-full": mmcv.__version__,
        "mmdet": mmdet.__version__,
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "pycocotools": pycocotools,
        "maiou": maiou.__version__,
    }


def trained_from(checkpoint: str) -> dict:
    """What ``checkpoint`` was trained from, as its files say: ``config`` (the resolved
    training config its meta stores; None for files trained elsewhere), ``threads`` (the
    training's thread count, ditto), ``backbone``
    (``{"path", "sha256", "meta"}`` of the starting weights that config names, when they
    are a local file; their meta says how they were pretrained) and ``dataset`` (the
    parameters of the synthetic train data, from its ``.complete``; None otherwise)."""
    from mmcv import Config

    from maiou.data.synthetic import read_marker
    from maiou.engine.checkpoint import CheckpointError, read_checkpoint_meta
    from maiou.utils.digest import file_digest

    meta = read_checkpoint_meta(checkpoint)
    text, threads = meta.get("config"), meta.get("threads")
    out = {
        "config": text if isinstance(text, str) else None,
        "threads": threads if isinstance(threads, int) else None,
        "backbone": None,
        "dataset": None,
    }
    if out["config"] is None:
        return out
    try:
        cfg = Config.fromstring(out["config"], ".py")
    except Exception:  # a config of another mmcv: keep its text, nothing more
        return out
    weights = ((cfg.get("model") or {}).get("backbone") or {}).get("init_cfg") or {}
    path = weights.get("checkpoint") if isinstance(weights, dict) else None
    if isinstance(path, str) and os.path.isfile(path):
        try:
            meta = read_checkpoint_meta(path)
        except CheckpointError:
            meta = {}
        out["backbone"] = {"path": path, "sha256": file_digest(path, "sha256"), "meta": meta}
    ann_file = ((cfg.get("data") or {}).get("train") or {}).get("ann_file")
    if isinstance(ann_file, str):
        out["dataset"] = read_marker(Path(ann_file).parent.parent)
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_for_inference(
    config: str, checkpoint: str, device: torch.device, cfg_options: dict | None = None
):
    """The config, its test dataset and the detector with the checkpoint's weights, on
    ``device`` in eval mode; returns ``(cfg, dataset, model)``."""
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401  (registers our components)
    from maiou.engine.checkpoint import load_released_checkpoint

    cfg = load_config(config, cfg_options, prog=PROG)
    cfg.model.pretrained = None
    if cfg.model.get("backbone", {}).get("init_cfg"):
        cfg.model.backbone.init_cfg = None  # weights come from the checkpoint
    cfg.data.test.test_mode = True
    dataset = build_dataset(cfg.data.test)
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    load_released_checkpoint(model, checkpoint)
    model.CLASSES = dataset.CLASSES
    return cfg, dataset, model.to(device).eval()


def infer(
    model,
    dataset,
    num_images: int,
    device: torch.device,
    desc: str = "evaluate",
    progress: bool = True,
) -> tuple[list, list[float]]:
    """Detections of the first ``num_images`` images, one at a time, and the seconds each
    took (model forward + post-processing); masks RLE-encoded as COCO results want them."""
    from mmcv.parallel import collate, scatter
    from mmdet.core import encode_mask_results
    from tqdm import tqdm

    target = [device.index or 0] if device.type == "cuda" else [-1]  # -1: mmcv's CPU scatter
    results, seconds = [], []
    iterator = tqdm(range(num_images), desc=desc, unit="img", disable=not progress, file=sys.stderr)
    with torch.no_grad():
        for index in iterator:
            data = scatter(collate([dataset[index]], samples_per_gpu=1), target)[0]
            _sync(device)
            start = time.perf_counter()
            outputs = model(return_loss=False, rescale=True, **data)
            _sync(device)
            seconds.append(time.perf_counter() - start)
            results.extend((boxes, encode_mask_results(masks)) for boxes, masks in outputs)
    return results, seconds


def write_coco_results(dataset, results: list, num_images: int, out_dir: Path) -> None:
    """``out_dir/results.{bbox,segm}.json`` (COCO results format), each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".results.") as tmp:
        # results2json walks len(dataset): restrict it to the images evaluated.
        dataset.data_infos, full_infos = dataset.data_infos[:num_images], dataset.data_infos
        dataset.img_ids, full_ids = dataset.img_ids[:num_images], dataset.img_ids
        try:
            files = dataset.results2json(results, f"{tmp}/results")
        finally:
            dataset.data_infos, dataset.img_ids = full_infos, full_ids
        for kind in ("bbox", "segm"):
            os.replace(files[kind], out_dir / f"results.{kind}.json")


def score(dataset, num_images: int, out_dir: Path) -> dict:
    """COCO AP and oLRP of ``out_dir``'s results on the first ``num_images`` images:
    ``{"bbox": {...}, "segm": {...}}``."""
    from maiou.evaluation import coco_metrics
    from maiou.evaluation.matches import matches_from_cocoeval, save_matches

    coco_gt = dataset.coco
    if num_images < len(dataset):
        coco_gt = _subset(coco_gt, dataset.img_ids[:num_images])
    metrics = {}
    for kind in ("bbox", "segm"):
        detections = json.loads((out_dir / f"results.{kind}.json").read_text())
        scores, cocoeval = coco_metrics(coco_gt, detections, kind, return_cocoeval=True)
        save_matches(matches_from_cocoeval(cocoeval), out_dir / f"matches.{kind}.npz")
        scores.pop("timing_s")
        metrics[kind] = scores
    return metrics


SPEED_IMAGES = 50  # images timed for images/s after the warm-up, by default


def add_measurement_options(parser) -> None:
    """The options of what an evaluation measures (``--speed-images``, ``--max-images``),
    on ``parser`` or an argument group: maiou.train's ``--evaluate-to`` takes them too."""
    parser.add_argument(
        "--speed-images",
        type=int,
        default=SPEED_IMAGES,
        help=f"images timed for images/s after the warm-up (default {SPEED_IMAGES})",
    )
    parser.add_argument("--max-images", type=int, default=None, help="evaluate the first N only")


def evaluate(
    config: str,
    checkpoint: str,
    out_dir: str,
    device: str = "auto",
    speed_images: int = SPEED_IMAGES,
    warmup: int = 5,
    max_images: int | None = None,
    cfg_options: dict | None = None,
    progress: bool = True,
) -> dict:
    """Run inference of ``checkpoint`` on ``config``'s test split and write metrics.json.

    Returns the metrics dict that was written.
    """
    from maiou.engine.checkpoint import read_checkpoint_meta
    from maiou.engine.device import resolve_device
    from maiou.utils.digest import file_digest

    device = torch.device(resolve_device(device) if isinstance(device, str) else device)
    cfg, dataset, model = build_for_inference(config, checkpoint, device, cfg_options)
    num_images = len(dataset) if max_images is None else min(max_images, len(dataset))
    results, seconds = infer(
        model, dataset, num_images, device, desc=f"evaluate {Path(config).stem}", progress=progress
    )
    out_dir = Path(out_dir)
    write_coco_results(dataset, results, num_images, out_dir)
    metrics = score(dataset, num_images, out_dir)

    timed = seconds[warmup : warmup + speed_images] if len(seconds) > warmup else seconds
    image_size = inference_image_size(cfg)
    record = {
        "config": str(config),
        "config_text": cfg.pretty_text,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_digest(checkpoint, "sha256"),
        "dataset": {"ann_file": cfg.data.test.ann_file, "images": num_images},
        "bbox": metrics["bbox"],
        "segm": metrics["segm"],
        "speed": {
            "images_per_s": len(timed) / sum(timed),
            "batch_size": 1,
            "measured_images": len(timed),
            "warmup_images": min(warmup, len(seconds)),
            "image_size": list(image_size),
            "what": "model forward + post-processing (NMS, mask assembly), batch 1",
        },
        "anchors_per_image": anchors_per_image(model, image_size, device),
        "device": _device_name(device),
        # How the checkpoint was trained (maiou.train writes it; released files lack it):
        # {gpus, images_per_forward, accumulation, images_per_step}.
        "training": read_checkpoint_meta(checkpoint).get("batch"),
        "versions": _versions(),
        "trained_from": trained_from(checkpoint),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(out_dir / METRICS_NAME, record)
    return record


@entry_point(PROG)
def main(argv=None) -> int:
    from mmcv import DictAction

    parser = argparse.ArgumentParser(
        prog=f"python -m {PROG}", description=__doc__.splitlines()[0], epilog=DEBUG_HELP
    )
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True, help="output folder for metrics.json and results")
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CUDA when torch sees a GPU, else the CPU",
    )
    add_measurement_options(parser)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override config entries, as mmdet's tools",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    for path, what in ((args.config, "config"), (args.checkpoint, "checkpoint")):
        if not Path(path).is_file():
            parser.error(f"{what} file not found: {path}")
    record = evaluate(
        args.config,
        args.checkpoint,
        args.out,
        args.device,
        args.speed_images,
        args.warmup,
        args.max_images,
        args.cfg_options,
        progress=not args.no_progress,
    )
    print(record["segm"]["summary"])
    print(
        f"mask AP {100 * record['segm']['AP']:.1f}  "
        f"mask oLRP {100 * record['segm']['oLRP']:.1f}  "
        f"box AP {100 * record['bbox']['AP']:.1f}  {record['speed']['images_per_s']:.1f} img/s "
        f"on {record['device']}  -> {Path(args.out) / METRICS_NAME}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
