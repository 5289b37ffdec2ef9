"""Datasets: the synthetic COCO-format instance-segmentation data of the embedded benchmark.

The names below are loaded on first use rather than at import: ``python -m
maiou.data.synthetic`` imports this package first, and an eager import of the module it is
about to run makes runpy warn (and execute the module twice).
"""

import importlib

_EXPORTS = (
    "CATEGORIES",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MAX_OBJECTS",
    "DEFAULT_MIN_OBJECTS",
    "DEFAULT_NUM_TRAIN",
    "DEFAULT_NUM_VAL",
    "generate_dataset",
    "generate_image",
    "read_marker",
)

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(".synthetic", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
