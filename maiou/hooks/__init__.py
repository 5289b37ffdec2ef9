"""mmcv runner hooks; importing this module registers them (``custom_imports``)."""

from .curve_check import TrainingCurveCheckHook
from .optimizer_step_lr import (
    CosineAnnealingPerOptimizerStepLrUpdaterHook,
    StepPerOptimizerStepLrUpdaterHook,
)
from .weight_average import WeightAverageHook

__all__ = [
    "CosineAnnealingPerOptimizerStepLrUpdaterHook",
    "StepPerOptimizerStepLrUpdaterHook",
    "TrainingCurveCheckHook",
    "WeightAverageHook",
]
