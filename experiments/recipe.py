"""The recipe a seed spread is measured under, as one fingerprint, from what the runs stored.

A stored seed spread (experiments/scripts/seed_noise.py) may be pooled with a run's own
seeds, or lent to a one-seed run, only under the recipe it was measured with
(experiments/reporting/spread.py). The recipe of one trained run is everything that changes
what a training seed produces, read from the run's own ``metrics.json`` (its
``trained_from`` block, written by maiou.evaluate from the checkpoint and its inputs):

* **the resolved training config**, as the checkpoint stored it: the sections mmdet's
  training reads (model, data pipeline, schedule, batch, optimiser, hooks), with paths under
  the data root written relative to it (:func:`config_values`);
* **the training's thread count**: sums over threads round differently;
* **the starting backbone**: one pretrained here (maiou.pretrain_backbone) by how it was
  made (steps, batch, crops, threads, the pretraining config, the data it saw) less its
  seed, since with a backbone per training seed the seed spread covers the backbone draw;
  any other file (ImageNet weights, a file from elsewhere) by its sha256;
* **the train data**: the synthetic generator's version and parameters, less its seeds;
* **the evaluated images** (how many) and **the library versions** (python, torch,
  torchvision, mmcv, mmdet, numpy, opencv, pycocotools, maiou).

The training seeds are not part of it. A comparison's fingerprint is a sha256 of the recipes
of its runs (:func:`fingerprint`); every seed of a run must share one recipe. Files trained
elsewhere (the released checkpoints) store no config: they have no recipe, and borrow
nothing.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable, Mapping

REPO = Path(__file__).resolve().parents[1]
_BASE_REF = re.compile(r"""['"]([.]{1,2}/[^'"]+?\.py)['"]""")

# The top-level config keys mmdet's training reads (the rest are the files' helper variables,
# whose values already sit inside these, or say where files go, which devices, seed, logs).
RECIPE_KEYS = (
    "model",
    "data",
    "optimizer",
    "optimizer_config",
    "lr_config",
    "momentum_config",
    "runner",
    "custom_hooks",
    "images_per_step",
    "cpu_channels_last",
    "cudnn_benchmark",
    "auto_scale_lr",
    "fp16",
)
# Generator parameters that are draws, not the recipe.
DATASET_SEEDS = ("seed", "train_seed")


def config_files(config: str | os.PathLike) -> list[str]:
    """``config`` and every ``_base_`` file it pulls in, recursively, in the order found
    (the workflow's inputs of a run, so that editing any of them re-runs it)."""
    todo, seen = [str(config)], []
    while todo:
        path = os.path.normpath(todo.pop())
        if path in seen or not os.path.isfile(path):
            continue
        seen.append(path)
        with open(path) as f:
            refs = _BASE_REF.findall(f.read())
        todo += [os.path.join(os.path.dirname(path), ref) for ref in refs]
    return seen


class RecipeError(ValueError):
    """A stored config that is not the literal text mmcv writes."""


def _literal(node: ast.AST):
    """The value of an expression of mmcv's ``pretty_text``: literals, lists, tuples, dicts
    and ``dict(key=value, ...)``; nothing is executed."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args:
            raise RecipeError("dict(...) with positional arguments")
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise RecipeError(f"not a literal: {ast.dump(node)[:80]}") from exc


def _relative(value, root: str):
    """``value`` with every string under the data root ``root`` written relative to it."""
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, str) and root and value.startswith(root):
        return "<data>/" + value[len(root) :].lstrip("/")
    return value


def config_values(text: str) -> dict:
    """The recipe part of a resolved config's text (mmcv's ``pretty_text``): its top-level
    assignments of :data:`RECIPE_KEYS`, with paths under the train data's root written
    relative to it (each seed's data and backbone live in a folder of their own)."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise RecipeError(f"stored config does not parse: {exc}") from exc
    values = {}
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            raise RecipeError("stored config holds a statement other than NAME = VALUE")
        target = statement.targets[0]
        if isinstance(target, ast.Name) and target.id in RECIPE_KEYS:
            values[target.id] = _literal(statement.value)
    ann_file = ((values.get("data") or {}).get("train") or {}).get("ann_file")
    root = str(Path(ann_file).parent.parent) if isinstance(ann_file, str) else ""
    return _relative(values, root)


def _backbone(backbone: Mapping | None):
    if backbone is None:
        return None
    meta = backbone.get("meta") or {}
    if "iters" not in meta:  # not made by maiou.pretrain_backbone: this very file
        return {"sha256": backbone["sha256"]}
    made = {k: meta.get(k) for k in ("iters", "batch_size", "crop_size", "threads")}
    made["config"] = Path(str(meta.get("config"))).name
    made["dataset"] = _dataset(meta.get("dataset"))
    return made


def _dataset(params: Mapping | None):
    if params is None:
        return None
    return {k: v for k, v in params.items() if k not in DATASET_SEEDS}


def run_recipe(metrics: Mapping) -> dict | None:
    """The recipe of one trained run (one seed) from its ``metrics.json``; None for a run
    whose checkpoint stores no training config."""
    made = metrics.get("trained_from") or {}
    if not made.get("config"):
        return None
    return {
        "config": config_values(made["config"]),
        "threads": made.get("threads"),
        "backbone": _backbone(made.get("backbone")),
        "dataset": _dataset(made.get("dataset")),
        "evaluated_images": (metrics.get("dataset") or {}).get("images"),
        "versions": metrics.get("versions"),
    }


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def config_digest(metrics: Mapping) -> str | None:
    """sha256 of the recipe part of the run's training config alone (None without one):
    what the workflow's config files resolve to, checked by tests against configs/."""
    made = metrics.get("trained_from") or {}
    return _digest(config_values(made["config"])) if made.get("config") else None


def fingerprint(per_run: Mapping[str, Iterable[Mapping]]) -> str | None:
    """The fingerprint of a comparison: ``per_run`` is {run: its metrics.json records, one
    per seed}. None when a run has no recipe or its seeds were trained under different
    recipes (then nothing may be pooled)."""
    recipes = {}
    for run, records in per_run.items():
        found = {_digest(run_recipe(m)) if run_recipe(m) else None for m in records}
        if len(found) != 1 or None in found:
            return None
        recipes[run] = found.pop()
    return _digest(recipes)
