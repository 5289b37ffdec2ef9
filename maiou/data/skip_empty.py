"""``FilterAnnotationsOrSkip``: the authors' handling of training images without instances.

mmdet 2.28's ``FilterAnnotations`` drops ground truths smaller than ``min_gt_bbox_wh`` but
passes an image that had none to begin with (COCO's crowd-only images: crowd regions are
ignore boxes, not instances) on to training as pure background. In the authors' fork
(mmdet 2.x of 2020) the same step returns ``None`` whenever no box is left, whether it had
none or all were too small, and mmdet's ``CustomDataset.__getitem__`` then draws another
image of the same aspect-ratio group (``_rand_another``). This step does what the fork's
does; everything else is mmdet's ``FilterAnnotations`` (boxes only, ``w > min_w and
h > min_h``, the instance fields filtered alike).
"""

from __future__ import annotations

from mmdet.datasets.builder import PIPELINES
from mmdet.datasets.pipelines import FilterAnnotations

__all__ = ["FilterAnnotationsOrSkip"]


@PIPELINES.register_module()
class FilterAnnotationsOrSkip(FilterAnnotations):
    """``FilterAnnotations(min_gt_bbox_wh)`` that returns ``None`` (skip the image) when no
    ground-truth box is left, including when the image had none."""

    def __init__(self, min_gt_bbox_wh=(1.0, 1.0)):
        super().__init__(min_gt_bbox_wh=min_gt_bbox_wh, by_box=True, by_mask=False, keep_empty=True)

    def __call__(self, results):
        if results["gt_bboxes"].shape[0] == 0:
            return None
        return super().__call__(results)

    def __repr__(self):
        return f"{type(self).__name__}(min_gt_bbox_wh={self.min_gt_bbox_wh})"
