# maIoU reproduction workflow. Thin: configuration + includes; the rules live in
# experiments/rules/, the work in python modules and experiments/scripts/.
#
#   snakemake --cores all                     # embedded preset: data, 11 runs, table, figures
#   snakemake --cores all results/table.md    # only what the table needs
#   snakemake -n --config preset=coco-released
#   snakemake --cores all --config 'runs=[RUN,RUN]' max_iters_override=5   # runs: maiou/runs.py
#   snakemake --cores all --resources speed_slot=1   # evaluations one at a time (clean fps)
#
# Paths to code and configs are anchored at the Snakefile's folder (REPO) so that
# `--directory DIR` puts every output under DIR while the code stays where it is.
import os

from snakemake.utils import min_version, validate

min_version("9.0")

REPO = workflow.basedir
configfile: os.path.join(REPO, "experiments/config/config.yaml")
# Fills every key not given with its default: schema.yaml is the defaults' one home.
validate(config, os.path.join(REPO, "experiments/config/schema.yaml"))
report: os.path.join(REPO, "experiments/report/workflow.rst")


include: "experiments/rules/common.smk"
include: "experiments/rules/data.smk"
include: "experiments/rules/curves.smk"
include: "experiments/rules/train.smk"
include: "experiments/rules/evaluate.smk"
include: "experiments/rules/report.smk"


onerror:
    # Each failed job's reason line, from its log (experiments/failures.py).
    from experiments.failures import report

    report(log)


rule all:
    input:
        TABLE_MD,
        TABLE_CSV,
        COMPARISONS_CSV,
        FIGURES,
    default_target: True
