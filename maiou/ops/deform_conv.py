"""Modulated deformable convolution (DCNv2) that is fast on a CPU.

maYOLACT's backbone uses mmcv's ``ModulatedDeformConv2dPack`` (``type='DCNv2'``). mmcv's CPU
kernel works but walks every sample in scalar C++ loops, its backward above all: in the
embedded maYOLACT it took 0.75 s of a 1.1 s training iteration (128 px, one thread). This
module provides

* :func:`modulated_deform_conv2d`: the same operator in vectorised PyTorch. Each kernel tap
  samples the input with ``grid_sample`` (bilinear, zeros outside) at the tap's offset
  position, the samples are scaled by the modulation mask, and one grouped matrix product
  with the weights finishes the convolution. Semantics are those of mmcv's kernel
  (``modulated_deform_conv_cpu.cpp`` / ``_cuda.cuh``): the tap ``(i, j)`` of output pixel
  ``(y, x)`` in deformable group ``g`` reads the input at
  ``(y*stride - pad + i*dil + offset[2k], x*stride - pad + j*dil + offset[2k+1])`` with
  ``k = i*kw + j`` and ``offset`` channel ``g*2*kh*kw + 2k (+1)``, bilinearly, corners
  outside the image contributing 0; the mask channel is ``g*kh*kw + k``.
* :class:`ModulatedDeformConv2dPackPortable`: mmcv's ``ModulatedDeformConv2dPack``, same
  parameters and state dict, using :func:`modulated_deform_conv2d` for CPU tensors and
  mmcv's op otherwise (its CUDA kernel).
* :func:`convert_dcn_to_portable`: turns the ``ModulatedDeformConv2dPack`` modules of a built
  model into the portable class in place (configs keep ``type='DCNv2'`` as published).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.ops import ModulatedDeformConv2dPack
from mmcv.ops import modulated_deform_conv2d as mmcv_modulated_deform_conv2d
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

__all__ = [
    "modulated_deform_conv2d",
    "ModulatedDeformConv2dPackPortable",
    "convert_dcn_to_portable",
]


def modulated_deform_conv2d(
    x: Tensor,
    offset: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    deform_groups: int = 1,
) -> Tensor:
    """DCNv2 in PyTorch (any device, differentiable by autograd); mmcv's contract.

    Args:
        x: (N, C, H, W) input.
        offset: (N, 2*deform_groups*kh*kw, Ho, Wo) sampling offsets in pixels, (dy, dx)
            pairs per tap, deformable groups outermost.
        mask: (N, deform_groups*kh*kw, Ho, Wo) modulation (mmcv's Pack passes it through a
            sigmoid first).
        weight: (Cout, C/groups, kh, kw); bias: (Cout,) or None.
        stride, padding, dilation: int or (h, w) pairs, as for ``nn.Conv2d``.
        groups: convolution groups; deform_groups: groups of input channels sharing one
            set of offsets and masks.

    Returns:
        (N, Cout, Ho, Wo) output.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    taps = kh * kw
    out_h = (height + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    out_w = (width + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    if offset.shape != (n, 2 * deform_groups * taps, out_h, out_w):
        raise ValueError(
            f"offset must have shape {(n, 2 * deform_groups * taps, out_h, out_w)}, "
            f"got {tuple(offset.shape)}"
        )
    if mask.shape != (n, deform_groups * taps, out_h, out_w):
        raise ValueError(
            f"mask must have shape {(n, deform_groups * taps, out_h, out_w)}, "
            f"got {tuple(mask.shape)}"
        )
    if channels % deform_groups or channels % groups or out_channels % groups:
        raise ValueError(
            f"{channels} input / {out_channels} output channels do not split into "
            f"{deform_groups} deformable groups and {groups} groups"
        )

    # Sampling positions (pixel coordinates, pixel centres at integers) of every tap:
    # (N, dg, taps, Ho, Wo) each for rows and columns.
    offset = offset.view(n, deform_groups, taps, 2, out_h, out_w)
    tap_y = (torch.arange(kh, device=x.device, dtype=x.dtype) * dh).repeat_interleave(kw)
    tap_x = (torch.arange(kw, device=x.device, dtype=x.dtype) * dw).repeat(kh)
    rows = torch.arange(out_h, device=x.device, dtype=x.dtype) * sh - ph
    cols = torch.arange(out_w, device=x.device, dtype=x.dtype) * sw - pw
    pos_y = tap_y[:, None, None] + rows[None, :, None] + offset[:, :, :, 0]
    pos_x = tap_x[:, None, None] + cols[None, None, :] + offset[:, :, :, 1]
    # grid_sample's coordinates with align_corners=False: pixel p <-> (2p + 1) / size - 1;
    # bilinear with zero padding is the kernel's interpolation, out-of-image corners 0.
    grid = torch.stack(((2 * pos_x + 1) / width - 1, (2 * pos_y + 1) / height - 1), dim=-1)
    grid = grid.view(n * deform_groups, taps * out_h, out_w, 2)
    group_channels = channels // deform_groups
    sampled = F.grid_sample(
        x.reshape(n * deform_groups, group_channels, height, width),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    # (N*dg, C/dg, taps*Ho, Wo) -> modulate -> columns (N, groups, C/groups*taps, Ho*Wo) in
    # mmcv's im2col order: input channel major, then tap.
    sampled = sampled.view(n, deform_groups, group_channels, taps, out_h, out_w)
    sampled = sampled * mask.view(n, deform_groups, 1, taps, out_h, out_w)
    columns = sampled.reshape(n, groups, (channels // groups) * taps, out_h * out_w)
    weight = weight.reshape(groups, out_channels // groups, -1)
    out = torch.einsum("gok,ngkp->ngop", weight, columns).reshape(n, out_channels, out_h, out_w)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class ModulatedDeformConv2dPackPortable(ModulatedDeformConv2dPack):
    """mmcv's ``ModulatedDeformConv2dPack`` with a fast CPU path.

    Constructor arguments, parameters (including ``conv_offset``), initialisation and
    state-dict keys are mmcv's. CPU tensors go through :func:`modulated_deform_conv2d`,
    others through mmcv's op. Shapes: (N, C_in, H, W) -> (N, C_out, Ho, Wo).
    """

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_offset(x)
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        mask = torch.sigmoid(mask)
        op = modulated_deform_conv2d if x.device.type == "cpu" else mmcv_modulated_deform_conv2d
        return op(
            x,
            offset,
            mask,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.deform_groups,
        )


def convert_dcn_to_portable(module: nn.Module) -> nn.Module:
    """Make every mmcv ``ModulatedDeformConv2dPack`` inside ``module`` (itself included) a
    :class:`ModulatedDeformConv2dPackPortable`, in place; returns ``module``.

    The class is swapped, which is sound because the portable class adds no state and only
    overrides ``forward``: parameters, device, dtype, hooks and the state dict are kept.
    Other subclasses (their own overrides) are left alone.
    """
    for sub in module.modules():
        if type(sub) is ModulatedDeformConv2dPack:
            sub.__class__ = ModulatedDeformConv2dPackPortable
    return module
