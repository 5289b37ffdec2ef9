"""Why jobs failed, on the console: each failed job's rule, log and the log's reason line.

Snakemake ends a failed run with "check log file(s) for error details"; the line that says
what to do is inside the log. The Snakefile's ``onerror`` handler calls :func:`report` with
Snakemake's own log, which lists every failed job with its log files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["failed_jobs", "reason", "report"]

_ERROR_IN_RULE = re.compile(r"^Error in rule (\S+?):?(?:,|$)", re.M)
_LOG_LINE = re.compile(r"^\s+log: (.+?) \(check log file\(s\) for error details\)", re.M)


def failed_jobs(snakemake_log: str) -> list[tuple[str, list[str]]]:
    """[(rule, [its log files])] for each "Error in rule" block of Snakemake's log text."""
    starts = list(_ERROR_IN_RULE.finditer(snakemake_log))
    jobs = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(snakemake_log)
        logs = _LOG_LINE.search(snakemake_log, match.end(), end)
        jobs.append((match.group(1), logs.group(1).split(", ") if logs else []))
    return jobs


def reason(log_file: str | Path) -> str:
    """The last line of ``log_file`` that names an error (``error:``, ``Error``), else its
    last non-empty line; a note when the file cannot be read."""
    try:
        lines = [line.strip() for line in Path(log_file).read_text(errors="replace").splitlines()]
    except OSError as exc:
        return f"(no log: {exc.strerror})"
    lines = [line for line in lines if line]
    errors = [line for line in lines if re.search(r"\berror\b|Error\b", line)]
    return (errors or lines or ["(empty log)"])[-1]


def report(snakemake_logs, out=sys.stderr) -> None:
    """Print each failed job's reason; ``snakemake_logs``: Snakemake's log file (or a list
    of them), as its ``onerror`` handler receives it."""
    if isinstance(snakemake_logs, (str, Path)):
        snakemake_logs = [snakemake_logs]
    text = ""
    for path in snakemake_logs or []:
        try:
            text += Path(path).read_text(errors="replace")
        except OSError:
            continue
    jobs = failed_jobs(text)
    if not jobs:
        return
    print("\nWhy the failed jobs failed (the reason line of each log):", file=out)
    seen = set()
    for rule, logs in jobs:
        for log in logs or [None]:
            if (rule, log) in seen:
                continue
            seen.add((rule, log))
            line = reason(log) if log else "(this rule keeps no log)"
            print(f"  {rule} [{log}]: {line}", file=out)
