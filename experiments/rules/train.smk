# Checkpoints per run: trained (embedded, coco-train) or downloaded (coco-released).

if PRESET.trains:

    rule train:
        # Only final.pth is declared: the epoch/iter checkpoints beside it stay undeclared,
        # so Snakemake never deletes them after a failure and a re-run resumes from them
        # (a finished run is then only marked and evaluated). maiou.rundir prepares the work
        # dir first: a run trained from other configs, starting weights or options is moved
        # aside (<run>.superseded) and starts afresh. In one process the run is evaluated
        # right after it trains (common.smk: EVALUATE_IN_TRAINING).
        input:
            dataset=lambda wc: dataset_marker(seed_of(wc.run)),
            configs=lambda wc: config_files(wc.run),
            backbone=lambda wc: backbone_marker(seed_of(wc.run)),
            # coco-train: the authors' log the per-epoch curve check compares with.
            reference=lambda wc: reference_log_ready(wc.run),
        output:
            final=final_path(WORK, "{run}"),
            **(evaluation_outputs() if EVALUATE_IN_TRAINING else {}),
        params:
            config=lambda wc: run_config(wc.run),
            # its bytes are part of the run's fingerprint
            backbone=lambda wc: backbone_file(seed_of(wc.run)),
            work_dir=lambda wc: f"{WORK}/{wc.run}",
            options=lambda wc: train_options(wc.run),
            validate="" if config["validate_during_training"] else "--no-validate",
            seed=lambda wc: seed_of(wc.run),  # the training seed of this run key
            device=config["device"],
            # coco-train also names the authors' log for the curve check (default_runtime.py).
            data_env=lambda wc: data_env(wc.run) + "".join(
                f" MAIOU_REFERENCE_LOG={shlex.quote(ref)}"
                for ref in [reference_log(wc.run)] if ref),
            # --standalone: each run's rendezvous on a free local port (runs side by side).
            launch=(f"-m torch.distributed.run --standalone --nproc_per_node={GPUS_PER_RUN}"
                    " -m maiou.train" if GPUS_PER_RUN > 1 else "-m maiou.train"),
            launcher="--launcher pytorch" if GPUS_PER_RUN > 1 else "",
            # Each process's threads; the job's `threads` count all its processes.
            process_threads=config["threads_per_run"],
            evaluate=lambda wc: (f"--evaluate-to {shlex.quote(f'{RESULTS}/{wc.run}')} "
                                 f"{eval_options(with_device=False)}"
                                 if EVALUATE_IN_TRAINING else ""),
        log:
            f"{LOGS}/train/{{run}}.log",
        benchmark:
            f"{BENCH}/train/{{run}}.tsv"
        # A distributed run starts one process per GPU, each with threads_per_run threads.
        threads: config["threads_per_run"] * GPUS_PER_RUN
        resources:
            gpu=GPUS_PER_RUN if PRESET.distributed and config["device"] != "cpu" else 0,
            # With the evaluation inside, `--resources speed_slot=1` runs these jobs one at
            # a time, as it does evaluations (clean images/s).
            speed_slot=1 if EVALUATE_IN_TRAINING else 0,
        shell:
            """
            {PY} -m maiou.rundir prepare {params.work_dir:q} --seed {params.seed} \
                --inputs {input.configs:q} {params.backbone:q} --options={params.options:q} > {log} 2>&1
            export OMP_NUM_THREADS={params.process_threads} MKL_NUM_THREADS={params.process_threads} \
                {params.data_env}
            {PY} {params.launch} {params.config:q} --work-dir {params.work_dir:q} \
                --seed {params.seed} --device {params.device} {params.validate} {params.launcher} \
                {params.options} {params.evaluate} >> {log} 2>&1
            """

else:  # released checkpoints

    rule download_checkpoint:
        # The authors' checkpoints live on Google Drive (ids in maiou/runs.py);
        # `checkpoint_urls` points a run elsewhere (a mirror). Either way the file must load
        # as tensors only. The file goes to the shared checkpoint_dir; the output is this
        # pipeline's marker (common.smk: READY).
        output:
            touch(f"{READY}/checkpoints/{{run}}"),
        params:
            out=lambda wc: checkpoint_of(wc.run),
            source=lambda wc: (f"--url {shlex.quote(config['checkpoint_urls'][wc.run])}"
                               f" --torch-checkpoint"
                               if wc.run in config["checkpoint_urls"]
                               else f"--run {wc.run}"),
        log:
            f"{LOGS}/download/{{run}}.log",
        retries: 2
        resources:
            downloads=1,
        shell:
            "{PY} -m experiments.scripts.download {params.source}"
            " --out {params.out:q} > {log} 2>&1"
