"""Train a detector from a config: what mmdet's ``tools/train.py`` does, plus auto-resume.

Usage (single process, or one process per device under torchrun)::

    python -m maiou.train CONFIG --work-dir DIR [--cfg-options k=v ...] [--seed N]
        [--no-validate] [--launcher none|pytorch]
        [--evaluate-to OUT [--speed-images N] [--max-images N]]
    torchrun --nproc_per_node=N -m maiou.train CONFIG --work-dir DIR --launcher pytorch

A thin command, as mmdet's ``tools/train.py`` over its ``apis``: it parses the command
line, loads the config, plans where the run starts (:func:`maiou.engine.start.plan_start`,
which decides without acting), applies that plan (:func:`apply_plan`) and, unless the run
is finished, trains it through :mod:`maiou.engine.runner`. :func:`train` does all of it and
returns the run's ``final.pth``. Beyond mmdet's script:

* **Auto-resume.** If ``DIR`` holds checkpoints, the newest *complete* one (``latest.pth``,
  ``epoch_*.pth`` or ``iter_*.pth``; files cut short by an interruption are skipped) becomes
  ``cfg.resume_from``, so an interrupted run continues where it stopped. A run whose
  checkpoint already reached the configured length exits without building anything.
  ``--no-auto-resume`` (or an explicit ``resume_from``) turns this off.
* **A completion marker.** mmcv writes checkpoints in place, so a file named like the last
  epoch can still be half-written. After training, the final checkpoint is copied to a
  temporary name and renamed to ``DIR/final.pth`` (``os.replace`` is atomic), so
  ``final.pth`` exists only for a finished run and is always complete.
* **Training that works with torch 2 and on CPUs, single- or multi-process.** The training
  itself is mmdet's ``train_detector`` step for step
  (:func:`maiou.engine.runner.train_detector`), with fixes for failures of mmdet 2.28.2 /
  mmcv 1.7.2 in this stack: ``build_ddp`` accepts only CUDA/MLU/NPU and mmcv's DDP wrapper
  fails at the first distributed evaluation on torch >= 2.0 (:mod:`maiou.engine.distributed`),
  mmcv's ``IterBasedRunner.resume`` needs a GPU. Under torchrun the backend is gloo on CPU
  and the config's (nccl) on GPU.
* **Gradient accumulation to the paper's batch** (:mod:`maiou.engine.batching`): a config's
  ``images_per_step`` is reached on 1, 2 or 4 processes.
* **Channels-last training on CPUs**: a config with ``cpu_channels_last = True`` trains on
  a CPU with NHWC weights (the embedded schedule sets it; docs/performance.md).
* **Config checks** (:mod:`maiou.engine.config`): a missing config file and a ``--cfg-options`` key
  whose parent is not in the config are reported by name instead of mmcv silently adding
  the key.
* **Evaluation in the same process** (``--evaluate-to OUT``): the finished run's
  ``final.pth`` is evaluated as ``python -m maiou.evaluate CONFIG DIR/final.pth --out OUT``
  would (the same files, the same numbers), without a second process loading torch and
  mmdet again. Single-process runs only.
* **One-line errors** (:mod:`maiou.utils.cli`): expected failures print ``maiou.train: error: ...``
  and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Sequence

from maiou.engine import runner
from maiou.engine.batching import BatchError, configure_batch
from maiou.engine.config import check_pretrained_backbone, load_config
from maiou.engine.start import Start, StartPlan, plan_start
from maiou.rundir import FINAL_NAME, mark_final
from maiou.utils.cli import DEBUG_HELP, entry_point

PROG = "maiou.train"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from mmcv import DictAction

    from maiou.evaluate import add_measurement_options

    parser = argparse.ArgumentParser(
        prog=f"python -m {PROG}", description="Train a detector (auto-resumes).", epilog=DEBUG_HELP
    )
    parser.add_argument("config", help="config file, e.g. configs/coco/<run>.py")
    parser.add_argument(
        "--work-dir",
        required=True,
        help="directory for logs and checkpoints (also where resuming looks)",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default=None,
        help="override config entries, key=value with dotted keys, "
        "e.g. runner.max_epochs=2 data.samples_per_gpu=4",
    )
    parser.add_argument(
        "--launcher",
        choices=["none", "pytorch"],
        default="none",
        help="'pytorch' when started by torchrun (one process per device)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: the resumed run's seed, else random)",
    )
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CUDA when torch sees a GPU, else the CPU (as maiou.evaluate)",
    )
    parser.add_argument("--deterministic", action="store_true", help="deterministic cuDNN kernels")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip the evaluation hook during training"
    )
    parser.add_argument(
        "--no-auto-resume",
        action="store_true",
        help="start from scratch even if DIR holds checkpoints",
    )
    evaluation = parser.add_argument_group(
        "evaluation after training (maiou.evaluate's options; single process only)"
    )
    evaluation.add_argument(
        "--evaluate-to",
        metavar="OUT",
        default=None,
        help="evaluate final.pth into OUT (metrics.json, results, matches) in this process",
    )
    add_measurement_options(evaluation)
    # torch.distributed.launch passes --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.evaluate_to and args.launcher == "pytorch":
        parser.error(
            "--evaluate-to evaluates in this one process: run python -m maiou.evaluate after "
            "a torchrun training instead"
        )
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def apply_plan(plan: StartPlan, cfg, rank: int) -> None:
    """Act on ``plan`` for the run of ``cfg`` in ``cfg.work_dir``: the runner resumes from
    ``plan.resume_from``; rank 0 marks a finished run's ``final.pth`` and prints the plan's
    line (once, not once per torchrun process)."""
    if plan.resume_from:
        cfg.resume_from = plan.resume_from
    if rank != 0:
        return
    if plan.mark_final:
        mark_final(cfg.work_dir, plan.mark_final)
    if plan.message:
        print(f"{PROG}: {plan.message}", flush=True)


def train(args: argparse.Namespace) -> str:
    """Train the run that ``args`` (:func:`parse_args`) name, resume it, or find it
    finished; return the path of its ``final.pth`` (rank 0 writes it).

    Stages: config and batch, where to start (planned, then applied), and, for a run that
    trains, set-up, model and data, training, final marker (:mod:`maiou.engine.runner`).
    """
    if args.device == "cpu":
        # Hide the GPUs before anything initialises CUDA: mmcv's data-parallel wrappers and
        # seeding move to a visible GPU by themselves.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cfg = load_config(args.config, args.cfg_options, prog=PROG)
    cfg.work_dir = osp.abspath(args.work_dir)
    distributed = args.launcher == "pytorch"
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    try:  # images_per_step: accumulation and iteration counts (maiou/engine/batching.py)
        batch = configure_batch(cfg, int(os.environ.get("WORLD_SIZE", 1)) if distributed else 1)
    except BatchError as exc:
        raise runner.TrainError(f"{args.config}: {exc}") from None
    plan = plan_start(cfg.work_dir, cfg, auto_resume=not args.no_auto_resume)
    apply_plan(plan, cfg, rank)
    if plan.start is Start.FINISHED:
        return plan.final
    check_pretrained_backbone(cfg)

    rank, logger, timestamp, meta = runner.set_up_run(
        cfg,
        config_name=osp.basename(args.config),
        device=args.device,
        seed=args.seed,
        deterministic=args.deterministic,
        distributed=distributed,
        batch=batch,
    )
    model, datasets = runner.build_model_and_datasets(cfg)
    runner.train_detector(
        model,
        datasets,
        cfg,
        distributed=distributed,
        validate=not args.no_validate,
        timestamp=timestamp,
        meta=meta,
    )
    if distributed:
        import torch.distributed as dist

        dist.barrier()
    final = runner.mark_finished(cfg, logger) if rank == 0 else osp.join(cfg.work_dir, FINAL_NAME)
    if distributed:
        dist.destroy_process_group()
    return final


@entry_point(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    final = train(args)
    if args.evaluate_to:
        from maiou.evaluate import evaluate

        evaluate(
            args.config,
            final,
            args.evaluate_to,
            device=args.device,
            speed_images=args.speed_images,
            max_images=args.max_images,
            progress=False,
        )
        print(f"{PROG}: evaluated {final} into {args.evaluate_to}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
