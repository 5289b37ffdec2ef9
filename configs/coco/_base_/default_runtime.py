"""Logging, checkpointing and distributed settings shared by all COCO runs."""

import os

checkpoint_config = dict(interval=1)  # every epoch
log_config = dict(interval=50, hooks=[dict(type="TextLoggerHook")])
# After every epoch, the mean total training loss is compared with the authors' released
# log at that epoch (maiou/hooks/curve_check.py): more than 10 % apart is a warning in the
# log and in <work_dir>/curve_check.json. The pipeline names the log in MAIOU_REFERENCE_LOG
# (coco-train); without it the check is off. Its hook is registered by maiou.models.
custom_hooks = [
    dict(type="NumClassCheckHook"),
    dict(
        type="TrainingCurveCheckHook",
        reference=os.environ.get("MAIOU_REFERENCE_LOG") or None,
        tolerance=0.10,
    ),
]
dist_params = dict(backend="nccl")
log_level = "INFO"
load_from = None
resume_from = None
workflow = [("train", 1)]
opencv_num_threads = 0  # as mmdet's default runtime: avoid thread oversubscription
mp_start_method = "fork"
cudnn_benchmark = True  # the authors' setting (speed only)
# 4 GPUs x 8 images = 32: the learning rates above are for this batch size.
auto_scale_lr = dict(enable=False, base_batch_size=32)
# Images per optimizer step, whatever the number of GPUs: gpus x samples_per_gpu (8) x
# gradient accumulation = 32, the paper's 4 x 8, for which the learning rates and the
# 500-step warm-up are set (maiou/engine/batching.py; a GPU count that cannot make 32 is refused).
images_per_step = 32
