"""``python tests/snakemake_fast_polling.py ARGS``: snakemake's command line, with the SLURM
executor plugin checking job states every second.

The plugin waits 40 s before its first check and 40 s after every finished job (more while
none finishes) before it asks SLURM again. Against the one-node test cluster, which
answers at once, that wait is most of a test's time; everything else (the profile, sbatch,
the job-state queries, resubmission) is the plugin's own code. Tests only.

The first wait is read from the plugin module's ``common_settings`` when snakemake's plugin
registry first collects the plugins, which importing ``snakemake.cli`` already does: so the
module is patched before that import, and the registry's copy is checked.
"""

import dataclasses
import sys

import snakemake_executor_plugin_slurm

POLL_SECONDS = 1

snakemake_executor_plugin_slurm.common_settings = dataclasses.replace(
    snakemake_executor_plugin_slurm.common_settings, init_seconds_before_status_checks=POLL_SECONDS
)
snakemake_executor_plugin_slurm.Executor.next_seconds_between_status_checks = property(
    lambda self: POLL_SECONDS, lambda self, value: None
)

from snakemake.cli import main  # noqa: E402  (after the patch: this import reads it)
from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry  # noqa: E402

_registered = ExecutorPluginRegistry().get_plugin("slurm").common_settings
if _registered.init_seconds_before_status_checks != POLL_SECONDS:
    sys.exit(
        f"{__file__}: the slurm plugin still waits "
        f"{_registered.init_seconds_before_status_checks} s before its first status check; "
        "this snakemake reads the setting elsewhere, update the patch"
    )

if __name__ == "__main__":
    sys.exit(main())
