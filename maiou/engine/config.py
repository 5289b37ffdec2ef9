"""Loading a run's config: mmdet's steps, checked ``--cfg-options``, and what the commands
read from a config (run length, test image size, the pretrained backbone file).

mmcv's ``merge_from_dict`` creates whatever an option names, so a typo such as
``model.bbox_hed.num_classes=5`` would silently add a dead section; :func:`load_config`
refuses options whose parent does not exist and names the nearest key.
"""

from __future__ import annotations

import difflib
import glob
import os.path as osp
import sys

from maiou.utils.cli import UserError

__all__ = [
    "ConfigError",
    "check_cfg_options",
    "check_pretrained_backbone",
    "load_config",
    "run_length",
    "inference_image_size",
]


class ConfigError(UserError):
    """A config file or ``--cfg-options`` entry that cannot be used as given."""


def _not_a_section(key: str, path: list[str], node) -> str:
    return (
        f"--cfg-options key '{key}': '{'.'.join(path)}' holds the "
        f"{type(node).__name__} {node!r}, not a dict or list"
    )


def _walk(node, key: str, parts: list[str]):
    """Follow ``parts`` into ``node``; raise ConfigError naming the first missing step."""
    path = []
    for part in parts:
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"--cfg-options key '{key}': '{'.'.join(path)}' is a list of "
                    f"{len(node)} items; '{part}' is not a valid index"
                )
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                where = f"'{'.'.join(path)}'" if path else "the config"
                hint = difflib.get_close_matches(part, [str(k) for k in node], n=1)
                raise ConfigError(
                    f"--cfg-options key '{key}': {where} has no key '{part}'"
                    + (f" (did you mean '{hint[0]}'?)" if hint else "")
                    + f"; its keys are: {', '.join(sorted(map(str, node)))}"
                )
            node = node[part]
        else:
            raise ConfigError(_not_a_section(key, path, node))
        path.append(part)
    return node


def check_cfg_options(cfg, options: dict | None) -> list[str]:
    """Refuse keys whose parent is absent; return warnings for new leaves like a typo.

    A new *leaf* under an existing parent is allowed (adding an option is legitimate) but
    reported when it resembles an existing key.
    """
    warnings = []
    root = cfg._cfg_dict if hasattr(cfg, "_cfg_dict") else cfg
    for key in options or {}:
        parts = key.split(".")
        parent = _walk(root, key, parts[:-1])
        leaf = parts[-1]
        if isinstance(parent, (list, tuple)):
            _walk(parent, key, [leaf])
        elif isinstance(parent, dict) and leaf not in parent:
            hint = difflib.get_close_matches(leaf, [str(k) for k in parent], n=1, cutoff=0.75)
            if hint:
                warnings.append(
                    f"--cfg-options key '{key}' adds a new entry '{leaf}'; "
                    f"did you mean '{hint[0]}'?"
                )
        elif not isinstance(parent, dict):
            raise ConfigError(_not_a_section(key, parts[:-1], parent))
    return warnings


def load_config(path: str, options: dict | None = None, prog: str = "maiou"):
    """``Config.fromfile`` + mmdet's compat/replacement steps + checked ``--cfg-options``.

    Warnings about options are printed to stderr as ``prog: warning: ...``.
    """
    from mmcv import Config
    from mmdet.utils import compat_cfg, replace_cfg_vals, update_data_root

    if not osp.isfile(path):
        near = sorted(glob.glob(osp.join(osp.dirname(path) or ".", "*.py")))
        raise ConfigError(
            f"config file not found: {path}"
            + (f" (that folder has: {', '.join(map(osp.basename, near))})" if near else "")
        )
    cfg = Config.fromfile(path)
    cfg = replace_cfg_vals(cfg)
    update_data_root(cfg)
    for warning in check_cfg_options(cfg, options):
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if options:
        cfg.merge_from_dict(options)
    derive_schedule(cfg, given=set(options or ()))
    # Old-style configs (total_epochs, imgs_per_gpu) -> runner/dataloader sections.
    return compat_cfg(cfg)


def derive_schedule(cfg, given=frozenset()) -> None:
    """When --cfg-options (the keys in ``given``) sets ``runner.max_iters`` of a config that
    states its schedule as ``schedule_fractions`` of the run
    (configs/embedded/_base_/schedules/sgd_step.py): set the warm-up, the lr steps (step
    policy), the checkpoint and the evaluation interval from the new length, so that the run
    keeps the schedule's shape. Keys in ``given`` are kept as given; other configs, and
    configs that set their own length in the file, are left as they are."""
    fractions = cfg.get("schedule_fractions")
    iter_based = cfg.runner.get("type") == "IterBasedRunner" and cfg.runner.get("max_iters")
    if not fractions or "runner.max_iters" not in given or not iter_based:
        return
    iters = int(cfg.runner.max_iters)
    derived = {
        "lr_config.warmup_iters": max(1, round(iters * fractions["warmup"])),
        "checkpoint_config.interval": iters,
        "evaluation.interval": iters,
    }
    if cfg.lr_config.get("policy") == "step":
        steps = sorted({max(1, round(iters * f)) for f in fractions["lr_steps"]})
        derived["lr_config.step"] = steps
    cfg.merge_from_dict({key: value for key, value in derived.items() if key not in given})


def check_pretrained_backbone(cfg) -> None:
    """A ``Pretrained`` backbone init pointing at a missing local file is named here, not
    deep inside mmcv's init (URLs and ``torchvision://``-style names are left to mmcv)."""
    init_cfg = cfg.model.get("backbone", {}).get("init_cfg")
    if not isinstance(init_cfg, dict):  # None, or a list of initialisers (no checkpoint)
        return
    path = init_cfg.get("checkpoint")
    if init_cfg.get("type") == "Pretrained" and path and "://" not in path and not osp.isfile(path):
        from maiou.engine.pretrained import missing_backbone_message

        raise ConfigError(missing_backbone_message(path))


def run_length(cfg) -> tuple[bool, int]:
    """(by_epoch, length): max_epochs for EpochBasedRunner, else max_iters."""
    runner = cfg.runner
    if "max_epochs" in runner and runner.get("max_epochs") is not None:
        return True, int(runner.max_epochs)
    return False, int(runner.max_iters)


def inference_image_size(cfg) -> tuple[int, int]:
    """(height, width) of the test pipeline's input, from its ``MultiScaleFlipAug`` step."""
    for step in cfg.data.test.pipeline:
        if step["type"] == "MultiScaleFlipAug":
            width, height = step["img_scale"]
            return int(height), int(width)
    raise ConfigError(
        "config has no MultiScaleFlipAug step in data.test.pipeline to read the "
        "test image size from"
    )
