"""Exponential moving average of the weights, written into the model at the end of training.

Short runs end on a noisy iterate, and that noise differs from one training seed to the
next; averaging the last stretch of iterates (Polyak-Ruppert averaging; the EMA form is what
YOLOX/YOLOv8 train with) is the usual remedy. With ``save_to`` it measures itself: one
training yields the last iterate and the average. On the embedded runs the average moved
mask AP by at most 0.5 points and left the seed spread of the paired differences as it was,
so no config uses it (docs/embedded-benchmark.md, "Seed spread of the comparisons"); it is
here for recipes that end at a higher learning rate.

Algorithm, for the model's floating-point parameters and buffers ``w`` (BatchNorm's
running statistics included) and the shadow copy ``a``:

1. before the run: ``a = w``;
2. after every training iteration: ``a = a + (w - a) / tau`` (decay ``1 - 1 / tau``),
   ``tau = time_constant x max_iters`` iterations;
3. after the last iteration, before the checkpoint hook saves it: ``w = a``.

So the saved (``final.pth``) and evaluated model is the average, and the hook needs no
state in the checkpoint. An interrupted run that resumes from a checkpoint before its end
restarts the average there (the embedded runs keep only the final checkpoint). With
``save_to``, step 3 instead writes the average to ``<work_dir>/<save_to>`` (a checkpoint
with the model's other buffers) and leaves the last iterate in the model: the hook never
changes the training itself, so one training measures both recipes on the same trajectory.
"""

from __future__ import annotations

import os.path as osp

import torch
from mmcv.runner import HOOKS, Hook

from maiou.utils.atomic import atomic_path

__all__ = ["WeightAverageHook"]


@HOOKS.register_module()
class WeightAverageHook(Hook):
    """EMA of the weights with time constant ``time_constant`` x the run's iterations.

    Args:
        time_constant: ``tau`` as a fraction of ``runner.max_iters`` (0 < t <= 1); after
            the run, iteration ``i`` has weight proportional to ``exp(-(max_iters - i) /
            tau)``.
        save_to: None: the model becomes the average; a file name: the average is saved
            there (in the work dir) and the model keeps its last iterate.
    """

    def __init__(self, time_constant: float = 0.1, save_to: str | None = None):
        if not 0 < time_constant <= 1:
            raise ValueError(
                f"WeightAverageHook: time_constant must be in (0, 1], got {time_constant}"
            )
        self.time_constant = time_constant
        self.save_to = save_to
        self._shadow: dict[str, torch.Tensor] = {}
        self._decay = 0.0

    @staticmethod
    def _state(runner) -> dict[str, torch.Tensor]:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        return model.state_dict(keep_vars=True)

    @classmethod
    def _tensors(cls, runner) -> dict[str, torch.Tensor]:
        return {k: v for k, v in cls._state(runner).items() if v.is_floating_point()}

    def before_run(self, runner):
        tau = max(1.0, self.time_constant * runner.max_iters)
        self._decay = 1.0 - 1.0 / tau
        self._shadow = {k: v.detach().clone() for k, v in self._tensors(runner).items()}

    def after_train_iter(self, runner):
        current = self._tensors(runner)
        with torch.no_grad():
            shadow, live = list(self._shadow.values()), [current[k].detach() for k in self._shadow]
            torch._foreach_lerp_(shadow, live, 1.0 - self._decay)
            if runner.iter + 1 < runner.max_iters:
                return
            if self.save_to is None:  # the last iteration: the model becomes the average
                for k, v in self._shadow.items():
                    current[k].detach().copy_(v)
                return
            state = {k: v.detach().clone() for k, v in self._state(runner).items()}
            state.update(self._shadow)
            with atomic_path(osp.join(runner.work_dir, self.save_to)) as tmp:
                torch.save({"meta": {"iter": runner.iter + 1}, "state_dict": state}, tmp)
