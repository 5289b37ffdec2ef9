"""Test-time mask upsampling: the authors' fork (OpenCV) against mmdet 2.28 (F.interpolate).

Runs one checkpoint over a config's test split once, and pastes every detection's mask both
ways (maiou/models/dense_heads/yolact_protonet.py): prints how many mask pixels differ and
the box / mask AP of each way.

    python -m experiments.benchmarks.compare_mask_upsampling CONFIG CHECKPOINT [--max-images N]
        [--cfg-options KEY=VALUE ...]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("checkpoint")
    parser.add_argument("--max-images", type=int, default=None)
    from mmcv import DictAction

    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default=None,
        help="override config entries, e.g. the test input size",
    )
    args = parser.parse_args(argv)

    from mmcv.parallel import collate, scatter
    from mmdet.core import encode_mask_results
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401
    from maiou.engine.checkpoint import load_released_checkpoint
    from maiou.engine.config import load_config
    from maiou.evaluate import _subset
    from maiou.evaluation import coco_metrics
    from maiou.models.dense_heads.yolact_protonet import MaskAwareYOLACTProtonet, upsample_masks

    cfg = load_config(args.config, args.cfg_options)
    cfg.model.backbone.init_cfg = None
    cfg.data.test.test_mode = True
    dataset = build_dataset(cfg.data.test)
    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    load_released_checkpoint(model, args.checkpoint)
    model.CLASSES = dataset.CLASSES
    model.eval()
    head = model.mask_head
    assert isinstance(head, MaskAwareYOLACTProtonet), type(head)

    stats = dict(masks=0, pixels_either=0, pixels_differ=0, masks_differ=0, worst=0)
    torch_masks = []  # per image: the masks pasted the mmdet-2.28 way, in output order

    def both_ways(mask_pred, label_pred, img_meta, rescale):
        head.mask_upsample = "opencv"
        fork = MaskAwareYOLACTProtonet.get_seg_masks(head, mask_pred, label_pred, img_meta, rescale)
        ours = upsample_masks(mask_pred, head.output_size(img_meta, rescale), "torch")
        per_class = [[] for _ in range(head.num_classes)]
        seen = [0] * head.num_classes
        for mask, label in zip(ours, label_pred):
            a = fork[label][seen[label]]
            seen[label] += 1
            per_class[label].append(mask)
            differ = int((a != mask).sum())
            stats["masks"] += 1
            stats["pixels_either"] += int((a | mask).sum())
            stats["pixels_differ"] += differ
            stats["masks_differ"] += differ > 0
            stats["worst"] = max(stats["worst"], differ)
        torch_masks.append(per_class)
        return fork

    head.get_seg_masks = both_ways
    num = len(dataset) if args.max_images is None else min(args.max_images, len(dataset))
    fork_results, torch_results = [], []
    with torch.no_grad():
        for index in range(num):
            data = scatter(collate([dataset[index]], samples_per_gpu=1), [-1])[0]
            ((boxes, masks),) = model(return_loss=False, rescale=True, **data)
            fork_results.append((boxes, encode_mask_results(masks)))
            torch_results.append((boxes, encode_mask_results(torch_masks[-1])))

    dataset.data_infos, dataset.img_ids = dataset.data_infos[:num], dataset.img_ids[:num]
    coco_gt = (
        _subset(dataset.coco, dataset.img_ids) if num < len(dataset.coco.imgs) else dataset.coco
    )
    scores = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, results in (("fork (OpenCV)", fork_results), ("mmdet 2.28", torch_results)):
            files = dataset.results2json(results, f"{tmp}/{name[:4]}")
            scores[name] = {
                kind: coco_metrics(coco_gt, json.loads(Path(files[kind]).read_text()), kind)
                for kind in ("bbox", "segm")
            }
    print(
        f"{Path(args.config).stem}, {num} images, {stats['masks']} masks, torch {torch.__version__}"
    )
    frac = stats["pixels_differ"] / max(1, stats["pixels_either"])
    print(
        f"pixels that differ: {stats['pixels_differ']} of {stats['pixels_either']} mask pixels "
        f"({100 * frac:.4f}%); masks with any difference: {stats['masks_differ']} of "
        f"{stats['masks']}; most in one mask: {stats['worst']}"
    )
    for name, s in scores.items():
        print(
            f"{name:<14} mask AP {100 * s['segm']['AP']:.3f}  mask oLRP "
            f"{100 * s['segm']['oLRP']:.3f}  box AP {100 * s['bbox']['AP']:.3f}"
        )
    a, b = scores["fork (OpenCV)"]["segm"]["AP"], scores["mmdet 2.28"]["segm"]["AP"]
    print(f"mask AP difference (fork - mmdet): {100 * (a - b):+.3f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
