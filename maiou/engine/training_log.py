"""Read mmdet 2.x training logs: mmcv's TextLoggerHook output in both of its formats.

mmcv's ``TextLoggerHook`` (0.6 as in the authors' mmdet 2.1 runs, and 1.x as here) writes
every ``interval`` iterations one line to the logger (the text log, ``<timestamp>.log``)::

    2021-03-01 10:00:00,000 - mmdet - INFO - Epoch [3][50/3665]\tlr: 1.000e-03, eta: ...,
        time: 0.512, data_time: 0.011, memory: 7104, loss_cls: 0.6183, ..., loss: 1.9032

(``Iter [50/600]\t...`` for an iteration-based runner, ``Epoch(val) [3][625]\t...`` for an
evaluation) and one JSON object per line to ``<timestamp>.log.json``::

    {"mode": "train", "epoch": 3, "iter": 50, "lr": 0.001, "memory": 7104, ..., "loss": 1.9032}

whose first line may be the run's meta data (no "mode"). ``read_log`` takes either file
(the format is told by the content) and returns the training records; ``epoch_means``
averages one value per epoch; ``compare_epochs`` sets two runs' epoch means side by side
(the curve check: maiou/hooks/curve_check.py says why 10 %). Values are floats as logged
(text: 4 decimals, lr 3 significant digits; JSON: 5 decimals).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["LogFormatError", "epoch_means", "parse_json_log", "parse_text_log", "read_log"]

_TRAIN_EPOCH = re.compile(r"Epoch \[(\d+)\]\[(\d+)/(\d+)\]\s+(.*)$")
_TRAIN_ITER = re.compile(r"(?<![\w(])Iter \[(\d+)/(\d+)\]\s+(.*)$")
_PAIR = re.compile(r"([A-Za-z_][\w.]*): ([-+0-9.eE]+|nan|inf)(?=[,\s]|$)")
_SKIP = ("eta", "time", "data_time", "memory")  # timing and memory, not training values


class LogFormatError(ValueError):
    """The file is not an mmcv training log (names the file)."""


def _values(text: str) -> dict:
    out = {}
    for key, value in _PAIR.findall(text.strip()):
        if key in _SKIP:
            continue
        if key.startswith("lr_"):  # several parameter groups: the first one is "lr"
            out.setdefault("lr", float(value))
        out[key] = float(value)
    return out


def parse_text_log(lines) -> list[dict]:
    """Training records {"epoch", "iter", "lr", <losses>...} of a text log's lines.

    ``iter`` is the iteration within the epoch for an epoch-based runner, the global one for
    an iteration-based runner (then ``epoch`` is None).
    """
    records = []
    for line in lines:
        match = _TRAIN_EPOCH.search(line)
        if match:
            epoch, it, text = int(match[1]), int(match[2]), match[4]
        else:
            match = _TRAIN_ITER.search(line)
            if not match:
                continue
            epoch, it, text = None, int(match[1]), match[3]
        records.append({"epoch": epoch, "iter": it, **_values(text)})
    return records


def parse_json_log(lines) -> list[dict]:
    """Training records of a ``.log.json``'s lines (``"mode": "train"``)."""
    records = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LogFormatError(f"line {n} is not JSON ({exc})") from exc
        if not isinstance(item, dict) or item.get("mode") != "train":
            continue  # meta data, evaluation records
        rec = {"epoch": item.get("epoch"), "iter": item.get("iter")}
        lr = item.get("lr")
        if isinstance(lr, dict):  # several parameter groups
            lr = next(iter(lr.values()), None)
        if lr is not None:
            rec["lr"] = float(lr)
        for key, value in item.items():
            if (
                key not in rec
                and key not in _SKIP
                and key not in ("mode",)
                and isinstance(value, (int, float))
            ):
                rec[key] = float(value)
        records.append(rec)
    return records


def read_log(path: str | Path) -> list[dict]:
    """Training records of an mmcv text log or ``.log.json`` (told apart by content).

    Raises ``LogFormatError`` naming ``path`` if it is an HTML page (a failed Google Drive
    download), not text, or holds no training record.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LogFormatError(
            f"{path}: not a text file ({exc}); expected an mmcv training log"
        ) from exc
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        raise LogFormatError(
            f"{path}: an HTML page, not a training log (a Google Drive "
            "download that returned a web page); download it again or "
            "place the log there by hand"
        )
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    try:
        records = parse_json_log(lines) if first.startswith("{") else parse_text_log(lines)
    except LogFormatError as exc:
        raise LogFormatError(f"{path}: {exc}") from exc
    if not records:
        raise LogFormatError(
            f"{path}: no training record (lines like 'Epoch [1][50/...]' "
            'or JSON with "mode": "train"); not an mmcv training log'
        )
    return records


def epoch_means(records, key: str = "loss") -> dict[int, float]:
    """{epoch: mean of ``key`` over that epoch's records} (records without it skipped)."""
    sums: dict[int, list] = {}
    for rec in records:
        if rec.get("epoch") is None or key not in rec:
            continue
        sums.setdefault(int(rec["epoch"]), []).append(rec[key])
    return {epoch: sum(v) / len(v) for epoch, v in sorted(sums.items())}


# A relative difference above this marks an epoch off course (maiou/hooks/curve_check.py).
DEFAULT_TOLERANCE = 0.10


def compare_epochs(ours: dict, authors: dict, tolerance: float = DEFAULT_TOLERANCE) -> list:
    """Per epoch present in both {epoch: mean loss}: {"epoch", "ours", "authors",
    "relative_difference", "off_course"} with relative difference |ours - authors| /
    authors."""
    out = []
    for epoch in sorted(set(ours) & set(authors)):
        ref = authors[epoch]
        rel = abs(ours[epoch] - ref) / abs(ref) if ref else float("inf")
        out.append(
            {
                "epoch": int(epoch),
                "ours": float(ours[epoch]),
                "authors": float(ref),
                "relative_difference": rel,
                "off_course": bool(rel > tolerance),
            }
        )
    return out
