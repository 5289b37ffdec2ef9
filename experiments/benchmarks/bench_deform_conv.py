"""DCNv2 on CPU: maiou's vectorised modulated deformable convolution against mmcv's and
torchvision's CPU kernels, same process, same inputs, forward + backward.

    python -m experiments.benchmarks.bench_deform_conv [--threads 1] [--repeats 5] [--device cpu]

Shapes are those of the embedded maYOLACT's deformable 3x3 convolutions (quarter-width
ResNet-50 stages 2-4 at a 128 px input, batch 8, 4 deformable groups). Prints the time of
each, our speed-up over each and the largest output / gradient difference from mmcv's.
"""

import argparse
import statistics
import sys
import time

import torch
from mmcv.ops import modulated_deform_conv2d as mmcv_op
from torchvision.ops import deform_conv2d

from maiou.ops.deform_conv import modulated_deform_conv2d

# (channels, side): stage 2 at stride 8, stage 3 at 16, stage 4 at 32 of a 128 px input.
CASES = [(32, 16), (64, 8), (128, 4)]
BATCH, DEFORM_GROUPS = 8, 4


def inputs(channels, side, generator):
    x = torch.randn(BATCH, channels, side, side, generator=generator)
    offset = 2 * torch.randn(BATCH, 2 * DEFORM_GROUPS * 9, side, side, generator=generator)
    mask = torch.rand(BATCH, DEFORM_GROUPS * 9, side, side, generator=generator)
    weight = torch.randn(channels, channels, 3, 3, generator=generator) / (3 * channels**0.5)
    return x, offset, mask, weight


def torchvision_op(x, offset, mask, weight, bias, stride, padding, dilation, groups, dg):
    """torchvision's ``deform_conv2d`` called as mmcv's op (it reads the groups from the
    weight's and the offsets' shapes)."""
    return deform_conv2d(
        x, offset, weight, bias, (stride,) * 2, (padding,) * 2, (dilation,) * 2, mask=mask
    )


def forward_backward(op, tensors):
    leaves = [t.clone().requires_grad_() for t in tensors]
    out = op(*leaves, None, 1, 1, 1, 1, DEFORM_GROUPS)
    out.backward(torch.ones_like(out))
    return [out.detach()] + [t.grad for t in leaves]


def median_ms(op, tensors, repeats):
    cuda = tensors[0].is_cuda
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        forward_backward(op, tensors)
        if cuda:  # kernels run asynchronously: wait for them before reading the clock
            torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: every op on the GPU")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"DCNv2 forward + backward, batch {BATCH}, {DEFORM_GROUPS} deformable groups — {where}, "
        f"{args.threads} thread(s), median of {args.repeats}"
    )
    ops = {"mmcv": mmcv_op, "torchvision": torchvision_op, "ours": modulated_deform_conv2d}
    print(
        f"{'channels x side':<16}{'mmcv ms':>9}{'tv ms':>9}{'ours ms':>9}"
        f"{'vs mmcv':>9}{'vs tv':>8}{'max |diff|':>12}"
    )
    total = dict.fromkeys(ops, 0.0)
    for channels, side in CASES:
        tensors = [t.to(device) for t in inputs(channels, side, generator)]
        forward_backward(modulated_deform_conv2d, tensors)  # warm-up (CUDA: kernel loading)
        reference = forward_backward(mmcv_op, tensors)
        diff = max(
            float((a - b).abs().max())
            for name in ("torchvision", "ours")
            for a, b in zip(reference, forward_backward(ops[name], tensors))
        )
        ms = {name: median_ms(op, tensors, args.repeats) for name, op in ops.items()}
        for name in ops:
            total[name] += ms[name]
        print(
            f"{f'{channels} x {side}':<16}{ms['mmcv']:>9.1f}{ms['torchvision']:>9.1f}"
            f"{ms['ours']:>9.1f}{ms['mmcv'] / ms['ours']:>8.1f}x"
            f"{ms['torchvision'] / ms['ours']:>7.1f}x{diff:>12.1e}"
        )
    print(
        f"all three: {total['mmcv'] / total['ours']:.1f}x mmcv's, "
        f"{total['torchvision'] / total['ours']:.1f}x torchvision's"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
