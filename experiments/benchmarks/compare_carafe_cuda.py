"""Compare maiou's pure-PyTorch CARAFE with mmcv's CUDA kernel (needs a CUDA GPU).

    python -m experiments.benchmarks.compare_carafe_cuda [--mmcv-src DIR]

Prints the max absolute difference of the output and both gradients for the maYOLACT
setting (k=5, group 1, scale 2) and two others, in float32, plus the time of one forward +
backward of each at the maYOLACT FPN sizes; exits 1 if any difference exceeds the
tolerance, 2 if no kernel to compare with is at hand. Not a test: our CI has no GPU.

mmcv's kernel comes from an mmcv-full built with CUDA (``FORCE_CUDA=1``) when one is
installed. Otherwise ``--mmcv-src`` names an unpacked mmcv-full 1.7.2 source tree (the
sdist setup.sh downloads) and only mmcv's CARAFE sources are compiled, just in time, with
``torch.utils.cpp_extension``: mmcv's own ``carafe_cuda.cu`` and kernel header, unchanged,
behind a two-function binding that mirrors mmcv's ``CARAFEFunction``. That needs no mmcv
install, so it also runs where only torch and a CUDA compiler are.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from maiou.ops.carafe_reassemble import carafe

CASES = [(5, 1, 2), (3, 2, 2), (1, 1, 2)]  # (kernel, group, scale)
TOLERANCE = 1e-4
# maYOLACT's FPN_CARAFE upsamples 256-channel maps, from 18x18 to 69x69 at 550 px (the
# largest step being 35 -> 69, about 2x); batch 8 per GPU.
TIMING_SHAPE = (8, 256, 35, 35)

_BINDING = r"""
#include <torch/extension.h>
using at::Tensor;
void CARAFEForwardCUDAKernelLauncher(const Tensor features, const Tensor masks,
    Tensor rfeatures, Tensor routput, Tensor rmasks, Tensor output,
    const int kernel_size, const int group_size, const int scale_factor);
void CARAFEBackwardCUDAKernelLauncher(const Tensor top_grad, const Tensor rfeatures,
    const Tensor masks, Tensor rtop_grad, Tensor rbottom_grad_hs, Tensor rbottom_grad,
    Tensor rmask_grad, Tensor bottom_grad, Tensor mask_grad,
    const int kernel_size, const int group_size, const int scale_factor);
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &CARAFEForwardCUDAKernelLauncher);
  m.def("backward", &CARAFEBackwardCUDAKernelLauncher);
}
"""


def _jit_mmcv_carafe(mmcv_src: Path):
    """Build mmcv's CARAFE CUDA launchers from source; return a function with the
    signature of ``mmcv.ops.carafe`` (autograd included), calling them as mmcv does."""
    from torch.utils.cpp_extension import load

    csrc = mmcv_src / "mmcv" / "ops" / "csrc"
    kernel = csrc / "pytorch" / "cuda" / "carafe_cuda.cu"
    if not kernel.is_file():
        raise SystemExit(
            f"--mmcv-src {mmcv_src}: no {kernel.relative_to(mmcv_src)} there; "
            "give the unpacked mmcv-full-1.7.2 source tree"
        )
    build = Path(tempfile.mkdtemp(prefix="mmcv_carafe_"))
    (build / "binding.cpp").write_text(_BINDING)
    # mmcv 1.7.2's helper still includes THC/THCAtomics.cuh, which torch 2 no longer ships;
    # its successor declares the same atomicAdd overloads.
    (build / "THC").mkdir()
    (build / "THC" / "THCAtomics.cuh").write_text("#include <ATen/cuda/Atomic.cuh>\n")
    ext = load(
        name="mmcv_carafe_jit",
        sources=[str(build / "binding.cpp"), str(kernel)],
        extra_include_paths=[str(build), str(csrc / "common"), str(csrc / "common" / "cuda")],
        build_directory=str(build),
        verbose=False,
    )

    class MMCVCarafe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, features, masks, kernel_size, group_size, scale_factor):
            n, c, h, w = features.shape
            output = features.new_zeros((n, c, h * scale_factor, w * scale_factor))
            routput, rfeatures = torch.zeros_like(output), torch.zeros_like(features)
            rmasks = torch.zeros_like(masks)
            ext.forward(
                features,
                masks,
                rfeatures,
                routput,
                rmasks,
                output,
                kernel_size,
                group_size,
                scale_factor,
            )
            ctx.save_for_backward(features, masks, rfeatures)
            ctx.args = (kernel_size, group_size, scale_factor)
            return output

        @staticmethod
        def backward(ctx, grad_output):
            features, masks, rfeatures = ctx.saved_tensors
            grad_input, grad_masks = torch.zeros_like(features), torch.zeros_like(masks)
            ext.backward(
                grad_output.contiguous(),
                rfeatures,
                masks,
                torch.zeros_like(grad_output),
                torch.zeros_like(grad_output),
                torch.zeros_like(features),
                torch.zeros_like(masks),
                grad_input,
                grad_masks,
                *ctx.args,
            )
            return grad_input, grad_masks, None, None, None

    return MMCVCarafe.apply


def _mmcv_carafe(mmcv_src):
    """(function, where it came from), or (None, why not)."""
    try:
        from mmcv.ops import get_compiling_cuda_version
        from mmcv.ops.carafe import carafe as installed

        if get_compiling_cuda_version() != "not available":
            return installed, "installed mmcv-full (built with CUDA)"
    except ImportError:
        pass
    if mmcv_src is None:
        return None, (
            "no mmcv-full built with CUDA is installed; build it with FORCE_CUDA=1 "
            "or pass --mmcv-src with the unpacked mmcv-full-1.7.2 sources"
        )
    start = time.perf_counter()
    fn = _jit_mmcv_carafe(mmcv_src)
    return fn, f"mmcv-full sources in {mmcv_src}, compiled in {time.perf_counter() - start:.0f} s"


def _inputs(n, channels, h, w, k, group, scale, generator):
    features = torch.randn(n, channels, h, w, device="cuda", generator=generator)
    logits = torch.randn(n, group * k * k, h * scale, w * scale, device="cuda", generator=generator)
    masks = logits.view(n, group, k * k, h * scale, w * scale).softmax(2).view_as(logits)
    return features, masks


def _forward_backward(fn, features, masks, k, group, scale):
    f, m = features.clone().requires_grad_(), masks.clone().requires_grad_()
    out = fn(f, m, k, group, scale)
    out.backward(torch.linspace(-1, 1, out.shape[-1], device="cuda").expand_as(out))
    return out, f.grad, m.grad


def _median_ms(fn, repeats=20):
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mmcv-src",
        type=Path,
        default=os.environ.get("MMCV_SRC"),
        help="unpacked mmcv-full-1.7.2 source tree, used when no CUDA build "
        "of mmcv-full is installed (default: $MMCV_SRC)",
    )
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA device")
        return 2
    mmcv_carafe, origin = _mmcv_carafe(args.mmcv_src)
    if mmcv_carafe is None:
        print(origin)
        return 2

    generator = torch.Generator(device="cuda").manual_seed(0)
    worst = 0.0
    print(
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}; "
        f"mmcv kernel from {origin}"
    )
    for k, group, scale in CASES:
        features, masks = _inputs(2, 32 * group, 13, 17, k, group, scale, generator)
        ours = _forward_backward(carafe, features, masks, k, group, scale)
        theirs = _forward_backward(mmcv_carafe, features, masks, k, group, scale)
        for name, a, b in zip(("output", "grad_features", "grad_masks"), ours, theirs):
            diff = (a - b).abs().max().item()
            worst = max(worst, diff)
            print(f"k={k} group={group} scale={scale} {name:>13}: max |diff| = {diff:.3g}")
    print(f"worst max |diff| = {worst:.3g} (tolerance {TOLERANCE})")

    features, masks = _inputs(*TIMING_SHAPE, 5, 1, 2, generator)
    times = {
        name: _median_ms(lambda fn=fn: _forward_backward(fn, features, masks, 5, 1, 2))
        for name, fn in (("ours (PyTorch)", carafe), ("mmcv CUDA kernel", mmcv_carafe))
    }
    for name, ms in times.items():
        print(f"forward+backward {TIMING_SHAPE} k=5 scale=2, {name}: {ms:.2f} ms")
    print(f"ours / mmcv: {times['ours (PyTorch)'] / times['mmcv CUDA kernel']:.2f}x")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
