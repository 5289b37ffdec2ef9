"""maYOLACT: ATSS with maIoU plus DCNv2, CARAFE FPN and two anchor scales per octave.

docs/paper-facts.md, "maYOLACT on top of ATSS with maIoU". Its learning-rate schedule
(lr 8e-3, cosine) lives in ../schedules/sgd_cosine_55e.py.
"""

_base_ = "./yolact_r50_atss_maiou.py"

model = dict(
    backbone=dict(
        # DCNv2 = mmcv's ModulatedDeformConv2dPack in the 3x3 conv of every bottleneck of
        # stages 2-4. The authors wrote `deformable_groups=4`, mmcv 1.7's deprecated
        # spelling of `deform_groups`.
        dcn=dict(type="DCNv2", deform_groups=4, fallback_on_stride=False),
        stage_with_dcn=(False, True, True, True),
    ),
    neck=dict(
        _delete_=True,
        type="FPN_CARAFE",
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5,
        start_level=1,
        order=("conv", "norm", "act"),
        # `type='carafe'` because mmdet's FPN_CARAFE accepts no other CARAFE name;
        # MaskAwareYOLACT turns these CARAFEPacks into 'carafe_portable' after building
        # (same weights, mmcv's CUDA op on GPU, exact PyTorch version on CPU).
        upsample_cfg=dict(
            type="carafe",
            up_kernel=5,
            up_group=1,
            encoder_kernel=3,
            encoder_dilation=1,
            compressed_channels=64,
        ),
    ),
    bbox_head=dict(anchor_generator=dict(scales_per_octave=2)),
)
