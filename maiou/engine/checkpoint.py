"""Loading checkpoints that came from elsewhere: tensors only, strictly into the model.

Downloaded ``.pth`` files are pickles, and unpickling an untrusted pickle can run arbitrary
code. Everything here therefore goes through ``torch.load(..., weights_only=True)``, whose
restricted unpickler rebuilds only tensors and plain containers. mmcv checkpoints also carry
a ``meta`` dict; besides what torch admits by default we admit numpy numeric scalars (mmcv
hooks store them there), through the allow-list ``META_SAFE_GLOBALS``. Whatever torch
refuses or cannot parse raises :class:`CheckpointError`, quoting torch's reason; there is no
fallback to unrestricted loading.

The authors' released checkpoints (trained with their mmdet 2.x fork) use the same module
names as mmdet 2.28.2's YOLACT, ResNet, FPN, FPN_CARAFE and mmcv's DCNv2, so they load
without renaming: :func:`load_released_checkpoint` strips a uniform ``module.`` prefix (a
DDP-wrapped model saved by plain ``torch.save``), checks keys and shapes against the model
and loads strictly. tests/test_checkpoint.py builds the authors' models from their configs
and loads them into every configs/coco model.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections import OrderedDict
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import nn

from maiou.utils.cli import UserError

__all__ = [
    "CheckpointError",
    "META_SAFE_GLOBALS",
    "sniff_checkpoint",
    "load_untrusted_checkpoint",
    "read_checkpoint_meta",
    "load_released_checkpoint",
]

_WRAPPER_PREFIX = "module."


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


def _numpy_scalar_globals() -> list:
    """What pickle needs to rebuild numpy numeric/bool scalars such as ``np.float64(0.3)``:
    the scalar reconstructor (under its numpy 2 and numpy 1 names), ``np.dtype`` and one
    ``<X>DType`` class per numeric dtype (pickle sets a dtype's state with BUILD). Object,
    void and string dtypes are left out, so object arrays stay refused."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    kinds = ["Bool", "Float16", "Float32", "Float64", "LongDouble"]
    kinds += [f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)]
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype] + [
        getattr(np.dtypes, f"{kind}DType") for kind in kinds
    ]


META_SAFE_GLOBALS: list = _numpy_scalar_globals()


def sniff_checkpoint(path: str | os.PathLike) -> str:
    """'zip' (torch >= 1.6) or 'legacy' (a pickle stream); else :class:`CheckpointError`
    naming what the file is instead: missing, empty, an HTML page (Google Drive serves one
    for quota and virus-scan warnings), cut short, or something else."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        what = "is not a regular file" if os.path.exists(path) else "not found"
        raise CheckpointError(f"{path}: checkpoint file {what}; check the path", path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if size == 0:
        problem = "an empty file (0 bytes): the download or save was interrupted"
    elif head.startswith(b"PK\x03\x04"):
        if zipfile.is_zipfile(path):
            return "zip"
        problem = f"truncated ({size} bytes; the zip archive lacks its central directory)"
    elif head[:1] == b"\x80":
        return "legacy"
    elif head.lstrip().lower().startswith((b"<!doctype html", b"<html")):
        problem = "an HTML page, not a checkpoint (Google Drive serves one for large files)"
    else:
        problem = "not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)"
    raise CheckpointError(f"{path}: {problem}. Delete it and download it again.", path)


def _torch_reason(exc: Exception) -> str:
    """The line of torch's (multi-line) error that says what was wrong with the file."""
    text = str(exc)
    tail = text.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler" in text else text
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if "weights_only" not in line.lower()
        and "weights only" not in line.lower()
        and "pytorch.org" not in line
    ]
    return (useful or lines or [type(exc).__name__])[0]


def _safe_torch_load(path: str | os.PathLike, mmap: bool = False):
    """``torch.load`` restricted to tensors, plain containers and ``META_SAFE_GLOBALS``.

    ``weights_only=True`` is passed explicitly, which also makes torch ignore the
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment override.
    """
    path = os.fspath(path)
    fmt = sniff_checkpoint(path)
    try:
        with torch.serialization.safe_globals(META_SAFE_GLOBALS), warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; a failure says more.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=mmap and fmt == "zip"
            )
    except Exception as exc:  # noqa: BLE001 - every failure of the restricted reader
        raise CheckpointError(
            f"{path}: not loadable as a tensors-only checkpoint (torch: {_torch_reason(exc)}). "
            "Nothing in it was executed. A damaged download: delete it and download it again; "
            "a file you trust that holds other objects: re-save only its tensors "
            "(torch.save(ckpt['state_dict'], ...)) where it was made.",
            path,
        ) from None


def _state_dict_of(obj, path: str) -> "OrderedDict[str, torch.Tensor]":
    """The tensors of a raw state dict or of an mmcv ``{'state_dict': ..., 'meta': ...}``;
    module versions (``_metadata``, which steer mmcv's BN/DCN upgrades) are kept."""
    state_dict = obj["state_dict"] if isinstance(obj, Mapping) and "state_dict" in obj else obj
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError(
            f"{path}: not a model checkpoint: expected a state dict of tensors (or a dict with "
            f"a 'state_dict' entry), found {type(state_dict).__name__}"
            f"{' (empty)' if isinstance(state_dict, Mapping) else ''}",
            path,
        )
    others = [key for key, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if others:
        raise CheckpointError(
            f"{path}: not a model checkpoint: {len(others)} of its {len(state_dict)} entries "
            f"are not tensors ({_preview(others)})",
            path,
        )
    out: OrderedDict[str, torch.Tensor] = OrderedDict(state_dict)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def load_untrusted_checkpoint(path: str | os.PathLike) -> "OrderedDict[str, torch.Tensor]":
    """The tensors of a ``torch.save`` file (zip or legacy format) holding a state dict or an
    mmcv checkpoint, loaded without executing anything in it. Returns name -> CPU tensor."""
    return _state_dict_of(_safe_torch_load(path), os.fspath(path))


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` dict of an mmcv checkpoint (``{}`` if absent), loaded just as safely;
    tensors are memory-mapped (zip format), so this is cheap even for large files."""
    obj = _safe_torch_load(path, mmap=True)
    meta = obj.get("meta") if isinstance(obj, Mapping) else None
    return dict(meta) if isinstance(meta, Mapping) else {}


def _preview(keys: Iterable[str], n: int = 8) -> str:
    keys = list(keys)
    more = f", ... ({len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _check_matches(state_dict: Mapping[str, torch.Tensor], model: nn.Module, path: str) -> None:
    """One error listing the first missing, unexpected and wrongly shaped keys, if any."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (in the model, not the file): {_preview(missing)}")
    if unexpected:
        parts.append(
            f"{len(unexpected)} unexpected (in the file, not the model): {_preview(unexpected)}"
        )
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches: {_preview(mismatched, 5)}")
    if parts:
        raise CheckpointError(
            f"{path} does not match the model ({type(model).__name__}): {'; '.join(parts)}. "
            "Check that the config matches the checkpoint's run (image size, anchors per location, "
            "DCN/CARAFE for maYOLACT, number of classes).",
            path,
        )


def load_released_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a downloaded checkpoint into ``model`` (strictly, keys and shapes checked first)
    and return the model. A ``module.`` prefix on every key is stripped when the model's
    keys have none."""
    path = os.fspath(path)
    state_dict = load_untrusted_checkpoint(path)
    wrapped = all(k.startswith(_WRAPPER_PREFIX) for k in state_dict) and not any(
        k.startswith(_WRAPPER_PREFIX) for k in model.state_dict()
    )
    if wrapped:
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict((k[len(_WRAPPER_PREFIX) :], v) for k, v in state_dict.items())
        if metadata is not None:
            state_dict._metadata = OrderedDict(  # type: ignore[attr-defined]
                (k[len(_WRAPPER_PREFIX) :] if k.startswith(_WRAPPER_PREFIX) else "", v)
                for k, v in metadata.items()
            )
    _check_matches(state_dict, model, path)
    model.load_state_dict(state_dict, strict=True)
    return model
