"""setup.sh's CUDA build without a GPU or an installed CUDA toolkit: its configure step
(experiments/cuda_toolchain.py, as setup.sh runs it) finds or fetches nvcc and the headers of
torch's CUDA release, and one mmcv-full CUDA source compiles and links for sm_80 with them.

The whole build (about two hours of one core) stays out of the suite:
``python -m experiments.benchmarks.build_cuda_wheel`` runs it (docs/performance.md, "The CUDA
build"). The compiler is the one setup.sh fetches, kept in the same build-only folder
($MAIOU_TOOLKIT_CACHE, default ~/.cache/maiou), so a machine that has fetched it once does not
again; where it cannot be fetched, the tests are skipped with pip's reason.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
import torch

from experiments import cuda_toolchain

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MAIOU_TOOLKIT_CACHE") or cuda_toolchain.DEFAULT_CACHE)
MMCV = next(
    line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("mmcv")
)
# A small source of a kernel the project's runs use (RoIAlign), and the symbol it defines.
SOURCE, KERNEL = "mmcv/ops/csrc/pytorch/cuda/roi_align_cuda.cu", "roi_align_forward_cuda_kernel"


def configure(arch_list: str) -> subprocess.CompletedProcess:
    """setup.sh's configure step as setup.sh runs it, with no nvcc on PATH and no CUDA_HOME
    (so that neither an installed toolkit nor /usr/local/cuda is used)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_PATH")}
    env["PATH"] = os.pathsep.join(
        folder
        for folder in env.get("PATH", "").split(os.pathsep)
        if not (Path(folder) / "nvcc").exists()
    )
    env["TORCH_CUDA_ARCH_LIST"] = arch_list
    cmd = [sys.executable, "-m", "experiments.cuda_toolchain", "--cache", str(CACHE)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def toolchain() -> dict[str, str]:
    """The variables setup.sh exports for a CUDA build (the compiler fetched if need be)."""
    done = configure("8.0;9.0")
    if done.returncode != 0 and "could not fetch" in done.stderr:
        pytest.skip("the CUDA compiler wheels cannot be installed here: " + done.stderr.strip())
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def test_configure_finds_nvcc_and_headers_of_torchs_cuda(toolchain):
    home = Path(toolchain["CUDA_HOME"])
    assert toolchain["PATH"].split(os.pathsep)[0] == str(home / "bin")
    assert cuda_toolchain.nvcc_release(home / "bin" / "nvcc") == torch.version.cuda
    assert cuda_toolchain.header_release(home / "include") == torch.version.cuda
    assert (home / "lib" / "libcudart.so").exists()  # what torch's -lcudart links
    assert (Path(toolchain["CUDA_INC_PATH"]) / "cublas_v2.h").is_file()  # ATen/cuda's include


def test_configure_refuses_an_architecture_nvcc_cannot_build(toolchain):
    done = configure("7.0;8.0")  # V100: CUDA 13's nvcc has no sm_70
    assert done.returncode == 2 and done.stdout == ""
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("setup.sh: error: TORCH_CUDA_ARCH_LIST names 7.0, which nvcc")
    assert "8.0 8.6" in error and "docs/coco-presets.md" in error


@pytest.mark.slow(seconds=37)
def test_an_mmcv_cuda_source_compiles_for_sm80(toolchain, tmp_path):
    """roi_align_cuda.cu of the pinned mmcv-full, with mmcv's CUDA-build include folders and
    define, setup.sh's -std=c++20 and torch's own nvcc flags (its BuildExtension), into a
    linked shared library that holds sm_80 code for the kernel."""
    download = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "-q"]
    # as setup.sh downloads it: no build isolation (which would build setuptools from source)
    download += ["--no-deps", "--no-build-isolation", "--no-binary", ":all:"]
    download += ["-d", str(tmp_path), MMCV]
    done = subprocess.run(download, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the {MMCV} source cannot be downloaded here: {done.stderr.strip()[-200:]}")
    with tarfile.open(next(tmp_path.glob("mmcv*.tar.gz"))) as archive:
        archive.extractall(tmp_path, filter="data")
    csrc = next(tmp_path.glob("mmcv*/mmcv/ops/csrc"))
    source = csrc.parents[2] / SOURCE
    (tmp_path / "setup.py").write_text(
        textwrap.dedent(
            f"""
            from setuptools import setup
            from torch.utils.cpp_extension import BuildExtension, CUDAExtension

            csrc = {str(csrc)!r}
            setup(
                name="probe",
                ext_modules=[CUDAExtension(
                    "probe",
                    [{str(source)!r}],
                    include_dirs=[csrc + "/pytorch", csrc + "/common", csrc + "/common/cuda"],
                    define_macros=[("MMCV_WITH_CUDA", None)],
                    extra_compile_args={{"cxx": ["-std=c++20"], "nvcc": ["-std=c++20"]}},
                )],
                cmdclass={{"build_ext": BuildExtension}},
            )
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_HOME", "CUDA_PATH")}
    env.update(toolchain, TORCH_CUDA_ARCH_LIST="8.0", MAX_JOBS="1")
    build = [sys.executable, "setup.py", "build_ext", "--build-lib", "out"]
    done = subprocess.run(build, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "code=sm_80" in done.stdout  # torch's -gencode for TORCH_CUDA_ARCH_LIST=8.0
    library = next((tmp_path / "out").glob("probe*.so"))
    try:
        tool = cuda_toolchain.cuobjdump(CACHE)
    except cuda_toolchain.UserError as exc:
        pytest.skip(f"NVIDIA's cuobjdump cannot be installed here: {exc}")
    elves = subprocess.run([tool, "--list-elf", library], capture_output=True, text=True).stdout
    assert elves.strip().endswith("sm_80.cubin") and "sm_90" not in elves
    usage = subprocess.run([tool, "-res-usage", library], capture_output=True, text=True).stdout
    assert KERNEL in usage


def test_the_compiler_fetched_is_the_release_torch_pins():
    requirement = cuda_toolchain.toolkit_requirement(torch.version.cuda)
    pin = next(r for r in importlib.metadata.requires("torch") if r.startswith("cuda-toolkit"))
    version = pin.split("==")[1].split(";")[0].strip()
    assert requirement == f"cuda-toolkit[nvcc,cccl]=={version}"
    assert version.startswith(torch.version.cuda + ".")


def test_a_torch_without_a_toolkit_pin_gets_one_line_on_where_nvcc_comes_from(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: ["nvidia-cuda-runtime-cu12"])
    with pytest.raises(cuda_toolchain.UserError, match=r"module load cuda/12\.6") as caught:
        cuda_toolchain.toolkit_requirement("12.6")
    assert "\n" not in str(caught.value)


def test_header_release_reads_cudart_version(tmp_path):
    (tmp_path / "cuda_runtime_api.h").write_text("#define CUDART_VERSION  12060\n")
    assert cuda_toolchain.header_release(tmp_path) == "12.6"
    assert cuda_toolchain.header_release(tmp_path / "missing") is None
