"""Where the backbones' starting weights come from, and what to say when one is missing.

COCO runs start from torchvision's ImageNet ResNet-50, the file the authors' stack fetched
for ``torchvision://resnet50`` (mmcv 0.6 with the torchvision of 2020 resolved it to
``resnet50-19c8e357.pth``; the hex in a torchvision file name is the start of the file's
sha256). The COCO configs name a local copy (``MAIOU_RESNET50``, default
:data:`DEFAULT_RESNET50_PATH`) instead of the URL: training jobs never touch the network
(compute nodes of clusters are usually offline); the pipeline's ``imagenet_backbone`` rule
fetches the file beforehand. The embedded runs start from a backbone pretrained on the
synthetic data (``maiou.pretrain_backbone``).
"""

from __future__ import annotations

import os
import re

__all__ = [
    "RESNET50_URL",
    "DEFAULT_RESNET50_PATH",
    "sha256_prefix_in_name",
    "missing_backbone_message",
]

RESNET50_URL = "https://download.pytorch.org/models/resnet50-19c8e357.pth"
DEFAULT_RESNET50_PATH = "checkpoints/imagenet/resnet50-19c8e357.pth"

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.[A-Za-z0-9]+$")


def sha256_prefix_in_name(name: str) -> str | None:
    """The sha256 prefix torchvision puts in its file names (``resnet50-19c8e357.pth`` ->
    ``19c8e357``), or None when the name carries none."""
    match = _HASH_IN_NAME.search(os.path.basename(name))
    return match.group(1) if match else None


def missing_backbone_message(path: str) -> str:
    """One line naming the missing backbone file and how to get it."""
    if "resnet50" in os.path.basename(path):
        return (
            f"model.backbone.init_cfg.checkpoint: {path} does not exist. COCO runs start "
            f"from torchvision's ImageNet ResNet-50, fetched before training (training "
            f"jobs do not download): the pipeline's imagenet_backbone rule does it, or "
            f"`python -m experiments.scripts.download --url {RESNET50_URL} --out {path}` "
            f"on a machine with internet; set MAIOU_RESNET50 if the file is elsewhere"
        )
    return (
        f"model.backbone.init_cfg.checkpoint: {path} does not exist. The embedded "
        "configs start from a backbone pretrained on the synthetic train split; make it "
        f"with `python -m maiou.pretrain_backbone --data-root DIR --out {path}` (the "
        "pipeline does this itself), or set MAIOU_EMBEDDED_ROOT to the dataset directory "
        "holding it"
    )
