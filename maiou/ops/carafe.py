"""CARAFE upsampling that runs on any device.

mmcv's ``CARAFEPack`` (the upsampler of mmdet's ``FPN_CARAFE`` neck, used by maYOLACT)
calls mmcv's ``carafe`` op, which has only a CUDA kernel: on a CPU it raises
``carafe_forward_impl: implementation for device cpu not found``. This module provides

* :func:`carafe` (defined in :mod:`maiou.ops.carafe_reassemble`, which needs no mmcv): the
  CARAFE reassembly in pure PyTorch, with exactly the semantics of
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

from mmcv.cnn import UPSAMPLE_LAYERS
from mmcv.ops.carafe import CARAFEPack
from mmcv.ops.carafe import carafe as mmcv_carafe
from torch import Tensor, nn

from .carafe_reassemble import carafe

__all__ = [
    "carafe",
    "CARAFEPackPortable",
    "convert_carafe_to_portable",
    "mmcv_carafe_cuda_available",
]


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
