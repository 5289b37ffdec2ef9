"""Build mmcv-full's CUDA wheel from nothing on a machine without a GPU, through setup.sh,
and show which GPU architectures it holds.

    .venv/bin/python -m experiments.benchmarks.build_cuda_wheel [--arch '8.0;9.0'] [--jobs N]
        [--keep DIR]

What a cluster user's ``MAIOU_CUDA=1 TORCH_CUDA_ARCH_LIST=... ./setup.sh`` on a login node
does, with nothing cached and no CUDA toolkit: this checkout's files (tracked and untracked,
not ignored) are copied into a scratch folder, and its ``setup.sh`` runs there with an
empty wheel cache, an empty toolkit cache and a PATH without any folder that holds an
``nvcc`` (CUDA_HOME unset), so that setup.sh fetches the compiler itself. setup.sh's own
output is shown as it comes. Then:

* the build's wall time, CPU time and peak memory (the resident memory of setup.sh and everything it
  started, summed, sampled every second; and the largest single process);
* the architectures of the device code in the built ``mmcv/_ext*.so`` (NVIDIA's cuobjdump,
  fetched like the compiler), for the kernels this project's runs use;
* what the built environment does without a GPU: ``import mmcv.ops`` and
  ``python -m experiments.gpu_check``.

The built wheel is copied into the wheel cache the real checkout's setup.sh reads
(``$MAIOU_WHEEL_CACHE``, default ``~/.cache/maiou/wheels``) unless one is there, so a later
``MAIOU_CUDA=1 TORCH_CUDA_ARCH_LIST=<same> ./setup.sh`` takes it. ``--keep DIR`` keeps the
scratch checkout with its ``.venv`` (the environment a cluster user gets) for more checks.
docs/performance.md ("The CUDA build") has the last run's output.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from experiments.cuda_toolchain import cuobjdump
from maiou.utils.cli import UserError, entry_point

ROOT = Path(__file__).resolve().parents[2]
PROG = "build_cuda_wheel"
# The CUDA kernels of the project's runs: (what, a part of their mangled names).
KERNELS = [
    ("DCNv2 (modulated deformable im2col)", "modulated_deformable_im2col_gpu_kernel"),
    ("DCNv2 backward (col2im)", "modulated_deformable_col2im_gpu_kernel"),
    ("CARAFE forward", "CARAFEForward"),
    ("CARAFE backward", "CARAFEBackward_Mask"),
    ("NMS", "nms_cuda"),
    ("RoIAlign forward", "roi_align_forward_cuda_kernel"),
    ("sigmoid focal loss forward", "sigmoid_focal_loss_forward_cuda_kernel"),
]


def copy_checkout(dest: Path) -> None:
    """This checkout's files as a fresh clone with its local changes would have them: the
    tracked ones and the untracked ones that are not ignored (no .venv, no results)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def without_nvcc(path: str) -> tuple[str, list[str]]:
    """PATH without the folders that hold an ``nvcc``, and those folders."""
    kept, dropped = [], []
    for folder in path.split(os.pathsep):
        (dropped if folder and (Path(folder) / "nvcc").exists() else kept).append(folder)
    return os.pathsep.join(kept), dropped


def tree_rss(root: int) -> tuple[int, int]:
    """(summed, largest) resident memory in bytes of process ``root`` and its descendants."""
    parent, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry.name)
        parent[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[pid] = pages * os.sysconf("SC_PAGE_SIZE")
    tree, grew = {root}, True
    while grew:
        new = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= new
        grew = bool(new)
    sizes = [rss.get(pid, 0) for pid in tree]
    return sum(sizes), max(sizes, default=0)


def run_measured(
    cmd: list[str], cwd: Path, env: dict, log: Path
) -> tuple[int, float, float, int, int]:
    """Run ``cmd``, its output to stdout and ``log``; (exit status, wall seconds, CPU seconds
    of it and all it started, peak summed resident memory of its process tree, largest
    single process's; memory sampled every second)."""
    peak = [0, 0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        done = threading.Event()

        def sample():
            while not done.wait(1.0):
                total, largest = tree_rss(proc.pid)
                peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.write(line)
        status = proc.wait()
        wall = time.monotonic() - start
        done.set()
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return status, wall, cpu, peak[0], peak[1]


def architectures(tool: Path, extension: Path) -> tuple[dict[str, set[str]], dict[str, int], int]:
    """({kernel's mangled-name part: the sm_XX that carry it}, {sm_XX: ELF images}, PTX
    images) of ``extension``'s device code, from ``cuobjdump --dump-resource-usage``."""
    usage = subprocess.run(
        [str(tool), "--dump-resource-usage", str(extension)], capture_output=True, text=True
    )
    if usage.returncode != 0:
        raise UserError(f"cuobjdump could not read {extension}: {usage.stderr.strip()[:200]}")
    found: dict[str, set[str]] = {part: set() for _, part in KERNELS}
    images: dict[str, int] = {}
    arch = "?"
    for line in usage.stdout.splitlines():
        if match := re.match(r"arch = (sm_\w+)", line.strip()):
            arch = match.group(1)
            images[arch] = images.get(arch, 0) + 1
        elif match := re.match(r"\s*Function (\S+):", line):
            for part in found:
                if part in match.group(1):
                    found[part].add(arch)
    ptx = subprocess.run([str(tool), "--list-ptx", str(extension)], capture_output=True, text=True)
    return found, images, len(re.findall(r"^PTX file", ptx.stdout, re.M))


def arch_order(name: str) -> int:
    return int(re.sub(r"\D", "", name) or 0)


def report_architectures(tool: Path, extension: Path) -> None:
    found, images, ptx = architectures(tool, extension)
    archs = sorted(images, key=arch_order)
    print(f"device code in {extension.name}:")
    print("  ELF images: " + ", ".join(f"{a} {images[a]}" for a in archs) + f"; PTX: {ptx}")
    width = max(len(what) for what, _ in KERNELS)
    print(f"  {'kernel'.ljust(width)}  " + "  ".join(archs))
    for what, part in KERNELS:
        marks = "  ".join(("yes" if a in found[part] else "NO").ljust(len(a)) for a in archs)
        print(f"  {what.ljust(width)}  {marks}")
    missing = [what for what, part in KERNELS if set(archs) - found[part]]
    if missing:
        raise UserError(f"kernels without device code for every architecture: {missing}")


def check_environment(repo: Path, env: dict) -> None:
    """``import mmcv.ops`` and gpu_check in the built environment, on this GPU-less machine."""
    python = repo / ".venv" / "bin" / "python"
    probe = (
        "import torch, mmcv.ops as o; "
        "cudart = {l.split()[-1] for l in open('/proc/self/maps') if 'libcudart.so' in l}; "
        "print(f'import mmcv.ops: ok; compiled with CUDA {o.get_compiling_cuda_version()}, "
        "{o.get_compiler_version()}; torch {torch.__version__} sees CUDA: "
        "{torch.cuda.is_available()}; CUDA runtime loaded from {sorted(cudart)}')"
    )
    for title, cmd in [
        ("import mmcv.ops", [str(python), "-c", probe]),
        ("gpu_check", [str(python), "-m", "experiments.gpu_check"]),
    ]:
        done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
        # The command's own line: its last on stdout, else on stderr (mmcv warns on stderr).
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        lines = lines or [line for line in done.stderr.splitlines() if line.strip()]
        print(f"  {title}: exit {done.returncode}: " + (lines[-1] if lines else "(no output)"))


def keep_wheel(wheel: Path, flavour: str) -> None:
    """Copy ``wheel`` into the real wheel cache (setup.sh's layout), unless one is there."""
    cache = Path(os.environ.get("MAIOU_WHEEL_CACHE") or Path.home() / ".cache/maiou/wheels")
    folder = cache / flavour
    if list(folder.glob("mmcv_full-1.7.2-cp311-*.whl")):
        print(f"the wheel cache {folder} already has a wheel: left as it is")
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{wheel.name}.tmp"
    shutil.copy2(wheel, tmp)
    tmp.rename(folder / wheel.name)
    print(f"wheel kept for setup.sh: {folder / wheel.name}")


@entry_point(PROG)
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmarks." + PROG)
    parser.add_argument("--arch", default="8.0;9.0", help="TORCH_CUDA_ARCH_LIST (default 8.0;9.0)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="MAX_JOBS (default: the cores)"
    )
    parser.add_argument("--keep", type=Path, help="keep the scratch checkout and .venv here")
    args = parser.parse_args(argv)
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        raise UserError(f"{args.keep} is not empty: name a new folder for --keep")
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="maiou-cuda-build-"))
    repo = scratch / "repo"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"{_dt.datetime.now():%Y-%m-%d %H:%M}, {platform.machine()}, {os.cpu_count()} cores, "
        f"checkout {commit}; scratch {scratch}"
    )
    copy_checkout(repo)
    path, dropped = without_nvcc(os.environ.get("PATH", ""))
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_PATH")}
    env.update(
        PATH=path,
        PYTHON=os.environ.get("PYTHON") or getattr(sys, "_base_executable", sys.executable),
        MAIOU_CUDA="1",
        TORCH_CUDA_ARCH_LIST=args.arch,
        MAX_JOBS=str(args.jobs),
        MAIOU_WHEEL_CACHE=str(scratch / "wheels"),
        MAIOU_TOOLKIT_CACHE=str(scratch / "toolkit"),
    )
    print(f"PATH without {', '.join(dropped) or '(no folder had an nvcc)'}; CUDA_HOME unset")
    print(f"$ MAIOU_CUDA=1 TORCH_CUDA_ARCH_LIST='{args.arch}' MAX_JOBS={args.jobs} ./setup.sh")
    status, wall, cpu, peak, largest = run_measured(
        ["bash", "setup.sh"], repo, env, scratch / "setup.log"
    )
    gib = 1024**3
    print(
        f"setup.sh: exit {status} after {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU; peak "
        f"memory {peak / gib:.2f} GiB (setup.sh and all it started, summed), largest process "
        f"{largest / gib:.2f} GiB"
    )
    if status != 0:
        raise UserError(f"setup.sh failed (exit {status}); its output is in {scratch}/setup.log")
    flavour = "cuda-sm" + re.sub(r"[^0-9]", "_", args.arch)
    wheel = next((scratch / "wheels" / flavour).glob("mmcv_full-*.whl"))
    print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1024**2:.0f} MiB")
    extension = next((repo / ".venv" / "lib").glob("python3*/site-packages/mmcv/_ext*.so"))
    report_architectures(cuobjdump(scratch / "toolkit"), extension)
    print("the built environment, on this machine (no GPU, no driver):")
    check_environment(repo, env)
    keep_wheel(wheel, flavour)
    if not args.keep:
        shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
