"""What the commands (``maiou.train``, ``maiou.evaluate``, ``maiou.pretrain_backbone``) are
built from: loading a config and its batch (``config``, ``batching``), checkpoints read
safely (``checkpoint``), starting weights (``pretrained``), the device (``device``) and the
authors' training logs (``training_log``).

Nothing is imported here, so that ``maiou.engine.device`` stays cheap for the workflow.
"""
