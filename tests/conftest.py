import os

import pytest
import torch

# Test-only helpers (brute-force references) live beside the tests; pytest puts tests/ on
# the import path itself (rootdir conftest, "prepend" import mode).

# On pytest-xdist workers (pyproject.toml), each worker's share of the cores, for torch here
# and for the processes the tests start, so that two workers do not run four threads on two
# cores. A value set by the user is kept.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, _threads)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The longest test files first, by the seconds their slow tests declare; then the rest,
    as collected.

    pyproject.toml runs the suite on pytest-xdist workers, one test file per worker at a time
    (``--dist loadfile``: a file's module fixtures are built once), handed out in this order:
    the long files start at once and the short ones fill in beside them.
    """
    seconds: dict[str, float] = {}
    for item in items:
        file = item.nodeid.split("::")[0]
        mark = item.get_closest_marker("slow")
        seconds[file] = seconds.get(file, 0) + (mark.kwargs.get("seconds", 20) if mark else 0)
    items.sort(key=lambda item: -seconds[item.nodeid.split("::")[0]])  # stable: files stay whole


def pytest_addoption(parser):
    # CI has no GPU, so the operator's tests run on the CPU; on a GPU machine
    # `pytest tests/test_mask_aware_iou.py --maiou-device cuda` reruns the comparisons
    # against brute force and the published algorithm with CUDA inputs.
    parser.addoption(
        "--maiou-device",
        default="cpu",
        help="device of the maIoU operator's inputs in its comparison tests",
    )


@pytest.fixture
def maiou_device(request):
    return torch.device(request.config.getoption("--maiou-device"))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """The coco presets' downloads on a loopback mirror, and a guarded environment
    (tests/coco_mirror.py: serve), once per test file that asks for it."""
    from coco_mirror import serve

    with serve(tmp_path_factory.mktemp("coco_mirror")) as served:
        yield served


@pytest.fixture(scope="module")
def training_mirror(tmp_path_factory):
    """:func:`mirror` without the released checkpoints: what the coco-train preset needs."""
    from coco_mirror import serve

    with serve(tmp_path_factory.mktemp("coco_mirror"), released_checkpoints=False) as served:
        yield served
