"""Tests for the device-portable CARAFE (maiou/ops/carafe.py)."""

import pytest
import torch
from mmcv.cnn import UPSAMPLE_LAYERS, build_upsample_layer
from mmcv.ops import CARAFEPack
from mmdet.models.necks import FPN_CARAFE

import maiou.ops.carafe as carafe_module
from maiou.ops.carafe import CARAFEPackPortable, carafe, convert_carafe_to_portable

# maYOLACT's upsampler settings (FPN_CARAFE upsample_cfg).
PACK_ARGS = dict(
    scale_factor=2,
    up_kernel=5,
    up_group=1,
    encoder_kernel=3,
    encoder_dilation=1,
    compressed_channels=64,
)

# (kernel_size, group_size, scale_factor): maYOLACT's (5, 1, 2) first, then grouped
# channels, k = 1, scale 1 and 3, and a kernel wider than the map (all taps near borders).
CASES = [(5, 1, 2), (3, 2, 2), (1, 1, 2), (1, 2, 3), (3, 4, 1), (5, 2, 3)]


def reference_carafe(features, masks, k, group, s):
    """CARAFE straight from the definition, one output value at a time (tiny inputs only).

    out[n, c, y, x] = sum_{i,j} masks[n, g*k*k + i*k + j, y, x]
                      * features[n, c, y//s + i - k//2, x//s + j - k//2]   (0 outside),
    g = c // (C / group).
    """
    n_, c_, h, w = features.shape
    out = torch.zeros(n_, c_, h * s, w * s, dtype=features.dtype)
    for n in range(n_):
        for c in range(c_):
            g = c // (c_ // group)
            for y in range(h * s):
                for x in range(w * s):
                    total = 0.0
                    for i in range(k):
                        for j in range(k):
                            sy, sx = y // s + i - k // 2, x // s + j - k // 2
                            if 0 <= sy < h and 0 <= sx < w:
                                total += (
                                    masks[n, g * k * k + i * k + j, y, x] * features[n, c, sy, sx]
                                )
                    out[n, c, y, x] = total
    return out


def random_inputs(k, group, s, n=2, channels_per_group=2, h=3, w=4, dtype=torch.float64, seed=0):
    """Features (n, group*cpg, h, w) and per-group softmaxed masks (n, k*k*group, h*s, w*s)."""
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(n, group * channels_per_group, h, w, generator=gen, dtype=dtype)
    logits = torch.randn(n, group, k * k, h * s, w * s, generator=gen, dtype=dtype)
    masks = logits.softmax(dim=2).reshape(n, group * k * k, h * s, w * s)
    return features, masks


@pytest.mark.parametrize("k,group,s", CASES)
def test_carafe_matches_definition(k, group, s):
    features, masks = random_inputs(k, group, s)
    out = carafe(features, masks, k, group, s)
    assert out.shape == (2, 2 * group, 3 * s, 4 * s)
    torch.testing.assert_close(
        out, reference_carafe(features, masks, k, group, s), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("k,group,s", CASES)
def test_carafe_gradients_match_definition(k, group, s):
    features, masks = random_inputs(k, group, s, n=1)
    upstream = torch.randn(
        1, 2 * group, 3 * s, 4 * s, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    grads = []
    for fn in (carafe, reference_carafe):
        f = features.clone().requires_grad_()
        m = masks.clone().requires_grad_()
        (fn(f, m, k, group, s) * upstream).sum().backward()
        grads.append((f.grad, m.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k,group,s", [(5, 1, 2), (3, 2, 2), (1, 1, 3)])
def test_carafe_gradcheck(k, group, s):
    features, masks = random_inputs(k, group, s, n=1, channels_per_group=1, h=2, w=3)
    assert torch.autograd.gradcheck(
        lambda f, m: carafe(f, m, k, group, s), (features.requires_grad_(), masks.requires_grad_())
    )


def test_carafe_noncontiguous_masks_and_float32():
    features, masks = random_inputs(3, 2, 2, dtype=torch.float32)
    # Same values, channels-last memory: reshape, not view, must handle it.
    masks_cl = masks.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(
        carafe(features, masks_cl, 3, 2, 2), reference_carafe(features, masks, 3, 2, 2)
    )


@pytest.mark.parametrize(
    "features_shape,masks_shape,k,group,s",
    [
        ((1, 4, 3, 3), (1, 25, 6, 6), 4, 1, 2),  # even kernel
        ((1, 3, 3, 3), (1, 50, 6, 6), 5, 2, 2),  # channels not divisible by groups
        ((1, 4, 3, 3), (1, 25, 6, 6), 5, 2, 2),  # mask channels != k*k*group
        ((1, 4, 3, 3), (1, 25, 6, 7), 5, 1, 2),  # mask size != feature size * s
        ((4, 3, 3), (1, 25, 6, 6), 5, 1, 2),  # not 4-D
    ],
)
def test_carafe_rejects_bad_shapes(features_shape, masks_shape, k, group, s):
    with pytest.raises(ValueError):
        carafe(torch.zeros(features_shape), torch.zeros(masks_shape), k, group, s)


def build_portable(channels=16):
    return build_upsample_layer(dict(type="carafe_portable", channels=channels, **PACK_ARGS))


def test_portable_pack_registered_next_to_mmcv_carafe():
    assert UPSAMPLE_LAYERS.get("carafe_portable") is CARAFEPackPortable
    assert UPSAMPLE_LAYERS.get("carafe") is CARAFEPack


def test_portable_pack_runs_on_cpu_and_matches_pure_pipeline():
    torch.manual_seed(0)
    layer = build_portable()
    assert type(layer) is CARAFEPackPortable
    x = torch.randn(2, 16, 5, 7)
    out = layer(x)
    assert out.shape == (2, 16, 10, 14)
    assert torch.isfinite(out).all()
    # The pack's own compressor/encoder/normaliser feed carafe unchanged.
    mask = layer.kernel_normalizer(layer.content_encoder(layer.channel_compressor(x)))
    torch.testing.assert_close(out, carafe(x, mask, 5, 1, 2))
    out.sum().backward()
    assert layer.content_encoder.weight.grad is not None


def test_portable_pack_state_dict_interchangeable_with_mmcv():
    portable = build_portable()
    mmcv_pack = CARAFEPack(channels=16, **PACK_ARGS)
    assert list(portable.state_dict()) == list(mmcv_pack.state_dict())
    for key, value in mmcv_pack.state_dict().items():
        assert portable.state_dict()[key].shape == value.shape
    # Checkpoints load strictly in both directions.
    portable.load_state_dict(mmcv_pack.state_dict(), strict=True)
    mmcv_pack.load_state_dict(portable.state_dict(), strict=True)


def test_portable_pack_never_calls_mmcv_op_on_cpu(monkeypatch):
    def cuda_only(*args, **kwargs):
        raise AssertionError("mmcv's CUDA-only carafe called for a CPU tensor")

    monkeypatch.setattr(carafe_module, "mmcv_carafe", cuda_only)
    build_portable()(torch.randn(1, 16, 3, 3))


def fpn_inputs():
    # Sizes as an odd input resolution gives them (FPN_CARAFE slices the upsampled map).
    torch.manual_seed(0)
    return [torch.randn(1, 8, 9, 9), torch.randn(1, 16, 5, 5), torch.randn(1, 32, 3, 3)]


def test_fpn_carafe_rejects_portable_type():
    # mmdet 2.28.2 FPN_CARAFE asserts the upsample type is one of its own names, which is
    # why convert_carafe_to_portable exists.
    with pytest.raises(AssertionError):
        FPN_CARAFE(
            [8, 16, 32], 16, num_outs=5, upsample_cfg=dict(type="carafe_portable", **PACK_ARGS)
        )


def test_fpn_carafe_converted_runs_on_cpu():
    upsample_cfg = dict(
        type="carafe",
        up_kernel=5,
        up_group=1,
        encoder_kernel=3,
        encoder_dilation=1,
        compressed_channels=64,
    )
    neck = FPN_CARAFE([8, 16, 32], 16, num_outs=5, start_level=0, upsample_cfg=upsample_cfg)
    neck.init_weights()
    keys_before = list(neck.state_dict())
    assert convert_carafe_to_portable(neck) is neck
    packs = [m for m in neck.modules() if isinstance(m, CARAFEPack)]
    assert len(packs) == 4  # 2 top-down + 2 extra levels
    assert all(type(m) is CARAFEPackPortable for m in packs)
    assert list(neck.state_dict()) == keys_before

    outs = neck(fpn_inputs())
    assert [tuple(o.shape) for o in outs] == [
        (1, 16, 9, 9),
        (1, 16, 5, 5),
        (1, 16, 3, 3),
        (1, 16, 2, 2),
        (1, 16, 1, 1),
    ]
    assert all(torch.isfinite(o).all() for o in outs)
    sum(o.sum() for o in outs).backward()
