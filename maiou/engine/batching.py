"""The published batch on any number of processes: gradient accumulation up to 32 images.

The paper trains with 4 GPUs x 8 images = 32 images per optimizer step, and its learning
rates and 500-iteration warm-up are for that batch. A config with ``images_per_step = N``
(``configs/coco/_base_/default_runtime.py`` sets 32) is trained here with

    processes x samples_per_gpu x accumulation = N

forward passes of ``samples_per_gpu`` images per process (BatchNorm sees those, 8 on COCO,
as in the paper) and one optimizer step every ``accumulation`` forward passes, through
mmcv's ``GradientCumulativeOptimizerHook`` (loss / accumulation, gradient clipping and the
SGD step on the summed gradient: the same update as averaging over processes). Every
setting the config counts in iterations counts optimizer steps: the lr schedule and its
warm-up (the config's lr policy becomes its ``PerOptimizerStep`` hook,
maiou/hooks/optimizer_step_lr.py), the logging interval, and iteration-based checkpoint /
evaluation intervals and run lengths (multiplied by ``accumulation``). A process count that
cannot reach N this way is refused with :class:`BatchError`, which names the counts that
work.

``images_per_step = None`` (the embedded configs) trains with whatever batch the processes
give, one optimizer step per forward pass, as mmdet does.
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "DEFAULT_IMAGES_PER_STEP",
    "working_process_counts",
    "accumulation_steps",
    "configure_batch",
]

DEFAULT_IMAGES_PER_STEP = 32  # the paper's 4 GPUs x 8 images


class BatchError(ValueError):
    """The process count and images per forward pass cannot make ``images_per_step``."""


def working_process_counts(samples_per_gpu: int, images_per_step: int) -> list[int]:
    """Process counts ``g`` with ``images_per_step`` a multiple of ``g * samples_per_gpu``."""
    return [
        g
        for g in range(1, images_per_step // samples_per_gpu + 1)
        if images_per_step % (g * samples_per_gpu) == 0
    ]


def accumulation_steps(processes: int, samples_per_gpu: int, images_per_step: int) -> int:
    """Forward passes per optimizer step, so that processes x samples x it = images_per_step.

    Raises :class:`BatchError` (one line naming the counts that work) when there is none.
    """
    for name, value in (
        ("processes (gpus_per_run)", processes),
        ("samples_per_gpu", samples_per_gpu),
        ("images_per_step", images_per_step),
    ):
        if not isinstance(value, int) or value < 1:
            raise BatchError(f"{name} must be a positive integer, got {value!r}")
    per_round = processes * samples_per_gpu
    if images_per_step % per_round:
        counts = working_process_counts(samples_per_gpu, images_per_step)
        options = (
            ", ".join(
                f"{g} (accumulation {images_per_step // (g * samples_per_gpu)})" for g in counts
            )
            or "none"
        )
        raise BatchError(
            f"gpus_per_run={processes} with samples_per_gpu={samples_per_gpu} gives "
            f"{per_round} images per forward pass, which does not divide images_per_step="
            f"{images_per_step} (the paper's batch). Use gpus_per_run {options}, or set "
            f"images_per_step to a multiple of {per_round} to train a different batch"
        )
    return images_per_step // per_round


def configure_batch(cfg, processes: int) -> dict:
    """Set ``cfg`` up for ``cfg.images_per_step`` on ``processes`` processes; return the record.

    The record (saved in every checkpoint's ``meta['batch']`` and copied into metrics.json)
    is ``{gpus, images_per_forward, accumulation, images_per_step}``; ``gpus`` counts
    processes (one per GPU, or gloo processes on a CPU).
    """
    # mmdet's compat_cfg moves data.samples_per_gpu into data.train_dataloader.
    samples = cfg.data.get("train_dataloader", {}).get("samples_per_gpu")
    samples = int(samples if samples is not None else cfg.data.get("samples_per_gpu", 2))
    target = cfg.get("images_per_step")
    if target is None:
        steps = 1
    else:
        steps = accumulation_steps(processes, samples, int(target))
        if (cfg.get("auto_scale_lr") or {}).get("enable"):
            # mmdet scales the lr by processes x samples_per_gpu / base, blind to accumulation.
            raise BatchError(
                f"auto_scale_lr.enable=True with images_per_step={target}: the "
                "batch is already the configs' own; leave auto_scale_lr off, or "
                "set images_per_step=None to scale the lr to another batch"
            )
    record = dict(
        gpus=processes,
        images_per_forward=samples,
        accumulation=steps,
        images_per_step=processes * samples * steps,
    )
    if steps == 1:
        return record
    optimizer_config = dict(cfg.get("optimizer_config") or {})
    if optimizer_config.get("type") not in (None, "OptimizerHook"):
        raise BatchError(
            f"images_per_step={target} needs gradient accumulation, which "
            f"replaces optimizer_config, but the config sets its type to "
            f"{optimizer_config['type']!r}"
        )
    optimizer_config.update(type="GradientCumulativeOptimizerHook", cumulative_iters=steps)
    cfg.optimizer_config = optimizer_config
    if cfg.get("fp16") is not None:
        raise BatchError(
            "gradient accumulation with fp16 is not supported here; remove the "
            "fp16 section or train with gpus_per_run x samples_per_gpu = "
            f"images_per_step ({target})"
        )
    cfg.lr_config = _lr_per_optimizer_step(cfg.get("lr_config"), steps)
    if cfg.get("momentum_config") is not None:
        raise BatchError(
            f"images_per_step={target} needs gradient accumulation, which has no momentum "
            "schedule counted in optimizer steps; remove momentum_config"
        )
    # Iteration-counted settings: forward passes = optimizer steps x accumulation.
    if cfg.get("log_config") is not None:
        cfg.log_config.interval = int(cfg.log_config.interval) * steps
    if cfg.get("checkpoint_config") is not None and not cfg.checkpoint_config.get("by_epoch", True):
        cfg.checkpoint_config.interval = int(cfg.checkpoint_config.interval) * steps
    if cfg.runner.get("type") == "IterBasedRunner":
        cfg.runner.max_iters = int(cfg.runner.max_iters) * steps
        if cfg.get("evaluation") is not None and "interval" in cfg.evaluation:
            cfg.evaluation.interval = int(cfg.evaluation.interval) * steps
    return record


def _lr_per_optimizer_step(lr_config, accumulation: int):
    """The lr config whose hook counts optimizer steps (maiou/hooks/optimizer_step_lr.py):
    policy ``P`` becomes ``P + "PerOptimizerStep"`` (mmcv capitalises an all-lowercase
    policy first, as it does when building the hook)."""
    from maiou.hooks import optimizer_step_lr

    if lr_config is None:
        return None
    lr_config = dict(lr_config)
    policy = lr_config.pop("policy")
    policy = policy.title() if policy == policy.lower() else policy
    new = policy + optimizer_step_lr.SUFFIX
    if not hasattr(optimizer_step_lr, f"{new}LrUpdaterHook"):
        raise BatchError(
            f"gradient accumulation has no {policy!r} lr policy counted in optimizer steps "
            "(maiou/hooks/optimizer_step_lr.py has Step and CosineAnnealing)"
        )
    return dict(lr_config, policy=new, accumulation=accumulation)
