"""Where a run of one training seed keeps its work dir and results.

Seed 0 (the default) uses the folders every earlier release used, ``<root>/<run>``; any
other seed ``s`` gets ``<root>/seed<s>/<run>``. Adding seeds to a finished single-seed
benchmark therefore reuses its seed-0 runs instead of training them again.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["run_key", "seed_dir", "split_key"]

_KEY = re.compile(r"(?:seed(?P<seed>[1-9][0-9]*)/)?(?P<run>[a-z_0-9]+)")


def seed_dir(root: str | Path, seed: int) -> Path:
    """The folder holding the ``<run>/`` folders of training seed ``seed`` under ``root``."""
    return Path(root) if seed == 0 else Path(root) / f"seed{seed}"


def run_key(run: str, seed: int) -> str:
    """``run`` for seed 0, ``seed<s>/run`` otherwise (a path below a work or results root)."""
    return run if seed == 0 else f"seed{seed}/{run}"


def split_key(key: str) -> tuple[str, int]:
    """Inverse of ``run_key``: ('atss_iou_400', 2) for 'seed2/atss_iou_400'."""
    match = _KEY.fullmatch(key)
    if not match:
        raise ValueError(f"not a run key: {key!r}")
    return match["run"], int(match["seed"] or 0)
