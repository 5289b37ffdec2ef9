# coco-train: the authors' training logs, the per-epoch curve check and the curves figure.
# The check itself runs inside training (maiou.hooks.TrainingCurveCheckHook, enabled by
# configs/coco/_base_/default_runtime.py through MAIOU_REFERENCE_LOG); these rules fetch
# the logs it reads and draw ours against theirs for the report.

REFERENCE_LOGS = f"{CKPT_DIR}/logs"
LOG_URLS = config["log_urls"]
CURVE_CHECK = f"{RESULTS}/curve_check.json"


def reference_log(key):
    """The authors' log a run key trains against ([] when the run has none)."""
    run = split_key(key)[0]
    if not PRESET.reference_logs or not (registry.get(run).log_drive_id or run in LOG_URLS):
        return []
    return f"{REFERENCE_LOGS}/{run}.log"


def reference_log_ready(key):
    """The marker of the run's reference log in the shared checkpoint_dir ([] without one)."""
    path = reference_log(key)
    return ready(f"logs/{split_key(key)[0]}", path) if path else []


if PRESET.reference_logs:

    rule download_log:
        # Google Drive by default (ids in maiou/runs.py); `log_urls: {run:
        # URL}` fetches a run's log from elsewhere (a mirror, a local server).
        output:
            touch(f"{READY}/logs/{{run}}"),
        params:
            out=lambda wc: f"{REFERENCE_LOGS}/{wc.run}.log",
            url=lambda wc: (f"--log-url {shlex.quote(LOG_URLS[wc.run])}"
                            if wc.run in LOG_URLS else ""),
        log:
            f"{LOGS}/download/log_{{run}}.log",
        retries: 2
        resources:
            downloads=1,
        shell:
            "{PY} -m experiments.scripts.download --log {wildcards.run} {params.url}"
            " --out {params.out:q} > {log} 2>&1"

    CURVE_RUNS = [run for run in RUNS if reference_log(run)]

    rule training_curves:
        input:
            trained=[final_path(WORK, run) for run in RUNS],
            references=[reference_log_ready(run) for run in CURVE_RUNS],
            script=script("plot_training_curves"),
        output:
            png=report(f"{REPORTS}/training_curves.png", caption=caption("training_curves"),
                       category="Figures"),
            check=CURVE_CHECK,
        params:
            work=WORK,
            references=REFERENCE_LOGS,
            runs=RUNS,
        log:
            f"{LOGS}/report/training_curves.log",
        shell:
            "MPLBACKEND=Agg {PY} -m experiments.scripts.plot_training_curves --work {params.work:q}"
            " --reference-dir {params.references:q} --runs {params.runs}"
            " --out {output.png:q} --check {output.check:q} > {log} 2>&1"

    FIGURES.append(f"{REPORTS}/training_curves.png")
