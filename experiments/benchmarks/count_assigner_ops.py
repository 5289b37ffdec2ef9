"""Operations and host syncs per ATSS assignment: mmdet's ATSS against ours, per implementation.

On a GPU in eager mode the ATSS assigners are latency-bound: every aten operation is a
kernel launch of several microseconds and every host sync drains the queue, while the
arithmetic is tiny. Both are properties of the code path, so this script counts them on any
device (``maiou/testing/dispatch_count.py``): operations = aten operations dispatched, views
left out; syncs = operations whose result the host must wait for (``_local_scalar_dense``,
``nonzero``, ``unique``, ``bincount``, ``masked_select``, ``repeat_interleave`` with tensor
repeats, boolean-mask indexing) plus host reads that dispatch nothing on a CPU tensor
(``tolist``, ``numpy``, ``cpu``).

Each assigner is called as ``MaskAwareYOLACTHead`` calls it (no labels, YOLACT samples
with OHEM; ``--labels`` passes them), on a COCO-like image (irregular, partly occluded
masks; the ATSS YOLACT anchors, strides 8..128), after one warm-up call. Masks are handed
over as the head hands them: a bool tensor on the anchors' device.

Counting on the CPU gives the CUDA numbers, because the code takes its CUDA branch there:

* the implementation is chosen explicitly (``impl="dense"`` / ``"extent"``), not by
  ``"auto"``, which would pick extent on a CPU;
* the assigner is built with ``device_asserts=True``, which makes the input checks the
  device-side asserts (``torch._assert_async``) that CUDA tensors get, instead of the CPU's
  read-back-and-raise;
* everything else in the code path is device-independent (composite operations decompose
  before the counting mode sees them, identically for every backend).

``--device cuda`` counts with CUDA tensors instead (the same numbers are expected).

    python -m experiments.benchmarks.count_assigner_ops [--device cpu] [--labels] [--verbose]
        [--sizes 400 550 700] [--gts 5 15 50]
"""

import argparse
import math

import torch
from mmdet.core.bbox.assigners import ATSSAssigner

from maiou.models.assigners import ATSSmaIoUAssigner
from maiou.testing.dispatch_count import count_ops
from maiou.testing.scenes import grid_anchors, occluded_instances

ATSS_STRIDES = [8, 16, 32, 64, 128]
SIZES = (400, 550, 700)
NUM_GTS = (5, 15, 50)
#: The bounds the issue sets for the dense path at 550 px / 15 ground truths.
BOUND_CASE, EXTRA_OPS = (550, 15), 50


def atss_anchors(image_size, device):
    """(N, 4) YOLACT-ATSS anchors (octave base scale 4, ratio 1) and anchors per level."""
    anchors = grid_anchors(image_size, ATSS_STRIDES, 4, 1, [1.0]).to(device)
    return anchors, [math.ceil(image_size / s) ** 2 for s in ATSS_STRIDES]


def count_case(image_size, num_gts, device, with_labels=False):
    """{name: OpCount} for one image: mmdet ATSS and ours (dense, extent)."""
    anchors, num_level = atss_anchors(image_size, device)
    gt_bboxes, gt_masks = occluded_instances(image_size, num_gts, seed=num_gts)
    gt_bboxes, gt_masks = gt_bboxes.to(device), gt_masks.to(device)
    labels = torch.zeros(num_gts, dtype=torch.long, device=device) if with_labels else None
    stock = ATSSAssigner(topk=9)
    calls = {"mmdet ATSS": lambda: stock.assign(anchors, num_level, gt_bboxes, None, labels)}
    for impl in ("dense", "extent"):
        ours = ATSSmaIoUAssigner(topk=9, maiou_impl=impl, device_asserts=True)
        calls[impl] = lambda a=ours: a.assign(
            anchors, num_level, gt_bboxes, None, labels, gt_masks=gt_masks
        )
    counts, results = {}, {}
    for name, call in calls.items():
        call()  # warm-up: lazy initialisation must not be counted
        counts[name], results[name] = count_ops(call)
    for field in ("gt_inds", "max_overlaps", "labels"):
        dense, extent = getattr(results["dense"], field), getattr(results["extent"], field)
        if not (dense is None and extent is None or torch.equal(dense, extent)):
            raise SystemExit(
                f"{image_size} px / {num_gts} GT: dense and extent assignments differ in {field}"
            )
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--labels",
        action="store_true",
        help="pass gt_labels (the head passes none: YOLACT samples with OHEM)",
    )
    parser.add_argument("--verbose", action="store_true", help="also list the operations")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="PX")
    parser.add_argument("--gts", type=int, nargs="+", default=list(NUM_GTS), metavar="G")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"ATSS assignment, operations / host syncs per call — counted on {name}"
        f" (CUDA code path), torch {torch.__version__}, labels "
        f"{'given' if args.labels else 'not given (as the head calls it)'}"
    )
    print(
        f"{'image':>6}{'GTs':>5}{'mmdet ATSS':>13}{'ours dense':>13}{'ours extent':>13}"
        f"{'dense - mmdet ops':>19}"
    )
    table = {}
    for size in args.sizes:
        for num_gts in args.gts:
            counts = count_case(size, num_gts, device, args.labels)
            table[size, num_gts] = counts
            cells = "".join(f"{c.ops:>8} / {c.syncs:<2}" for c in counts.values())
            extra = counts["dense"].ops - counts["mmdet ATSS"].ops
            print(f"{size:>4}px{num_gts:>5}{cells}{extra:>+19}")
            if args.verbose:
                for impl, count in counts.items():
                    print(f"      {impl}: {count.summary(top=60)}")
    if BOUND_CASE in table:
        bound = table[BOUND_CASE]
        ok = (
            bound["dense"].syncs <= bound["mmdet ATSS"].syncs
            and bound["dense"].ops <= bound["mmdet ATSS"].ops + EXTRA_OPS
        )
        print(
            f"dense path at {BOUND_CASE[0]} px / {BOUND_CASE[1]} GT: "
            f"{bound['dense'].syncs} syncs (mmdet {bound['mmdet ATSS'].syncs}), "
            f"{bound['dense'].ops} ops (mmdet {bound['mmdet ATSS'].ops} + {EXTRA_OPS} "
            f"allowed): {'within the bounds' if ok else 'OUT OF BOUNDS'}"
        )
    return table


if __name__ == "__main__":
    main()
