"""A stand-in for everything the coco presets download, served by a loopback HTTP mirror.

* :func:`write_tiny_coco`: COCO 2017 in its real layout and archive names, a handful of
  small images drawn by the synthetic generator (``maiou/data/synthetic.py``) with COCO's 80
  categories and ids: ``val2017.zip`` (``val2017/000000xxxxxx.jpg``), ``train2017.zip`` and
  ``annotations_trainval2017.zip`` (``annotations/instances_{train,val}2017.json``), with a
  crowd annotation (uncompressed RLE, as COCO stores crowds) and a training image whose only
  annotation is a crowd.
* :func:`write_released_checkpoint`: a checkpoint laid out as mmcv's ``save_checkpoint``
  writes it (``meta`` with mmdet/mmcv versions, CLASSES, config text, epoch, iter, time;
  ``state_dict``; ``optimizer`` with SGD momentum buffers), in torch's zip format or in the
  legacy pickle format torch 1.5 wrote (the authors trained with mmdet 2.1 / mmcv 0.6).
* :func:`write_resnet50_standin`: a torchvision-layout ResNet-50 state dict named like
  torchvision's files, ``resnet50-<first 8 hex of its sha256>.pth``.
* :class:`Mirror`: a threaded HTTP server on 127.0.0.1 serving a folder, honouring Range
  requests, cutting chosen files half way on their first request, and recording requests.
* :data:`NETWORK_GUARD`: a ``sitecustomize`` that makes every Python process refuse (and
  log) any connection or name lookup that is not loopback.
* :func:`serve` puts it all together (the ``mirror`` fixture of tests/conftest.py);
  :func:`coco_config`, :func:`snakemake` and the checks below run the pipeline against it.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RELEASED_RUNS = ["fixed_550", "mayolact_550"]  # the runs coco-released is tested with
TRAIN_RUNS = ["atss_maiou_400", "mayolact_550"]  # the runs coco-train is tested with

# COCO's category ids (1..90 with gaps), in the order of mmdet's CocoDataset.CLASSES.
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]

# (split, image number, crowd) per image: a crowd on val image 2 and train image 3; train
# image 4 has a crowd and nothing else.
IMAGE_SIZE = (96, 72)  # width, height: small and not square, as COCO's (640 x 480) are not


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's crowd encoding: run lengths over the column-major mask, starting with zeros."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _image_and_annotations(
    seed: int, split: int, index: int, image_id: int, ann_start: int, crowd: bool, only_crowd: bool
):
    import cv2

    from maiou.data.drawing import generate_image
    from maiou.data.synthetic import mask_to_annotation

    width, height = IMAGE_SIZE
    rng = np.random.default_rng([seed, split, index])
    image, instances = generate_image(rng, image_size=width, min_objects=3, max_objects=4)
    image = image[:height]
    annotations = []
    if not only_crowd:
        for inst in instances:
            mask = inst["mask"][:height]
            if mask.sum() < 30:
                continue
            ann = mask_to_annotation(mask)
            ann.update(
                id=ann_start + len(annotations),
                image_id=image_id,
                category_id=COCO_CATEGORY_IDS[inst["category_id"] - 1],
                iscrowd=0,
            )
            annotations.append(ann)
    if crowd or only_crowd:
        mask = np.zeros((height, width), dtype=bool)
        mask[40:66, 10:50] = True
        annotations.append(
            dict(
                id=ann_start + len(annotations),
                image_id=image_id,
                category_id=1,
                iscrowd=1,
                area=int(mask.sum()),
                bbox=[10, 40, 40, 26],
                segmentation=_uncompressed_rle(mask),
            )
        )
    ok, jpg = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    info = dict(id=image_id, file_name=f"{image_id:012d}.jpg", width=width, height=height)
    return info, annotations, jpg.tobytes()


def write_tiny_coco(out_dir: Path, num_val: int = 3, num_train: int = 4, seed: int = 0) -> dict:
    """Write the three archives to ``out_dir``; return {archive name: path} and the JSONs."""
    from mmdet.datasets import CocoDataset

    out_dir.mkdir(parents=True, exist_ok=True)
    categories = [
        dict(id=i, name=name, supercategory="thing")
        for i, name in zip(COCO_CATEGORY_IDS, CocoDataset.CLASSES)
    ]
    jsons, files = {}, {}
    next_ann = 1
    for split, count, first_id in (("val2017", num_val, 1), ("train2017", num_train, 1001)):
        images, annotations = [], []
        archive = out_dir / f"{split}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for index in range(count):
                image_id = first_id + index
                crowd = index == 1 if split == "val2017" else index == 2
                only_crowd = split == "train2017" and index == count - 1
                info, anns, jpg = _image_and_annotations(
                    seed, int(split == "train2017"), index, image_id, next_ann, crowd, only_crowd
                )
                next_ann += len(anns)
                images.append(info)
                annotations += anns
                zf.writestr(f"{split}/{info['file_name']}", jpg)
        files[f"{split}.zip"] = archive
        jsons[split] = dict(
            info=dict(description="maiou tiny COCO stand-in"),
            images=images,
            annotations=annotations,
            categories=categories,
        )
    archive = out_dir / "annotations_trainval2017.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, data in jsons.items():
            zf.writestr(f"annotations/instances_{split}.json", json.dumps(data))
    files["annotations_trainval2017.zip"] = archive
    return dict(files=files, jsons=jsons)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_released_checkpoint(config: str, out: Path, legacy: bool, seed: int = 0) -> Path:
    """An mmcv-0.6-style checkpoint of ``config``'s model with random weights."""
    import torch
    from mmcv import Config
    from mmcv.runner.checkpoint import get_state_dict, weights_to_cpu
    from mmdet.datasets import CocoDataset
    from mmdet.models import build_detector

    import maiou.models  # noqa: F401

    torch.manual_seed(seed)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = build_detector(cfg.model)
    model.init_weights()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=4e-3, momentum=0.9, weight_decay=5e-4)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    optimizer.step()  # fills the momentum buffers
    checkpoint = dict(
        meta=dict(
            mmdet_version="2.1.0+unknown",
            mmcv_version="0.6.0",
            CLASSES=CocoDataset.CLASSES,
            config=cfg.pretty_text,
            epoch=55,
            iter=55 * 3665,
            time=time.asctime(),
        ),
        state_dict=weights_to_cpu(get_state_dict(model)),
        optimizer=optimizer.state_dict(),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    # torch 1.5 wrote the legacy format (pickle protocol 2); torch >= 1.6 a zip.
    torch.save(checkpoint, out, _use_new_zipfile_serialization=not legacy)
    return out


def write_resnet50_standin(out_dir: Path, seed: int = 0) -> Path:
    """torchvision's ResNet-50 layout (random weights), legacy format as torchvision's file,
    named ``resnet50-<sha256 prefix>.pth``."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    state = torchvision.models.resnet50(weights=None).state_dict()
    tmp = out_dir / "resnet50.tmp"
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp, _use_new_zipfile_serialization=False)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = out_dir / f"resnet50-{digest[:8]}.pth"
    os.replace(tmp, path)
    return path


def write_authors_log(out: Path, epochs: int, iters_per_epoch: int = 2) -> Path:
    """A training log in the text format of the authors' mmdet 2.1 / mmcv 0.6 runs
    (TextLoggerHook: ``Epoch [e][i/n]\tlr: ..., loss_*: ..., loss: ...``), with made-up
    values, as the mirror's stand-in for a released log."""
    lines = ["2021-03-01 10:00:00,000 - mmdet - INFO - Distributed training: True"]
    for epoch in range(1, epochs + 1):
        for it in range(1, iters_per_epoch + 1):
            loss = 9.0 / (epoch + it / iters_per_epoch)
            lines.append(
                f"2021-03-01 10:{epoch:02d}:{it:02d},000 - mmdet - INFO - Epoch [{epoch}]"
                f"[{it}/{iters_per_epoch}]\tlr: 4.000e-03, eta: 1 day, 0:00:00, time: 0.500, "
                f"data_time: 0.010, memory: 7000, loss_cls: {loss / 3:.4f}, "
                f"loss_bbox: {loss / 3:.4f}, loss_mask: {loss / 3:.4f}, loss: {loss:.4f}"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


class Mirror:
    """Serve ``root`` on 127.0.0.1 (a free port) until :meth:`close`.

    ``cut`` names files whose first request is answered with the full Content-Length but
    only half the bytes before the connection closes (an interrupted transfer); ``delay``
    ({file name: seconds}) holds back a file's bytes (a slow transfer). Every request is
    recorded as (path, Range header or None) in :attr:`requests`.
    """

    def __init__(self, root: Path, cut=(), timeout: float = 30):
        self.root = Path(root)
        self.cut = set(cut)
        self.delay: dict[str, float] = {}
        self.requests: list[tuple[str, str | None]] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.requests.append((self.path, self.headers.get("Range")))
                path = mirror.root / self.path.lstrip("/")
                if ".." in self.path or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                time.sleep(mirror.delay.get(path.name, 0))
                if path.name in mirror.cut:
                    mirror.cut.discard(path.name)
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = timeout
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# Loaded by every Python process started with its folder on PYTHONPATH.
NETWORK_GUARD = r'''
"""Test network guard: only loopback connections and name lookups are allowed."""
import os
import socket

_LOG = os.environ.get("MAIOU_NETWORK_GUARD_LOG")
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "", None, socket.gethostname()}


def _refuse(what):
    message = f"network guard: refused {what} (only the loopback mirror may be reached)"
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {message}\n")
    raise OSError(message)


def _local(host):
    if isinstance(host, bytes):
        host = host.decode()
    return host in _LOCAL_NAMES or str(host).startswith("127.")


def _check(address):
    if isinstance(address, tuple) and not _local(address[0]):
        _refuse(f"a connection to {address!r}")


_connect, _connect_ex, _getaddrinfo = (socket.socket.connect, socket.socket.connect_ex,
                                       socket.getaddrinfo)


def connect(self, address):
    _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _refuse(f"a name lookup of {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (connect, connect_ex,
                                                                       getaddrinfo)
'''


@contextmanager
def serve(base: Path, released_checkpoints: bool = True):
    """Everything the coco presets download, written under ``base`` and served by a
    :class:`Mirror` (val2017.zip cut once), with a guarded environment for the pipeline's
    processes; yields a dict of them and closes the server on exit.

    ``released_checkpoints=False`` leaves out the released checkpoints (four full-size
    models, 1.2 GB: 1.3 s here instead of 8-10 s), which only coco-released downloads."""
    served = base / "served"
    coco = write_tiny_coco(served)
    # Released checkpoints in both formats; the mirror serves fixed_550 as a zip and
    # mayolact_550 in the legacy format.
    checkpoints = {}
    formats = (("fixed_550", False), ("mayolact_550", True)) if released_checkpoints else ()
    for run, legacy in formats:
        config = str(ROOT / "configs/coco" / f"{run}.py")
        checkpoints[run] = write_released_checkpoint(
            config, served / "checkpoints" / f"{run}.pth", legacy=legacy
        )
        write_released_checkpoint(config, base / "other_format" / f"{run}.pth", legacy=not legacy)
    resnet50 = write_resnet50_standin(served / "models")
    for run in TRAIN_RUNS:  # the authors' released training logs, for the curve check
        write_authors_log(served / "logs" / f"{run}.log", epochs=2)
    guard = base / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    torch_home = base / "torch_home"
    torch_home.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(guard), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
        MAIOU_NETWORK_GUARD_LOG=str(base / "network_guard.log"),
        TORCH_HOME=str(torch_home),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",
    )
    server = Mirror(served, cut={"val2017.zip"})
    try:
        yield dict(
            server=server,
            url=server.url,
            coco=coco,
            checkpoints=checkpoints,
            other_format={run: base / "other_format" / f"{run}.pth" for run in checkpoints},
            resnet50=resnet50,
            logs=served / "logs",
            env=env,
            guard_log=base / "network_guard.log",
            torch_home=torch_home,
        )
    finally:
        server.close()


def coco_config(mirror, work: Path, **extra) -> Path:
    config = dict(
        coco_mirror=mirror["url"],
        device="cpu",
        data_root=str(work / "data/coco"),
        threads_per_run=1,
        speed_images=1,
        coco_md5={name: md5(path) for name, path in mirror["coco"]["files"].items()},
    )
    config.update(extra)
    path = work / "test_config.yaml"
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_cmd(work: Path, configfile: Path | None, *args: str) -> list[str]:
    """The repository's workflow run in ``work``, with ``configfile`` if given."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(work),
        *(["--configfile", str(configfile)] if configfile else []),
        *args,
    ]


def snakemake(work, configfile, *args, env, timeout=600):
    return subprocess.run(
        snakemake_cmd(work, configfile, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def logs(work: Path) -> str:
    return "\n".join(
        f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((work / "logs").rglob("*.log"))
    )


def assert_no_network(mirror):
    log = mirror["guard_log"]
    assert not log.exists(), log.read_text()
    assert not any(mirror["torch_home"].iterdir()), list(mirror["torch_home"].rglob("*"))


def assert_cut_and_resumed(mirror, first_request: int, work: Path) -> None:
    """val2017.zip was cut half way and the rule's retry resumed it with a Range request."""
    val = [rng for path, rng in mirror["server"].requests[first_request:] if path == "/val2017.zip"]
    assert len(val) == 2 and val[0] is None and val[1].startswith("bytes="), val
    zipped = work / "data/coco/downloads/val2017.zip"
    assert zipped.read_bytes() == mirror["coco"]["files"]["val2017.zip"].read_bytes()
