"""How ``MaskAwareYOLACTHead`` calls each family of assigners: one calling form per family.

mmdet's heads each call their own assigner in their own way. A calling form is a small
object that says what its assigners take beyond mmdet's target arguments (the head's
predictions, the number of anchors on each pyramid level, options of the head's
``train_cfg``) and makes the call, as the mmdet head of that family does:

================== ========================= ==================================================
form               needs                     call (``assign(...)``), as in mmdet's
================== ========================= ==================================================
``max_iou``        nothing                   ``anchors, gt_bboxes, gt_bboxes_ignore, gt_labels``
                                             (``AnchorHead``)
``atss``           level counts              ``anchors, num_level_anchors_inside, gt_bboxes,
                                             gt_bboxes_ignore, gt_labels`` (``ATSSHead``)
``task_aligned``   predictions;              ``scores, decoded_boxes, anchors, gt_bboxes,
                   ``train_cfg.alpha, beta`` gt_bboxes_ignore, gt_labels, alpha, beta``
                                             (``TOODHead``)
``simota``         predictions, level counts ``scores, priors, decoded_boxes, gt_bboxes,
                                             gt_labels, gt_bboxes_ignore`` (``YOLOXHead``)
================== ========================= ==================================================

The ground-truth masks are asked for by the assigner itself, in any form: an assigner with
a truthy ``requires_gt_masks`` also gets ``gt_masks=``. The head's loss gathers, per image,
only what the form and the assigner ask for (:class:`AssignerInputs`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

__all__ = [
    "AssignerInputs",
    "AssignerCall",
    "MaxIoUCall",
    "ATSSCall",
    "TaskAlignedCall",
    "SimOTACall",
]


@dataclass(frozen=True)
class AssignerInputs:
    """What one image's assignment takes beyond mmdet's target arguments.

    Gathered once per image by the head's loss; a field that neither the calling form nor
    the assigner asks for is None.

    Attributes:
        gt_masks (Tensor | None): (G, H, W) bool ground-truth masks at the padded input
            resolution, on the anchors' device (for assigners with ``requires_gt_masks``).
        logits (Tensor | None): (A, cls_out_channels) class logits of all A anchors of the
            image, detached, in the anchors' order (level, then y, x, anchor).
        deltas (Tensor | None): (A, 4) predicted box deltas, detached, in the same order.
        num_level_anchors (tuple[int, ...] | None): the anchors on each level, summing to A.
    """

    gt_masks: Tensor | None = None
    logits: Tensor | None = None
    deltas: Tensor | None = None
    num_level_anchors: tuple[int, ...] | None = None

    def mask_kwargs(self) -> dict:
        """``{'gt_masks': ...}`` when the masks were gathered, else ``{}``."""
        return {} if self.gt_masks is None else {"gt_masks": self.gt_masks}


class AssignerCall(abc.ABC):
    """A calling form: what its assigners take and how the head calls them."""

    #: The form's name, in error messages and docs/adding-an-assigner.md.
    name: ClassVar[str]
    #: Takes the head's predictions (:attr:`AssignerInputs.logits`, ``deltas``).
    needs_predictions: ClassVar[bool] = False
    #: Takes the anchors per level (:attr:`AssignerInputs.num_level_anchors`).
    needs_level_counts: ClassVar[bool] = False
    #: Keys of the head's ``train_cfg`` the call reads (checked when the head is built).
    train_cfg_keys: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def assign(
        self, head, anchors, inside_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta, inputs
    ):
        """Call ``head.assigner`` on one image's inside anchors.

        Args:
            head (MaskAwareYOLACTHead): the calling head (its assigner, box coder, options).
            anchors (Tensor): (A', 4) the anchors inside the image, x1y1x2y2 pixels.
            inside_flags (Tensor): (A,) bool, which of the image's A anchors are inside.
            gt_bboxes (Tensor): (G, 4) ground-truth boxes, pixels.
            gt_bboxes_ignore (Tensor | None): (I, 4) ignored boxes.
            gt_labels (Tensor): (G,) class indices in [0, num_classes).
            img_meta (dict): the image's meta (``img_shape``: (h, w, c) before padding).
            inputs (AssignerInputs): what the head's loss gathered for this image.

        Returns:
            AssignResult: the assigner's, over the A' inside anchors.
        """


class MaxIoUCall(AssignerCall):
    """mmdet's own call (``AnchorHead``); the labels are withheld when the head samples."""

    name = "max_iou"

    def assign(
        self, head, anchors, inside_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta, inputs
    ):
        return head.assigner.assign(
            anchors,
            gt_bboxes,
            gt_bboxes_ignore,
            None if head.sampling else gt_labels,
            **inputs.mask_kwargs(),
        )


class ATSSCall(AssignerCall):
    """As mmdet's ``ATSSHead``: the inside anchors and their count on each level."""

    name = "atss"
    needs_level_counts = True

    def assign(
        self, head, anchors, inside_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta, inputs
    ):
        num_level_anchors_inside = head.get_num_level_anchors_inside(
            inputs.num_level_anchors, inside_flags
        )
        return head.assigner.assign(
            anchors,
            num_level_anchors_inside,
            gt_bboxes,
            gt_bboxes_ignore,
            None if head.sampling else gt_labels,
            **inputs.mask_kwargs(),
        )


def _predicted_scores_and_boxes(head, anchors, inside_flags, img_meta, inputs):
    """(A', num_classes) class probabilities and (A', 4) boxes decoded from the predicted
    deltas (x1y1x2y2 pixels, clipped to the image), both detached, over the inside anchors."""
    scores = head.class_probabilities(inputs.logits[inside_flags])
    boxes = head.bbox_coder.decode(
        anchors, inputs.deltas[inside_flags], max_shape=img_meta["img_shape"]
    )
    return scores, boxes


class TaskAlignedCall(AssignerCall):
    """As mmdet's ``TOODHead``: the predictions, and the alignment's exponents ``alpha``
    and ``beta`` from the head's ``train_cfg``, so that every task-aligned assigner (mmdet's
    and ours) ranks with the same ``t = s ** alpha * u ** beta``."""

    name = "task_aligned"
    needs_predictions = True
    train_cfg_keys = ("alpha", "beta")

    def assign(
        self, head, anchors, inside_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta, inputs
    ):
        scores, boxes = _predicted_scores_and_boxes(head, anchors, inside_flags, img_meta, inputs)
        # The labels pick each ground truth's class score.
        return head.assigner.assign(
            scores,
            boxes,
            anchors,
            gt_bboxes,
            gt_bboxes_ignore,
            gt_labels,
            head.train_cfg.alpha,
            head.train_cfg.beta,
            **inputs.mask_kwargs(),
        )


class SimOTACall(AssignerCall):
    """As mmdet's ``YOLOXHead``: the predictions, and the anchors as priors (centre x, y
    and their level's stride x, y)."""

    name = "simota"
    needs_predictions = True
    needs_level_counts = True

    def assign(
        self, head, anchors, inside_flags, gt_bboxes, gt_bboxes_ignore, gt_labels, img_meta, inputs
    ):
        scores, boxes = _predicted_scores_and_boxes(head, anchors, inside_flags, img_meta, inputs)
        priors = self.priors(
            anchors, inside_flags, inputs.num_level_anchors, head.prior_generator.strides
        )
        return head.assigner.assign(
            scores, priors, boxes, gt_bboxes, gt_labels, gt_bboxes_ignore, **inputs.mask_kwargs()
        )

    @staticmethod
    def priors(anchors, inside_flags, num_level_anchors, strides):
        """(A', 4) the inside anchors as SimOTA's priors: centre x, y and their level's
        stride x, y, in pixels.

        Args:
            anchors (Tensor): (A', 4) the inside anchors.
            inside_flags (Tensor): (A,) bool.
            num_level_anchors (Sequence[int]): anchors per level, summing to A.
            strides (Sequence[tuple[int, int]]): each level's stride (x, y), pixels.
        """
        strides = anchors.new_tensor(strides)  # (L, 2)
        level = torch.repeat_interleave(
            torch.arange(len(num_level_anchors), device=anchors.device),
            torch.as_tensor(num_level_anchors, device=anchors.device),
            output_size=sum(num_level_anchors),  # known on the host: no sync
        )[inside_flags]
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2.0
        return torch.cat([centres, strides[level]], dim=1)
