"""``python tests/snakemake_fast_polling.py ARGS``: snakemake's command line, with the SLURM
executor plugin checking job states every second.

The plugin waits 40 s before its first check and 40 s after every finished job (more while
none finishes) before it asks SLURM again. Against the one-node test cluster, which
answers at once, that wait is most of a test's time; everything else (the profile, sbatch,
the job-state queries, resubmission) is the plugin's own code. Tests only.
"""

import dataclasses
import sys

import snakemake_executor_plugin_slurm
from snakemake.cli import main

POLL_SECONDS = 1

snakemake_executor_plugin_slurm.common_settings = dataclasses.replace(
    snakemake_executor_plugin_slurm.common_settings, init_seconds_before_status_checks=POLL_SECONDS
)
snakemake_executor_plugin_slurm.Executor.next_seconds_between_status_checks = property(
    lambda self: POLL_SECONDS, lambda self, value: None
)

if __name__ == "__main__":
    sys.exit(main())
