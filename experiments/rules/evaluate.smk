# One metrics.json per run (COCO AP + oLRP for boxes and masks, speed, anchors per image):
# here for released checkpoints and torchrun runs; a run trained in one process is
# evaluated by its train job (common.smk: EVALUATE_IN_TRAINING).

if not EVALUATE_IN_TRAINING:

    rule evaluate:
        input:
            dataset=lambda wc: dataset_marker(seed_of(wc.run)),
            checkpoint=lambda wc: checkpoint_input(wc.run),
            configs=lambda wc: config_files(wc.run),
        output:
            **evaluation_outputs(),
        params:
            config=lambda wc: run_config(wc.run),
            checkpoint=lambda wc: checkpoint_of(wc.run),
            out=lambda wc: f"{RESULTS}/{wc.run}",
            options=eval_options(),
            data_env=lambda wc: data_env(wc.run),
        log:
            f"{LOGS}/evaluate/{{run}}.log",
        benchmark:
            f"{BENCH}/evaluate/{{run}}.tsv"
        threads: config["threads_per_run"]
        resources:
            gpu=1 if USES_GPU else 0,
            # images/s is only clean when nothing else runs: `--resources speed_slot=1` lets
            # one evaluation run at a time (unlimited when not given, like any resource).
            speed_slot=1,
        shell:
            "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.data_env};"
            " {PY} -m maiou.evaluate {params.config:q} {params.checkpoint:q} --out {params.out:q}"
            " {params.options} --no-progress > {log} 2>&1"
