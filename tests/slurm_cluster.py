"""A throw-away single-node SLURM cluster on localhost, for tests (tests/test_slurm.py).

Everything lives in one private folder: munge key and socket, slurm.conf, state, spool,
pid and log files. The daemons (munged, slurmctld, slurmd) are started as root on free
ports and stopped again by :meth:`SlurmCluster.stop`; clients find the cluster through
``SLURM_CONF`` (see :attr:`SlurmCluster.env`), so nothing under /etc is used or changed.

The plugins are the ones that work in an unprivileged container without cgroups or a
database: ``proctrack/linuxproc``, ``task/none``, ``jobacct_gather/none``,
``accounting_storage/none`` and ``jobcomp/filetxt`` (a text record of every finished job).

Without slurmdbd, SLURM 22.05's ``sacct`` only says "Slurm accounting storage is disabled",
and snakemake-executor-plugin-slurm 1.x learns job states from ``sacct`` alone. So the
cluster puts a small ``sacct`` stand-in first on PATH (:data:`SACCT_SHIM`): it answers the
plugin's query (``--name``, ``--format``, ``--parsable2``, ``--noheader``) from
``scontrol show job`` (slurmctld keeps finished jobs for ``MinJobAge`` = 15 minutes) and
from the jobcomp file. Submission, scheduling, execution and cancellation are all real.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

SACCT_SHIM = r'''#!{python}
"""sacct stand-in for a test cluster without slurmdbd (see tests/slurm_cluster.py)."""
import re, subprocess, sys

args, fields, name, header = sys.argv[1:], ["JobID", "JobName", "State"], None, True
i = 0
while i < len(args):
    a = args[i]
    if a in ("--format", "-o", "--name", "--starttime", "--endtime", "-S", "-E", "-u",
             "--user", "--clusters", "-M", "-j", "--jobs"):
        value, i = args[i + 1], i + 1
    elif "=" in a:
        a, value = a.split("=", 1)
    else:
        value = None
    if a in ("--format", "-o"):
        fields = [f.split("%")[0] for f in value.split(",")]
    elif a == "--name":
        name = value
    elif a in ("-n", "--noheader") or (a.startswith("-") and not a.startswith("--")
                                         and "n" in a):
        header = False
    i += 1

jobs = {{}}
lines = open("{jobcomp}", errors="replace") if __import__("os").path.exists("{jobcomp}") else []
for line in lines:
    info = dict(t.split("=", 1) for t in line.split() if "=" in t)
    if "JobId" in info:
        jobs[info["JobId"]] = {{"JobId": info["JobId"], "JobName": info.get("Name", ""),
                               "JobState": info.get("JobState", ""),
                               "ExitCode": info.get("ExitCode", "")}}
out = subprocess.run(["{scontrol}", "show", "job", "--oneliner"], capture_output=True,
                     text=True).stdout
for line in out.splitlines():
    info = dict(t.split("=", 1) for t in line.split() if "=" in t)
    if "JobId" in info:
        jobs[info["JobId"]] = info
get = {{"jobid": "JobId", "jobidraw": "JobId", "jobname": "JobName", "state": "JobState",
       "exitcode": "ExitCode", "account": "Account", "comment": "Comment"}}
lines = ["|".join(fields)] if header else []
for job_id in sorted(jobs, key=int):
    info = jobs[job_id]
    if name is not None and info.get("JobName") != name:
        continue
    row = [info.get(get.get(f.lower(), f), "") for f in fields]
    lines.append("|".join("" if v == "(null)" else v for v in row))
print("\n".join(lines))
'''

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "sinfo", "squeue", "sacct", "scancel", "scontrol", "srun")
# Debian puts munged in /usr/sbin, which root's PATH has but a test runner's may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])


def which(program: str) -> str | None:
    return shutil.which(program, path=SEARCH_PATH)


def missing_programs() -> list[str]:
    return [p for p in DAEMONS + CLIENTS if which(p) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=maiou-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: track job processes through /proc, no task containment.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct asks slurmctld, which remembers finished jobs for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
MinJobAge=900
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
# Trust the node line below over what slurmd detects: the profile's memory requests
# (sbatch --mem) then fit on a small CI machine too. Memory is not enforced (CR_Core).
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


class SlurmCluster:
    """One node (localhost, ``cpus`` CPUs), one partition. Root only."""

    def __init__(self, root: Path, cpus: int = 2, partition: str = "debug", memory_mb: int = 64000):
        self.root = Path(root)
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.partition = partition
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket.2"
        self._procs: list[tuple[str, Path]] = []  # (daemon, pid file)

    # -- environment for clients (sbatch, sinfo, snakemake's slurm plugin) ---------------
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in list(env):  # a SLURM job context of the test runner must not leak in
            if var.startswith("SLURM_") or var.startswith("SBATCH_"):
                del env[var]
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.root / "bin"), SEARCH_PATH])
        env.setdefault("USER", "root")
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> str:
        result = subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({result.returncode}): "
                f"{result.stderr.strip()}\n{self.logs_tail()}"
            )
        return result.stdout

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> "SlurmCluster":
        if os.geteuid() != 0:
            raise PermissionError("a test SLURM cluster needs root (slurmd runs jobs as users)")
        for sub in ("munge", "state", "spool", "run", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self.conf.write_text(
            SLURM_CONF.format(
                root=self.root,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                munge_socket=self.munge_socket,
                cpus=self.cpus,
                memory=self.memory_mb,
                partition=self.partition,
            )
        )

        shim = self.root / "bin" / "sacct"
        shim.write_text(
            SACCT_SHIM.format(
                python=sys.executable,
                scontrol=which("scontrol"),
                jobcomp=self.root / "log" / "jobcomp.txt",
            )
        )
        shim.chmod(0o755)

        munge_pid = self.root / "run" / "munged.pid"
        self._daemon(
            "munged",
            munge_pid,
            "--force",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={munge_pid}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}",
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged's socket")
        # -i: ignore saved state; -c would clear it (a fresh folder has none anyway).
        self._daemon("slurmctld", self.root / "run" / "slurmctld.pid", "-i")
        self._wait(
            lambda: (
                self._ok("scontrol", "ping") and "UP" in self.run("scontrol", "ping", check=False)
            ),
            timeout,
            "slurmctld",
        )
        self._daemon("slurmd", self.root / "run" / "slurmd.pid")
        self._wait(lambda: self.node_state() == "idle", timeout, "the node to be idle in sinfo")
        return self

    def stop(self) -> None:
        """Cancel what is left, then stop the daemons (newest first), each by its pid."""
        if self.conf.exists() and self._procs:
            self.run("scancel", "--full", "--user", self.env["USER"], check=False)
        for _name, pid_file in reversed(self._procs):
            pid = self._read_pid(pid_file)
            if pid is None:
                continue
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, 9)
        self._procs.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- queries --------------------------------------------------------------------------
    def node_state(self) -> str:
        out = self.run("sinfo", "--noheader", "--nodes=localhost", "-o", "%T", check=False)
        return out.strip().rstrip("*~#!%$@^-").lower()

    def jobs(self) -> list[dict[str, str]]:
        """Every job of this cluster (running or finished), as the plugin's status query
        (``sacct``, here the stand-in) sees them."""
        fields = ["JobIDRaw", "JobName", "State", "ExitCode", "Comment"]
        out = self.run(
            "sacct",
            "-X",
            "--parsable2",
            "--noheader",
            "--allusers",
            f"--format={','.join(fields)}",
            "--starttime",
            "now-1days",
        )
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (JobState, Command, StdOut, ...)."""
        out = self.run("scontrol", "show", "job", "--oneliner", job_id, check=False)
        info = {}
        for token in out.split():
            if "=" in token:
                key, value = token.split("=", 1)
                info[key] = value
        return info

    def logs_tail(self, chars: int = 3000) -> str:
        parts = []
        for log in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {log}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    # -- helpers --------------------------------------------------------------------------
    def _daemon(self, name: str, pid_file: Path, *args: str) -> None:
        cmd = [which(name), *args]
        if name != "munged":
            cmd += ["-f", str(self.conf)]
        log = (self.root / "log" / f"{name}.stderr").open("w")
        # The daemons fork into the background and write their pid files; remember
        # them so stop() ends exactly these processes.
        subprocess.run(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=30
        )
        self._procs.append((name, pid_file))

    def _ok(self, *cmd: str) -> bool:
        return (
            subprocess.run(list(cmd), env=self.env, capture_output=True, timeout=30).returncode == 0
        )

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}\n{self.logs_tail()}")

    @staticmethod
    def _read_pid(pid_file: Path) -> int | None:
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is as good as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
    return True
