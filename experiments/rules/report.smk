# The paper-layout table, the figures (AP / oLRP vs size, speed vs accuracy, AP gain of maIoU
# by mask-over-box ratio, positive anchors under IoU vs maIoU) and (embedded) the dataset
# contact sheet. Each is also an entry of Snakemake's report (`snakemake --report
# report.html`), with its caption from experiments/report/ (common.smk: caption).

METRICS = [metrics_path(RESULTS, key) for key in RUN_KEYS]
BOOTSTRAP = f"{RESULTS}/bootstrap.json"
# The per-seed spread of each comparison stored for this preset (experiments/scripts/
# seed_noise.py), pooled or lent by the rule of experiments/reporting/spread.py.
SEED_NOISE = f"{REPO}/experiments/config/seed_noise_{PRESET.name}.json"
SEED_NOISE = SEED_NOISE if os.path.isfile(SEED_NOISE) else None


rule bootstrap:
    # Intervals over seeds x images and verdicts per run and for the table's comparisons
    # (maiou/evaluation/bootstrap.py, intervals.py), read by the table and the size figure.
    input:
        matches=[f"{RESULTS}/{key}/matches.{kind}.npz" for key in RUN_KEYS
                 for kind in ("segm", "bbox")],
        # what each run was trained from: the recipe a stored spread must match
        metrics=METRICS,
        script=script("bootstrap_runs"),
        seed_noise=SEED_NOISE or [],
    output:
        BOOTSTRAP,
    params:
        runs=RUNS,
        results=RESULTS,
        resamples=config["bootstrap_resamples"],
        seed=config["bootstrap_seed"],
        seed_noise=f"--seed-noise {shlex.quote(SEED_NOISE)}" if SEED_NOISE else "",
    log:
        f"{LOGS}/report/bootstrap.log",
    benchmark:
        f"{BENCH}/report/bootstrap.tsv"
    shell:
        "{PY} -m experiments.scripts.bootstrap_runs --results {params.results:q}"
        " --runs {params.runs} {SEED_OPTIONS} --resamples {params.resamples} --seed {params.seed}"
        " {params.seed_noise} --preset {PRESET.name}"
        " --out {output:q} > {log} 2>&1"


rule compile_table:
    input:
        metrics=METRICS,
        bootstrap=BOOTSTRAP,
        curve_check=CURVE_CHECK if PRESET.reference_logs else [],
        script=script("compile_table"),
        registry=REGISTRY,
    output:
        md=report(TABLE_MD, caption=caption("table"), category="Table"),
        csv=report(TABLE_CSV, caption=caption("table_csv"), category="Table"),
        comparisons=report(COMPARISONS_CSV, caption=caption("comparisons_csv"), category="Table"),
    params:
        runs=RUNS,
        preset=PRESET.name,
        results=RESULTS,
        curve_check=f"--curve-check {shlex.quote(CURVE_CHECK)}" if PRESET.reference_logs else "",
    log:
        f"{LOGS}/report/compile_table.log",
    shell:
        "{PY} -m experiments.scripts.compile_table --preset {params.preset}"
        " --results {params.results:q} --runs {params.runs} {SEED_OPTIONS}"
        " {params.curve_check} --bootstrap {input.bootstrap:q}"
        " --md {output.md} --csv {output.csv} --comparisons-csv {output.comparisons}"
        " > {log} 2>&1"


rule plot_results:
    input:
        metrics=METRICS,
        bootstrap=BOOTSTRAP,
        script=script("plot_results"),
        registry=REGISTRY,
    output:
        size=report(f"{REPORTS}/ap_olrp_vs_size.png", caption=caption("ap_olrp_vs_size"),
                    category="Figures"),
        speed=report(f"{REPORTS}/speed_accuracy.png", caption=caption("speed_accuracy"),
                     category="Figures"),
    params:
        runs=RUNS,
        preset=PRESET.name,
        results=RESULTS,
        out_dir=REPORTS,
    log:
        f"{LOGS}/report/plot_results.log",
    shell:
        "MPLBACKEND=Agg {PY} -m experiments.scripts.plot_results --preset {params.preset}"
        " --results {params.results:q} --runs {params.runs} {SEED_OPTIONS}"
        " --bootstrap {input.bootstrap:q} --out-dir {params.out_dir:q}"
        " > {log} 2>&1"


rule ratio_gain:
    input:
        metrics=[metrics_path(RESULTS, key) for key in RATIO_KEYS],
        segm=[f"{RESULTS}/{key}/results.segm.json" for key in RATIO_KEYS],
        script=script("plot_ratio_gain"),
        plots=script("plot_results"),
    output:
        png=report(f"{REPORTS}/ap_gain_by_mask_box_ratio.png",
                   caption=caption("ap_gain_by_mask_box_ratio"), category="Figures"),
        csv=f"{REPORTS}/ap_gain_by_mask_box_ratio.csv",
    params:
        runs=RATIO_RUNS,
        preset=PRESET.name,
        results=RESULTS,
        resamples=config["bootstrap_resamples"],
        seed=config["bootstrap_seed"],
    log:
        f"{LOGS}/report/ratio_gain.log",
    shell:
        "MPLBACKEND=Agg {PY} -m experiments.scripts.plot_ratio_gain --preset {params.preset}"
        " --results {params.results:q} --runs {params.runs} {SEED_OPTIONS}"
        " --resamples {params.resamples} --seed {params.seed} --out {output.png:q} > {log} 2>&1"


rule assignment_picture:
    input:
        dataset=dataset_marker(0),
        configs=config_files(registry.ASSIGNMENT_PICTURE_RUN),
        script=script("assignment_picture"),
    output:
        report(f"{REPORTS}/assignment_iou_vs_maiou.png", caption=caption("assignment_iou_vs_maiou"),
               category="Figures"),
    params:
        config=run_config(registry.ASSIGNMENT_PICTURE_RUN),
        data_env=data_env(registry.ASSIGNMENT_PICTURE_RUN),
    log:
        f"{LOGS}/report/assignment_picture.log",
    shell:
        "export {params.data_env}; MPLBACKEND=Agg {PY} -m experiments.scripts.assignment_picture"
        " {params.config:q} --out {output:q} > {log} 2>&1"


if PRESET.data == "synthetic":

    rule contact_sheet:
        input:
            dataset_marker(0),
        output:
            report(f"{REPORTS}/embedded_contact_sheet.png",
                   caption=caption("embedded_contact_sheet"), category="Data"),
        params:
            root=DATA_ROOT,
        log:
            f"{LOGS}/report/contact_sheet.log",
        shell:
            "MPLBACKEND=Agg {PY} -m experiments.scripts.contact_sheet --data {params.root:q}"
            " --out {output} > {log} 2>&1"
