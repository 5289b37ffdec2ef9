"""``device: auto`` and what a coco preset would cost on a CPU.

``auto`` means CUDA when torch sees a GPU, else the CPU. The coco presets are GPU work:
on a machine without a GPU, ``auto`` stops before any job with an estimate of the CPU time
(images x measured CPU seconds per image, :data:`CPU_SECONDS_PER_IMAGE`) and the presets go
on only with an explicit ``device=cpu``.
"""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "check_cuda_driver",
    "cuda_driver_version",
    "driver_problem",
    "resolve_device",
    "cpu_estimate_seconds",
    "check_coco_device",
    "CPU_SECONDS_PER_IMAGE",
    "COCO_TRAIN_IMAGES",
    "COCO_VAL_IMAGES",
    "COCO_EPOCHS",
]

COCO_VAL_IMAGES = 5000
COCO_TRAIN_IMAGES = 117266  # train2017 images with at least one annotation (of 118287)
COCO_EPOCHS = 55

# CPU seconds per image, one thread, by (model family, input size): 'test' is inference of
# one 640 x 480 image at batch 1 with post-processing, 'train' one image's share of a
# forward + backward + SGD step at 2 images per pass (15 ground truths each). CPU time of
# the process (not wall time), median of 2 after a warm-up, random weights, on this
# project's 2-core x86 machine while other jobs ran, measured by
#   OMP_NUM_THREADS=1 python -m experiments.benchmarks.cpu_seconds_per_image --repeats 2
# An order-of-magnitude estimate: it says "years", which is the point.
CPU_SECONDS_PER_IMAGE = {
    ("yolact", 400): {"test": 0.74, "train": 2.08},
    ("yolact", 550): {"test": 1.29, "train": 4.22},
    ("yolact", 700): {"test": 2.1, "train": 7.61},
    ("mayolact", 550): {"test": 3.23, "train": 7.88},
    ("mayolact", 700): {"test": 2.88, "train": 11.56},
}


class DeviceError(RuntimeError):
    """A coco preset was asked to run where it cannot (or should not) without a GPU."""


def resolve_device(requested: str) -> str:
    """'cuda' or 'cpu' for ``requested`` in {'auto', 'cuda', 'cpu'}."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in ("cuda", "cpu"):
        raise DeviceError(f"device must be auto, cuda or cpu, got {requested!r}")
    return requested


def _family_size(run: str) -> tuple[str, int]:
    """The measured model family of a registry run (maYOLACT or YOLACT) and its COCO size."""
    from maiou import runs as registry

    entry = registry.get(run)
    return ("mayolact" if entry.assigner == "mayolact" else "yolact"), entry.coco_size


def cpu_estimate_seconds(trains: bool, runs) -> float:
    """CPU seconds (one thread) the runs would take on COCO: evaluation of val2017 and,
    when they are trained (``trains``), 55 epochs over train2017."""
    total = 0.0
    for run in runs:
        per_image = CPU_SECONDS_PER_IMAGE[_family_size(run)]
        total += COCO_VAL_IMAGES * per_image["test"]
        if trains:
            total += COCO_EPOCHS * COCO_TRAIN_IMAGES * per_image["train"]
    return total


def _human(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds / 60:,.0f} minutes"


def check_coco_device(device: str, trains: bool, runs, processes: int = 1) -> str:
    """The device a coco preset's jobs will use (``trains``: it trains the runs, else it
    only evaluates them); :class:`DeviceError` when ``device`` is ``auto`` (or ``cuda``)
    and torch sees no GPU, with the CPU-time estimate."""
    import torch

    if device == "cpu" or torch.cuda.is_available():
        return resolve_device(device)
    seconds = cpu_estimate_seconds(trains, runs)
    what = "train and evaluate" if trains else "evaluate"
    parallel = (
        f", {_human(seconds / processes)} with {processes} processes per run"
        if processes > 1
        else ""
    )
    raise DeviceError(
        f"device={device}: torch sees no GPU here. To {what} {len(runs)} run(s) on this CPU "
        f"would take about {_human(seconds)} of one core{parallel} (images x measured CPU "
        f"seconds per image, maiou/engine/device.py). Run on a GPU machine, or pass --config "
        f"device=cpu to go on anyway"
    )


def cuda_driver_version() -> str | None:
    """The newest CUDA version the installed NVIDIA driver supports ("12.4"), from
    libcuda's ``cuDriverGetVersion``; None where there is no driver."""
    import ctypes

    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int()
    if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def driver_problem(
    torch_cuda: str | None, driver_cuda: str | None, torch_version: str
) -> str | None:
    """One line saying why this torch cannot use this driver, or None if it can.

    A torch built for CUDA X.y runs on any driver that supports CUDA X.0 or newer (CUDA's
    minor-version compatibility), so only the major versions are compared. A CPU-only torch
    (``torch_cuda`` None) or a machine without a driver has no such problem.
    """
    if not torch_cuda or not driver_cuda:
        return None
    if int(driver_cuda.split(".")[0]) >= int(torch_cuda.split(".")[0]):
        return None
    index = "cu" + "".join(driver_cuda.split(".")[:2])
    return (
        f"torch {torch_version} is built for CUDA {torch_cuda}, but the NVIDIA driver here "
        f"supports CUDA up to {driver_cuda} (it needs {torch_cuda.split('.')[0]}.x): install "
        f"a torch built for CUDA {driver_cuda} or older from PyTorch's index for it (rm -rf "
        f".venv; PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/{index} ./setup.sh), "
        "or update the driver"
    )


def check_cuda_driver() -> None:
    """:class:`DeviceError` when the installed torch cannot use this machine's driver."""
    import torch

    problem = driver_problem(torch.version.cuda, cuda_driver_version(), torch.__version__)
    if problem:
        raise DeviceError(problem)
