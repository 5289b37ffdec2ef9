"""Where a training run starts, decided from its work dir and config alone.

:func:`plan_start` reads the work dir (which checkpoints exist, how far each got) and the
config (the run's length, an explicit ``resume_from``) and returns a :class:`StartPlan`:
train from the first iteration, resume from a checkpoint, or nothing to train. It writes,
prints and changes nothing; the command applies the plan (``maiou/train.py``), so every
decision can be tested on a folder of fake checkpoints without training.

The decisions, in order:

1. the config names ``resume_from``: resume from it, whatever the work dir holds;
2. auto-resume is off (``--no-auto-resume``): fresh;
3. ``final.pth`` records the run's length (intermediate checkpoints may have been deleted):
   finished;
4. no complete checkpoint (``maiou.rundir.find_resume_checkpoint``): fresh;
5. the newest complete checkpoint reached the run's length (a run killed after its last
   checkpoint, before its marker): finished, and that checkpoint is to be marked
   ``final.pth``;
6. otherwise: resume from that checkpoint.
"""

from __future__ import annotations

import enum
import os.path as osp
from dataclasses import dataclass

from maiou.engine.config import run_length
from maiou.rundir import (
    FINAL_NAME,
    checkpoint_progress,
    final_checkpoint,
    find_resume_checkpoint,
)

__all__ = ["Start", "StartPlan", "plan_start"]


class Start(enum.Enum):
    """What a training run does first."""

    FRESH = "fresh"  # train from the first iteration
    RESUME = "resume"  # continue from StartPlan.resume_from
    FINISHED = "finished"  # nothing to train: the run reached its length


@dataclass(frozen=True)
class StartPlan:
    """Where a run starts (:func:`plan_start`); the command applies it.

    Attributes:
        start (Start): fresh, resume or finished.
        resume_from (str | None): RESUME: the checkpoint to resume from (the config's
            ``resume_from``, or the newest complete checkpoint of the work dir).
        mark_final (str | None): FINISHED without a ``final.pth`` that records the run's
            length: the checkpoint to copy to ``final.pth`` (``maiou.rundir.mark_final``).
        final (str | None): FINISHED: the run's ``final.pth`` (once marked).
        message (str | None): the line to tell the user (without the program's name), or
            None for a plain fresh start.
    """

    start: Start
    resume_from: str | None = None
    mark_final: str | None = None
    final: str | None = None
    message: str | None = None


def plan_start(work_dir: str, cfg, auto_resume: bool = True) -> StartPlan:
    """Decide where the run of ``cfg`` in ``work_dir`` starts; reads files, writes none.

    Args:
        work_dir (str): the run's work dir (absolute; it need not exist).
        cfg (mmcv.Config): the run's config: ``runner`` (its length in epochs or
            iterations) and ``resume_from``; not modified.
        auto_resume (bool): False (``--no-auto-resume``) ignores the work dir's
            checkpoints; an explicit ``resume_from`` still applies.

    Returns:
        StartPlan: see the module's docstring for the order of the decisions.
    """
    if cfg.get("resume_from"):
        return StartPlan(
            Start.RESUME,
            resume_from=cfg.resume_from,
            message=f"resuming from {cfg.resume_from} (set in the config)",
        )
    if not auto_resume:
        return StartPlan(Start.FRESH)

    by_epoch, length = run_length(cfg)
    unit = "epoch" if by_epoch else "iter"
    final = osp.join(work_dir, FINAL_NAME)
    done = checkpoint_progress(final, by_epoch) if osp.isfile(final) else None
    if done is not None and done >= length:
        return _finished(work_dir, final, unit, done, length, mark_final=None)
    resume = find_resume_checkpoint(work_dir, by_epoch)
    if resume is None:
        return StartPlan(Start.FRESH)
    path, progress = resume
    if progress >= length:
        source = final_checkpoint(work_dir, by_epoch, length) or path
        return _finished(work_dir, final, unit, progress, length, mark_final=source)
    return StartPlan(
        Start.RESUME, resume_from=path, message=f"resuming from {path} ({unit} {progress}/{length})"
    )


def _finished(work_dir, final, unit, progress, length, mark_final) -> StartPlan:
    return StartPlan(
        Start.FINISHED,
        mark_final=mark_final,
        final=final,
        message=(
            f"{work_dir} already finished ({unit} {progress}/{length}); "
            f"final checkpoint: {final}. Nothing to train."
        ),
    )
