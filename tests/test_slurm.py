"""The workflow on SLURM, for real: profiles/slurm with snakemake-executor-plugin-slurm
against a one-node cluster on localhost (tests/slurm_cluster.py), started and stopped here.

* the embedded preset, two short runs: every job is an sbatch job, the table is compiled;
* a training job cancelled by the scheduler (scancel) after its first checkpoint is
  resubmitted by Snakemake (profile: retries) and resumes from that checkpoint.

Needs root and the slurm-wlm + munge packages (.ci/install_slurm.sh installs them; the
fixture runs it when they are missing); skips otherwise. The cluster has no slurmdbd, so a
``sacct`` stand-in answers the plugin's job-state queries from slurmctld (see
slurm_cluster.py); everything else is SLURM's own. Every snakemake call runs with
``--directory`` in a tmp folder, as in test_pipeline.py. The plugin polls job states every
second here instead of every 40 s or more (tests/snakemake_fast_polling.py): that wait was
most of the two cluster tests' time.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm_cluster import SlurmCluster, missing_programs

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm"
INSTALL = ROOT / ".ci" / "install_slurm.sh"
# snakemake's command line with the plugin polling every second.
SNAKEMAKE = [sys.executable, str(ROOT / "tests" / "snakemake_fast_polling.py")]
ITERS = 100  # training length in the cancel/resume test
SMALL = [
    "seeds=[0]",  # one seed: the path through the scheduler is the same for every seed
    "num_train=16",
    "num_val=8",
    "samples_per_gpu=2",
    "speed_images=4",
    "pretrain_iters_override=2",
]


def test_profile_loads_and_plans_the_embedded_preset(tmp_path):
    """Quick, no cluster needed: the profile parses (executor plugin installed, settings
    known to it) and a dry run plans the usual jobs."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--directory",
            str(tmp_path),
            "--profile",
            str(PROFILE),
            "-n",
            "results/table.md",
            "--config",
            "runs=[fixed_550]",
            "seeds=[0]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for rule in ("embedded_dataset", "embedded_backbone", "train", "compile_table"):
        assert re.search(rf"^{rule}\s+1$", result.stdout, re.M), result.stdout
    # Embedded runs are evaluated inside their training job.
    assert not re.search(r"^evaluate\s", result.stdout, re.M), result.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("SLURM test cluster needs root (slurmctld/slurmd run jobs as users)")
    if missing_programs():
        result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=600)
        if missing_programs():
            pytest.skip(
                f"SLURM packages not available ({', '.join(missing_programs())} "
                f"missing; {INSTALL.name}: {(result.stdout + result.stderr)[-500:]})"
            )
    # A short path: the munge socket path must fit in a unix socket address.
    cluster = SlurmCluster(Path(tmp_path_factory.mktemp("slurm")))
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def snakemake(
    cluster: SlurmCluster, workdir: Path, *args: str, snakefile: Path, timeout: int = 300
) -> subprocess.CompletedProcess:
    cmd = [
        *SNAKEMAKE,
        "--snakefile",
        str(snakefile),
        "--directory",
        str(workdir),
        "--profile",
        str(PROFILE),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=cluster.env)


def private_repo(tmp_path: Path) -> Path:
    """Snakefile, rules and configs copied (test (b) edits a config)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "Snakefile", repo)
    shutil.copytree(
        ROOT / "experiments",
        repo / "experiments",
        ignore=shutil.ignore_patterns("__pycache__", "benchmarks"),
    )
    shutil.copytree(
        ROOT / "configs", repo / "configs", ignore=shutil.ignore_patterns("__pycache__")
    )
    return repo


def jobs_of(cluster: SlurmCluster, workdir: Path) -> list[dict[str, str]]:
    """This workflow's SLURM jobs (by working directory): sacct's fields plus
    ``scontrol show job``'s, among them the rule (the plugin's --comment
    'rule_<rule>[_wildcards_<wildcards>]') and the TRES asked for."""
    jobs = []
    for job in cluster.jobs():
        info = cluster.job_info(job["JobIDRaw"])
        if Path(info.get("WorkDir", "/")).resolve() == workdir.resolve():
            jobs.append({**info, **job, "Comment": info.get("Comment", "")})
    return jobs


def failure_report(result, cluster, workdir) -> str:
    logs = "\n".join(
        f"--- {p}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(workdir.rglob("*.log"))
    )
    return result.stderr[-6000:] + "\n" + logs + "\n" + cluster.logs_tail(2000)


@pytest.mark.slow(seconds=117)
def test_embedded_preset_through_sbatch(cluster, tmp_path):
    repo, work = private_repo(tmp_path), tmp_path / "work"
    start = time.monotonic()
    result = snakemake(
        cluster,
        work,
        "--config",
        "runs=[fixed_550,atss_maiou_550]",
        "max_iters_override=3",
        *SMALL,
        snakefile=repo / "Snakefile",
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, failure_report(result, cluster, work)
    print(f"embedded preset on SLURM: {elapsed:.0f} s")

    # Every job except the target rule `all` (no command; runs in snakemake itself) went
    # through sbatch and completed; none was retried.
    jobs = jobs_of(cluster, work)
    rules = sorted(re.sub(r"_wildcards_.*", "", j["Comment"]) for j in jobs)
    assert rules == sorted(
        [
            "rule_embedded_dataset",
            "rule_embedded_backbone",
            "rule_contact_sheet",
            "rule_train",
            "rule_train",
            "rule_bootstrap",
            "rule_compile_table",
            "rule_plot_results",
            "rule_assignment_picture",
        ]
    ), jobs
    assert {j["State"] for j in jobs} == {"COMPLETED"}, jobs
    assert "Job" in result.stderr and "has been submitted with SLURM jobid" in result.stderr
    # Per-job logs from the profile (slurm-logdir, kept for successful jobs).
    for job in jobs:
        rule, _, wildcards = job["Comment"].partition("_wildcards_")
        log = work / "logs/slurm" / rule / wildcards / f"{job['JobIDRaw']}.log"
        assert log.is_file(), (log, sorted(map(str, (work / "logs/slurm").rglob("*"))))
    # No GPU was asked for (embedded: gpu=0), so the jobs ran on this GPU-less node.
    for job in jobs:
        tres = {k: v for k, v in job.items() if "tres" in k.lower()}
        assert not any("gpu" in v for v in tres.values()), job

    md = (work / "results/table.md").read_text()
    assert "Embedded mini-benchmark" in md and "runs with results: 2 of 2" in md
    rows = list(csv.DictReader((work / "results/table.csv").open()))
    assert [r["run"] for r in rows] == ["fixed_550", "atss_maiou_550"]
    for row in rows:
        assert 0.0 <= float(row["segm_AP"]) <= 100.0 and float(row["fps"]) > 0


@pytest.mark.slow(seconds=104)
def test_cancelled_training_is_resubmitted_and_resumes(cluster, tmp_path):
    repo, work = private_repo(tmp_path), tmp_path / "work"
    # 100 iterations with a checkpoint every 10 (max_iters_override would put the only
    # checkpoint at the last iteration): ~30 s of training, a checkpoint after a few.
    with (repo / "configs/embedded/fixed_550.py").open("a") as f:
        f.write(
            f"\nrunner = dict(type='IterBasedRunner', max_iters={ITERS})  # test_slurm"
            "\ncheckpoint_config = dict(by_epoch=False, interval=10)  # test_slurm\n"
        )
    work_dir = work / "work_dirs/embedded/fixed_550"
    target = "results/embedded/fixed_550/metrics.json"
    config = ["runs=[fixed_550]", *SMALL]
    # The dataset is made beforehand, locally (the test above sends it through SLURM).
    local = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(repo / "Snakefile"),
            "--directory",
            str(work),
            "--cores",
            "1",
            "ready/embedded/dataset/seed0",
            "--config",
            *config,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert local.returncode == 0, local.stderr[-3000:]

    start = time.monotonic()
    proc = subprocess.Popen(
        [
            *SNAKEMAKE,
            "--snakefile",
            str(repo / "Snakefile"),
            "--directory",
            str(work),
            "--profile",
            str(PROFILE),
            target,
            "--config",
            *config,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        # Wait for the training job to run and write its first checkpoint, then cancel it
        # the way a scheduler kills a job (preemption, time limit, scancel).
        deadline = time.monotonic() + 240
        train_job = None
        while time.monotonic() < deadline and proc.poll() is None:
            if train_job is None:
                train_job = next(
                    (
                        j
                        for j in jobs_of(cluster, work)
                        if j["Comment"].startswith("rule_train") and j["State"] == "RUNNING"
                    ),
                    None,
                )
            if train_job and list(work_dir.glob("iter_*.pth")):
                break
            time.sleep(0.3)
        assert train_job and list(work_dir.glob("iter_*.pth")), (
            f"training never wrote a checkpoint\n{cluster.logs_tail()}"
        )
        assert not (work_dir / "final.pth").exists(), "training finished before the cancel"
        cluster.run("scancel", train_job["JobIDRaw"])
        cancelled_at = time.monotonic() - start
        checkpoints_then = sorted(p.name for p in work_dir.glob("iter_*.pth"))
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    elapsed = time.monotonic() - start
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert proc.returncode == 0, failure_report(result, cluster, work)
    print(
        f"cancel at {cancelled_at:.0f} s (checkpoints {checkpoints_then}); "
        f"done after {elapsed:.0f} s"
    )

    jobs = jobs_of(cluster, work)
    trains = [j for j in jobs if j["Comment"].startswith("rule_train")]
    # Killed once by SLURM, resubmitted once (retries); the second attempt also evaluated.
    assert [j["State"] for j in trains] == ["CANCELLED", "COMPLETED"], jobs
    assert trains[0]["JobIDRaw"] == train_job["JobIDRaw"]
    assert not [j for j in jobs if j["Comment"].startswith("rule_evaluate")], jobs
    assert f"SLURM-job '{train_job['JobIDRaw']}' failed" in stderr
    # The second attempt resumed from a checkpoint of the first (maiou.train auto-resume).
    log = (work / "logs/embedded/train/fixed_550.log").read_text()
    resumed = re.search(rf"resuming from \S+/iter_(\d+)\.pth \(iter \1/{ITERS}\)", log)
    assert resumed, log[-3000:]
    # from the newest checkpoint there was when the job was killed (or a later one
    # written between the scancel and the job's end)
    newest_then = max(int(re.search(r"\d+", name).group()) for name in checkpoints_then)
    assert newest_then <= int(resumed.group(1)) < ITERS
    assert (work_dir / "final.pth").is_file() and (work_dir / f"iter_{ITERS}.pth").is_file()
    assert (work / target).is_file()
