"""The CUDA compiler and headers that build mmcv-full's kernels against the installed torch.

    python -m experiments.cuda_toolchain [--cache DIR]     # prints CUDA_HOME=... lines

setup.sh runs it before a CUDA build (``MAIOU_CUDA=1``) and exports what it prints, for
that build only. The rule: torch's ``cpp_extension`` refuses an nvcc whose CUDA major
differs from ``torch.version.cuda``'s, and nvcc refuses CUDA headers of another release
("CUDA compiler and CUDA toolkit headers are incompatible"), so nvcc and the headers must
both be torch's CUDA major.minor. A toolkit that is (``$CUDA_HOME``'s, else the one of the
``nvcc`` on PATH: where torch itself looks) is used as it is. Otherwise the compiler is
fetched from the package index at the version torch pins for its own CUDA libraries (its
``cuda-toolkit`` requirement: ``cuda-toolkit[nvcc,cccl]==13.0.3`` for torch 2.14.1, i.e.
nvcc 13.0.88, CCCL 13.0.85, runtime headers 13.0.96) into a build-only folder,
``DIR/cuda-13.0`` (default ``~/.cache/maiou``), never into the environment: the built
extension needs only the CUDA runtime, which torch already installs.

The fetched folder is a CUDA_HOME with two additions: ``lib/libcudart.so`` (the wheel has
only ``libcudart.so.13``; torch links extensions with ``-lcudart``) and, printed as
``CUDA_INC_PATH``, torch's own ``nvidia/cu13/include`` for the cuBLAS/cuSPARSE/cuSOLVER
headers that ``ATen/cuda`` includes (the compiler wheels do not carry them).

``cuobjdump(cache)`` fetches NVIDIA's ``cuobjdump`` the same way (no 13.0 release of it is on
the index; any of torch's CUDA major reads the device code nvcc 13.0 writes).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from maiou.utils.cli import UserError, entry_point

PROG = "setup.sh"  # its lines are setup.sh's, which runs it
DEFAULT_CACHE = Path.home() / ".cache" / "maiou"
# The compiler, its front end and its headers (cuda-toolkit's extras): nvcc brings crt, nvvm
# and the runtime headers, cccl the C++ library (thrust, cub, libcu++) nvcc includes.
TOOLKIT_EXTRAS = "nvcc,cccl"


@dataclass(frozen=True)
class Toolchain:
    home: Path  # CUDA_HOME: bin/nvcc, include/, lib/
    release: str  # nvcc's and the headers' CUDA major.minor, e.g. "13.0"
    fetched: bool  # fetched from the package index into the build-only folder
    include: Path | None  # CUDA_INC_PATH: the CUDA library headers torch's ATen/cuda includes

    def environ(self) -> dict[str, str]:
        """What a build exports: CUDA_HOME, its bin first on PATH, CUDA_INC_PATH if needed."""
        env = {"CUDA_HOME": str(self.home)}
        env["PATH"] = f"{self.home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        if self.include is not None:
            env["CUDA_INC_PATH"] = str(self.include)
        return env


def torch_cuda() -> str:
    """``torch.version.cuda`` ("13.0"), or a UserError for a CPU-only torch."""
    import torch

    if not torch.version.cuda:
        raise UserError(
            f"torch {torch.__version__} here is a CPU-only build: it cannot load CUDA kernels. "
            "Install the pinned torch from the package index (a CUDA build) and rerun."
        )
    return torch.version.cuda


def toolkit_requirement(release: str) -> str:
    """The pip requirement for nvcc and the headers of CUDA ``release``: torch's own
    ``cuda-toolkit==X`` pin with the compiler's extras; a UserError naming the way for a
    torch that has no such pin (e.g. PyTorch's CUDA 12 builds)."""
    for line in importlib.metadata.requires("torch") or []:
        match = re.match(r"cuda-toolkit\s*(?:\[[^\]]*\])?\s*==\s*([0-9.]+)", line)
        if match and match.group(1).startswith(release + "."):
            return f"cuda-toolkit[{TOOLKIT_EXTRAS}]=={match.group(1)}"
    # PyTorch's CUDA 12 builds pin nvidia-*-cu12 packages, and nvidia-cuda-nvcc-cu12 (12.6,
    # 12.8, 12.9) holds ptxas but no nvcc: such a toolkit has to come from elsewhere.
    raise UserError(
        f"no nvcc of torch's CUDA {release} here, and none to fetch for this torch: load a "
        f"CUDA {release} toolkit (e.g. module load cuda/{release}, or conda's cuda-nvcc="
        f"{release}) and set CUDA_HOME to it (docs/coco-presets.md, 'GPUs and drivers')"
    )


def nvcc_release(nvcc: Path) -> str | None:
    """The CUDA release nvcc reports ("13.0"), or None if it does not run."""
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else None


def header_release(include: Path) -> str | None:
    """The CUDA release of the runtime headers in ``include`` ("13.0" from CUDART_VERSION
    13000), or None if they are not there."""
    try:
        text = (include / "cuda_runtime_api.h").read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"#define\s+CUDART_VERSION\s+(\d+)", text)
    if not match:
        return None
    number = int(match.group(1))
    return f"{number // 1000}.{number % 1000 // 10}"


def problem(home: Path, release: str) -> str | None:
    """Why ``home`` cannot build for torch's CUDA ``release``; None if it can."""
    nvcc = home / "bin" / "nvcc"
    if not nvcc.is_file():
        return f"{nvcc} does not exist"
    found = nvcc_release(nvcc)
    if found != release:
        return f"{nvcc} is CUDA {found or '(unknown)'}, torch is built for CUDA {release}"
    headers = header_release(home / "include")
    if headers is None:
        return f"no CUDA runtime headers in {home / 'include'}"
    if headers != release:
        return f"the CUDA headers in {home / 'include'} are {headers}, nvcc is {release}"
    return None


def library_headers(home: Path) -> Path | None:
    """Torch's ``nvidia/cuXX/include`` if ``home`` lacks the cuBLAS headers ATen/cuda needs."""
    if (home / "include" / "cublas_v2.h").is_file():
        return None
    import torch

    major = torch.version.cuda.split(".")[0]
    for entry in map(Path, sys.path):
        include = entry / "nvidia" / f"cu{major}" / "include"
        if (include / "cublas_v2.h").is_file():
            return include
    return None


def pip_target(requirement: str, dest: Path) -> None:
    """``pip install --target`` into a temporary sibling of ``dest``, renamed to ``dest``
    once complete (never a half-installed folder); a UserError if pip fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    cmd += ["--no-warn-conflicts", "--target", str(tmp), requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["?"]
        raise UserError(f"could not fetch {requirement} (offline?): pip said: {last[0].strip()}")
    tmp.chmod(0o755)  # mkdtemp's folders are private
    if dest.exists():  # a stale or broken one: replaced whole
        shutil.rmtree(dest)
    tmp.rename(dest)


def fetch(cache: Path, release: str) -> Path:
    """The CUDA ``release`` compiler and headers in ``cache/cuda-<release>``, fetched once;
    returns its CUDA_HOME."""
    folder = cache / f"cuda-{release}"
    home = folder / "nvidia" / f"cu{release.split('.')[0]}"
    if problem(home, release) is None:
        return home
    requirement = toolkit_requirement(release)
    print(
        f"{PROG}: fetching {requirement} (nvcc and the CUDA headers, ~100 MB) into {folder}, "
        "for building only",
        file=sys.stderr,
    )
    pip_target(requirement, folder)
    cudart = home / "lib" / "libcudart.so"
    if not cudart.exists():
        sonames = sorted((home / "lib").glob("libcudart.so.*"))
        if sonames:
            cudart.symlink_to(sonames[0].name)
    reason = problem(home, release)
    if reason:
        raise UserError(f"the fetched CUDA {release} compiler is unusable: {reason}")
    return home


def installed(release: str) -> tuple[Path | None, str]:
    """The toolkit torch itself would use ($CUDA_HOME, else the nvcc on PATH's) and why it
    cannot be used ("" if it can, or if there is none)."""
    env = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if env:
        home = Path(env)
    elif nvcc := shutil.which("nvcc"):
        home = Path(nvcc).parent.parent
    else:
        return None, "no nvcc on PATH and no CUDA_HOME"
    return home, problem(home, release) or ""


def resolve(cache: Path = DEFAULT_CACHE, use_installed: bool = True) -> Toolchain:
    """The toolchain for torch's CUDA: the installed one if it matches (``use_installed``),
    else the fetched one; says in one line (stderr) which and why."""
    release = torch_cuda()
    if use_installed:
        home, reason = installed(release)
        if home is not None and not reason:
            return Toolchain(home, release, False, library_headers(home))
        print(f"{PROG}: not using the installed CUDA toolkit: {reason}", file=sys.stderr)
    home = fetch(cache, release)
    return Toolchain(home, release, True, library_headers(home))


def unsupported_architectures(home: Path, arch_list: str) -> list[str]:
    """The entries of a TORCH_CUDA_ARCH_LIST ("8.0;9.0", "8.6+PTX", "9.0a") that this nvcc
    cannot build (not in ``nvcc --list-gpu-arch``); named ones ("Ampere") are left to torch."""
    out = subprocess.run(
        [str(home / "bin" / "nvcc"), "--list-gpu-arch"], capture_output=True, text=True
    ).stdout
    known = set(re.findall(r"compute_(\d+)\b", out))  # "90"; 9.0a and 10.0f are variants of these
    bad = []
    for entry in re.split(r"[;\s]+", arch_list.strip()):
        match = re.fullmatch(r"(\d+)\.(\d+)[a-z]?(\+PTX)?", entry)
        if match and match.group(1) + match.group(2) not in known:
            bad.append(entry)
    return bad


def supported(home: Path) -> str:
    """nvcc's architectures as TORCH_CUDA_ARCH_LIST entries: "7.5 8.0 8.6 ..."."""
    out = subprocess.run(
        [str(home / "bin" / "nvcc"), "--list-gpu-arch"], capture_output=True, text=True
    ).stdout
    numbers = sorted({int(n) for n in re.findall(r"compute_(\d+)\b", out)})
    return " ".join(f"{n // 10}.{n % 10}" for n in numbers)


def cuobjdump(cache: Path = DEFAULT_CACHE) -> Path:
    """NVIDIA's cuobjdump for torch's CUDA major (fetched once into ``cache``)."""
    major = torch_cuda().split(".")[0]
    folder = cache / f"cuobjdump-{major}"
    tool = folder / "nvidia" / f"cu{major}" / "bin" / "cuobjdump"
    if not tool.is_file():
        pip_target(f"nvidia-cuda-cuobjdump=={major}.*", folder)
    return tool


@entry_point(PROG)
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.cuda_toolchain")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("MAIOU_TOOLKIT_CACHE") or DEFAULT_CACHE),
        help="where a fetched compiler is kept (default $MAIOU_TOOLKIT_CACHE or ~/.cache/maiou)",
    )
    args = parser.parse_args(argv)
    toolchain = resolve(args.cache)
    bad = unsupported_architectures(toolchain.home, os.environ.get("TORCH_CUDA_ARCH_LIST", ""))
    if bad:
        raise UserError(
            f"TORCH_CUDA_ARCH_LIST names {', '.join(bad)}, which nvcc {toolchain.release} cannot "
            f"build (it builds {supported(toolchain.home)}); for older GPUs see "
            "docs/coco-presets.md, 'GPUs and drivers'."
        )
    for key, value in toolchain.environ().items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
