"""Logging, checkpointing and distributed settings shared by all COCO runs."""
checkpoint_config = dict(interval=1)  # every epoch
log_config = dict(interval=50, hooks=[dict(type='TextLoggerHook')])
custom_hooks = [dict(type='NumClassCheckHook')]
dist_params = dict(backend='nccl')
log_level = 'INFO'
load_from = None
resume_from = None
workflow = [('train', 1)]
opencv_num_threads = 0  # as mmdet's default runtime: avoid thread oversubscription
mp_start_method = 'fork'
cudnn_benchmark = True  # the authors' setting (speed only)
# 4 GPUs x 8 images = 32: the learning rates above are for this batch size.
auto_scale_lr = dict(enable=False, base_batch_size=32)
