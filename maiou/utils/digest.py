"""A file's hex digest, read in chunks: checkpoints are 100-300 MB, COCO's zips up to 18 GB.

No torch here, so that a download job (experiments/scripts/download.py) starts in a fraction
of a second.
"""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike, algo: str = "sha256", chunk_mib: int = 4) -> str:
    """Hex digest (``hashlib`` name ``algo``) of a file, read in ``chunk_mib`` MiB chunks."""
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_mib << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
