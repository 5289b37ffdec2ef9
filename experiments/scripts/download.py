"""Download one file for the coco presets: resumable, checked, atomic.

    python -m experiments.scripts.download --url URL [--md5 HEX] --out PATH
    python -m experiments.scripts.download --run RUN --out checkpoints/coco/RUN.pth
    python -m experiments.scripts.download --log RUN [--log-url URL] \
        --out checkpoints/coco/logs/RUN.log

* HTTP(S) downloads resume: bytes go to ``PATH.part`` and a re-run continues it with a Range
  request (a server that ignores Range restarts it). Progress on stderr.
* ``--md5``: the finished file must match, else it is deleted and the script fails.
* ``--run``: a released checkpoint, fetched from Google Drive with gdown (file id from
  maiou/runs.py) and checked to be a torch checkpoint, not an HTML page.
* ``--log``: the authors' training log of a run (Google Drive id from maiou/runs.py, or
  ``--log-url``), checked to be an mmcv training log (text or ``.log.json``), not an HTML
  page (``download_log``).
* ``--torch-checkpoint``: the file must load through maiou's safe loader (tensors only;
  implied by ``--run``).
* ``--hash-in-name``: the file's sha256 must start with the hex part of the URL's file name
  (torchvision's convention: ``resnet50-19c8e357.pth``).
* Only a complete, checked file is renamed to PATH, so PATH never holds a partial file.
* Offline / failed: a message naming the URL and where to place the file by hand (after which
  Snakemake finds it present and goes on).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from maiou import runs as registry
from maiou.cli import UserError, entry_point

CHECKPOINT_DRIVE_IDS = {run.name: run.checkpoint_drive_id for run in registry.released()}
LOG_DRIVE_IDS = {run.name: run.log_drive_id for run in registry.RUNS if run.log_drive_id}

CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """A download that failed or fetched the wrong thing."""


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(done: int, total: int | None, start: float, resumed: int) -> None:
    rate = (done - resumed) / max(time.monotonic() - start, 1e-6) / 1e6
    where = (
        f"{done / 1e6:,.0f} / {total / 1e6:,.0f} MB ({100 * done / total:.0f}%)"
        if total
        else f"{done / 1e6:,.0f} MB"
    )
    print(f"\r  {where} at {rate:.1f} MB/s", end="", file=sys.stderr, flush=True)


def http_download(url: str, part: Path, timeout: float = 60) -> None:
    """Fetch ``url`` into ``part``, continuing from ``part``'s current size."""
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
        start, done = time.monotonic(), have
        with part.open("ab" if have else "wb") as f:
            while block := response.read(CHUNK):
                f.write(block)
                done += len(block)
                _progress(done, total, start, have)
    print(file=sys.stderr)
    if total is not None and done != total:
        raise DownloadError(
            f"{url}: connection closed at {done} of {total} bytes (run again to resume)"
        )


def drive_download(file_id: str, part: Path) -> None:
    import gdown  # in the project venv; only needed for the released checkpoints

    if gdown.download(id=file_id, output=str(part), quiet=False, resume=True) is None:
        raise DownloadError(f"gdown could not fetch Google Drive file {file_id}")


def check_checkpoint(path: Path) -> None:
    """A torch checkpoint is a zip (torch >= 1.6) or a pickle; Drive quota pages are HTML."""
    with path.open("rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):
        raise DownloadError(
            f"{path} is not a torch checkpoint (starts with {head!r}; "
            "Google Drive may have served a quota or login page)"
        )


def check_loads_as_tensors(path: Path) -> None:
    """The file must be a torch checkpoint whose content is tensors (maiou.checkpoint)."""
    from maiou.checkpoint import CheckpointError, load_untrusted_checkpoint

    check_checkpoint(path)
    try:
        load_untrusted_checkpoint(path)
    except CheckpointError as exc:
        raise DownloadError(str(exc)) from None


def check_hash_in_name(path: Path, url: str) -> None:
    from maiou.pretrained import sha256_prefix_in_name

    prefix = sha256_prefix_in_name(url)
    if prefix is None:
        raise DownloadError(
            f"{url}: the file name carries no sha256 prefix to check (expected NAME-<hex>.pth)"
        )
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(prefix):
        path.unlink()
        raise DownloadError(
            f"sha256 mismatch for {url}: got {digest.hexdigest()[: len(prefix)]}"
            f"..., the file name says {prefix} (the partial file was deleted; "
            "run again)"
        )


def _place_by_hand(url: str, out: Path, part: Path, exc: Exception) -> None:
    print(
        f"\nerror: could not download {url}: {exc}\n"
        f"If this machine is offline, fetch that URL elsewhere and place the log at\n"
        f"  {out.resolve()}\n"
        f"(the authors' logs go under <checkpoint_dir>/logs/<run>.log); Snakemake then "
        f"treats it as downloaded. A partial download stays in\n"
        f"  {part.resolve()}\nand is resumed by the next run.",
        file=sys.stderr,
    )


def download_log(run: str, out: Path, url: str | None = None) -> int:
    """The authors' training log of ``run`` into ``out``: from ``url`` when given (the
    ``log_urls`` override), else from Google Drive. Checked with maiou.training_log (an
    HTML page or a file without training records is refused). Returns the exit status."""
    from maiou.training_log import read_log

    if url is None and run not in LOG_DRIVE_IDS:
        print(
            f"error: no released training log for {run} (runs with one: "
            f"{', '.join(sorted(LOG_DRIVE_IDS))}); give --log-url",
            file=sys.stderr,
        )
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    source = url or f"https://drive.google.com/file/d/{LOG_DRIVE_IDS[run]}/view"
    print(f"downloading {source} -> {out}", file=sys.stderr)
    try:
        if url:
            http_download(url, part)
        else:
            drive_download(LOG_DRIVE_IDS[run], part)
        try:
            records = read_log(part)
        except ValueError as exc:
            part.unlink()  # a web page or garbage: nothing worth resuming
            raise DownloadError(str(exc)) from exc
        os.replace(part, out)
    except Exception as exc:  # any failure gets the place-it-by-hand message
        _place_by_hand(source, out, part, exc)
        return 1
    print(f"done: {out} ({len(records)} training records)", file=sys.stderr)
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
        return download_log(args.log, args.out, args.log_url)

    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    url = args.url or f"https://drive.google.com/file/d/{CHECKPOINT_DRIVE_IDS[args.run]}/view"
    print(f"downloading {url} -> {out}", file=sys.stderr)
    try:
        if args.url:
            http_download(args.url, part)
        else:
            drive_download(CHECKPOINT_DRIVE_IDS[args.run], part)
        if args.md5:
            got = md5sum(part)
            if got != args.md5:
                part.unlink()
                raise DownloadError(
                    f"md5 mismatch for {url}: got {got}, expected {args.md5} "
                    "(the partial file was deleted; run again)"
                )
        if args.hash_in_name:
            check_hash_in_name(part, url)
        if args.run or args.torch_checkpoint:
            try:
                check_loads_as_tensors(part)
            except DownloadError:
                part.unlink()
                raise
        os.replace(part, out)
    except Exception as exc:  # any failure gets the place-it-by-hand message
        hint = (
            " (is the server or mirror up?)"
            if isinstance(exc, urllib.error.URLError)
            and not isinstance(exc, urllib.error.HTTPError)
            else ""
        )
        print(
            f"\nerror: could not download {url}: {exc}{hint}\n"
            f"If this machine is offline, fetch that URL elsewhere and place the file at\n"
            f"  {out.resolve()}\n"
            f"(COCO zips under <data_root>/downloads/, checkpoints under <checkpoint_dir>/"
            f"<run>.pth); Snakemake then treats it as downloaded. A partial download stays in\n"
            f"  {part.resolve()}\nand is resumed by the next run.",
            file=sys.stderr,
        )
        return 1
    print(f"done: {out}" + (f" (md5 {args.md5} ok)" if args.md5 else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
