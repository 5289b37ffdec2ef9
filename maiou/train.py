"""Train a detector from a config: what mmdet's ``tools/train.py`` does, plus auto-resume.

Usage (single process, or one process per device under torchrun)::

    python -m maiou.train CONFIG --work-dir DIR [--cfg-options k=v ...] [--seed N]
        [--no-validate] [--launcher none|pytorch]
    torchrun --nproc_per_node=N -m maiou.train CONFIG --work-dir DIR --launcher pytorch

Beyond mmdet's script:

* **Auto-resume.** Where the run starts is planned without acting
  (:func:`maiou.engine.start.plan_start`), then applied (:func:`apply_plan`). If ``DIR``
  holds checkpoints, the newest *complete* one (``latest.pth``,
  ``epoch_*.pth`` or ``iter_*.pth``; files cut short by an interruption are skipped) becomes
  ``cfg.resume_from``, so an interrupted run continues where it stopped. A run whose
  checkpoint already reached the configured length exits without building anything.
  ``--no-auto-resume`` (or an explicit ``resume_from``) turns this off.
* **A completion marker.** mmcv writes checkpoints in place, so a file named like the last
  epoch can still be half-written. After training, the final checkpoint is copied to a
  temporary name and renamed to ``DIR/final.pth`` (``os.replace`` is atomic), so
  ``final.pth`` exists only for a finished run and is always complete.
* **Training that works with torch 2 and on CPUs, single- or multi-process.** The training
  itself is mmdet's ``train_detector`` step for step (:func:`train_detector` here), with
  fixes for three failures of mmdet 2.28.2 / mmcv 1.7.2 in this stack: ``build_ddp``
  accepts only CUDA/MLU/NPU, mmcv's DDP wrapper fails at the first distributed evaluation
  on torch >= 2.0, and mmcv's ``IterBasedRunner.resume`` needs a GPU. Under torchrun the
  backend is gloo on CPU and the config's (nccl) on GPU.
* **Channels-last training on CPUs**: a config with ``cpu_channels_last = True`` trains on
  a CPU with NHWC weights (the embedded schedule sets it; docs/performance.md).
* **Config checks** (:mod:`maiou.engine.config`): a missing config file and a ``--cfg-options`` key
  whose parent is not in the config are reported by name instead of mmcv silently adding
  the key.
* **One-line errors** (:mod:`maiou.utils.cli`): expected failures print ``maiou.train: error: ...``
  and exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import copy
import os
import os.path as osp
import sys
import time
from typing import Sequence

from maiou.engine.config import check_pretrained_backbone, load_config, run_length
from maiou.engine.start import Start, StartPlan, plan_start
from maiou.rundir import FINAL_NAME, final_checkpoint, mark_final
from maiou.utils.cli import DEBUG_HELP, UserError, entry_point

PROG = "maiou.train"


class TrainError(UserError, RuntimeError):
    """A training that cannot go on as configured (e.g. fp16 on a CPU)."""


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from mmcv import DictAction

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
    # torch.distributed.launch passes --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


# --------------------------------------------------------------------------------------
# Distributed
# --------------------------------------------------------------------------------------
def init_distributed(cfg) -> None:
    """Join the torchrun process group: nccl (or the config's backend) on GPU, gloo on CPU."""
    import torch.distributed as dist

    params = dict(cfg.get("dist_params", {}) or {})
    backend = params.pop("backend", "nccl")
    if cfg.device == "cuda":
        from mmcv.runner import init_dist

        init_dist("pytorch", backend=backend, **params)
    else:
        # mmcv's init_dist calls torch.cuda.set_device(rank % device_count), which fails
        # without GPUs; torchrun's env:// variables are all gloo needs.
        dist.init_process_group(backend="gloo", **params)


def _ddp_class():
    """mmcv's MMDistributedDataParallel, made to work for CPU modules and torch >= 2."""
    from mmcv.parallel import MMDistributedDataParallel
    from mmcv.parallel.scatter_gather import scatter_kwargs

    class DistributedDataParallel(MMDistributedDataParallel):
        """Two fixes, by overriding (mmcv itself is left as is):

        * mmcv 1.7.2's ``_run_ddp_forward`` (the path of ``model(...)``, used by the
          distributed eval hook) reads ``self._use_replicated_tensor_module``, which
          torch >= 2.0 no longer has (AttributeError at the first evaluation, on GPU too).
        * CPU modules: torch's DDP refuses ``device_ids`` for them, and without device_ids
          mmcv passes DataContainers through unwrapped; scattering to device -1 (mmcv's CPU
          path) unwraps them first.
        """

        def _to_device(self, inputs, kwargs):
            target = self.device_ids[0] if self.device_ids else -1
            inputs, kwargs = scatter_kwargs(inputs, kwargs, [target], dim=self.dim)
            return inputs[0], kwargs[0]

        def train_step(self, *inputs, **kwargs):
            if not self.device_ids:  # with device_ids mmcv scatters by itself
                inputs, kwargs = self._to_device(inputs, kwargs)
            return super().train_step(*inputs, **kwargs)

        def val_step(self, *inputs, **kwargs):
            if not self.device_ids:
                inputs, kwargs = self._to_device(inputs, kwargs)
            return super().val_step(*inputs, **kwargs)

        def _run_ddp_forward(self, *inputs, **kwargs):
            inputs, kwargs = self._to_device(inputs, kwargs)
            return self.module(*inputs, **kwargs)

    return DistributedDataParallel


def train_detector(
    model, datasets, cfg, distributed: bool, validate: bool, timestamp: str, meta: dict
) -> None:
    """``mmdet.apis.train_detector`` (2.28.2) step for step, with three fixes.

    The data loaders, optimizer, runner, hooks (in the same order and priorities), eval hook
    and resume/load logic are mmdet's, built through mmdet/mmcv's own functions. The
    differences, each needed in this stack (torch 2.14, mmcv 1.7.2) and none of them
    patched into mmdet/mmcv:

    1. distributed runs wrap the model with :func:`_ddp_class` (mmdet's ``build_ddp``
       asserts CUDA/MLU/NPU, and mmcv's wrapper breaks evaluation on torch >= 2);
    2. resuming on a CPU passes ``map_location='cpu'``: mmcv's ``IterBasedRunner.resume``
       otherwise calls ``torch.cuda.current_device()`` and fails without a GPU;
    3. ``fp16`` on a CPU is refused with a clear error instead of failing deep inside.
    """
    from mmcv.runner import (
        DistSamplerSeedHook,
        EpochBasedRunner,
        Fp16OptimizerHook,
        OptimizerHook,
        build_optimizer,
        build_runner,
    )
    from mmdet.apis.train import auto_scale_lr
    from mmdet.core import DistEvalHook, EvalHook
    from mmdet.datasets import build_dataloader, build_dataset, replace_ImageToTensor
    from mmdet.utils import build_dp, compat_cfg, get_root_logger

    cfg = compat_cfg(cfg)
    logger = get_root_logger(log_level=cfg.log_level)
    runner_type = cfg.runner["type"]
    loader_cfg = dict(
        samples_per_gpu=2,
        workers_per_gpu=2,
        num_gpus=len(cfg.gpu_ids),
        dist=distributed,
        seed=cfg.seed,
        runner_type=runner_type,
        persistent_workers=False,
    )
    loader_cfg.update(cfg.data.get("train_dataloader", {}))
    data_loaders = [build_dataloader(ds, **loader_cfg) for ds in datasets]

    if not distributed:
        model = build_dp(model, cfg.device, device_ids=cfg.gpu_ids)
    elif cfg.device in ("cuda", "cpu"):
        device_ids = [int(os.environ["LOCAL_RANK"])] if cfg.device == "cuda" else None
        model = _ddp_class()(
            model.cuda() if cfg.device == "cuda" else model,
            device_ids=device_ids,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get("find_unused_parameters", False),
        )
    else:
        raise TrainError(f"distributed training on {cfg.device!r} is not supported here")

    auto_scale_lr(cfg, distributed, logger)
    optimizer = build_optimizer(model, cfg.optimizer)
    runner = build_runner(
        cfg.runner,
        default_args=dict(
            model=model, optimizer=optimizer, work_dir=cfg.work_dir, logger=logger, meta=meta
        ),
    )
    runner.timestamp = timestamp  # makes the .log and .log.json names match

    fp16_cfg = cfg.get("fp16", None)
    if fp16_cfg is not None and cfg.device == "cpu":
        raise TrainError("fp16 training needs a GPU; remove the fp16 section for CPU runs")
    if fp16_cfg is not None:
        optimizer_config = Fp16OptimizerHook(
            **cfg.optimizer_config, **fp16_cfg, distributed=distributed
        )
    elif distributed and "type" not in cfg.optimizer_config:
        optimizer_config = OptimizerHook(**cfg.optimizer_config)
    else:
        optimizer_config = cfg.optimizer_config
    runner.register_training_hooks(
        cfg.lr_config,
        optimizer_config,
        cfg.checkpoint_config,
        cfg.log_config,
        cfg.get("momentum_config", None),
        custom_hooks_config=cfg.get("custom_hooks", None),
    )
    if distributed and isinstance(runner, EpochBasedRunner):
        runner.register_hook(DistSamplerSeedHook())
    if validate:
        val_args = dict(
            samples_per_gpu=1,
            workers_per_gpu=2,
            dist=distributed,
            shuffle=False,
            persistent_workers=False,
        )
        val_args.update(cfg.data.get("val_dataloader", {}))
        if val_args["samples_per_gpu"] > 1:
            cfg.data.val.pipeline = replace_ImageToTensor(cfg.data.val.pipeline)
        val_loader = build_dataloader(build_dataset(cfg.data.val, dict(test_mode=True)), **val_args)
        eval_cfg = cfg.get("evaluation", {})
        eval_cfg["by_epoch"] = runner_type != "IterBasedRunner"
        # DistEvalHook gathers results through files in work_dir/.eval_hook (no CUDA).
        eval_hook = DistEvalHook if distributed else EvalHook
        runner.register_hook(eval_hook(val_loader, **eval_cfg), priority="LOW")

    if cfg.resume_from:
        runner.resume(cfg.resume_from, map_location="cpu" if cfg.device == "cpu" else "default")
    elif cfg.load_from:
        runner.load_checkpoint(cfg.load_from)
    runner.run(data_loaders, cfg.workflow)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------
def _resume_seed(args, resume_from: str | None) -> int | None:
    """Without --seed, a resumed run reuses the interrupted run's seed (same data order
    seeds for the remaining epochs of distributed samplers)."""
    if args.seed is not None or not resume_from:
        return args.seed
    from maiou.engine.checkpoint import read_checkpoint_meta

    seed = read_checkpoint_meta(resume_from).get("seed")
    return seed if isinstance(seed, int) else None


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


def training_device(requested: str) -> str:
    """'cuda' or 'cpu' for --device: auto is CUDA when torch sees a GPU; cpu trains on the
    CPU even where a GPU is visible; cuda without a visible GPU is an error."""
    import torch

    from maiou.engine.device import resolve_device

    device = resolve_device(requested)
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainError(
            "--device cuda: torch sees no GPU here (torch.cuda.is_available() is False); "
            "use --device cpu, or check the driver with nvidia-smi"
        )
    return device


def set_up_run(cfg, args, work_dir: str, distributed: bool, batch: dict):
    """Processes, work dir, logger and seed of a run that trains; returns
    ``(rank, logger, timestamp, meta)`` and fills ``cfg.gpu_ids``, ``device`` and ``seed``.
    ``batch`` (maiou.engine.batching.configure_batch) goes into every checkpoint's meta."""
    import mmcv
    import torch
    from mmdet.apis import init_random_seed, set_random_seed
    from mmdet.utils import collect_env, get_root_logger, setup_multi_processes

    cfg.device = training_device(args.device)
    setup_multi_processes(cfg)
    if cfg.get("cudnn_benchmark", False):
        torch.backends.cudnn.benchmark = True
    rank = 0
    cfg.gpu_ids = [0]
    if distributed:
        init_distributed(cfg)
        from mmcv.runner import get_dist_info

        rank, world_size = get_dist_info()
        cfg.gpu_ids = range(world_size)

    mmcv.mkdir_or_exist(work_dir)
    if rank == 0:
        cfg.dump(osp.join(work_dir, osp.basename(args.config)))
        stale = osp.join(work_dir, FINAL_NAME)
        if osp.exists(stale):  # a new or extended run: the old marker no longer applies
            os.remove(stale)
    timestamp = time.strftime("%Y%m%d_%H%M%S", time.localtime())
    logger = get_root_logger(
        log_file=osp.join(work_dir, f"{timestamp}.log"), log_level=cfg.log_level
    )
    env_info = "\n".join(f"{k}: {v}" for k, v in collect_env().items())
    logger.info("Environment info:\n" + "-" * 60 + "\n" + env_info + "\n" + "-" * 60)
    logger.info(f"Distributed training: {distributed}")
    logger.info(f"Config:\n{cfg.pretty_text}")
    if cfg.resume_from:
        logger.info(f"Auto-resume: continuing from {cfg.resume_from}")

    logger.info(f"Device: {cfg.device} (--device {args.device})")
    seed = init_random_seed(_resume_seed(args, cfg.resume_from), device=cfg.device)
    logger.info(f"Set random seed to {seed}, deterministic: {args.deterministic}")
    set_random_seed(seed, deterministic=args.deterministic)
    cfg.seed = seed
    meta = dict(
        env_info=env_info,
        config=cfg.pretty_text,
        seed=seed,
        exp_name=osp.basename(args.config),
        batch=batch,
    )
    logger.info(f"Batch: {batch}")
    return rank, logger, timestamp, meta


def build_model_and_datasets(cfg):
    """The detector (initialised, channels-last on a CPU if the config asks) and the
    training datasets of ``cfg.workflow``; returns ``(model, datasets)``."""
    import torch
    from mmcv.utils import get_git_hash
    from mmdet import __version__ as mmdet_version
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    from mmdet.utils import rfnext_init_model

    import maiou.models  # noqa: F401  (fills mmdet's registries with our components)

    model = build_detector(cfg.model, train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    model.init_weights()
    rfnext_init_model(model, cfg=cfg)
    if cfg.get("cpu_channels_last", False) and cfg.device == "cpu":
        # NHWC weights make oneDNN pick its channels-last convolutions, and every conv
        # output follows the weights' layout; the numbers are the same up to rounding.
        model = model.to(memory_format=torch.channels_last)
    datasets = [build_dataset(cfg.data.train)]
    if len(cfg.workflow) == 2:
        val_dataset = copy.deepcopy(cfg.data.val)
        val_dataset.pipeline = cfg.data.train.get(
            "pipeline", cfg.data.train.get("dataset", {}).get("pipeline")
        )
        datasets.append(build_dataset(val_dataset))
    if cfg.checkpoint_config is not None:
        cfg.checkpoint_config.meta = dict(
            mmdet_version=mmdet_version + get_git_hash()[:7], CLASSES=datasets[0].CLASSES
        )
    model.CLASSES = datasets[0].CLASSES
    return model, datasets


def mark_finished(work_dir: str, cfg, logger) -> str:
    """Copy the checkpoint that reached the run's length to ``final.pth`` (rank 0)."""
    by_epoch, length = run_length(cfg)
    unit = "epoch" if by_epoch else "iter"
    done = final_checkpoint(work_dir, by_epoch, length)
    if done is None:
        raise TrainError(
            f"training returned but no complete checkpoint in {work_dir} "
            f"records {unit} {length} (checkpoint_config.save_last off?)"
        )
    final = mark_final(work_dir, done)
    logger.info(f"Finished {unit} {length}/{length}; final checkpoint: {final}")
    return final


def train(args: argparse.Namespace) -> int:
    """The CLI's work, in stages: config, where to start, setup, model and data, training,
    final marker."""
    from maiou.engine.batching import BatchError, configure_batch

    if args.device == "cpu":
        # Hide the GPUs before anything initialises CUDA: mmcv's data-parallel wrappers and
        # seeding move to a visible GPU by themselves.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cfg = load_config(args.config, args.cfg_options, prog=PROG)
    work_dir = osp.abspath(args.work_dir)
    cfg.work_dir = work_dir
    distributed = args.launcher == "pytorch"
    rank = int(os.environ.get("RANK", 0)) if distributed else 0
    try:  # images_per_step: accumulation and iteration counts (maiou/engine/batching.py)
        batch = configure_batch(cfg, int(os.environ.get("WORLD_SIZE", 1)) if distributed else 1)
    except BatchError as exc:
        raise TrainError(f"{args.config}: {exc}") from None
    plan = plan_start(work_dir, cfg, auto_resume=not args.no_auto_resume)
    apply_plan(plan, cfg, rank)
    if plan.start is Start.FINISHED:
        return 0
    check_pretrained_backbone(cfg)

    import torch

    from maiou.engine.checkpoint import META_SAFE_GLOBALS

    rank, logger, timestamp, meta = set_up_run(cfg, args, work_dir, distributed, batch)
    model, datasets = build_model_and_datasets(cfg)
    # mmcv resumes with a bare torch.load, which in torch>=2.6 is weights_only: admit the
    # same numpy-scalar meta entries our own loader admits (see maiou.engine.checkpoint).
    with torch.serialization.safe_globals(META_SAFE_GLOBALS):
        train_detector(
            model,
            datasets,
            cfg,
            distributed=distributed,
            validate=not args.no_validate,
            timestamp=timestamp,
            meta=meta,
        )
    if distributed:
        torch.distributed.barrier()
    if rank == 0:
        mark_finished(work_dir, cfg, logger)
    if distributed:
        torch.distributed.destroy_process_group()
    return 0


@entry_point(PROG)
def main(argv: Sequence[str] | None = None) -> int:
    return train(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
