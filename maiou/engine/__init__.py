"""What the commands (``maiou.train``, ``maiou.evaluate``, ``maiou.pretrain_backbone``) are
built from: loading a config and its batch (``config``, ``batching``), where a training
starts (``start``: a plan, decided without acting), the training run itself (``runner``:
mmdet's ``train_detector`` with this stack's fixes; ``distributed``: torchrun on GPUs and
CPUs), checkpoints read safely (``checkpoint``), starting weights (``pretrained``), the
device (``device``) and the authors' training logs (``training_log``).

Nothing is imported here, so that ``maiou.engine.device`` stays cheap for the workflow.
"""
