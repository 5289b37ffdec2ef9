"""The recipe a comparison is measured under, as one fingerprint.

A seed spread (experiments/scripts/seed_noise.py) belongs to the recipe it was measured
with, and a one-seed verdict may borrow it only under that same recipe. The recipe of a
comparison a -> b is

* the code of both runs' config files and every ``_base_`` file they pull in (model,
  data pipeline, schedule, input size): their Python syntax tree without comments and
  docstrings (:func:`config_code`), so that prose in a config never changes a recipe
  while any value or statement does, and
* the workflow settings that change what a run trains on or for how long
  (:data:`RECIPE_KEYS`: the data draw and its size, the backbone pretraining, the schedule
  length, the batch, the evaluated images), as experiments/config/config.yaml names them.

The training seeds are not part of it. The fingerprint is a sha256 of both, with the
config files named by their path inside the repository, so it is the same on every
checkout.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Mapping

import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG_YAML = REPO / "experiments" / "config" / "config.yaml"
# The config.yaml keys that make a different recipe (the seeds and where files go do not).
RECIPE_KEYS = (
    "seed",
    "num_train",
    "num_val",
    "pretrain_iters_override",
    "max_iters_override",
    "samples_per_gpu",
    "max_images",
)
_BASE_REF = re.compile(r"""['"]([.]{1,2}/[^'"]+?\.py)['"]""")


def config_dir(preset: str) -> str:
    """The folder under configs/ whose files a preset's runs use: embedded or coco."""
    return "embedded" if preset == "embedded" else "coco"


def settings(config: Mapping) -> dict:
    """The recipe's workflow settings out of a workflow config (Snakemake's ``config``)."""
    return {key: config.get(key) for key in RECIPE_KEYS}


def default_settings() -> dict:
    """The settings of experiments/config/config.yaml as it stands (the default run)."""
    return settings(yaml.safe_load(CONFIG_YAML.read_text()))


def config_files(config: str | os.PathLike) -> list[str]:
    """``config`` and every ``_base_`` file it pulls in, recursively, in the order found."""
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


def _canonical(node) -> str:
    """A syntax tree as text: node types and field values, without positions. Fields that
    are None or empty are left out, so that the text does not depend on which optional
    fields a Python version's nodes carry."""
    if isinstance(node, ast.AST):
        fields = []
        for name, value in ast.iter_fields(node):
            if value is None or value == []:
                continue
            fields.append(f"{name}={_canonical(value)}")
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return "[" + ", ".join(_canonical(item) for item in node) + "]"
    return repr(node)


def _is_prose(statement: ast.stmt) -> bool:
    """A statement that is a lone string: a docstring, or text that does nothing."""
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def config_code(path: str | os.PathLike) -> str:
    """What a config file does, as text: its syntax tree (:func:`_canonical`) with comments,
    docstrings and other lone strings removed, at any depth."""
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [statement for statement in body if not _is_prose(statement)]
            node.body = kept or [ast.Pass()]
    return _canonical(tree)


def _shown(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        return Path(path).name


def fingerprint(configs, recipe_settings: Mapping) -> str:
    """sha256 of the config files' code (each run's config paths: their files and bases,
    :func:`config_code`) and the settings; the same configs and settings give the same value
    on any checkout."""
    files = sorted({f for config in configs for f in config_files(config)}, key=_shown)
    digest = hashlib.sha256()
    for path in files:
        digest.update(_shown(path).encode() + b"\0")
        digest.update(hashlib.sha256(config_code(path).encode()).digest())
    digest.update(json.dumps(dict(recipe_settings), sort_keys=True).encode())
    return digest.hexdigest()


def pair_fingerprint(a: str, b: str, cfg_dir: str, recipe_settings: Mapping) -> str:
    """The fingerprint of comparison ``a`` -> ``b`` (run names, maiou/runs.py) with the
    configs of ``configs/<cfg_dir>/``."""
    from maiou import runs as registry

    configs = [REPO / registry.get(run).config(cfg_dir) for run in (a, b)]
    return fingerprint(configs, recipe_settings)
