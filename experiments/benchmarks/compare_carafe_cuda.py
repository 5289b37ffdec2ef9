"""Compare maiou's pure-PyTorch CARAFE with mmcv's CUDA kernel (needs a CUDA GPU).

    python experiments/benchmarks/compare_carafe_cuda.py

Prints the max absolute difference of the output and both gradients for the maYOLACT
setting (k=5, group 1, scale 2) and two others; exits 1 if any exceeds the tolerance, 2 if
no CUDA device (or an mmcv-full built without CUDA) is present. Not a test: our CI has no
GPU. Run it on a GPU machine after building mmcv-full with FORCE_CUDA=1.
"""
import sys

import torch

from maiou.ops.carafe import carafe, mmcv_carafe_cuda_available

CASES = [(5, 1, 2), (3, 2, 2), (1, 1, 2)]  # (kernel, group, scale)
TOLERANCE = 1e-4


def main() -> int:
    if not torch.cuda.is_available() or not mmcv_carafe_cuda_available():
        print("needs a CUDA device and mmcv-full compiled with CUDA (FORCE_CUDA=1)")
        return 2
    from mmcv.ops.carafe import carafe as mmcv_carafe

    generator = torch.Generator(device="cuda").manual_seed(0)
    worst = 0.0
    print(f"device: {torch.cuda.get_device_name()}")
    for k, group, scale in CASES:
        n, channels, h, w = 2, 32 * group, 13, 17
        features = torch.randn(n, channels, h, w, device="cuda", generator=generator)
        logits = torch.randn(n, group * k * k, h * scale, w * scale, device="cuda", generator=generator)
        masks = logits.view(n, group, k * k, h * scale, w * scale).softmax(2).view_as(logits)
        results = []
        for fn in (carafe, mmcv_carafe):
            f, m = features.clone().requires_grad_(), masks.clone().requires_grad_()
            out = fn(f, m, k, group, scale)
            out.backward(torch.linspace(-1, 1, out.shape[-1], device="cuda").expand_as(out))
            results.append((out, f.grad, m.grad))
        for name, ours, theirs in zip(("output", "grad_features", "grad_masks"), *results):
            diff = (ours - theirs).abs().max().item()
            worst = max(worst, diff)
            print(f"k={k} group={group} scale={scale} {name:>13}: max |diff| = {diff:.3g}")
    print(f"worst max |diff| = {worst:.3g} (tolerance {TOLERANCE})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
