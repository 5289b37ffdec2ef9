"""Learning-rate hooks that count optimizer steps, for training with gradient accumulation.

With ``accumulation`` forward passes per optimizer step (maiou/engine/batching.py), a schedule
written for the paper's batch (warm-up over 500 iterations, steps, cosine) must advance once
per optimizer step, not once per forward pass. ``maiou.engine.batching.configure_batch`` therefore
rewrites the config's ``lr_config.policy`` ``P`` to ``P + "PerOptimizerStep"`` with
``accumulation=N``, and mmcv builds the matching hook registered here: mmcv's own hook,
shown the runner through :class:`OptimizerStepView`, whose ``iter`` and ``max_iters``
count optimizer steps. Every forward pass of an accumulation group gets the lr of the
group's optimizer step, the same values as without accumulation.
"""

from __future__ import annotations

from mmcv.runner.hooks import HOOKS
from mmcv.runner.hooks.lr_updater import CosineAnnealingLrUpdaterHook, StepLrUpdaterHook

__all__ = [
    "OptimizerStepView",
    "StepPerOptimizerStepLrUpdaterHook",
    "CosineAnnealingPerOptimizerStepLrUpdaterHook",
]

SUFFIX = "PerOptimizerStep"


class OptimizerStepView:
    """The runner as an lr hook sees it: ``iter`` and ``max_iters`` in optimizer steps,
    everything else (optimizer, epoch, ...) the runner's own."""

    def __init__(self, runner, accumulation: int):
        self._runner, self._accumulation = runner, accumulation

    @property
    def iter(self) -> int:
        return self._runner.iter // self._accumulation

    @property
    def max_iters(self) -> int:
        return self._runner.max_iters // self._accumulation

    def __getattr__(self, name):
        return getattr(self._runner, name)


class _PerOptimizerStep:
    """Mixed into an mmcv lr updater hook: its per-iteration update sees optimizer steps."""

    def __init__(self, accumulation: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.accumulation = accumulation

    def before_train_iter(self, runner):
        super().before_train_iter(OptimizerStepView(runner, self.accumulation))


@HOOKS.register_module()
class StepPerOptimizerStepLrUpdaterHook(_PerOptimizerStep, StepLrUpdaterHook):
    """mmcv's step policy (``policy='step'``), counted in optimizer steps."""


@HOOKS.register_module()
class CosineAnnealingPerOptimizerStepLrUpdaterHook(_PerOptimizerStep, CosineAnnealingLrUpdaterHook):
    """mmcv's cosine annealing (``policy='CosineAnnealing'``), counted in optimizer steps."""
