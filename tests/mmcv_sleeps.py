"""Tests only: mmcv's runners without their fixed waits.

mmcv 1.7's EpochBasedRunner sleeps 2 s before every train and val epoch and 1 s after the
run (IterBasedRunner 2 s per pass over a finite loader, 1 s after the run), against a
deadlock of data-loader workers at an epoch's end. The tests' tiny runs load their data in
the main process (``workers_per_gpu=0``) and are a few epochs long, so these sleeps were
most of their time. Nothing else in the runners changes.

* in the test process: ``skip_runner_sleeps(monkeypatch.setattr)``, undone with the patch;
* in a training subprocess: its config lists this module in ``custom_imports`` and its
  environment sets ``MAIOU_TEST_SKIP_RUNNER_SLEEPS=1`` (loading such a config in the test
  process, without the variable, changes nothing).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from mmcv.runner import epoch_based_runner, iter_based_runner

ENV = "MAIOU_TEST_SKIP_RUNNER_SLEEPS"


def skip_runner_sleeps(setattr=setattr) -> None:
    """Make both runner modules' ``time.sleep`` (their only use of ``time``) return at once."""
    for module in (epoch_based_runner, iter_based_runner):
        setattr(module, "time", SimpleNamespace(sleep=lambda seconds: None))


if os.environ.get(ENV) == "1":
    skip_runner_sleeps()
