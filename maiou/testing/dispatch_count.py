"""Count the aten operations and host synchronisations that a piece of eager code dispatches.

On a GPU in eager mode every aten operation that is not a pure view is (at least) one kernel
launch of a few microseconds, and every operation whose result the host must read drains
the device's queue. Both costs are visible without a GPU: they are properties of the code
path, not of the device, so they can be counted on CPU tensors and a regression test can
hold them.

:class:`OpCounter` is a context manager combining

* a ``TorchDispatchMode`` that sees every aten operation reaching the backend. Operations
  that only alias their input (``OpOverload.is_view`` plus a few metadata-only ones, see
  :data:`NON_LAUNCHING_OPS`) are left out, since they launch nothing;
* a ``TorchFunctionMode`` that sees the host reads that dispatch no aten operation
  (``Tensor.tolist``, ``Tensor.numpy``, ``Tensor.cpu``): on a CPU tensor they are free,
  on a CUDA tensor each is a device-to-host copy, i.e. a sync.

An operation counts as a host sync when the host must wait for the device to produce it:
``_local_scalar_dense`` (``item``, ``bool``, ``int``, ``float`` of a tensor), ``nonzero``,
``unique`` (all variants), ``bincount``, ``masked_select``, ``repeat_interleave`` with
tensor repeats and no ``output_size``, and indexing (read or write) with a boolean mask,
which needs the number of selected elements; plus the three host reads above.

Dispatch counts are the same on CPU and CUDA for code that takes the same branches on
both (composite operations decompose before this mode sees them, identically for every
backend); code that branches on the device must be made to take its CUDA branch when
counted on a CPU (see ``maiou.ops.mask_aware_iou.device_side_checks``).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["OpCounter", "OpCount", "count_ops", "NON_LAUNCHING_OPS", "SYNC_OPS"]

aten = torch.ops.aten

#: Operations that return an alias or only touch metadata although their schema does not
#: mark them as views; like views they launch no kernel.
NON_LAUNCHING_OPS = {
    "_unsafe_view",
    "_reshape_alias",
    "alias",
    "lift_fresh",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "is_same_size",
    "_has_compatible_shallow_copy_type",
}

#: Operations whose output size or value the host needs before it can continue.
SYNC_OPS = {
    "_local_scalar_dense",
    "nonzero",
    "unique",
    "_unique",
    "_unique2",
    "unique_dim",
    "unique_consecutive",
    "unique_dim_consecutive",
    "bincount",
    "masked_select",
}

#: Tensor methods that read device memory on the host without dispatching an aten op on
#: a CPU tensor (on a CUDA tensor each is a device-to-host copy).
HOST_READ_METHODS = {
    "tolist": torch.Tensor.tolist,
    "numpy": torch.Tensor.numpy,
    "cpu": torch.Tensor.cpu,
}


@dataclass
class OpCount:
    """What one :class:`OpCounter` saw: totals and the name of every counted operation."""

    ops: int = 0
    syncs: int = 0
    op_names: collections.Counter = field(default_factory=collections.Counter)
    sync_names: collections.Counter = field(default_factory=collections.Counter)

    def summary(self, top: int = 10) -> str:
        common = ", ".join(f"{name} {n}" for name, n in self.op_names.most_common(top))
        syncs = ", ".join(f"{name} {n}" for name, n in self.sync_names.most_common())
        return f"{self.ops} ops ({common}); {self.syncs} syncs ({syncs or 'none'})"


def _is_bool_index(index) -> bool:
    return isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8)


def _sync_reason(func, args, kwargs) -> str | None:
    """The name under which ``func(*args, **kwargs)`` counts as a host sync, or None."""
    name = func._schema.name.split("::")[-1]
    if name in SYNC_OPS:
        return name
    if func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
        # The tensor-repeats form (what ``x.repeat_interleave(tensor)`` dispatches) needs
        # sum(repeats) on the host unless output_size is given.
        return "repeat_interleave"
    if name in ("index", "index_put", "index_put_", "_index_put_impl", "_index_put_impl_"):
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(_is_bool_index(index) for index in indices):
            return f"{name} (boolean mask)"
    return None


class _DispatchCounter(TorchDispatchMode):
    def __init__(self, result: OpCount):
        super().__init__()
        self.result = result

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        if not (func.is_view or name in NON_LAUNCHING_OPS):
            self.result.ops += 1
            self.result.op_names[name] += 1
            reason = _sync_reason(func, args, kwargs)
            if reason is not None:
                self.result.syncs += 1
                self.result.sync_names[reason] += 1
        return func(*args, **kwargs)


class _HostReadCounter(TorchFunctionMode):
    def __init__(self, result: OpCount):
        super().__init__()
        self.result = result

    def __torch_function__(self, func, types, args=(), kwargs=None):
        for name, method in HOST_READ_METHODS.items():
            if func is method:
                self.result.syncs += 1
                self.result.sync_names[name] += 1
        return func(*args, **(kwargs or {}))


class OpCounter:
    """Context manager counting non-view aten operations and host syncs (see module doc).

    Example::

        with OpCounter() as count:
            assigner.assign(...)
        print(count.ops, count.syncs, count.summary())
    """

    def __init__(self):
        self.result = OpCount()
        self._modes = (_HostReadCounter(self.result), _DispatchCounter(self.result))

    def __enter__(self) -> OpCount:
        for mode in self._modes:
            mode.__enter__()
        return self.result

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        return False


def count_ops(fn, *args, **kwargs) -> tuple[OpCount, object]:
    """Run ``fn(*args, **kwargs)`` once under an :class:`OpCounter`; (count, result)."""
    with OpCounter() as count:
        result = fn(*args, **kwargs)
    return count, result
