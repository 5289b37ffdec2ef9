"""Files that readers see whole or not at all: write to a temporary file, then rename.

Every file this package and its pipeline write (datasets, checkpoints, metrics, tables,
figures) goes through :func:`atomic_path`, so a crash or an interrupted job never leaves a
half-written file under the final name for the next step (or a rerun) to trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The temporary file (``.<name>.<random>.tmp`` in the same folder, so the rename stays on
    one file system, where ``os.replace`` is atomic) exists, empty, with permissions
    ``mode`` (``mkstemp`` alone would make it 0600, unreadable to the other users of shared
    data). If the ``with`` body raises, the temporary file is deleted and ``path`` is left
    as it was. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, data, indent: int | None = 1) -> None:
    """Write ``data`` as JSON (UTF-8) to ``path`` through :func:`atomic_path`."""
    write_text_atomic(path, json.dumps(data, indent=indent))
