"""A run's folders: where each seed's run lives, its checkpoints, its marker, its metrics.

One run of the benchmark is a registry run (maiou/runs.py) trained with one seed. Its
**run key** is ``<run>`` for seed 0 and ``seed<s>/<run>`` for seed ``s``, a path below a work
root (training) or a results root (evaluation): seed 0 keeps the folders single-seed
benchmarks always used, so adding seeds reuses a finished seed-0 benchmark.

A work dir ``<work>/<key>/`` holds

* ``epoch_N.pth`` / ``iter_N.pth`` and ``latest.pth`` (mmcv's), from which an interrupted
  run resumes (:func:`find_resume_checkpoint`; checkpoints cut short are skipped);
* ``final.pth``, a copy of the checkpoint that reached the run's length, written atomically
  once the run is done (:func:`mark_final`): the one file the pipeline declares;
* ``.fingerprint``, the sha256 of what the run was trained from (config files, starting
  weights, options, seed). :func:`prepare` compares it before a training starts: a changed
  fingerprint moves the old folder to ``<key>.superseded`` (replacing an older one), so
  the run starts afresh instead of resuming from another config's checkpoints.

A results dir ``<results>/<key>/`` holds ``metrics.json`` and the per-image matches;
:func:`load_metrics` reads every seed's metrics of a run, for the table and the figures
alike.

    python -m maiou.rundir prepare WORK_DIR --inputs FILE ... --options STR --seed N
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import sys
from pathlib import Path

from maiou.utils.atomic import atomic_path, write_text_atomic
from maiou.utils.cli import entry_point

__all__ = [
    "FINAL_NAME",
    "METRICS_NAME",
    "final_path",
    "metrics_path",
    "run_key",
    "split_key",
    "seed_dir",
    "checkpoint_progress",
    "find_resume_checkpoint",
    "final_checkpoint",
    "mark_final",
    "fingerprint",
    "prepare",
    "load_metrics",
]

FINAL_NAME = "final.pth"
METRICS_NAME = "metrics.json"
FINGERPRINT_NAME = ".fingerprint"
_KEY = re.compile(r"(?:seed(?P<seed>[1-9][0-9]*)/)?(?P<run>[a-z_0-9]+)")


# --------------------------------------------------------------------------------------
# Where each seed's run lives
# --------------------------------------------------------------------------------------
def seed_dir(root: str | Path, seed: int) -> Path:
    """The folder holding the ``<run>/`` folders of training seed ``seed`` under ``root``."""
    return Path(root) if seed == 0 else Path(root) / f"seed{seed}"


def run_key(run: str, seed: int) -> str:
    """``run`` for seed 0, ``seed<s>/run`` otherwise (a path below a work or results root)."""
    return run if seed == 0 else f"seed{seed}/{run}"


def final_path(work_root: str | Path, key: str) -> str:
    """``<work_root>/<key>/final.pth``: the finished checkpoint of run key ``key``."""
    return f"{work_root}/{key}/{FINAL_NAME}"


def metrics_path(results_root: str | Path, key: str) -> str:
    """``<results_root>/<key>/metrics.json``: what maiou.evaluate wrote for run key ``key``."""
    return f"{results_root}/{key}/{METRICS_NAME}"


def split_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`run_key`: ('atss_iou_400', 2) for 'seed2/atss_iou_400'."""
    match = _KEY.fullmatch(key)
    if not match:
        raise ValueError(f"not a run key: {key!r}")
    return match["run"], int(match["seed"] or 0)


# --------------------------------------------------------------------------------------
# Checkpoints in a work dir
# --------------------------------------------------------------------------------------
def checkpoint_progress(path: str, by_epoch: bool) -> int | None:
    """Completed epochs (or iterations) recorded in a checkpoint; None if unreadable.

    Epoch-based runners save ``meta.epoch`` = completed epochs. Iter-based runners save
    ``iter_N.pth`` with ``meta.iter`` = N - 1 (mmcv saves before incrementing), hence + 1.
    """
    from maiou.engine.checkpoint import CheckpointError, read_checkpoint_meta

    try:
        meta = read_checkpoint_meta(path)
    except CheckpointError:
        return None  # e.g. cut short by the interruption we are recovering from
    key = "epoch" if by_epoch else "iter"
    if not isinstance(meta.get(key), int):
        return None
    return meta[key] if by_epoch else meta[key] + 1


def find_resume_checkpoint(work_dir: str, by_epoch: bool) -> tuple[str, int] | None:
    """The most advanced complete checkpoint in ``work_dir`` as (path, progress), or None.

    Looks at ``latest.pth`` (mmcv's symlink, resolved) and at the highest-numbered
    ``epoch_*.pth`` / ``iter_*.pth`` that is readable; files cut short (a crash while mmcv
    was writing them) are skipped, so the previous checkpoint is used instead.
    """
    if not osp.isdir(work_dir):
        return None
    pattern = re.compile(r"(epoch|iter)_(\d+)\.pth")
    numbered = []
    for name in os.listdir(work_dir):
        match = pattern.fullmatch(name)
        if match and (match.group(1) == "epoch") == by_epoch:
            numbered.append((int(match.group(2)), osp.join(work_dir, name)))
    found = []
    latest = osp.join(work_dir, "latest.pth")
    if osp.exists(latest):
        progress = checkpoint_progress(osp.realpath(latest), by_epoch)
        if progress is not None:
            found.append((osp.realpath(latest), progress))
    for _, path in sorted(numbered, reverse=True):  # numerically: epoch_10 after epoch_9
        progress = checkpoint_progress(path, by_epoch)
        if progress is not None:
            found.append((path, progress))
            break
    return max(found, key=lambda item: item[1]) if found else None


def final_checkpoint(work_dir: str, by_epoch: bool, length: int) -> str | None:
    """The checkpoint of a finished run: ``latest.pth``'s target, else ``epoch_<length>.pth``
    (``iter_<length>.pth``), provided it is complete and records exactly ``length``."""
    latest = osp.join(work_dir, "latest.pth")
    numbered = osp.join(work_dir, f"{'epoch' if by_epoch else 'iter'}_{length}.pth")
    for path in (osp.realpath(latest), numbered):
        if osp.exists(path) and checkpoint_progress(path, by_epoch) == length:
            return path
    return None


def _same_bytes(a: str, b: str, chunk: int = 16 << 20) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(chunk)
            if block != fb.read(chunk):
                return False
            if not block:
                return True


def mark_final(work_dir: str, checkpoint: str) -> str:
    """Copy ``checkpoint`` to ``work_dir/final.pth`` atomically and return that path.

    The copy goes to a temporary name in the same directory, is flushed to disk, and is
    renamed over ``final.pth`` (``os.replace`` is atomic on POSIX), so readers never see a
    partial ``final.pth``. A copy rather than a link: a later run writing ``epoch_N.pth``
    in place must not alter the marked file.
    """
    final = osp.join(work_dir, FINAL_NAME)
    if (
        osp.isfile(final)
        and osp.getsize(final) == osp.getsize(checkpoint)
        and _same_bytes(final, checkpoint)
    ):
        return final  # already marked (a finished run started again)
    with atomic_path(final) as tmp, open(checkpoint, "rb") as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, 16 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    return final


# --------------------------------------------------------------------------------------
# What a run was trained from
# --------------------------------------------------------------------------------------
def fingerprint(inputs, options: str, seed: int) -> str:
    """sha256 over the bytes of ``inputs`` (in order), then the options and the seed."""
    digest = hashlib.sha256()
    for path in inputs:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(16 << 20), b""):
                digest.update(block)
    digest.update(f"{options} {seed}\n".encode())
    return digest.hexdigest()


def prepare(work_dir: str | Path, fp: str) -> bool:
    """Make ``work_dir`` ready for a training with fingerprint ``fp``; True when an older
    run (another fingerprint) was moved to ``<work_dir>.superseded`` first. A folder with the
    same fingerprint, or none (a run from before fingerprints), is kept: it resumes."""
    work_dir = Path(work_dir)
    recorded = work_dir / FINGERPRINT_NAME
    superseded = recorded.is_file() and recorded.read_text().strip() != fp
    if superseded:
        old = work_dir.with_name(work_dir.name + ".superseded")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(work_dir, old)
    work_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(recorded, fp + "\n")
    return superseded


# --------------------------------------------------------------------------------------
# Metrics of every seed
# --------------------------------------------------------------------------------------
def load_metrics(results: str | Path, runs, seeds=(0,)) -> dict:
    """{run: [metrics dict of each seed whose metrics.json exists and parses]}, in the order
    of ``seeds``; runs with none are left out, an unreadable file is named on stderr."""
    out = {}
    for run in runs:
        found = []
        for seed in seeds:
            path = Path(metrics_path(results, run_key(run, seed)))
            try:
                found.append(json.loads(path.read_text()))
            except FileNotFoundError:
                continue
            except (OSError, json.JSONDecodeError) as exc:
                print(f"warning: ignoring unreadable {path}: {exc}", file=sys.stderr)
        if found:
            out[run] = found
    return out


@entry_point("maiou.rundir")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m maiou.rundir", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="fingerprint the run; supersede an older one")
    prep.add_argument("work_dir", type=Path)
    prep.add_argument("--inputs", nargs="*", default=[], help="files the run is trained from")
    prep.add_argument("--options", default="", help="the training options, as one string")
    prep.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    if prepare(args.work_dir, fingerprint(args.inputs, args.options, args.seed)):
        print(
            f"{args.work_dir}: trained from other configs, weights or options before; moved "
            f"to {args.work_dir}.superseded, starting afresh"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
