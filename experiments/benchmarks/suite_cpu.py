"""Where the test suite's CPU time goes, process by process.

    .venv/bin/python -m experiments.benchmarks.suite_cpu [PYTEST ARGS ...]

Runs ``python -m pytest PYTEST ARGS`` with a hook in every Python process of this
environment: at exit, each process appends its command, its CPU seconds (user + system,
children not included), whether it loaded torch / mmdet, and the test that started it
(``PYTEST_CURRENT_TEST`` as the process inherited it) to a JSON-lines file. Then prints the
totals by command and by test. Whatever the tests start out of this environment (the SLURM
daemons, shells) and processes killed with SIGKILL are not counted.

The hook is a ``.pth`` file in this environment's site-packages, removed when pytest ends
(a ``sitecustomize`` on PYTHONPATH would lose to the COCO tests' network guard, which is
one). A test that builds its subprocesses' environment in a fixture hands them the name of
the test that was running when the fixture was made.
"""

from __future__ import annotations

import collections
import json
import os
import site
import subprocess
import sys
import tempfile
from pathlib import Path

HOOK_MODULE = "_maiou_suite_cpu_hook"
HOOK = """
import atexit, json, os, resource, sys

def _record(path=os.environ.get("MAIOU_SUITE_CPU_LOG")):
    if not path:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = dict(
        argv=sys.argv[:4],
        cpu=usage.ru_utime + usage.ru_stime,
        torch="torch" in sys.modules,
        mmdet="mmdet" in sys.modules,
        test=os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
    )
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\\n")

atexit.register(_record)
"""


def command_name(argv: list[str]) -> str:
    """``maiou/train.py``, ``snakemake``, ``bin/sacct``...: what a process ran."""
    if not argv or argv[0] in ("-c", ""):
        return "python -c"
    script = Path(argv[0])
    if script.name == "__main__.py":
        return script.parent.name
    return f"{script.parent.name}/{script.name}"


def summary(records: list[dict], top: int = 25) -> str:
    by_command = collections.defaultdict(lambda: [0, 0.0, 0])
    by_test = collections.defaultdict(lambda: [0, 0.0, 0])
    for record in records:
        for table, key in (
            (by_command, command_name(record["argv"])),
            (by_test, record["test"] or "(no test: pytest and its workers)"),
        ):
            row = table[key]
            row[0] += 1
            row[1] += record["cpu"]
            row[2] += record["mmdet"]
    lines = [
        f"{len(records)} processes, {sum(r['cpu'] for r in records):.0f} CPU-s; "
        f"{sum(r['mmdet'] for r in records)} loaded mmdet, "
        f"{sum(r['torch'] for r in records)} torch"
    ]
    for title, table in (("by command", by_command), ("by test", by_test)):
        lines.append(f"\n{'CPU-s':>8} {'procs':>5} {'mmdet':>5}  {title}")
        for key, (count, cpu, mmdet) in sorted(table.items(), key=lambda kv: -kv[1][1])[:top]:
            lines.append(f"{cpu:8.1f} {count:5d} {mmdet:5d}  {key}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    pytest_args = sys.argv[1:] if argv is None else argv
    site_packages = Path(site.getsitepackages()[0])
    hook, pth = site_packages / f"{HOOK_MODULE}.py", site_packages / f"{HOOK_MODULE}.pth"
    with tempfile.TemporaryDirectory(prefix="suite_cpu.") as tmp:
        log = Path(tmp) / "processes.jsonl"
        hook.write_text(HOOK)
        pth.write_text(f"import {HOOK_MODULE}\n")
        try:
            code = subprocess.call(
                [sys.executable, "-m", "pytest", *pytest_args],
                env=dict(os.environ, MAIOU_SUITE_CPU_LOG=str(log)),
            )
        finally:
            pth.unlink(missing_ok=True)
            hook.unlink(missing_ok=True)
        lines = log.read_text().splitlines() if log.exists() else []
        records = [json.loads(line) for line in lines]
    print(summary(records))
    return code


if __name__ == "__main__":
    sys.exit(main())
