"""Files in stores that several pipelines share: one writer at a time, full disks named.

COCO, the released checkpoints and the ImageNet backbone live in one place on a cluster
(``data_root``, ``checkpoint_dir``, ``pretrained_dir``), and several pipelines or jobs may
need the same file at once. Whoever makes a file holds :func:`exclusive` on it; the others
wait, then find it made and use it. The lock is an OS file lock (``filelock``), released by
the kernel when its holder dies, so a killed download never blocks the next one.

Snakemake deletes a job's declared outputs before it runs the job (and after it fails), so
a file in a shared store is never a rule's output: the rule declares a marker in its own
pipeline's folder (``ready/``, experiments/rules/common.smk) and the file's path travels as
a parameter.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from maiou.utils.cli import UserError

__all__ = [
    "DiskFullError",
    "exclusive",
    "check_free_space",
    "disk_full",
    "is_disk_full",
]

WAIT_NOTICE_S = 60  # how often a waiting process says what it waits for


class DiskFullError(UserError):
    """Not enough space for a file; the message names the folder, what is needed and free."""


def gb(n_bytes: float) -> str:
    """Bytes in GB with two decimals (a full disk's message)."""
    return f"{n_bytes / 1e9:.2f} GB"


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextmanager
def exclusive(path: str | os.PathLike, what: str = "") -> Iterator[None]:
    """Hold the lock of ``path`` (``.<name>.lock`` beside it) for the ``with`` body; while
    another process holds it, say every ``WAIT_NOTICE_S`` seconds who is waited for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(_lock_path(path), mode=0o666)
    waited = 0
    while True:
        try:
            lock.acquire(timeout=WAIT_NOTICE_S if waited else 1)
            break
        except Timeout:
            waited += WAIT_NOTICE_S if waited else 1
            print(
                f"waiting for another process making {what or path} "
                f"(lock {_lock_path(path)}, {waited} s so far)",
                file=sys.stderr,
                flush=True,
            )
    try:
        yield
    finally:
        lock.release()


def disk_full(folder: str | os.PathLike, needed: int | None, what: str) -> DiskFullError:
    """The one-line error for a full disk under ``folder``."""
    free = shutil.disk_usage(folder).free
    need = f"needs {gb(needed)}" if needed else "needs more space (size unknown)"
    return DiskFullError(
        f"no space left in {Path(folder).resolve()}: {what} {need}, {gb(free)} free there; "
        "free some space (or point data_root / checkpoint_dir at a larger disk) and run again",
    )


def check_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Raise :class:`DiskFullError` before writing ``needed`` bytes into ``folder`` when
    they do not fit."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(folder).free < needed:
        raise disk_full(folder, needed, what)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
