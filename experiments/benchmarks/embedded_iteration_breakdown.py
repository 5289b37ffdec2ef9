"""Where an embedded training iteration spends its CPU time, section by section.

For each named embedded run: the model as ``maiou.train`` builds it (pretrained backbone,
channels-last on a CPU), its optimizer and gradient clipping, and real batches from its
training pipeline (the dataset under ``MAIOU_EMBEDDED_ROOT`` or ``data/embedded``; make it
with ``python -m maiou.data.synthetic`` and ``python -m maiou.pretrain_backbone`` first).
After ``--warmup`` iterations it times ``--iterations`` more, per section, in ms per
iteration (median over iterations, one thread):

* ``data``: loading and collating one batch through the mmdet pipeline (in this process);
* ``backbone + neck``, ``box head``, ``box loss`` (anchors, assignment, OHEM, losses),
  ``segm head + loss``, ``mask head + loss`` (protonet, crops, mask loss): the forward pass;
* ``backward``, ``clip + optimizer step``.

    python -m experiments.benchmarks.embedded_iteration_breakdown [RUN ...]
        [--iterations 15] [--warmup 3] [--threads 1] [--ops 20]
        [--cfg-options optimizer.fused=False ...]

It prints the sections of each run against the measured whole iteration; ``--ops N`` adds
torch's profile of the timed iterations, its N operators of most self CPU time.
"""

import argparse
import functools
import statistics
import time
from pathlib import Path

import torch
from mmcv import DictAction

from maiou import runs as registry

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNS = ("atss_iou_550", "mayolact_550")


def _timed(times: dict, section: str, obj, method: str) -> None:
    """Wrap ``obj.method`` so that each call adds its duration to ``times[section]``
    (``functools.wraps`` keeps the signature, which the head inspects)."""
    original = getattr(obj, method)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times[section] = times.get(section, 0.0) + time.perf_counter() - start

    setattr(obj, method, wrapper)


def breakdown(
    run: str, iterations: int, warmup: int, options: dict | None = None, profiler=None
) -> list[tuple[str, float]]:
    """(section, median ms per iteration) of ``run``, the whole iteration last; ``options``
    as ``--cfg-options``; ``profiler`` (a ``torch.profiler.profile``) records the timed
    iterations only."""
    from mmcv.parallel import MMDataParallel
    from mmcv.runner import build_optimizer
    from mmdet.datasets import build_dataloader

    from maiou.engine.config import load_config
    from maiou.engine.runner import build_model_and_datasets

    cfg = load_config(str(ROOT / "configs" / "embedded" / f"{run}.py"), options)
    cfg.device = "cpu"
    torch.manual_seed(0)
    model, datasets = build_model_and_datasets(cfg)
    loader = build_dataloader(
        datasets[0],
        cfg.data.train_dataloader.samples_per_gpu,
        0,
        num_gpus=1,
        dist=False,
        seed=0,
        runner_type="IterBasedRunner",
        persistent_workers=False,
    )
    wrapped = MMDataParallel(model, device_ids=None).train()
    optimizer = build_optimizer(wrapped, cfg.optimizer)
    clip = cfg.optimizer_config.get("grad_clip")

    times: dict[str, float] = {}
    _timed(times, "backbone + neck", model, "extract_feat")
    _timed(times, "box head", model.bbox_head, "forward")
    _timed(times, "box loss", model.bbox_head, "loss")
    for head, section in (
        (model.segm_head, "segm head + loss"),
        (model.mask_head, "mask head + loss"),
    ):
        _timed(times, section, head, "forward")
        _timed(times, section, head, "loss")

    per_iteration: dict[str, list[float]] = {}
    batches = iter(loader)
    for step in range(warmup + iterations):
        if step == warmup and profiler is not None:
            profiler.start()
        times.clear()
        start = time.perf_counter()
        batch = next(batches)
        loaded = time.perf_counter()
        losses = wrapped.train_step(batch, optimizer)
        forward_done = time.perf_counter()
        optimizer.zero_grad()
        losses["loss"].backward()
        backward_done = time.perf_counter()
        if clip:
            torch.nn.utils.clip_grad_norm_(wrapped.parameters(), **clip)
        optimizer.step()
        end = time.perf_counter()
        if step < warmup:
            continue
        sections = dict(data=loaded - start, **times)
        sections["backward"] = backward_done - forward_done
        sections["clip + optimizer step"] = end - backward_done
        sections["other forward (mmdet glue)"] = (forward_done - loaded) - sum(times.values())
        sections["whole iteration"] = end - start
        for name, seconds in sections.items():
            per_iteration.setdefault(name, []).append(1e3 * seconds)
    if profiler is not None:
        profiler.stop()
    return [(name, statistics.median(ms)) for name, ms in per_iteration.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", default=list(DEFAULT_RUNS))
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ops", type=int, default=0, help="print torch's top-N operators")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None)
    args = parser.parse_args(argv)
    registry.check_names(args.runs)
    torch.set_num_threads(args.threads)
    for run in args.runs:
        profiler = None
        if args.ops:
            profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
        rows = breakdown(run, args.iterations, args.warmup, args.cfg_options, profiler)
        whole = rows[-1][1]
        print(
            f"{run}: one embedded training iteration — CPU, {args.threads} thread(s), "
            f"median of {args.iterations}"
        )
        for name, ms in rows:
            print(f"  {name:28s} {ms:8.1f} ms  {100 * ms / whole:5.1f} %")
        if profiler is not None:
            table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops)
            print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
