"""Speed benchmarks against baselines measured in the same run; ``python -m
experiments.benchmarks.<name>``. Their inputs and the published maIoU loop they time against
come from ``maiou.testing``, which the tests use too (neither imports the other)."""
