"""Pretrain the embedded backbone on object crops: the embedded runs' stand-in for ImageNet.

Every COCO run starts from an ImageNet-pretrained ResNet-50 (docs/paper-facts.md). The
embedded runs' quarter-width ResNet-50 has no published weights, and a few hundred detection
iterations from scratch leave the detectors far from converged. So, once per dataset, the
backbone learns to classify crops of the train split's objects (the category of the object a
crop is centred on, occluders and clutter included), and every embedded run starts from
these weights, as every COCO run starts from the same ImageNet weights. As on COCO only the
backbone is pretrained: FPN, heads and maYOLACT's DCN offsets start from their
initialisation, and the val split is never seen. What it gains is measured in
docs/embedded-benchmark.md.

The backbone is built from an embedded config's ``model.backbone`` less DCN (the DCN layers
of maYOLACT load the plain convolution weights, as they load ImageNet's on COCO), and the
crops are normalised with its ``img_norm_cfg``. Output: ``{"state_dict": backbone weights,
"meta": {...}}``, written atomically; mmcv's ``Pretrained`` init loads it.

    python -m maiou.pretrain_backbone --data-root data/embedded --out data/embedded/backbone.pth
        [--config configs/embedded/fixed_550.py] [--iters N] [--seed S]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from maiou.utils.atomic import atomic_path
from maiou.utils.cli import DEBUG_HELP, UserError, entry_point
from maiou.utils.store import exclusive

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "embedded" / "fixed_550.py"
DEFAULT_ITERS = 1000
"""Optimiser steps (about 170 s on 2 cores)."""
BATCH_SIZE = 64
"""Crops per step."""
CROP_SIZE = 64
"""Side of a crop, pixels (the objects' median visible area at 128 px is 662 px, ~26 px
squared)."""
LEARNING_RATE = 2e-3
"""AdamW, weight decay 0.05, as the embedded detection runs; 5% linear warm-up, cosine decay."""
CONTEXT = (1.0, 1.6)
"""Crop side as a multiple of the object's longer box side (uniform)."""
JITTER = 0.15
"""Largest shift of the crop centre from the box centre, as a fraction of the crop side."""


class PretrainError(UserError, RuntimeError):
    """A missing or empty dataset, or a bad argument (maiou.utils.cli prints it in one line)."""


class ObjectCrops:
    """Random square crops centred on the annotated objects of a COCO split.

    ``sample(n, rng)`` returns ``(images, labels)``: float32 (n, 3, crop, crop) normalised
    like the detector's input, and int64 (n,) labels = index of the category id in
    ``category_ids`` (sorted). A crop covers CONTEXT times the object's longer box side,
    its centre shifted by up to JITTER of the crop side, then it is flipped (p = 0.5) and
    its brightness (+-32) and contrast (x 0.5-1.5) jittered, as the detectors' training
    pipeline does. Pixels outside the image are mirrored in.
    """

    def __init__(self, ann_file, img_dir, mean, std, to_rgb=True, crop_size=CROP_SIZE):
        import cv2

        ann_file, img_dir = Path(ann_file), Path(img_dir)
        try:
            coco = json.loads(ann_file.read_text())
        except FileNotFoundError:
            raise PretrainError(
                f"{ann_file}: no such annotation file (generate the dataset "
                "first: python -m maiou.data.synthetic --out DIR --seed 0)"
            ) from None
        except json.JSONDecodeError as err:
            raise PretrainError(f"{ann_file}: not JSON ({err})") from None
        if not isinstance(coco, dict) or not {"images", "annotations", "categories"} <= set(coco):
            raise PretrainError(
                f"{ann_file}: not a COCO annotation file (needs images, annotations and categories)"
            )
        self.category_ids = sorted(c["id"] for c in coco["categories"])
        label_of = {cid: i for i, cid in enumerate(self.category_ids)}
        files = {im["id"]: im["file_name"] for im in coco["images"]}
        self.objects = [
            (a["image_id"], tuple(float(v) for v in a["bbox"]), label_of[a["category_id"]])
            for a in coco["annotations"]
            if not a.get("iscrowd", 0) and a["bbox"][2] >= 1 and a["bbox"][3] >= 1
        ]
        if not self.objects:
            raise PretrainError(f"{ann_file}: no (non-crowd) annotated objects to crop")
        self.images = {}
        for image_id in {obj[0] for obj in self.objects}:
            path = img_dir / files[image_id]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise PretrainError(f"{path}: missing or not an image (listed in {ann_file})")
            self.images[image_id] = (image[:, :, ::-1] if to_rgb else image).astype(np.float32)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.crop_size = int(crop_size)

    def crop(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """One augmented (crop, crop, 3) float32 crop of object ``index``, not normalised."""
        import cv2

        image_id, (x, y, w, h), _ = self.objects[index]
        side = max(w, h) * rng.uniform(*CONTEXT)
        cx = x + w / 2 + rng.uniform(-JITTER, JITTER) * side
        cy = y + h / 2 + rng.uniform(-JITTER, JITTER) * side
        scale = self.crop_size / side
        half = self.crop_size / 2
        # Pixel centres: output pixel (i + 0.5) maps to cx + (i + 0.5 - half) / scale.
        affine = np.array(
            [
                [scale, 0, half - scale * cx - 0.5 + 0.5 * scale],
                [0, scale, half - scale * cy - 0.5 + 0.5 * scale],
            ],
            np.float32,
        )
        patch = cv2.warpAffine(
            self.images[image_id],
            affine,
            (self.crop_size, self.crop_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = patch + rng.uniform(-32, 32)
        mean = patch.mean()
        return (patch - mean) * rng.uniform(0.5, 1.5) + mean

    def sample(self, n: int, rng: np.random.Generator):
        import torch

        picks = rng.integers(0, len(self.objects), n)
        crops = np.stack([(self.crop(int(k), rng) - self.mean) / self.std for k in picks])
        labels = np.array([self.objects[int(k)][2] for k in picks], np.int64)
        return torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def backbone_config(cfg):
    """The config's ``model.backbone`` as pretrained: no DCN, no init checkpoint."""
    backbone = copy.deepcopy(cfg.model.backbone)
    for key in ("dcn", "stage_with_dcn", "init_cfg", "pretrained"):
        backbone.pop(key, None)
    return backbone


def pretrain(
    cfg,
    data_root,
    iters: int = DEFAULT_ITERS,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    crop_size: int = CROP_SIZE,
    progress: bool = True,
):
    """Train the backbone of ``cfg`` (an mmcv Config) on crops of ``data_root``'s train split.

    Returns ``(state_dict, history)``: the backbone's weights and one ``(loss, accuracy)``
    per step (accuracy of that step's batch, before the update).
    """
    import torch
    import torch.nn.functional as F
    from mmdet.models import build_backbone
    from tqdm import tqdm

    if iters < 1:
        raise PretrainError(f"--iters must be >= 1, got {iters}")
    norm = cfg.img_norm_cfg
    data_root = Path(data_root)
    crops = ObjectCrops(
        data_root / "annotations" / "instances_train.json",
        data_root / "train",
        norm["mean"],
        norm["std"],
        norm.get("to_rgb", True),
        crop_size,
    )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    backbone = build_backbone(backbone_config(cfg))
    backbone.init_weights()
    classifier = torch.nn.Linear(backbone.feat_dim, len(crops.category_ids))
    params = list(backbone.parameters()) + list(classifier.parameters())
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.05)
    warmup = max(1, round(iters / 20))
    backbone.train()
    history = []
    bar = tqdm(range(iters), desc="pretrain backbone", disable=not progress, mininterval=2)
    for step in bar:
        lr = (
            LEARNING_RATE
            * min(1.0, (step + 1) / warmup)
            * 0.5
            * (1 + math.cos(math.pi * step / iters))
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        images, labels = crops.sample(batch_size, rng)
        logits = classifier(backbone(images)[-1].mean(dim=(2, 3)))
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append((loss.item(), (logits.argmax(1) == labels).float().mean().item()))
        if step % 25 == 0 or step == iters - 1:
            recent = history[-25:]
            loss_avg, acc_avg = np.mean([h[0] for h in recent]), np.mean([h[1] for h in recent])
            bar.set_postfix(loss=f"{loss_avg:.3f}", acc=f"{acc_avg:.2f}")
            if not progress and (step % 100 == 0 or step == iters - 1):  # a log file's progress
                print(
                    f"step {step + 1}/{iters}: loss {loss_avg:.3f}, crop accuracy {acc_avg:.2f}",
                    flush=True,
                )
    return backbone.state_dict(), history


def save_checkpoint(state_dict, meta: dict, out) -> None:
    """Write ``{"state_dict", "meta"}`` to ``out`` atomically (temp file + rename)."""
    import torch

    with atomic_path(out) as tmp:
        torch.save({"state_dict": state_dict, "meta": meta}, tmp)


def _made_with(path, wanted: dict) -> bool:
    """Whether the backbone at ``path`` was pretrained with the settings in ``wanted``."""
    from maiou.engine.checkpoint import CheckpointError, read_checkpoint_meta

    try:
        meta = read_checkpoint_meta(path)
    except CheckpointError:
        return False
    return all(meta.get(key) == value for key, value in wanted.items())


@entry_point("maiou.pretrain_backbone")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maiou.pretrain_backbone",
        description=__doc__.split("\n\n")[0],
        epilog=DEBUG_HELP,
    )
    parser.add_argument("--data-root", required=True, help="synthetic dataset directory")
    parser.add_argument("--out", required=True, help="checkpoint to write")
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="embedded config whose backbone and img_norm_cfg are used",
    )
    parser.add_argument("--iters", type=int, default=DEFAULT_ITERS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)

    import torch
    from mmcv import Config

    from maiou.data.synthetic import read_marker

    if not os.path.isfile(args.config):
        raise PretrainError(f"config {args.config} does not exist")
    cfg = Config.fromfile(args.config)
    wanted = {
        "config": args.config,
        "dataset": read_marker(args.data_root),
        "iters": args.iters,
        "seed": args.seed,
        "batch_size": BATCH_SIZE,
        "crop_size": CROP_SIZE,
        # Sums over threads round differently: the same seed on another thread count gives
        # other weights, so the count is part of how a backbone was made.
        "threads": torch.get_num_threads(),
    }
    # Several pipelines may share the data root: one pretrains, the others wait and use it.
    with exclusive(args.out, f"the pretrained backbone {args.out}"):
        if os.path.isfile(args.out) and _made_with(args.out, wanted):
            print(f"{args.out} is there already, pretrained with these settings; using it")
            return 0
        start = time.perf_counter()
        state_dict, history = pretrain(
            cfg, args.data_root, args.iters, args.seed, progress=not args.no_progress
        )
        tail = history[-50:]
        meta = dict(
            wanted,
            data_root=str(args.data_root),
            final_loss=float(np.mean([h[0] for h in tail])),
            final_accuracy=float(np.mean([h[1] for h in tail])),
        )
        save_checkpoint(state_dict, meta, args.out)
    print(
        f"wrote {args.out} in {time.perf_counter() - start:.0f} s: crop accuracy "
        f"{meta['final_accuracy']:.2f} over the last {len(tail)} steps"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
