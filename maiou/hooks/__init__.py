"""mmcv runner hooks; importing this module registers them (``custom_imports``)."""

from .curve_check import TrainingCurveCheckHook, compare_epochs
from .weight_average import WeightAverageHook

__all__ = ["TrainingCurveCheckHook", "WeightAverageHook", "compare_epochs"]
