"""maiou.engine.device: the driver / torch CUDA check, with the versions injected."""

from __future__ import annotations

import pytest
import torch

from maiou.engine import device
from maiou.engine.device import DeviceError, driver_problem


def test_driver_too_old_for_torch_is_named_with_what_to_do():
    line = driver_problem("13.0", "12.4", "2.14.1")
    assert "\n" not in line
    assert "torch 2.14.1 is built for CUDA 13.0" in line
    assert "supports CUDA up to 12.4 (it needs 13.x)" in line
    assert "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu124 ./setup.sh" in line


@pytest.mark.parametrize(
    "torch_cuda, driver",
    [("12.8", "12.4"), ("12.4", "13.0"), (None, "12.4"), ("13.0", None)],
    ids=["older minor: compatible", "newer driver", "CPU-only torch", "no driver"],
)
def test_compatible_or_irrelevant_pairs_pass(torch_cuda, driver):
    assert driver_problem(torch_cuda, driver, "2.14.1") is None


def test_check_cuda_driver_raises_the_line(monkeypatch):
    monkeypatch.setattr(device, "cuda_driver_version", lambda: "11.8")
    monkeypatch.setattr(torch.version, "cuda", "12.6")
    with pytest.raises(DeviceError, match="supports CUDA up to 11.8"):
        device.check_cuda_driver()
    monkeypatch.setattr(device, "cuda_driver_version", lambda: None)  # no driver: no check
    device.check_cuda_driver()
