"""The pipeline's steps after training: table, figures, downloads. Each runs as
``python -m experiments.scripts.<name>``."""
