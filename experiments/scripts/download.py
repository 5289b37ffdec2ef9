"""Download one file for the coco presets: resumable, checked, atomic, shared.

    python -m experiments.scripts.download --url URL [--md5 HEX] --out PATH
    python -m experiments.scripts.download --run RUN --out checkpoints/coco/RUN.pth
    python -m experiments.scripts.download --log RUN [--log-url URL] \
        --out checkpoints/coco/logs/RUN.log

* HTTP(S) downloads resume: bytes go to ``PATH.part`` and a re-run continues it with a Range
  request (a server that ignores Range restarts it). Progress on stderr.
* ``--run``: a released checkpoint from Google Drive (gdown; file id from maiou/runs.py).
  ``--log``: the authors' training log of a run (Drive, or ``--log-url``), which must be an
  mmcv training log (maiou.engine.training_log), not an HTML page.
* Checks before PATH exists: ``--md5`` of the whole file; ``--hash-in-name``, the sha256
  prefix in the URL's file name (torchvision's ``resnet50-19c8e357.pth``);
  ``--torch-checkpoint`` (implied by ``--run``), loading through maiou.engine.checkpoint (tensors
  only). A file failing a check is deleted. Only a checked file is renamed to PATH.
* Shared stores (maiou/utils/store.py): the download holds PATH's lock, so a second process
  asking for the same PATH waits and then uses the first one's file; a PATH already there
  is used as is.
* A full disk is named with the folder, the space needed and free (checked before the
  download when the server gives the size); the partial file is deleted.
* Other failures: one ``error:`` line naming the URL, then where to place the file by hand
  on an offline machine (after which a re-run finds it there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from maiou import runs as registry
from maiou.utils.cli import UserError, entry_point
from maiou.utils.digest import file_digest
from maiou.utils.store import DiskFullError, check_free_space, disk_full, exclusive, is_disk_full

CHECKPOINT_DRIVE_IDS = {run.name: run.checkpoint_drive_id for run in registry.released()}
LOG_DRIVE_IDS = {run.name: run.log_drive_id for run in registry.RUNS if run.log_drive_id}

CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """A download that failed or fetched the wrong thing."""


def _progress(done: int, total: int | None, start: float, resumed: int) -> None:
    rate = (done - resumed) / max(time.monotonic() - start, 1e-6) / 1e6
    where = (
        f"{done / 1e6:,.0f} / {total / 1e6:,.0f} MB ({100 * done / total:.0f}%)"
        if total
        else f"{done / 1e6:,.0f} MB"
    )
    print(f"\r  {where} at {rate:.1f} MB/s", end="", file=sys.stderr, flush=True)


def http_download(url: str, part: Path, timeout: float = 60) -> None:
    """Fetch ``url`` into ``part``, continuing from ``part``'s current size; refuse to start
    when the rest does not fit on the disk."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "maiou-reproduction"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # range not satisfiable: the part is already whole
            return
        raise
    with response:
        if have and response.status != 206:  # server ignored Range: start over
            print(f"  {url}: server does not resume; restarting", file=sys.stderr)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        if length:
            check_free_space(part.parent, int(length), part.stem)
        start, done = time.monotonic(), have
        try:
            with part.open("ab" if have else "wb") as f:
                while block := response.read(CHUNK):
                    f.write(block)
                    done += len(block)
                    _progress(done, total, start, have)
        except OSError as exc:
            if is_disk_full(exc):
                raise disk_full(part.parent, total, part.stem) from exc
            raise
    print(file=sys.stderr)
    if total is not None and done != total:
        raise DownloadError(
            f"{url}: connection closed at {done} of {total} bytes (run again to resume)"
        )


def drive_download(file_id: str, part: Path) -> None:
    import gdown  # in the project venv; only needed for the released checkpoints

    try:
        fetched = gdown.download(id=file_id, output=str(part), quiet=False, resume=True)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(part.parent, None, part.stem) from exc
        raise
    if fetched is None:
        raise DownloadError(f"gdown could not fetch Google Drive file {file_id}")


# Checks of a finished download: each raises DownloadError and returns a note for the log.
def check_md5(expected: str) -> Callable[[Path, str], str]:
    def check(part: Path, url: str) -> str:
        got = file_digest(part, "md5")
        if got != expected:
            raise DownloadError(f"md5 mismatch for {url}: got {got}, expected {expected}")
        return f"md5 {expected} ok"

    return check


def check_hash_in_name(part: Path, url: str) -> str:
    from maiou.engine.pretrained import sha256_prefix_in_name

    prefix = sha256_prefix_in_name(url)
    if prefix is None:
        raise DownloadError(f"{url}: the file name carries no sha256 prefix (NAME-<hex>.pth)")
    got = file_digest(part, "sha256")
    if not got.startswith(prefix):
        raise DownloadError(
            f"sha256 mismatch for {url}: got {got[: len(prefix)]}..., the name says {prefix}"
        )
    return f"sha256 starts with {prefix}"


def check_loads_as_tensors(part: Path, url: str) -> str:
    # torch loads here only: the other downloads start without it.
    from maiou.engine.checkpoint import CheckpointError, load_untrusted_checkpoint

    try:
        return f"{len(load_untrusted_checkpoint(part))} tensors"
    except CheckpointError as exc:
        raise DownloadError(str(exc)) from None


def check_training_log(part: Path, url: str) -> str:
    from maiou.engine.training_log import read_log

    try:
        return f"{len(read_log(part))} training records"
    except ValueError as exc:
        raise DownloadError(str(exc)) from exc


def fetch(out: Path, url: str, drive_id: str | None, checks) -> int:
    """Make ``out`` (download, check, rename) unless it is there, holding its lock. Returns
    the exit status; a failure prints its reason first."""
    part = out.with_name(out.name + ".part")
    try:
        with exclusive(out, f"{out} (download)"):
            if out.exists():
                print(
                    f"{out} is there already (made by another process or by hand); using it",
                    file=sys.stderr,
                )
            else:
                print(f"downloading {url} -> {out}", file=sys.stderr)
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    drive_download(drive_id, part) if drive_id else http_download(url, part)
                except DiskFullError:
                    part.unlink(missing_ok=True)  # it would keep the disk full
                    raise
                try:
                    notes = [check(part, url) for check in checks]
                except DownloadError:
                    part.unlink(missing_ok=True)  # the wrong file: nothing worth resuming
                    raise
                os.replace(part, out)
                print(f"done: {out} ({', '.join(notes) or 'unchecked'})", file=sys.stderr)
    except DiskFullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the reason, then what to do by hand
        offline = isinstance(exc, urllib.error.URLError) and not isinstance(
            exc, urllib.error.HTTPError
        )
        kept = f"A partial download stays in {part.resolve()}; the next run resumes it. "
        print(
            f"error: could not download {url}: {exc}"
            f"{' (is the server or mirror up?)' if offline else ''}\n"
            f"{kept if part.exists() else ''}If this machine is offline, fetch that URL "
            f"elsewhere and place the file at\n  {out.resolve()}\nand run again.",
            file=sys.stderr,
        )
        return 1
    return 0


@entry_point("download")
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="HTTP(S) URL")
    source.add_argument(
        "--run",
        choices=sorted(CHECKPOINT_DRIVE_IDS),
        help="released checkpoint of this run (Google Drive)",
    )
    source.add_argument(
        "--log", metavar="RUN", help="the authors' training log of this run (Google Drive)"
    )
    parser.add_argument("--log-url", help="with --log: fetch the log from this URL instead")
    parser.add_argument("--md5", help="expected md5 of the whole file")
    parser.add_argument(
        "--hash-in-name", action="store_true", help="check the sha256 prefix in the URL's file name"
    )
    parser.add_argument(
        "--torch-checkpoint",
        action="store_true",
        help="the file must load as a tensors-only torch checkpoint",
    )
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    if args.log:
        if args.log_url is None and args.log not in LOG_DRIVE_IDS:
            raise DownloadError(
                f"no released training log for {args.log} (runs with one: "
                f"{', '.join(sorted(LOG_DRIVE_IDS))}); give --log-url"
            )
        drive_id = None if args.log_url else LOG_DRIVE_IDS[args.log]
        url = args.log_url or f"https://drive.google.com/file/d/{drive_id}/view"
        return fetch(args.out, url, drive_id, [check_training_log])
    drive_id = CHECKPOINT_DRIVE_IDS[args.run] if args.run else None
    url = args.url or f"https://drive.google.com/file/d/{drive_id}/view"
    checks = [check_md5(args.md5.lower())] if args.md5 else []
    checks += [check_hash_in_name] if args.hash_in_name else []
    checks += [check_loads_as_tensors] if args.run or args.torch_checkpoint else []
    return fetch(args.out, url, drive_id, checks)


if __name__ == "__main__":
    sys.exit(main())
