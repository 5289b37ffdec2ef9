"""Training in several processes (torchrun) with torch 2 and on CPUs.

mmdet 2.28.2 / mmcv 1.7.2 fail here in two places, fixed by wrapping, never by patching
them: mmcv's ``init_dist`` picks a GPU per process (none on a CPU), and its DDP wrapper
fails at the first distributed evaluation on torch >= 2.0 and passes DataContainers
unwrapped to CPU modules. mmdet's ``build_ddp`` also accepts only CUDA/MLU/NPU, so the
runner wraps the model itself (:func:`distributed_data_parallel`).
"""

from __future__ import annotations

import os

__all__ = ["init_distributed", "distributed_data_parallel"]


def init_distributed(cfg) -> None:
    """Join the torchrun process group: nccl (or the config's backend) on GPU, gloo on CPU.

    Args:
        cfg (mmcv.Config): with ``device`` ('cuda' or 'cpu') and optional ``dist_params``.
    """
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


def distributed_data_parallel(model, cfg):
    """``model`` wrapped for this process of a torchrun group (:func:`_ddp_class`).

    Args:
        model (nn.Module): the detector, on the CPU.
        cfg (mmcv.Config): ``device`` ('cuda': the model moves to this process's GPU,
            ``LOCAL_RANK``; 'cpu': it stays) and ``find_unused_parameters``.
    """
    on_gpu = cfg.device == "cuda"
    return _ddp_class()(
        model.cuda() if on_gpu else model,
        device_ids=[int(os.environ["LOCAL_RANK"])] if on_gpu else None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get("find_unused_parameters", False),
    )
