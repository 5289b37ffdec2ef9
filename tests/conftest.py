import pytest
import torch

# Test-only helpers (brute-force references) live beside the tests; pytest puts tests/ on
# the import path itself (rootdir conftest, "prepend" import mode).


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
