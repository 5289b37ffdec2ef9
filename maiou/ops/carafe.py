"""CARAFE upsampling that runs on any device.

mmcv's ``CARAFEPack`` (the upsampler of mmdet's ``FPN_CARAFE`` neck, used by maYOLACT)
calls mmcv's ``carafe`` op, which has only a CUDA kernel: on a CPU it raises
``carafe_forward_impl: implementation for device cpu not found``. This module provides

* :func:`carafe`: the CARAFE reassembly in pure PyTorch, with exactly the semantics of
  mmcv's CUDA kernel (``mmcv/ops/csrc/common/cuda/carafe_cuda_kernel.cuh``, ``CARAFEForward``)::

      out[n, c, y, x] = sum_{i, j < k} masks[n, g*k*k + i*k + j, y, x]
                        * features[n, c, y//s + i - (k-1)/2, x//s + j - (k-1)/2]

  with ``g = c // (C / group_size)`` (groups are contiguous channel blocks), features read
  as zero outside the map (the kernel skips those taps) and the mask channels ordered
  group-major, then kernel row, then kernel column.
* :class:`CARAFEPackPortable`: ``CARAFEPack`` with the same parameters and state-dict keys,
  using mmcv's CUDA op for CUDA tensors when mmcv was compiled with CUDA and
  :func:`carafe` otherwise. Importing this module registers it in mmcv's
  ``UPSAMPLE_LAYERS`` as ``'carafe_portable'``.
* :func:`convert_carafe_to_portable`: turns the ``CARAFEPack`` modules of an already built
  model (e.g. ``FPN_CARAFE``, which accepts only ``type='carafe'``) into
  ``CARAFEPackPortable`` in place.
"""
from __future__ import annotations

import functools

import torch.nn.functional as F
from mmcv.cnn import UPSAMPLE_LAYERS
from mmcv.ops.carafe import CARAFEPack
from mmcv.ops.carafe import carafe as mmcv_carafe
from torch import Tensor, einsum, nn

__all__ = [
    "carafe",
    "CARAFEPackPortable",
    "convert_carafe_to_portable",
    "mmcv_carafe_cuda_available",
]


def carafe(features: Tensor, masks: Tensor, kernel_size: int, group_size: int,
           scale_factor: int) -> Tensor:
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
        raise ValueError(f"features and masks must be 4-D (N, C, H, W), got "
                         f"{tuple(features.shape)} and {tuple(masks.shape)}")
    if k < 1 or k % 2 != 1:
        raise ValueError(f"kernel_size must be odd and >= 1, got {k}")
    if g < 1 or s < 1:
        raise ValueError(f"group_size and scale_factor must be >= 1, got {g} and {s}")
    n, c, h, w = features.shape
    if c % g != 0:
        raise ValueError(f"{c} feature channels are not divisible into {g} groups")
    expected = (n, k * k * g, h * s, w * s)
    if tuple(masks.shape) != expected:
        raise ValueError(f"masks must have shape {expected} (N, k*k*group_size, H*s, W*s) "
                         f"for features {tuple(features.shape)}, got {tuple(masks.shape)}")
    if masks.dtype != features.dtype or masks.device != features.device:
        raise ValueError(f"features ({features.dtype}, {features.device}) and masks "
                         f"({masks.dtype}, {masks.device}) must share dtype and device")

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


@functools.lru_cache(maxsize=None)
def mmcv_carafe_cuda_available() -> bool:
    """Whether mmcv's compiled extension has CUDA kernels (``carafe`` among them).

    A CPU-only mmcv-full build still exports ``carafe_forward`` but raises on every device,
    so the test is the compiled CUDA version, not the symbol's presence.
    """
    from mmcv.ops import get_compiling_cuda_version
    return get_compiling_cuda_version() != "not available"


@UPSAMPLE_LAYERS.register_module(name="carafe_portable")
class CARAFEPackPortable(CARAFEPack):
    """mmcv's ``CARAFEPack`` (channel compressor, content encoder, CARAFE) on any device.

    Constructor arguments, parameters, initialisation and state-dict keys are those of
    ``mmcv.ops.CARAFEPack``, so checkpoints load either way. Only the reassembly differs:
    mmcv's CUDA op for CUDA tensors when mmcv was built with CUDA (fast, and bit-for-bit
    what a ``'carafe'`` model computes), :func:`carafe` otherwise.

    Shapes: input (N, channels, H, W) -> output (N, channels, H*scale_factor,
    W*scale_factor).
    """

    def feature_reassemble(self, x: Tensor, mask: Tensor) -> Tensor:
        """Reassemble (N, C, H, W) features with (N, k*k*group, H*s, W*s) kernels."""
        if x.is_cuda and mmcv_carafe_cuda_available():
            return mmcv_carafe(x, mask, self.up_kernel, self.up_group, self.scale_factor)
        return carafe(x, mask, self.up_kernel, self.up_group, self.scale_factor)


def convert_carafe_to_portable(module: nn.Module) -> nn.Module:
    """Make every mmcv ``CARAFEPack`` inside ``module`` a :class:`CARAFEPackPortable`.

    For models whose builders hard-code ``'carafe'``: mmdet 2.28's ``FPN_CARAFE`` asserts
    ``upsample_cfg['type']`` is one of its known names and fills in ``channels`` and
    ``scale_factor`` only for ``'carafe'``, so it cannot be built with
    ``'carafe_portable'``. Build it with ``'carafe'`` (constructing ``CARAFEPack`` needs no
    CUDA) and convert. The class is swapped in place, which is sound because
    ``CARAFEPackPortable`` adds no state and only overrides ``feature_reassemble``:
    parameters, device, dtype, training mode and hooks are kept, and the state dict is
    unchanged.

    Args:
        module: any module; ``module`` itself is converted too if it is a ``CARAFEPack``.

    Returns:
        ``module`` (modified in place), for chaining.
    """
    for sub in module.modules():
        # Exact type: leave other CARAFEPack subclasses (their own overrides) alone.
        if type(sub) is CARAFEPack:
            sub.__class__ = CARAFEPackPortable
    return module
