"""The vectorised DCNv2 against mmcv's CPU kernel, and the portable Pack."""

import pytest
import torch
from mmcv.ops import ModulatedDeformConv2dPack
from mmcv.ops import modulated_deform_conv2d as mmcv_op

from maiou.ops.deform_conv import (
    ModulatedDeformConv2dPackPortable,
    convert_dcn_to_portable,
    modulated_deform_conv2d,
)

# (N, C_in, C_out, H, W, kernel, stride, padding, dilation, groups, deform_groups)
CASES = [
    (2, 8, 6, 9, 11, 3, 1, 1, 1, 1, 1),
    (2, 8, 6, 9, 11, 3, 2, 1, 1, 2, 2),
    (1, 4, 4, 7, 5, 3, 1, 2, 2, 1, 2),
    (2, 6, 4, 8, 8, 1, 1, 0, 1, 1, 1),
    (1, 16, 8, 6, 6, 3, 1, 1, 1, 1, 4),  # maYOLACT: 4 deformable groups
]


def inputs(case, seed=0):
    n, c, c_out, h, w, k, s, p, d, g, dg = case
    gen = torch.Generator().manual_seed(seed)
    out_h = (h + 2 * p - (d * (k - 1) + 1)) // s + 1
    out_w = (w + 2 * p - (d * (k - 1) + 1)) // s + 1
    x = torch.randn(n, c, h, w, generator=gen, dtype=torch.float64)
    # Offsets of a few pixels push many taps outside the image and between pixels.
    offset = 3 * torch.randn(n, 2 * dg * k * k, out_h, out_w, generator=gen, dtype=torch.float64)
    mask = torch.rand(n, dg * k * k, out_h, out_w, generator=gen, dtype=torch.float64)
    weight = torch.randn(c_out, c // g, k, k, generator=gen, dtype=torch.float64)
    bias = torch.randn(c_out, generator=gen, dtype=torch.float64)
    return (x, offset, mask, weight, bias), (s, p, d, g, dg)


@pytest.mark.parametrize("case", CASES)
def test_matches_mmcv_kernel_with_gradients(case):
    tensors, options = inputs(case)
    results = []
    for op in (mmcv_op, modulated_deform_conv2d):
        leaves = [t.clone().requires_grad_() for t in tensors]
        out = op(*leaves, *options)
        out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
        results.append([out.detach()] + [t.grad for t in leaves])
    names = ("output", "x", "offset", "mask", "weight", "bias")
    for name, ours, theirs in zip(names, *results[::-1]):
        torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=1e-10, msg=name)


def test_rejects_mismatched_offsets():
    (x, offset, mask, weight, bias), (s, p, d, g, dg) = inputs(CASES[0])
    with pytest.raises(ValueError, match="offset must have shape"):
        modulated_deform_conv2d(x, offset[:, :-1], mask, weight, bias, s, p, d, g, dg)
    with pytest.raises(ValueError, match="mask must have shape"):
        modulated_deform_conv2d(x, offset, mask[:, :-1], weight, bias, s, p, d, g, dg)


def test_portable_pack_equals_mmcv_pack_and_keeps_its_state():
    torch.manual_seed(0)
    pack = ModulatedDeformConv2dPack(16, 8, 3, padding=1, deform_groups=4)
    torch.nn.init.normal_(pack.conv_offset.weight, std=0.3)  # mmcv zero-inits the offsets
    x = torch.randn(2, 16, 10, 10)
    expected = pack(x)
    keys = list(pack.state_dict())
    model = convert_dcn_to_portable(torch.nn.Sequential(pack))
    assert type(model[0]) is ModulatedDeformConv2dPackPortable
    assert list(model[0].state_dict()) == keys
    torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
