"""Safe loading of downloaded checkpoints and mapping of the authors' released weights.

Downloaded ``.pth`` files are pickles, and unpickling an untrusted pickle can run arbitrary
code. Everything here therefore goes through ``torch.load(..., weights_only=True)``, whose
restricted unpickler only rebuilds tensors and plain containers. mmcv-saved checkpoints also
carry a ``meta`` dict; its usual content (strings, ints, the config text, tuples of class
names) passes the restricted unpickler as is, and the only extra objects we admit are numpy
scalars, through the explicit allow-list ``META_SAFE_GLOBALS`` below. Anything else is refused
with :class:`UnsafeCheckpointError`; there is no fallback to unrestricted loading.

Released checkpoints (Google Drive links in the authors' README) were trained with the mmdet
2.x fork ``kemaloksuz/Mask-aware-IoU``. :func:`map_released_keys` translates their key layout
into ours and verifies the result against the model (exact key set and shapes);
:func:`load_released_checkpoint` chains the safe load, the mapping and a strict
``load_state_dict``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict
from typing import Iterable, Mapping, NamedTuple

import numpy as np
import torch
from torch import nn

from maiou.cli import UserError

__all__ = [
    "CheckpointError",
    "CheckpointNotFoundError",
    "CorruptCheckpointError",
    "UnsafeCheckpointError",
    "NotACheckpointError",
    "ChecksumMismatchError",
    "KeyMappingError",
    "META_SAFE_GLOBALS",
    "KeyRule",
    "RELEASED_KEY_RULES",
    "file_digest",
    "verify_checksum",
    "load_untrusted_checkpoint",
    "read_checkpoint_meta",
    "map_released_keys",
    "to_released_layout",
    "check_state_dict_matches",
    "load_released_checkpoint",
]


# --------------------------------------------------------------------------------------
# Errors: each names the file and says what to do.
# --------------------------------------------------------------------------------------
class CheckpointError(UserError, RuntimeError):
    """Base class; ``path`` is the offending file (``None`` when no file is involved)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class CheckpointNotFoundError(CheckpointError):
    """The checkpoint path does not exist or is not a regular file."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, damaged, or not a ``torch.save`` file at all."""


class UnsafeCheckpointError(CheckpointError):
    """The restricted unpickler refused content (on purpose: it could run code)."""


class NotACheckpointError(CheckpointError):
    """The file unpickles safely but holds no state dict of tensors."""


class ChecksumMismatchError(CheckpointError):
    """The file's digest differs from the expected one."""


class KeyMappingError(CheckpointError):
    """After mapping, the state dict's keys or shapes do not match the model."""


# --------------------------------------------------------------------------------------
# The allow-list for ``meta`` content beyond what weights_only admits by default.
# --------------------------------------------------------------------------------------
def _numpy_scalar_globals() -> list:
    """Globals needed to rebuild numpy *numeric/bool* scalars, e.g. ``np.float64(0.31)``.

    mmcv hooks can store numpy scalars in ``meta['hook_msgs']`` (e.g. a best score), and
    pickle writes them as ``scalar(dtype, raw_bytes)``. Entries:

    * ``numpy._core.multiarray.scalar`` (and its numpy<2 name ``numpy.core.multiarray.scalar``,
      which files written under numpy 1.x reference): builds a scalar from a dtype and a
      bytes buffer; it copies bytes, it does not call anything user-supplied.
    * ``numpy.dtype``: the dtype constructor, called with a type code such as ``'f8'``.
    * one ``numpy.dtypes.<X>DType`` class per numeric/bool dtype: pickle applies the dtype's
      state with BUILD, which the restricted unpickler only allows for allow-listed types.
      ``ObjectDType`` (arbitrary Python objects), void/structured and string dtypes are
      deliberately absent, so object-dtype scalars and arrays stay refused.
    """
    try:  # numpy>=2 location of the reconstructor
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    entries: list = [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype]
    for name in (
        "Bool",
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float16",
        "Float32",
        "Float64",
        "LongDouble",
    ):
        entries.append(getattr(np.dtypes, f"{name}DType"))
    return entries


META_SAFE_GLOBALS: list = _numpy_scalar_globals()


def _allowlisted_names() -> set[str]:
    names = set()
    for entry in META_SAFE_GLOBALS:
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f"{entry.__module__}.{entry.__qualname__}")
    return names


# --------------------------------------------------------------------------------------
# Checksums
# --------------------------------------------------------------------------------------
_DIGEST_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}


def file_digest(path: str | os.PathLike, algo: str = "sha256", chunk_mib: int = 4) -> str:
    """Hex digest of a file, read in ``chunk_mib`` MiB chunks (checkpoints are ~100-300 MB)."""
    path = _existing_file(path)
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_mib << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str | os.PathLike, expected: str) -> str:
    """Check ``path`` against ``expected`` and return the algorithm used.

    ``expected`` is ``"<algo>:<hex>"`` (e.g. ``"sha256:ab12..."``, ``"md5:..."``) or a bare
    hex digest, whose algorithm is inferred from its length (32 md5, 40 sha1, 64 sha256).
    Raises :class:`ChecksumMismatchError` quoting both digests.
    """
    expected = expected.strip()
    if ":" in expected:
        algo, want = expected.split(":", 1)
        algo = algo.lower()
    else:
        want = expected
        algo = _DIGEST_LENGTHS.get(len(want), "")
        if not algo:
            raise ValueError(
                f"cannot infer the hash algorithm of {expected!r} "
                f"(length {len(want)}); write it as 'sha256:<hex>' or 'md5:<hex>'"
            )
    want = want.lower()
    got = file_digest(path, algo)
    if got != want:
        raise ChecksumMismatchError(
            f"{os.fspath(path)}: {algo} checksum mismatch: expected {want}, got {got}. "
            "The download is incomplete or a different file; delete it and download again.",
            path,
        )
    return algo


# --------------------------------------------------------------------------------------
# Safe loading
# --------------------------------------------------------------------------------------
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80  # first byte of a protocol>=2 pickle (legacy, pre-zip torch.save)
# Substrings of the restricted unpickler's messages that mean "refused", as opposed to
# "could not parse" (torch wraps both into one UnpicklingError).
_REFUSAL_MARKERS = (
    "Unsupported global",
    "unrecognized function",
    "Can only build",
    "Can only create new object",
    "is blocked",
    "persistent_load",
    "must be imported to load",
)


def _existing_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointNotFoundError(
            f"{path}: checkpoint file not found; check the path, or download it first "
            "(links in the authors' README).",
            path,
        )
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(
            f"{path}: not a regular file; pass the .pth file itself.", path
        )
    return path


def _sniff_format(path: str) -> str:
    """'zip' (torch>=1.6 format), 'legacy' (older torch.save pickle stream); raises otherwise."""
    size = os.path.getsize(path)
    if size == 0:
        raise CorruptCheckpointError(
            f"{path}: empty file (0 bytes); the download or save "
            "was interrupted. Delete it and download/save again.",
            path,
        )
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            # The zip central directory lives at the end of the file: without it the file
            # was cut short (interrupted download or save).
            raise CorruptCheckpointError(
                f"{path}: truncated or corrupt checkpoint ({size} bytes; zip archive without "
                "its central directory). Delete it and download/save it again.",
                path,
            )
        return "zip"
    if head[:1] == bytes([_PICKLE_PROTO]):
        return "legacy"
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        raise NotACheckpointError(
            f"{path}: this is an HTML page, not a checkpoint (Google Drive serves a "
            "confirmation page for large files). Download again, e.g. "
            "`gdown --fuzzy <drive-link>`, and check the file size.",
            path,
        )
    raise NotACheckpointError(
        f"{path}: not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle stream).",
        path,
    )


def _refused_globals(message: str) -> list[str]:
    found = re.findall(r"GLOBAL (\S+) was not an allowed global", message)
    found += re.findall(r"unsupported GLOBAL (\S+) whose module", message)
    found += re.findall(r"unrecognized function (.+?)(?:\n|$)", message)
    return sorted(set(found))


def _scan_pickle_globals(path: str, fmt: str) -> list[str]:
    """Names a (legacy/plain) pickle imports, found statically (nothing is executed).

    Only used to *name* refused content in the error message: torch's restricted
    unpickler is what enforces the refusal. ``STACK_GLOBAL`` (protocol >= 4, never written
    by torch.save) takes its module/name from the two most recently pushed strings.
    """
    import pickletools

    names, strings, memo = [], [], {}
    try:
        if fmt == "zip":  # torch's zip format keeps the object pickle in <archive>/data.pkl
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                stream = io.BytesIO(archive.read(member))
        else:
            stream = open(path, "rb")
        with stream as f:
            for opcode, arg, _ in pickletools.genops(f):
                if opcode.name == "GLOBAL" or opcode.name == "INST":
                    names.append(arg.replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str) and "UNICODE" in opcode.name:
                    strings.append(arg)
                elif opcode.name in ("BINPUT", "LONG_BINPUT", "MEMOIZE") and strings:
                    memo[arg if arg is not None else len(memo)] = strings[-1]
                elif opcode.name in ("BINGET", "LONG_BINGET") and arg in memo:
                    strings.append(memo[arg])
    except Exception:  # truncated/garbage stream: report what was seen so far
        pass
    safe = _allowlisted_names()
    return sorted(
        {
            n
            for n in names
            if not n.startswith("torch.")
            and n not in safe
            and n not in ("collections.OrderedDict", "_codecs.encode")
        }
    )


def _refused(path: str, names: list[str]) -> UnsafeCheckpointError:
    what = ", ".join(names) if names else "non-tensor objects"
    return UnsafeCheckpointError(
        f"{path}: refused on purpose: the file references {what}, which the safe loader "
        "does not unpickle because unpickling it could execute code. Nothing from the file "
        "was executed. If you trust its origin, re-save only the tensors "
        "(torch.save(ckpt['state_dict'], ...)) in a trusted environment; this loader will "
        "not fall back to unsafe loading.",
        path,
    )


def _safe_torch_load(path: str | os.PathLike, mmap: bool = False):
    """``torch.load`` restricted to tensors, plain containers and ``META_SAFE_GLOBALS``.

    ``weights_only=True`` is passed explicitly, which also makes torch ignore the
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` environment override. Returns the unpickled object.
    """
    path = _existing_file(path)
    fmt = _sniff_format(path)
    try:
        with torch.serialization.safe_globals(META_SAFE_GLOBALS), warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the outcome is reported
            # by the errors below instead.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=mmap and fmt == "zip"
            )
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if any(marker in message for marker in _REFUSAL_MARKERS):
            names = set(_refused_globals(message))
            if fmt == "zip":
                names |= (
                    set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
                    - _allowlisted_names()
                )
            raise _refused(path, sorted(names)) from None
        if "Unsupported operand" in message:
            # Opcodes torch.save never writes (e.g. protocol-4 STACK_GLOBAL): if the stream
            # imports anything beyond torch, say so; otherwise it is just damaged.
            names = _scan_pickle_globals(path, fmt)
            if names:
                raise _refused(path, names) from None
        raise CorruptCheckpointError(
            f"{path}: could not be parsed as a torch.save checkpoint ({_first_line(message)}). "
            "It is corrupt, truncated, or was not written by torch.save; nothing in it was "
            "executed. Download/save it again.",
            path,
        ) from None
    except (EOFError, zipfile.BadZipFile) as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise CorruptCheckpointError(
            f"{path}: truncated checkpoint ({detail}). Delete it and download/save it again.", path
        ) from None
    except Exception as exc:  # noqa: BLE001 - every other failure of the reader is damage
        # The zip reader (PytorchStreamReader) and the legacy reader ("Invalid magic
        # number") raise RuntimeError; a malformed pickle can raise IndexError/ValueError.
        raise CorruptCheckpointError(
            f"{path}: corrupt checkpoint ({type(exc).__name__}: {_first_line(str(exc))}). "
            "Delete it and download/save it again.",
            path,
        ) from None


def _first_line(text: str) -> str:
    """The informative line of a (possibly torch-wrapped, multi-line) error message."""
    for pattern in (r"Unsupported operand \d+", r"WeightsUnpickler error: (.+)"):
        match = re.search(pattern, text)
        if match:
            return (match.group(1) if match.groups() else match.group(0)).strip()
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and "pytorch.org/docs" not in line
    ]
    return lines[0] if lines else (text.strip() or "no detail")


def _extract_state_dict(obj, path: str) -> "OrderedDict[str, torch.Tensor]":
    """Accept a raw state dict or an mmcv-style ``{'state_dict': ..., 'meta': ...}``."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state_dict = obj["state_dict"]
    else:
        state_dict = obj
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise NotACheckpointError(
            f"{path}: not a model checkpoint: expected a state dict (or a dict with a "
            f"'state_dict' entry) of tensors, found {type(state_dict).__name__}"
            f"{' (empty)' if isinstance(state_dict, Mapping) else ''}.",
            path,
        )
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if len(not_tensors) == len(state_dict):
        raise NotACheckpointError(
            f"{path}: not a model checkpoint: none of its {len(state_dict)} entries is a "
            f"tensor (keys: {_preview(state_dict.keys())}).",
            path,
        )
    if not_tensors:
        raise NotACheckpointError(
            f"{path}: the state dict mixes tensors with other values at "
            f"{_preview(not_tensors)}; it is not a model state dict.",
            path,
        )
    out: OrderedDict[str, torch.Tensor] = OrderedDict(state_dict)
    # Module versions (e.g. BN/DCN ``version``) steer ``_load_from_state_dict`` upgrades.
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def load_untrusted_checkpoint(path: str | os.PathLike) -> "OrderedDict[str, torch.Tensor]":
    """Load the tensors of an untrusted checkpoint without executing any of its code.

    Args:
        path: a ``.pth`` written by ``torch.save`` (zip or legacy format) that holds either a
            state dict or an mmcv checkpoint ``{'state_dict', 'meta', 'optimizer'}``.

    Returns:
        ``OrderedDict`` name -> CPU tensor (its ``_metadata`` kept when present).

    Raises:
        CheckpointNotFoundError, CorruptCheckpointError, UnsafeCheckpointError,
        NotACheckpointError, each naming ``path`` and the fix.
    """
    path = os.fspath(path)
    return _extract_state_dict(_safe_torch_load(path), path)


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The ``meta`` dict of an mmcv checkpoint (``{}`` if absent), loaded just as safely.

    Tensors are memory-mapped (zip format), so this is cheap even for large files.
    """
    obj = _safe_torch_load(path, mmap=True)
    meta = obj.get("meta") if isinstance(obj, Mapping) else None
    return dict(meta) if isinstance(meta, Mapping) else {}


# --------------------------------------------------------------------------------------
# Released-checkpoint key layout
# --------------------------------------------------------------------------------------
class KeyRule(NamedTuple):
    """Rename parameters under ``released`` (a key prefix in the authors' files) to ``ours``.

    Prefix rules are used (not regexes) because they are exactly invertible, which
    :func:`to_released_layout` and the round-trip tests rely on.
    """

    released: str
    ours: str
    why: str


# What the released checkpoints look like, from the authors' fork kemaloksuz/Mask-aware-IoU
# (commit 93bce5e; mmdet ~2.5 with mmcv-full 1.x) compared with mmdet 2.28.2 / mmcv 1.7.2:
# * detector YOLACT (mmdet/models/detectors/yolact.py): submodules backbone, neck,
#   bbox_head, segm_head, mask_head -- same attribute names as mmdet 2.28.2's YOLACT.
# * YOLACTHead (mmdet/models/dense_heads/yolact_head.py): head_convs[i] (ConvModule ->
#   .conv), conv_cls, conv_reg, conv_coeff -- same. The fork's only changes are in the
#   assignment code (ATSS/maIoU branches), which has no parameters.
# * YOLACTSegmHead: segm_conv; YOLACTProtonet: protonet (nn.Sequential of conv/ReLU/
#   interpolate, indices 0,2,4,8,10 carry weights) -- same.
# * ResNet-50 and FPN are unmodified mmdet modules; the DCNv2 conv2 of maYOLACT is mmcv's
#   ModulatedDeformConv2dPack (``conv2.weight`` + ``conv2.conv_offset.{weight,bias}``,
#   module _version 2) in both; FPN_CARAFE (lateral_convs, fpn_convs, upsample_modules with
#   CARAFEPack channel_compressor/content_encoder) has the same structure in mmdet 2.5
#   and 2.28.2.
# So no rename is needed; the mapping is the identity plus the verification below. (This
# comes from the fork's code: the Drive files themselves were not reachable offline. Files
# of that era may be in torch's pre-1.6 non-zip format, which the loader above accepts;
# their ``_metadata`` module versions are kept, so mmcv's version-based upgrades still run.)
# tests/test_checkpoint.py builds the authors' models from their configs with stock mmdet
# modules and loads them into every configs/coco model.
RELEASED_KEY_RULES: tuple[KeyRule, ...] = ()

# Saved from an unwrapped (DDP/DataParallel) model by plain torch.save; mmcv itself strips it.
_WRAPPER_PREFIX = "module."


def _rename(key: str, rules: Iterable[KeyRule], forward: bool) -> str:
    for rule in rules:
        src, dst = (rule.released, rule.ours) if forward else (rule.ours, rule.released)
        if key.startswith(src):
            return dst + key[len(src) :]
    return key


def _rename_metadata(metadata: Mapping, fn) -> OrderedDict:
    """Metadata keys are module prefixes without the trailing dot ('' is the root)."""
    out = OrderedDict()
    for module_prefix, value in metadata.items():
        new = fn(module_prefix + ".") if module_prefix else module_prefix
        out[new[:-1] if new.endswith(".") else new] = value
    return out


def _apply(state_dict: Mapping[str, torch.Tensor], fn) -> "OrderedDict[str, torch.Tensor]":
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        new = fn(key)
        if new in out:
            raise KeyMappingError(f"key mapping collision: two keys map to {new!r}")
        out[new] = value
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = _rename_metadata(metadata, fn)  # type: ignore[attr-defined]
    return out


def _preview(keys: Iterable[str], n: int = 8) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:n])
    return f"{shown}{f', ... ({len(keys) - n} more)' if len(keys) > n else ''}"


def check_state_dict_matches(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module, source: str = "checkpoint"
) -> None:
    """Raise :class:`KeyMappingError` unless the keys are exactly ``model.state_dict()``'s
    and every shape matches; the message lists the first offenders of each kind."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} missing (in the model, not in the {source}): {_preview(missing)}"
            )
        if unexpected:
            parts.append(
                f"{len(unexpected)} unexpected (in the {source}, not in the model): "
                f"{_preview(unexpected)}"
            )
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches: {_preview(mismatched, 5)}")
        raise KeyMappingError(
            f"{source} does not match the model ({type(model).__name__}): "
            + "; ".join(parts)
            + ". Check that the config matches the released model (image size, anchors per "
            "location, DCN/CARAFE for maYOLACT, number of classes).",
            source if os.path.exists(str(source)) else None,
        )


def map_released_keys(
    state_dict: Mapping[str, torch.Tensor],
    model: nn.Module,
    rules: Iterable[KeyRule] = RELEASED_KEY_RULES,
    source: str = "released checkpoint",
) -> "OrderedDict[str, torch.Tensor]":
    """Translate a released (authors' layout) state dict to ``model``'s keys and verify it.

    A uniform ``module.`` prefix (state dict of a DDP-wrapped model) is stripped first; then
    each key is renamed by the first matching :class:`KeyRule`. The result must have exactly
    the model's keys with the model's shapes, else :class:`KeyMappingError` lists the first
    offending keys. Values are not copied.
    """
    rules = tuple(rules)
    keys = list(state_dict)
    model_keys = model.state_dict().keys()
    strip = (
        bool(keys)
        and all(k.startswith(_WRAPPER_PREFIX) for k in keys)
        and not any(k.startswith(_WRAPPER_PREFIX) for k in model_keys)
    )

    def forward(key: str) -> str:
        if strip:
            key = key[len(_WRAPPER_PREFIX) :]
        return _rename(key, rules, forward=True)

    mapped = _apply(state_dict, forward)
    check_state_dict_matches(mapped, model, source)
    return mapped


def to_released_layout(
    state_dict: Mapping[str, torch.Tensor], rules: Iterable[KeyRule] = RELEASED_KEY_RULES
) -> "OrderedDict[str, torch.Tensor]":
    """Inverse of the renames in :func:`map_released_keys` (ours -> authors' layout)."""
    rules = tuple(rules)
    return _apply(state_dict, lambda key: _rename(key, rules, forward=False))


def load_released_checkpoint(
    model: nn.Module,
    path: str | os.PathLike,
    expected_checksum: str | None = None,
    rules: Iterable[KeyRule] = RELEASED_KEY_RULES,
) -> nn.Module:
    """Safely load a released checkpoint into ``model`` (strict) and return the model.

    Args:
        model: the built detector (e.g. ``build_detector(cfg.model)``) matching the run.
        path: the downloaded ``.pth``.
        expected_checksum: optional ``"sha256:<hex>"``/``"md5:<hex>"`` checked first.
        rules: key renames (default: the released layout, see ``RELEASED_KEY_RULES``).
    """
    path = os.fspath(path)
    if expected_checksum:
        verify_checksum(path, expected_checksum)
    state_dict = load_untrusted_checkpoint(path)
    mapped = map_released_keys(state_dict, model, rules, source=path)
    model.load_state_dict(mapped, strict=True)
    return model
