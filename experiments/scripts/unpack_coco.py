"""Unpack one COCO 2017 archive into the dataset root, checked first.

    python -m experiments.scripts.unpack_coco data/coco/downloads/val2017.zip --root data/coco

* The archive is tested whole (central directory and every member's CRC) before anything
  is written: a truncated or damaged zip is one error line naming it, and nothing changes.
* It unpacks into a temporary folder under ROOT; each top-level entry (``val2017/``,
  ``annotations/``, ...) then replaces its namesake in ROOT by a rename, so ROOT never
  holds half an archive.
* ``annotations/instances_*.json`` must be COCO instance annotations (``images``,
  ``annotations`` with ``image_id`` / ``category_id`` / ``bbox`` / ``segmentation``,
  ``categories``), else one error line names the file.
* Shared data roots (maiou/utils/store.py): it holds the lock of ``ROOT/.unpacked_<name>`` and
  writes that marker last; an archive already unpacked (marker newer than the archive) is
  left alone, so a second pipeline waits for the first's unpacking and then uses it.
* An archive whose members do not fit on the disk is refused before anything is written,
  naming the folder, the space needed and free.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from maiou.utils.atomic import write_text_atomic
from maiou.utils.store import DiskFullError, check_free_space, exclusive

ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "segmentation", "iscrowd", "area")


class UnpackError(RuntimeError):
    pass


def test_archive(path: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
        bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise UnpackError(
            f"{path} is not a complete zip archive ({type(exc).__name__}: {exc});"
            " delete it and run again to download it afresh"
        ) from None
    if bad is not None:
        raise UnpackError(
            f"{path}: member {bad} is damaged (CRC mismatch); delete the file "
            "and run again to download it afresh"
        )
    return archive


def check_coco_instances(path: Path) -> None:
    """Raise UnpackError unless ``path`` is a COCO instances file (structure, not content)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnpackError(
            f"{path} is not a COCO annotation file: not JSON ({exc}); the "
            "archive is not COCO's annotations_trainval2017.zip"
        ) from None
    problem = None
    if not isinstance(data, dict):
        problem = f"the top level is a {type(data).__name__}, not an object"
    else:
        missing = [
            k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)
        ]
        if missing:
            problem = f"no list {', '.join(repr(k) for k in missing)}"
        elif data["annotations"] and not all(
            isinstance(a, dict) and all(k in a for k in ANNOTATION_KEYS)
            for a in data["annotations"]
        ):
            problem = f"annotations lack one of {', '.join(ANNOTATION_KEYS)}"
        elif not all(
            isinstance(i, dict) and {"id", "file_name", "width", "height"} <= set(i)
            for i in data["images"]
        ):
            problem = "images lack one of id, file_name, width, height"
    if problem:
        raise UnpackError(
            f"{path} is not a COCO instances annotation file ({problem}); the "
            "archive is not COCO's annotations_trainval2017.zip"
        )


def unpack(zip_path: Path, root: Path) -> list[str]:
    archive = test_archive(zip_path)
    root.mkdir(parents=True, exist_ok=True)
    size = sum(member.file_size for member in archive.infolist())
    check_free_space(root, size, f"{zip_path.name} unpacked")
    with archive, tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
        archive.extractall(tmp)
        tops = sorted(os.listdir(tmp))
        for path in sorted(Path(tmp).glob("annotations/instances_*.json")):
            check_coco_instances(path)
        for name in tops:
            dest = root / name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(Path(tmp) / name, dest)
    return tops


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path)
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args(argv)
    marker = args.root / f".unpacked_{args.zip.name.removesuffix('.zip')}"
    try:
        with exclusive(marker, f"{args.root} (unpacking {args.zip.name})"):
            if marker.exists() and marker.stat().st_mtime >= args.zip.stat().st_mtime:
                print(f"{args.zip} is unpacked in {args.root} already; using it")
                return 0
            tops = unpack(args.zip, args.root)
            write_text_atomic(marker, "\n".join(tops) + "\n")
    except (UnpackError, DiskFullError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.zip} -> {args.root}: {', '.join(tops)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
