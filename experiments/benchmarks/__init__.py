"""Speed benchmarks against baselines measured in the same run; ``python -m
experiments.benchmarks.<name>``. ``published_maiou`` and ``coco_like`` are shared with the
tests."""
