"""Speed benchmarks against baselines measured in the same run; ``python -m
experiments.benchmarks.<name>``. Their inputs and the published maIoU loop they time against
are the tests' (``tests/scenes.py``, ``tests/maiou_reference.py``)."""
