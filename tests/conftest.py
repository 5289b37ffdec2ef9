import pytest
import torch

# Test-only helpers (brute-force references) live beside the tests; pytest puts tests/ on
# the import path itself (rootdir conftest, "prepend" import mode).


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Test files with slow tests first, most slow tests first; the rest as collected.

    pyproject.toml runs the suite on pytest-xdist workers, one test file per worker at a time
    (``--dist loadfile``: a file's module fixtures are built once), handed out in this order:
    the long files start at once and the short ones fill in beside them.
    """
    slow: dict[str, int] = {}
    for item in items:
        slow.setdefault(item.nodeid.split("::")[0], 0)
        slow[item.nodeid.split("::")[0]] += item.get_closest_marker("slow") is not None
    items.sort(key=lambda item: -slow[item.nodeid.split("::")[0]])  # stable: files stay whole


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
