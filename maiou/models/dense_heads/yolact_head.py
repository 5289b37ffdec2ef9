"""YOLACT box head that drives max-IoU, ATSS, task-aligned and SimOTA assigners, IoU or maIoU.

mmdet's ``YOLACTHead`` calls its assigner as a max-IoU assigner:
``assign(anchors, gt_bboxes, gt_bboxes_ignore, gt_labels)``. ATSS assigners additionally
need the number of (inside-image) anchors on every pyramid level; dynamic assigners (the
task-aligned one of TOOD and YOLOv8, YOLOX's SimOTA) need the head's own predictions, the
class scores and decoded boxes, and SimOTA the anchors as points with strides; the maIoU
assigners also need the image's ground-truth masks. :class:`MaskAwareYOLACTHead` calls each
assigner in the calling form that :data:`ASSIGNER_CALLS` names for its class
(``assigner_calls.py``: what each form needs, and the call), gathers what the form and the
assigner need, and leaves every other code path (OHEM, Smooth-L1, sampling results for the
mask head, ``get_bboxes`` with fast NMS) to the parent.
"""

from __future__ import annotations

import torch
from mmdet.core import anchor_inside_flags, unmap
from mmdet.core.bbox.assigners import (
    ATSSAssigner,
    MaxIoUAssigner,
    SimOTAAssigner,
    TaskAlignedAssigner,
)
from mmdet.models.builder import HEADS
from mmdet.models.dense_heads import YOLACTHead

from ...ops.mask_aware_iou import as_mask_tensor
from ..assigners import ATSSmaIoUAssigner, SimOTAmaIoUAssigner, TaskAlignedmaIoUAssigner
from .assigner_calls import (
    AssignerCall,
    AssignerInputs,
    ATSSCall,
    MaxIoUCall,
    SimOTACall,
    TaskAlignedCall,
)

__all__ = ["MaskAwareYOLACTHead", "ASSIGNER_CALLS", "assigner_call"]

#: The calling form (maiou/models/dense_heads/assigner_calls.py) of each assigner class the
#: head drives; a subclass is called as its parent. A new assigner gets its entry here
#: (docs/adding-an-assigner.md).
ASSIGNER_CALLS: dict[type, AssignerCall] = {
    MaxIoUAssigner: MaxIoUCall(),
    ATSSAssigner: ATSSCall(),
    ATSSmaIoUAssigner: ATSSCall(),
    TaskAlignedAssigner: TaskAlignedCall(),
    TaskAlignedmaIoUAssigner: TaskAlignedCall(),
    SimOTAAssigner: SimOTACall(),
    SimOTAmaIoUAssigner: SimOTACall(),
}

# The private key under which each image's AssignerInputs rides in (a shallow copy of) its
# meta. The parent's ``loss`` -> ``get_targets`` -> ``multi_apply(_get_targets_single, ...)``
# chain has fixed signatures; the meta dict is the one per-image value it threads through
# untouched, so using it avoids re-implementing those two parent methods.
_INPUTS_KEY = "_maiou_assigner_inputs"


def assigner_call(assigner) -> AssignerCall:
    """The calling form (:data:`ASSIGNER_CALLS`) of ``assigner``; one line if it has none."""
    for cls in type(assigner).__mro__:
        if cls in ASSIGNER_CALLS:
            return ASSIGNER_CALLS[cls]
    raise ValueError(
        f"MaskAwareYOLACTHead does not know how to call {type(assigner).__name__}: add it to "
        "ASSIGNER_CALLS in maiou/models/dense_heads/yolact_head.py "
        "(docs/adding-an-assigner.md)"
    )


@HEADS.register_module()
class MaskAwareYOLACTHead(YOLACTHead):
    """``YOLACTHead`` whose targets can come from any assigner of :data:`ASSIGNER_CALLS`.

    Same constructor, parameters and outputs as mmdet's ``YOLACTHead``. What changes is
    only how the assigner is called in :meth:`_get_targets_single`: by its calling form
    (:attr:`assigner_call`), with what :meth:`loss` gathered for it per image
    (``AssignerInputs``):

    * the level counts and the predictions, if the form needs them: the class logits and
      box deltas, detached, over all anchors (the form turns them into probabilities and
      decoded boxes over the inside anchors);
    * ``gt_masks=``, if the assigner has a truthy ``requires_gt_masks``: the image's
      (G, H, W) ground-truth masks as a bool tensor on the anchors' device, what
      :meth:`loss` received, converted there once per image if it is anything else
      (``MaskAwareYOLACT`` hands bool tensors on the device already, so then nothing is
      converted or copied).

    With a max-IoU assigner (the fixed-IoU runs) the call is ``AnchorHead``'s, so the
    targets are exactly mmdet's. Options that a form reads from ``train_cfg`` (TOOD's
    ``alpha`` and ``beta``) must be there when the head is built.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        call = self.assigner_call
        if call is None:
            return
        missing = [key for key in call.train_cfg_keys if key not in self.train_cfg]
        if missing:
            raise ValueError(
                f"{type(self.assigner).__name__} (calling form {call.name!r}) takes "
                f"{' and '.join(missing)} from the head's train_cfg, as mmdet's heads of its "
                f"family do: add {', '.join(f'{key}=...' for key in missing)} to train_cfg"
            )

    @property
    def assigner_call(self) -> AssignerCall | None:
        """The assigner's calling form, or None when built without train_cfg (inference)."""
        assigner = getattr(self, "assigner", None)
        return None if assigner is None else assigner_call(assigner)

    @property
    def assigner_requires_gt_masks(self) -> bool:
        """Whether the assigner wants the ground-truth masks (maIoU)."""
        return bool(getattr(getattr(self, "assigner", None), "requires_gt_masks", False))

    def loss(
        self,
        cls_scores,
        bbox_preds,
        gt_bboxes,
        gt_labels,
        img_metas,
        gt_bboxes_ignore=None,
        gt_masks=None,
    ):
        """``YOLACTHead.loss`` that can hand ground-truth masks to the assigner.

        Args:
            cls_scores, bbox_preds, gt_bboxes, gt_labels, img_metas, gt_bboxes_ignore:
                as ``YOLACTHead.loss``.
            gt_masks (list[Tensor | BaseInstanceMasks] | None): per image, the (G, H, W)
                binary masks of its G ground truths, at the padded input resolution
                (``img_metas[i]['pad_shape'][:2]``); best a bool tensor on the device of
                ``cls_scores``, which is handed to the assigner as it is. Used only if
                the assigner has ``requires_gt_masks``; ignored otherwise.

        Returns:
            tuple(dict[str, list[Tensor]], list[SamplingResult]): as ``YOLACTHead.loss``.
        """
        img_metas = self._with_assigner_inputs(cls_scores, bbox_preds, img_metas, gt_masks)
        return super().loss(
            cls_scores,
            bbox_preds,
            gt_bboxes,
            gt_labels,
            img_metas,
            gt_bboxes_ignore=gt_bboxes_ignore,
        )

    def _with_assigner_inputs(self, cls_scores, bbox_preds, img_metas, gt_masks):
        """Shallow copies of ``img_metas``, each carrying its image's ``AssignerInputs``:
        the masks if the assigner requires them, the predictions and level counts if its
        calling form needs them.

        Args:
            cls_scores (list[Tensor]): per level (N, A_l * cls_out_channels, H_l, W_l).
            bbox_preds (list[Tensor]): per level (N, A_l * 4, H_l, W_l).
            img_metas (list[dict]): per image; left unmodified.
            gt_masks (list | None): per image, as :meth:`loss`.
        """
        call = self.assigner_call
        num_images = len(img_metas)
        masks = [None] * num_images
        if self.assigner_requires_gt_masks:
            if gt_masks is None:
                raise ValueError(
                    f"{type(self.assigner).__name__} needs the ground-truth masks: "
                    "call loss(..., gt_masks=...) (MaskAwareYOLACT does)"
                )
            if len(gt_masks) != num_images:
                raise ValueError(
                    f"got gt_masks for {len(gt_masks)} images and img_metas for {num_images}"
                )
            device = cls_scores[0].device
            masks = [as_mask_tensor(image_masks, device=device) for image_masks in gt_masks]
        predictions = [(None, None)] * num_images
        if call.needs_predictions:
            predictions = [
                self._image_predictions(cls_scores, bbox_preds, i) for i in range(num_images)
            ]
        level_counts = None
        if call.needs_level_counts:
            # As many as the prior generator lays out per level (its anchors' order).
            level_counts = tuple(
                level.size(-2) * level.size(-1) * num_base_priors
                for level, num_base_priors in zip(cls_scores, self.prior_generator.num_base_priors)
            )
        return [
            {
                **meta,
                _INPUTS_KEY: AssignerInputs(
                    gt_masks=image_masks,
                    logits=logits,
                    deltas=deltas,
                    num_level_anchors=level_counts,
                ),
            }
            for meta, image_masks, (logits, deltas) in zip(img_metas, masks, predictions)
        ]

    def _image_predictions(self, cls_scores, bbox_preds, i):
        """Image ``i``'s (A, cls_out_channels) logits and (A, 4) deltas over all levels,
        detached, in the anchors' order (level, then y, x, anchor)."""
        return tuple(
            torch.cat(
                [level[i].detach().permute(1, 2, 0).reshape(-1, channels) for level in outputs]
            )
            for outputs, channels in ((cls_scores, self.cls_out_channels), (bbox_preds, 4))
        )

    def class_probabilities(self, logits):
        """(A, num_classes) probabilities of the foreground classes from (A,
        cls_out_channels) logits: sigmoid, or softmax without the background column."""
        if self.use_sigmoid_cls:
            return logits.sigmoid()
        return logits.softmax(-1)[:, : self.num_classes]  # mmdet: background is the last

    def get_num_level_anchors_inside(self, num_level_anchors, inside_flags):
        """Number of inside-image anchors on each level (as mmdet's ``ATSSHead``).

        Args:
            num_level_anchors (Sequence[int]): anchors per level, all images alike.
            inside_flags (Tensor): (sum(num_level_anchors),) bool, level-major order.

        Returns:
            list[int]: the count of True flags in each level's slice.
        """
        split_inside_flags = torch.split(inside_flags, list(num_level_anchors))
        # One device-to-host read for all levels (mmdet's ATSSHead reads each level's
        # count separately: one sync per level on a GPU). Same integers.
        return torch.stack([flags.sum() for flags in split_inside_flags]).tolist()

    def _get_targets_single(
        self,
        flat_anchors,
        valid_flags,
        gt_bboxes,
        gt_bboxes_ignore,
        gt_labels,
        img_meta,
        label_channels=1,
        unmap_outputs=True,
    ):
        """Targets of one image; see ``AnchorHead._get_targets_single``.

        The parent's code with only the ``assign`` call changed (the assigner's calling form,
        with the image's ``AssignerInputs``), and with :meth:`_extra_targets` appended to the
        outputs; with a max-IoU assigner the call, and so every target, is the parent's.

        Args:
            flat_anchors (Tensor): (A, 4) anchors of all levels, level-major, pixels.
            valid_flags (Tensor): (A,) bool.
            gt_bboxes (Tensor): (G, 4) x1, y1, x2, y2 in pixels.
            gt_bboxes_ignore (Tensor | None): (I, 4).
            gt_labels (Tensor): (G,) class indices in [0, num_classes).
            img_meta (dict): meta of the image, with its ``AssignerInputs`` when it comes
                through :meth:`loss` (none: the call gets nothing beyond mmdet's arguments).
            label_channels (int): unused, kept for the parent's signature.
            unmap_outputs (bool): map the targets back to all A anchors.

        Returns:
            tuple: labels (A',), label_weights (A',), bbox_targets (A', 4),
            bbox_weights (A', 4), pos_inds, neg_inds, sampling_result, then
            :meth:`_extra_targets` (A',) each -- A' is A if ``unmap_outputs`` else the number
            of inside anchors.
        """
        inside_flags = anchor_inside_flags(
            flat_anchors, valid_flags, img_meta["img_shape"][:2], self.train_cfg.allowed_border
        )
        if not inside_flags.any():
            return (None,) * 7
        anchors = flat_anchors[inside_flags, :]
        assign_result = self.assigner_call.assign(
            self,
            anchors,
            inside_flags,
            gt_bboxes,
            gt_bboxes_ignore,
            gt_labels,
            img_meta,
            img_meta.get(_INPUTS_KEY, AssignerInputs()),
        )
        sampling_result = self.sampler.sample(assign_result, anchors, gt_bboxes)

        # From here on: AnchorHead._get_targets_single (mmdet 2.28.2) verbatim.
        num_valid_anchors = anchors.shape[0]
        bbox_targets = torch.zeros_like(anchors)
        bbox_weights = torch.zeros_like(anchors)
        labels = anchors.new_full((num_valid_anchors,), self.num_classes, dtype=torch.long)
        label_weights = anchors.new_zeros(num_valid_anchors, dtype=torch.float)

        pos_inds = sampling_result.pos_inds
        neg_inds = sampling_result.neg_inds
        if len(pos_inds) > 0:
            if not self.reg_decoded_bbox:
                pos_bbox_targets = self.bbox_coder.encode(
                    sampling_result.pos_bboxes, sampling_result.pos_gt_bboxes
                )
            else:
                pos_bbox_targets = sampling_result.pos_gt_bboxes
            bbox_targets[pos_inds, :] = pos_bbox_targets
            bbox_weights[pos_inds, :] = 1.0
            if gt_labels is None:
                # Only rpn gives gt_labels as None; foreground is class 0.
                labels[pos_inds] = 0
            else:
                labels[pos_inds] = gt_labels[sampling_result.pos_assigned_gt_inds]
            if self.train_cfg.pos_weight <= 0:
                label_weights[pos_inds] = 1.0
            else:
                label_weights[pos_inds] = self.train_cfg.pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0

        extra_targets = self._extra_targets(assign_result, sampling_result, num_valid_anchors)
        if unmap_outputs:
            num_total_anchors = flat_anchors.size(0)
            extra_targets = tuple(
                unmap(target, num_total_anchors, inside_flags) for target in extra_targets
            )
            labels = unmap(
                labels, num_total_anchors, inside_flags, fill=self.num_classes
            )  # fill bg label
            label_weights = unmap(label_weights, num_total_anchors, inside_flags)
            bbox_targets = unmap(bbox_targets, num_total_anchors, inside_flags)
            bbox_weights = unmap(bbox_weights, num_total_anchors, inside_flags)

        return (
            labels,
            label_weights,
            bbox_targets,
            bbox_weights,
            pos_inds,
            neg_inds,
            sampling_result,
        ) + extra_targets

    def _extra_targets(self, assign_result, sampling_result, num_anchors):
        """Per-anchor targets beyond mmdet's (a tuple of (num_anchors,) tensors, e.g. soft
        classification targets); none here."""
        return ()
