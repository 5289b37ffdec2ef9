"""Warn, epoch by epoch, when a run's training loss leaves the authors' curve.

The authors released a training log for every run but maYOLACT-700 (maiou/runs.py,
``Run.log_drive_id``). After each training epoch, ``TrainingCurveCheckHook`` compares the
run's mean total loss over the epoch (``log_vars["loss"]``, the sum of all loss terms,
averaged over the epoch's iterations) with the authors' mean logged total loss at the same
epoch. A relative difference above ``tolerance`` (default 0.10: 10 % of the authors'
value) is off course: a warning goes to the run's log and the epoch is marked in
``<work_dir>/curve_check.json``, which the table reads. A user thus learns after the first
epoch, not after 55, that a run does not reproduce.

The 10 % is a stated choice, not a calibrated bound (no repeated COCO runs were measured
for it): an epoch mean averages thousands of iterations, so seed-to-seed noise should sit
well inside it, while the mistakes it is meant to catch (another learning rate or batch
size, no pretrained backbone, a wrong assigner) move the loss by more. Lower it in the
config (``custom_hooks``) for a stricter check.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmcv.runner import HOOKS, Hook

from maiou.engine.training_log import DEFAULT_TOLERANCE, compare_epochs, epoch_means, read_log
from maiou.utils.atomic import write_text_atomic

__all__ = ["TrainingCurveCheckHook"]


@HOOKS.register_module()
class TrainingCurveCheckHook(Hook):
    """After every training epoch, compare the epoch's mean total loss with a reference log.

    Args:
        reference: the authors' training log (mmcv text log or ``.log.json``); None or ""
            turns the check off (runs without a released log, the embedded preset).
        tolerance: largest relative difference of the epoch-mean total loss still on
            course.
        key: the logged loss compared (``loss``: the total).
        out_file: name of the record written in the work dir.
    """

    def __init__(
        self,
        reference: str | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        key: str = "loss",
        out_file: str = "curve_check.json",
    ):
        if tolerance <= 0:
            raise ValueError(f"TrainingCurveCheckHook: tolerance must be > 0, got {tolerance}")
        self.reference = str(reference) if reference else None
        self.tolerance = float(tolerance)
        self.key = key
        self.out_file = out_file
        self.authors: dict = {}
        self._sum, self._count = 0.0, 0
        self.epochs: list = []

    def before_run(self, runner):
        if self.reference is None:
            return
        # A missing or broken reference is an error before training starts, not a silent
        # skip: the user asked for the check.
        self.authors = epoch_means(read_log(self.reference), self.key)
        if not self.authors:
            raise ValueError(
                f"{self.reference}: no per-epoch {self.key!r} values to compare "
                "with (an iteration-based log?)"
            )
        path = Path(runner.work_dir) / self.out_file
        if path.is_file():  # a resumed run keeps the epochs it checked before
            try:
                self.epochs = json.loads(path.read_text()).get("epochs", [])
            except (OSError, ValueError):
                self.epochs = []

    def before_train_epoch(self, runner):
        self._sum, self._count = 0.0, 0

    def after_train_iter(self, runner):
        if self.reference is None:
            return
        value = (runner.outputs or {}).get("log_vars", {}).get(self.key)
        if value is not None:
            self._sum += float(value)
            self._count += 1

    def after_train_epoch(self, runner):
        if self.reference is None or not self._count:
            return
        epoch = runner.epoch + 1  # 1-based, as TextLoggerHook logs it (the runner counts
        # the epoch as finished only after this hook)
        ours = {epoch: self._sum / self._count}
        checked = compare_epochs(ours, self.authors, self.tolerance)
        if not checked:
            runner.logger.info(f"curve check: the reference log has no epoch {epoch}")
            return
        c = checked[0]
        if c["off_course"]:
            runner.logger.warning(
                f"OFF COURSE: epoch {epoch} mean {self.key} {c['ours']:.4f} vs the authors' "
                f"{c['authors']:.4f} ({100 * c['relative_difference']:.1f} % apart, "
                f"tolerance {100 * self.tolerance:.0f} %); this run is not reproducing the "
                f"published training ({self.reference})"
            )
        else:
            runner.logger.info(
                f"curve check: epoch {epoch} mean {self.key} {c['ours']:.4f} vs the authors' "
                f"{c['authors']:.4f} ({100 * c['relative_difference']:.1f} % apart): on course"
            )
        self.epochs = [e for e in self.epochs if e["epoch"] != epoch] + [c]
        if runner.rank == 0:
            write_text_atomic(
                Path(runner.work_dir) / self.out_file,
                json.dumps(
                    {
                        "reference": self.reference,
                        "key": self.key,
                        "tolerance": self.tolerance,
                        "epochs": self.epochs,
                        "off_course_epochs": [e["epoch"] for e in self.epochs if e["off_course"]],
                    },
                    indent=1,
                ),
            )
