# The paper-layout table, the figures and (embedded) the dataset contact sheet.

METRICS = [f"{RESULTS}/{run}/metrics.json" for run in RUNS]


rule compile_table:
    input:
        metrics=METRICS,
        script=f"{REPO}/experiments/scripts/compile_table.py",
        paper=f"{REPO}/experiments/paper_numbers.py",
    output:
        md=TABLE_MD,
        csv=TABLE_CSV,
    params:
        runs=RUNS,
        preset=PRESET,
        results=RESULTS,
    log:
        f"{LOGS}/report/compile_table.log",
    shell:
        "{PY} {input.script} --preset {params.preset} --results {params.results:q} --runs {params.runs}"
        " --md {output.md} --csv {output.csv} > {log} 2>&1"


rule plot_results:
    input:
        metrics=METRICS,
        script=f"{REPO}/experiments/scripts/plot_results.py",
        paper=f"{REPO}/experiments/paper_numbers.py",
    output:
        size=f"{REPORTS}/ap_olrp_vs_size.png",
        speed=f"{REPORTS}/speed_accuracy.png",
    params:
        runs=RUNS,
        preset=PRESET,
        results=RESULTS,
        out_dir=REPORTS,
    log:
        f"{LOGS}/report/plot_results.log",
    shell:
        "MPLBACKEND=Agg {PY} {input.script} --preset {params.preset} --results {params.results:q}"
        " --runs {params.runs} --out-dir {params.out_dir:q} > {log} 2>&1"


if PRESET == "embedded":

    rule contact_sheet:
        input:
            DATASET_MARKER,
        output:
            f"{REPORTS}/embedded_contact_sheet.png",
        params:
            root=DATA_ROOT,
        log:
            f"{LOGS}/report/contact_sheet.log",
        shell:
            "MPLBACKEND=Agg {PY} {REPO}/experiments/scripts/contact_sheet.py --data {params.root:q}"
            " --out {output} > {log} 2>&1"
