#!/usr/bin/env bash
# Sets up .venv with the pinned stack (requirements.txt) and the maiou package.
# Idempotent: a second run with unchanged pins returns in a second.
#
#   ./setup.sh            # then: .venv/bin/snakemake --cores all  |  .venv/bin/python -m pytest
#
# Environment: PYTHON (interpreter to use, default python3.11 or python3),
# MAIOU_WHEEL_CACHE (where the mmcv-full wheel built here is kept, default
# ~/.cache/maiou/wheels), MAX_JOBS (compiler processes for mmcv-full, default nproc),
# MAIOU_CUDA (auto: build mmcv-full's CUDA kernels when a GPU is visible; 1: build them, e.g. on
# a login node without a GPU; 0: CPU ops only), TORCH_CUDA_ARCH_LIST (the GPU architectures to
# build for, e.g. "8.0;9.0"; default: those of the visible GPUs), MAIOU_TOOLKIT_CACHE (where
# a fetched CUDA compiler is kept, default ~/.cache/maiou).
#
# A CUDA build uses the CUDA toolkit torch would ($CUDA_HOME, else the nvcc on PATH) when it
# is torch's CUDA release (13.0 for the pinned torch); otherwise it fetches that release's
# nvcc and headers from the package index into $MAIOU_TOOLKIT_CACHE/cuda-13.0, for the build
# only (experiments/cuda_toolchain.py says why; docs/performance.md, "The CUDA build").
set -euo pipefail
cd "$(dirname "$0")"

die() { printf '\nsetup.sh: %s\n' "$*" >&2; exit 1; }
pin() { grep -E "^$1==" requirements.txt | head -n1; }

# CUDA kernels or not, and for which GPUs: part of the set-up's identity (stamp, wheel cache).
gpus() { nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | sort -u | paste -sd';' || true; }
cuda=${MAIOU_CUDA:-auto}
if [ "$cuda" = auto ]; then
  if [ -n "$(gpus)" ]; then cuda=1; else cuda=0; fi
fi
if [ "$cuda" = 1 ]; then
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST=$(gpus)
    [ -n "$TORCH_CUDA_ARCH_LIST" ] || die "no GPU is visible to name its architecture (a login node?): set TORCH_CUDA_ARCH_LIST to the cluster's, e.g. TORCH_CUDA_ARCH_LIST='8.0;9.0' for A100 and H100, and rerun."
  fi
  export TORCH_CUDA_ARCH_LIST FORCE_CUDA=1
  flavour="cuda-sm$(echo "$TORCH_CUDA_ARCH_LIST" | tr -c '0-9\n' '_')"
else
  flavour=cpu
fi

stamp=".venv/.setup-$flavour-$(cat requirements.txt pyproject.toml setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && .venv/bin/python -c "import maiou, mmdet, mmcv.ops" 2>/dev/null; then
  echo "setup.sh: .venv is up to date"
  exit 0
fi

# --- preconditions ---------------------------------------------------------------------
python=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
[ -n "$python" ] || die "no python3 found. Install Python 3.11 (e.g. pyenv install 3.11) or set PYTHON=/path/to/python3.11."
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = "3.11" ] || die "$python is Python $version; this stack (torch 2.14.1, mmcv-full 1.7.2) is pinned for Python 3.11. Set PYTHON=/path/to/python3.11."
command -v c++ >/dev/null || command -v g++ >/dev/null || \
  die "no C++ compiler: mmcv-full 1.7.2 is built from source. Install one (Debian/Ubuntu: apt-get install build-essential)."

# --- virtual environment -----------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  echo "setup.sh: creating .venv with $python"
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)

echo "setup.sh: [1/4] torch and torchvision"
"${pip[@]}" install "$(pin torch)" "$(pin torchvision)"

# mmcv-full 1.7.2 has no wheel for this torch: build it from source once, keep the wheel
# (CPU builds in the cache folder itself, CUDA builds in a sub-folder per architecture list).
mmcv=$(pin mmcv-full)
has_cuda_ops='import mmcv.ops as o, sys; sys.exit(o.get_compiling_cuda_version() == "not available")'
if ! .venv/bin/python -c "import mmcv.ops" 2>/dev/null || \
    { [ "$cuda" = 1 ] && ! .venv/bin/python -c "$has_cuda_ops" 2>/dev/null; }; then
  cache=${MAIOU_WHEEL_CACHE:-$HOME/.cache/maiou/wheels}
  [ "$cuda" = 1 ] && cache="$cache/$flavour"
  mkdir -p "$cache"
  wheel=$(ls "$cache"/mmcv_full-1.7.2-cp311-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    if [ "$cuda" = 1 ]; then
      # nvcc and headers of torch's CUDA release, for this build only (CUDA_HOME, PATH, CUDA_INC_PATH).
      toolchain=$(.venv/bin/python -m experiments.cuda_toolchain) \
        || die "the CUDA build cannot start: see the line above (MAIOU_CUDA=0 builds the CPU ops only)."
      while IFS='=' read -r key value; do export "$key=$value"; done <<<"$toolchain"
      echo "setup.sh: [2/4] building $mmcv from source with its C++ and CUDA ops for sm $TORCH_CUDA_ARCH_LIST (nvcc $(nvcc --version | grep -o 'V[0-9][0-9.]*') from $CUDA_HOME; about 75 CPU-minutes for two architectures, once)"
    else
      echo "setup.sh: [2/4] building $mmcv from source with its C++ ops (10-15 min on 2 cores, once)"
    fi
    echo "setup.sh: (pip may report that torch wants setuptools>=77: expected for this build; step 3 restores it)"
    "${pip[@]}" install "setuptools<70" wheel ninja
    work=$(mktemp -d)
    log=.venv/mmcv-build.log
    "${pip[@]}" download --no-deps --no-build-isolation --no-binary :all: -d "$work" "$mmcv" \
      || die "could not download the $mmcv source from the package index (offline?). Put a built mmcv_full-1.7.2 wheel in $cache and rerun."
    tar -xzf "$work"/mmcv-full-1.7.2.tar.gz -C "$work"
    # torch 2.14's headers need C++20; mmcv-full 1.7.2 asks for C++14/17.
    sed -i 's/-std=c++1[47]/-std=c++20/g' "$work"/mmcv-full-1.7.2/setup.py
    if ! MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        .venv/bin/python -m pip --disable-pip-version-check wheel --no-deps --no-build-isolation \
        -w "$work/dist" "$work/mmcv-full-1.7.2" >"$log" 2>&1; then
      echo "----- last lines of $log -----" >&2
      tail -n 40 "$log" >&2
      hint="see $log."
      grep -q "No space left" "$log" && hint="the disk is full; free space and rerun."
      grep -q -E "Killed|out of memory|internal compiler error" "$log" && hint="the compiler ran out of memory; rerun with MAX_JOBS=1."
      grep -q -E "Python.h: No such file" "$log" && hint="Python headers are missing (apt-get install python3.11-dev)."
      grep -q -E "requires C\+\+|C\+\+20 or later" "$log" && hint="the compiler lacks C++20; use gcc >= 10."
      die "building $mmcv failed: $hint"
    fi
    built=$(ls "$work"/dist/mmcv_full-*.whl)
    cp "$built" "$cache/.tmp.whl" && mv "$cache/.tmp.whl" "$cache/$(basename "$built")"
    wheel="$cache/$(basename "$built")"
    rm -rf "$work"
  else
    echo "setup.sh: [2/4] $mmcv from the cached wheel $wheel"
  fi
  "${pip[@]}" install --no-deps --force-reinstall "$wheel"
else
  echo "setup.sh: [2/4] $mmcv already installed"
fi

echo "setup.sh: [3/4] mmdet and the rest of requirements.txt"
"${pip[@]}" install -r requirements.txt

echo "setup.sh: [4/4] maiou (editable)"
"${pip[@]}" install --no-deps --no-build-isolation -e .
.venv/bin/python -c "import maiou, mmdet, mmcv.ops" || die "the environment does not import; see the messages above."
# A torch built for a newer CUDA than this machine's driver: say so now, not at the first job.
.venv/bin/python -c "from maiou.engine.device import DeviceError, check_cuda_driver as c
try: c()
except DeviceError as e: print('setup.sh: warning:', e)"
rm -f .venv/.setup-*
touch "$stamp"
echo "setup.sh: done"
