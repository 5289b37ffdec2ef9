"""Synthetic COCO-format instance-segmentation data for the embedded benchmark: the images
of maiou/data/drawing.py (what they show and why, and how they are drawn) written as a
dataset.

Annotations carry one extra field, ``occluded_fraction``: 1 - visible / in-image area of the
object (rounded to 4 decimals). Truncation by the image border is not counted as occlusion.

Determinism. Every image draws from its own ``numpy.random.Generator`` seeded with
``(seed, split, index)``, so a dataset is a pure function of its parameters (and an image
does not depend on how many others the split has). The train split may be drawn with a
seed of its own (``train_seed``, default ``seed``): the embedded benchmark gives every
training seed its own train draw while all of them are scored on one val split. PNGs are
encoded by OpenCV at a fixed compression level and JSON is written with a fixed key order.
Same seed and parameters therefore give byte-identical files on the same software stack.

Layout written by :func:`generate_dataset`::

    DIR/train/000000.png ...          RGB, image_size x image_size
    DIR/val/000000.png ...
    DIR/annotations/instances_train.json
    DIR/annotations/instances_val.json
    DIR/.complete                     JSON of the parameters, written last
    DIR/..complete.lock               held while generating (maiou/utils/store.py)

Command line::

    python -m maiou.data.synthetic --out DIR --seed S [--train-seed T] [--num-train N
        --num-val M --image-size PX]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from maiou.data.drawing import (
    CATEGORIES,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_MAX_OBJECTS,
    DEFAULT_MIN_OBJECTS,
    GENERATOR_VERSION,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_PIXELS,
    generate_image,
)
from maiou.utils.atomic import write_bytes_atomic
from maiou.utils.cli import DEBUG_HELP, UserError, entry_point
from maiou.utils.store import exclusive

DEFAULT_NUM_TRAIN = 1600
"""Images in the train split."""
DEFAULT_NUM_VAL = 300
"""Images in the val split."""

SPLITS = ("train", "val")
_SPLIT_CODES = {"train": 0, "val": 1}  # part of each image's seed
_IMAGE_NAME = re.compile(r"^\d{6}\.png$")  # the only files regeneration deletes
_MARKER = ".complete"


def mask_to_annotation(mask: np.ndarray) -> dict:
    """COCO fields of one non-empty (H, W) bool mask: ``segmentation`` (RLE, counts as str),
    ``area`` (pixel count) and ``bbox`` ([x, y, w, h], tight, COCO convention: x = first
    column, w = last column - first column + 1, in pixels)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x, y = int(cols[0]), int(rows[0])
    bbox = [x, y, int(cols[-1]) - x + 1, int(rows[-1]) - y + 1]
    return {
        "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"]},
        "area": int(mask.sum()),
        "bbox": bbox,
    }


# ----------------------------------------------------------------------------------------
# Files.
# ----------------------------------------------------------------------------------------


def _encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB image (fixed compression level for byte identity)."""
    ok, buf = cv2.imencode(".png", image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def dataset_params(
    seed: int,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = DEFAULT_NUM_VAL,
    image_size: int = DEFAULT_IMAGE_SIZE,
    min_objects: int = DEFAULT_MIN_OBJECTS,
    max_objects: int = DEFAULT_MAX_OBJECTS,
    train_seed: int | None = None,
) -> dict:
    """The parameters that determine a dataset, as stored in its ``.complete`` marker."""
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "train_seed": int(seed if train_seed is None else train_seed),
        "num_train": int(num_train),
        "num_val": int(num_val),
        "image_size": int(image_size),
        "min_objects": int(min_objects),
        "max_objects": int(max_objects),
        "min_visible_pixels": MIN_VISIBLE_PIXELS,
        "min_visible_fraction": MIN_VISIBLE_FRACTION,
    }


def read_marker(out_dir) -> dict | None:
    """The parameters in ``out_dir/.complete``, or None when the dataset is not complete."""
    try:
        return json.loads((Path(out_dir) / _MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _split_dataset(params: dict, split: str, progress: bool) -> tuple[dict, list[bytes]]:
    """COCO dict and PNG bytes of one split."""
    size = params["image_size"]
    images, annotations, pngs = [], [], []
    for index in tqdm(
        range(params["num_" + split]), desc=f"synthetic {split}", disable=not progress, leave=False
    ):
        seed = params["train_seed"] if split == "train" else params["seed"]
        rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
        image, instances = generate_image(rng, size, params["min_objects"], params["max_objects"])
        image_id = index + 1  # 1-based: some COCO tooling treats id 0 as "missing"
        images.append(
            {"id": image_id, "file_name": f"{index:06d}.png", "width": size, "height": size}
        )
        for inst in instances:
            ann = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": inst["category_id"],
            }
            ann.update(mask_to_annotation(inst["mask"]))
            ann["iscrowd"] = 0
            ann["occluded_fraction"] = round(float(inst["occluded_fraction"]), 4)
            annotations.append(ann)
        pngs.append(_encode_png(image))
    coco = {
        "info": {
            "description": f"maiou synthetic instance segmentation ({split})",
            "version": str(GENERATOR_VERSION),
            "params": params,
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": cid, "name": name, "supercategory": sup} for cid, name, sup in CATEGORIES
        ],
    }
    return coco, pngs


class DatasetParameterError(UserError, ValueError):
    """Generator parameters out of range (maiou.utils.cli prints it in one line)."""


def generate_dataset(
    out_dir,
    seed: int,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = DEFAULT_NUM_VAL,
    image_size: int = DEFAULT_IMAGE_SIZE,
    min_objects: int = DEFAULT_MIN_OBJECTS,
    max_objects: int = DEFAULT_MAX_OBJECTS,
    progress: bool = True,
    train_seed: int | None = None,
) -> bool:
    """Write the dataset to ``out_dir`` (layout in the module doc) unless it is already there.

    A no-op (no file touched) when ``out_dir/.complete`` holds the same parameters. Otherwise
    the marker is removed first (so an interrupted run is never taken as complete), images
    of a previous generation (``NNNNNN.png`` in ``train/``, ``val/``) are deleted, every file
    is written atomically, and the marker is written last. Returns True when it generated,
    False when the dataset was already complete.
    """
    if min_objects < 1 or max_objects < min_objects:
        raise DatasetParameterError(
            f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}"
        )
    if num_train < 0 or num_val < 0 or image_size < 16:
        raise DatasetParameterError("need num_train, num_val >= 0 and image_size >= 16")
    out_dir = Path(out_dir)
    params = dataset_params(
        seed, num_train, num_val, image_size, min_objects, max_objects, train_seed
    )
    if read_marker(out_dir) == params:
        return False
    with exclusive(out_dir / _MARKER, f"the dataset in {out_dir}"):
        if read_marker(out_dir) == params:  # another process finished it while we waited
            return False
        with contextlib.suppress(FileNotFoundError):
            (out_dir / _MARKER).unlink()
        for split in SPLITS:
            split_dir = out_dir / split
            if split_dir.is_dir():
                for p in split_dir.iterdir():
                    if _IMAGE_NAME.match(p.name):
                        p.unlink()
        for split in SPLITS:
            coco, pngs = _split_dataset(params, split, progress)
            for img, png in zip(coco["images"], pngs):
                write_bytes_atomic(out_dir / split / img["file_name"], png)
            text = json.dumps(coco, separators=(",", ":"))
            write_bytes_atomic(out_dir / "annotations" / f"instances_{split}.json", text.encode())
        write_bytes_atomic(out_dir / _MARKER, (json.dumps(params, indent=1) + "\n").encode())
    return True


@entry_point("maiou.data.synthetic")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maiou.data.synthetic",
        description=__doc__.split("\n\n")[0],
        epilog=DEBUG_HELP,
    )
    parser.add_argument("--out", required=True, help="dataset directory")
    parser.add_argument("--seed", type=int, required=True, help="the draw of the val split")
    parser.add_argument(
        "--train-seed", type=int, default=None, help="the draw of the train split (default: --seed)"
    )
    parser.add_argument("--num-train", type=int, default=DEFAULT_NUM_TRAIN)
    parser.add_argument("--num-val", type=int, default=DEFAULT_NUM_VAL)
    parser.add_argument(
        "--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="pixels (square)"
    )
    parser.add_argument("--min-objects", type=int, default=DEFAULT_MIN_OBJECTS)
    parser.add_argument("--max-objects", type=int, default=DEFAULT_MAX_OBJECTS)
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    made = generate_dataset(
        args.out,
        args.seed,
        args.num_train,
        args.num_val,
        args.image_size,
        args.min_objects,
        args.max_objects,
        progress=not args.no_progress,
        train_seed=args.train_seed,
    )
    if made:
        counts = []
        for split in SPLITS:
            ann_file = Path(args.out) / "annotations" / f"instances_{split}.json"
            coco = json.loads(ann_file.read_text())
            counts.append(
                f"{split}: {len(coco['images'])} images, {len(coco['annotations'])} instances"
            )
        print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s ({'; '.join(counts)})")
    else:
        print(f"{args.out} is already complete with these parameters; nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
