"""mmcv runner hooks; importing this module registers them (``custom_imports``)."""

from .curve_check import TrainingCurveCheckHook, compare_epochs

__all__ = ["TrainingCurveCheckHook", "compare_epochs"]
