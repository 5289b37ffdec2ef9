"""CARAFE feature reassembly in pure PyTorch: the op of mmcv's CUDA kernel, on any device.

Kept free of mmcv so it can be used (and checked against mmcv's kernel) where mmcv-full is
not installed. :mod:`maiou.ops.carafe` builds the mmcv upsampling module on top of it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, einsum

__all__ = ["carafe"]


def carafe(
    features: Tensor, masks: Tensor, kernel_size: int, group_size: int, scale_factor: int
) -> Tensor:
    """CARAFE feature reassembly in pure PyTorch (any device, differentiable by autograd).

    Same contract as ``mmcv.ops.carafe``.

    Args:
        features: (N, C, H, W) features to upsample; ``C`` divisible by ``group_size``.
        masks: (N, k*k*group_size, H*s, W*s) reassembly kernels, already normalised (mmcv's
            ``CARAFEPack`` softmaxes them over the ``k*k`` taps of each group). Channel
            ``g*k*k + i*k + j`` weighs the tap at row offset ``i - (k-1)/2`` and column
            offset ``j - (k-1)/2`` for the channels of group ``g``. Same dtype and device
            as ``features``.
        kernel_size: ``k``, odd, >= 1.
        group_size: number of channel groups sharing one kernel; group ``g`` holds
            channels ``[g*C/group_size, (g+1)*C/group_size)``.
        scale_factor: ``s``, integer upsampling ratio >= 1.

    Returns:
        (N, C, H*s, W*s) tensor: output pixel ``(y, x)`` is the kernel-weighted sum of the
        ``k x k`` neighbourhood of source pixel ``(y//s, x//s)``, zero outside the map.

    Raises:
        ValueError: inconsistent shapes or parameters (the cases mmcv asserts on).
    """
    k, g, s = kernel_size, group_size, scale_factor
    if features.dim() != 4 or masks.dim() != 4:
        raise ValueError(
            f"features and masks must be 4-D (N, C, H, W), got "
            f"{tuple(features.shape)} and {tuple(masks.shape)}"
        )
    if k < 1 or k % 2 != 1:
        raise ValueError(f"kernel_size must be odd and >= 1, got {k}")
    if g < 1 or s < 1:
        raise ValueError(f"group_size and scale_factor must be >= 1, got {g} and {s}")
    n, c, h, w = features.shape
    if c % g != 0:
        raise ValueError(f"{c} feature channels are not divisible into {g} groups")
    expected = (n, k * k * g, h * s, w * s)
    if tuple(masks.shape) != expected:
        raise ValueError(
            f"masks must have shape {expected} (N, k*k*group_size, H*s, W*s) "
            f"for features {tuple(features.shape)}, got {tuple(masks.shape)}"
        )
    if masks.dtype != features.dtype or masks.device != features.device:
        raise ValueError(
            f"features ({features.dtype}, {features.device}) and masks "
            f"({masks.dtype}, {masks.device}) must share dtype and device"
        )

    # All s*s output pixels that share a source pixel read the same k*k neighbourhood, so
    # gather neighbourhoods once at the input resolution (k*k*C*H*W values) instead of at
    # the output resolution (s*s times more). unfold zero-pads, which matches the kernel
    # skipping out-of-map taps, and orders its rows channel-major then (i, j) row-major,
    # i.e. the mask's per-group tap order.
    patches = F.unfold(features, k, padding=(k - 1) // 2).view(n, g, c // g, k * k, h, w)
    # Output row y = hh*s + p and column x = ww*s + q: split them so each source pixel's
    # s x s block lines up with its patch.
    kernels = masks.reshape(n, g, k * k, h, s, w, s)
    out = einsum("ngckhw,ngkhpwq->ngchpwq", patches, kernels)
    return out.reshape(n, c, h * s, w * s)
