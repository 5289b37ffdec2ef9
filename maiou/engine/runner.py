"""A training run, stage by stage: what ``maiou.train`` calls once it knows the run trains.

1. :func:`set_up_run`: device, processes, work dir, logger and seed;
2. :func:`build_model_and_datasets`: the detector and its training data;
3. :func:`train_detector`: mmdet's ``train_detector`` with this stack's fixes;
4. :func:`mark_finished`: ``final.pth``, a complete copy of the checkpoint that reached the
   run's length.

As mmdet's ``apis`` are to its ``tools/train.py``: no argument parsing, no decision where
the run starts (``maiou.engine.start``). mmcv and mmdet are imported inside the functions,
so that importing this module stays cheap for a command that ends before training.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
import time

from maiou.engine.config import run_length
from maiou.rundir import FINAL_NAME, final_checkpoint, mark_final
from maiou.utils.cli import UserError

__all__ = [
    "TrainError",
    "training_device",
    "set_up_run",
    "build_model_and_datasets",
    "train_detector",
    "mark_finished",
]


class TrainError(UserError, RuntimeError):
    """A training that cannot go on as configured (e.g. fp16 on a CPU)."""


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


def _resume_seed(seed: int | None, resume_from: str | None) -> int | None:
    """Without a seed given, a resumed run reuses the interrupted run's seed (same data
    order seeds for the remaining epochs of distributed samplers)."""
    if seed is not None or not resume_from:
        return seed
    from maiou.engine.checkpoint import read_checkpoint_meta

    recorded = read_checkpoint_meta(resume_from).get("seed")
    return recorded if isinstance(recorded, int) else None


def set_up_run(
    cfg,
    *,
    config_name: str,
    device: str,
    seed: int | None,
    deterministic: bool,
    distributed: bool,
    batch: dict,
):
    """Processes, work dir, logger and seed of a run that trains.

    Args:
        cfg (mmcv.Config): the loaded config with ``work_dir`` and, when resuming,
            ``resume_from`` set; gets ``device``, ``gpu_ids`` and ``seed``.
        config_name (str): the config's file name (the dumped copy, ``exp_name``).
        device (str): the requested device, 'auto', 'cpu' or 'cuda'.
        seed (int | None): the training seed; None: the resumed checkpoint's, else random.
        deterministic (bool): deterministic cuDNN kernels.
        distributed (bool): started by torchrun: joins its process group.
        batch (dict): ``maiou.engine.batching.configure_batch``'s summary; goes into every
            checkpoint's meta.

    Returns:
        tuple: ``(rank, logger, timestamp, meta)``, what :func:`train_detector` and
        :func:`mark_finished` take.
    """
    import mmcv
    import torch
    from mmdet.apis import init_random_seed, set_random_seed
    from mmdet.utils import collect_env, get_root_logger, setup_multi_processes

    from maiou.engine.distributed import init_distributed

    cfg.device = training_device(device)
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

    work_dir = cfg.work_dir
    mmcv.mkdir_or_exist(work_dir)
    if rank == 0:
        cfg.dump(osp.join(work_dir, config_name))
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

    logger.info(f"Device: {cfg.device} (--device {device})")
    seed = init_random_seed(_resume_seed(seed, cfg.resume_from), device=cfg.device)
    logger.info(f"Set random seed to {seed}, deterministic: {deterministic}")
    set_random_seed(seed, deterministic=deterministic)
    cfg.seed = seed
    meta = dict(
        env_info=env_info,
        config=cfg.pretty_text,
        seed=seed,
        exp_name=config_name,
        batch=batch,
        # Sums over threads round differently, so the count is part of what was trained.
        threads=torch.get_num_threads(),
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


def train_detector(
    model, datasets, cfg, distributed: bool, validate: bool, timestamp: str, meta: dict
) -> None:
    """``mmdet.apis.train_detector`` (2.28.2) step for step, with four fixes.

    The data loaders, optimizer, runner, hooks (in the same order and priorities), eval hook
    and resume/load logic are mmdet's, built through mmdet/mmcv's own functions. The
    differences, each needed in this stack (torch 2.14, mmcv 1.7.2) and none of them
    patched into mmdet/mmcv:

    1. distributed runs wrap the model with ``maiou.engine.distributed`` (mmdet's
       ``build_ddp`` asserts CUDA/MLU/NPU, and mmcv's wrapper breaks evaluation on
       torch >= 2);
    2. resuming on a CPU passes ``map_location='cpu'``: mmcv's ``IterBasedRunner.resume``
       otherwise calls ``torch.cuda.current_device()`` and fails without a GPU;
    3. mmcv resumes with a bare ``torch.load``, which in torch >= 2.6 is weights-only: it
       admits the numpy-scalar meta entries our own loader admits
       (``maiou.engine.checkpoint``);
    4. ``fp16`` on a CPU is refused with a clear error instead of failing deep inside.
    """
    import torch
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

    from maiou.engine.checkpoint import META_SAFE_GLOBALS
    from maiou.engine.distributed import distributed_data_parallel

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
        model = distributed_data_parallel(model, cfg)
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

    with torch.serialization.safe_globals(META_SAFE_GLOBALS):
        if cfg.resume_from:
            runner.resume(cfg.resume_from, map_location="cpu" if cfg.device == "cpu" else "default")
        elif cfg.load_from:
            runner.load_checkpoint(cfg.load_from)
        runner.run(data_loaders, cfg.workflow)


def mark_finished(cfg, logger) -> str:
    """Copy the checkpoint that reached the run's length to ``final.pth`` (rank 0 only)
    and return that path; a TrainError if no complete checkpoint records the length."""
    by_epoch, length = run_length(cfg)
    unit = "epoch" if by_epoch else "iter"
    done = final_checkpoint(cfg.work_dir, by_epoch, length)
    if done is None:
        raise TrainError(
            f"training returned but no complete checkpoint in {cfg.work_dir} "
            f"records {unit} {length} (checkpoint_config.save_last off?)"
        )
    final = mark_final(cfg.work_dir, done)
    logger.info(f"Finished {unit} {length}/{length}; final checkpoint: {final}")
    return final
