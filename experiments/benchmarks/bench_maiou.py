"""Speed and memory of maiou.mask_aware_iou against the published algorithm, same process.

Builds COCO-like cases (irregular, partly occluded masks; YOLACT anchor layouts), runs
the faithful re-implementation of the published loop (``maiou/testing/reference.py``) and ours on
the same inputs, checks they agree to 1e-5, and prints time ratios and peak extra memory.
"ours" is the implementation ``"auto"`` picks on the device (extent buckets on a CPU,
dense integral images on a GPU); ``--impl`` times another (``dense`` / ``extent``), and
every implementation is checked to give bit-identical outputs.

    python -m experiments.benchmarks.bench_maiou [--threads 1] [--repeats 5] [--device cpu]
        [--impl auto]

Memory on CPU is the rise of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs, with glibc forced to mmap large blocks so freed memory is returned);
on CUDA it is torch's peak allocated memory.
"""

import argparse
import ctypes
import statistics
import time
from pathlib import Path

import torch

from maiou import mask_aware_iou
from maiou.ops.mask_aware_iou import resolve_impl
from maiou.testing.reference import published_mask_aware_iou
from maiou.testing.scenes import grid_anchors, occluded_instances

FIXED_IOU_STRIDES = [550 / 69, 550 / 35, 550 / 18, 550 / 9, 550 / 5]
CASES = [  # (name, image size, ground truths): anchors as the fixed-IoU YOLACT (3 per location)
    ("550px / 15 GT", 550, 15),
    ("700px / 50 GT", 700, 50),
    ("700px / 100 GT", 700, 100),
]


def _force_mmap_for_large_blocks():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: freed blocks go back to the OS
    except OSError:
        pass


def _peak_extra_bytes(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS

    def field(name):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{name} not in /proc/self/status")

    before = field("VmRSS:")
    result = fn()
    del result
    return field("VmHWM:") - before


def _median_seconds(fn, device, repeats):
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--impl",
        default="auto",
        choices=["auto", "dense", "extent"],
        help="maIoU implementation to time as 'ours' (default: auto)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    _force_mmap_for_large_blocks()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    impl = resolve_impl(args.impl, 1, 1, 1, device)
    print(
        f"maIoU operator vs published loop — {name}, {args.threads} thread(s), "
        f"median of {args.repeats}, torch {torch.__version__}, ours: {impl}"
    )
    header = (
        f"{'case':<16}{'anchors':>8}{'pairs':>9}{'published ms':>14}{'ours ms':>9}"
        f"{'speed-up':>10}{'published MiB':>15}{'ours MiB':>10}{'max |diff|':>12}"
    )
    print(header)
    rows = []
    for case, size, num_gts in CASES:
        anchors = grid_anchors(size, FIXED_IOU_STRIDES, 3, 1, [0.5, 1.0, 2.0]).to(device)
        gt_bboxes, gt_masks = occluded_instances(size, num_gts, seed=size + num_gts)
        gt_bboxes, gt_masks = gt_bboxes.to(device), gt_masks.to(device)

        def published():
            return published_mask_aware_iou(gt_bboxes, anchors, gt_masks)

        def ours():
            return mask_aware_iou(gt_bboxes, gt_masks, anchors, impl=impl)

        expected, got = published(), ours()
        diff = float((expected - got).abs().max())
        if not diff <= 1e-5:
            raise SystemExit(f"{case}: outputs differ by {diff:.3g} (> 1e-5)")
        for other in ("dense", "extent"):
            if not torch.equal(mask_aware_iou(gt_bboxes, gt_masks, anchors, impl=other), got):
                raise SystemExit(f"{case}: the {other} implementation's output differs")
        pairs = int((got > 0).sum())
        mem_pub, mem_ours = _peak_extra_bytes(published, device), _peak_extra_bytes(ours, device)
        t_pub = _median_seconds(published, device, args.repeats)
        t_ours = _median_seconds(ours, device, args.repeats)
        rows.append((case, t_pub / t_ours))
        print(
            f"{case:<16}{len(anchors):>8}{pairs:>9}{t_pub * 1e3:>14.1f}{t_ours * 1e3:>9.1f}"
            f"{t_pub / t_ours:>9.1f}x{mem_pub / 2**20:>15.1f}{mem_ours / 2**20:>10.1f}"
            f"{diff:>12.1e}"
        )
    return rows


if __name__ == "__main__":
    main()
