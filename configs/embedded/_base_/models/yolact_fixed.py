"""Embedded YOLACT, fixed-IoU assigner.

Its COCO model with the CPU shrink (yolact_fixed_cpu.py) and, only for this assigner, the
anchors laid out for the middle input size at every size, as on COCO (550-based strides
there). Same rule as on COCO -- stride = base size / feature-map side, side = ceil(base
size / nominal stride) -- with base size 128: sides 16/8/4/2/1, i.e. strides
8/16/32/64/128 (550 gives 69/35/18/9/5), first centre at half a stride. Base sizes /
scales / ratios stay those of COCO (pixels). A toy benchmark: its numbers are not the
paper's.
"""

_base_ = "./yolact_fixed_cpu.py"

anchor_base_size = 128
anchor_featmap_sides = [16, 8, 4, 2, 1]
model = dict(
    bbox_head=dict(
        anchor_generator=dict(
            strides=[anchor_base_size / n for n in anchor_featmap_sides],
            centers=[
                (anchor_base_size * 0.5 / n, anchor_base_size * 0.5 / n)
                for n in anchor_featmap_sides
            ],
        ),
    ),
)
