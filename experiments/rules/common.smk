# Shared names and helpers for the rule files. What a preset is comes from its record
# (experiments/presets.py); the rule files ask the record, never the preset's name.
import importlib.util
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError

from experiments import presets, recipe
from maiou.rundir import final_path, metrics_path, run_key, seed_dir, split_key  # a run's folders
from maiou import runs as registry
from maiou.engine.batching import BatchError, accumulation_steps
from maiou.engine.device import DeviceError, check_coco_device, check_cuda_driver

# PY (and REPO) are used directly in shell commands: which interpreter runs a step is not
# a parameter of its results, so it is not a `params` entry (no re-runs when it moves).
PY = sys.executable  # the interpreter running snakemake (the project venv), not PATH's
PRESET = presets.get(config["preset"])

# The runs come from the registry (maiou/runs.py): a group (`runs: all`, the paper's runs),
# or a list of its names.
REQUESTED = config["runs"]
if isinstance(REQUESTED, str):
    if REQUESTED not in registry.GROUPS:
        raise ValueError(f"config 'runs': no group {REQUESTED!r}; the groups are "
                         f"{', '.join(registry.GROUPS)}, or give a list of run names "
                         "(maiou/runs.py)")
    REQUESTED = registry.GROUPS[REQUESTED]
try:
    REQUESTED = registry.check_names(REQUESTED)
except registry.UnknownRunError as exc:
    raise ValueError(f"config 'runs': {exc}") from None
# A preset that evaluates released checkpoints leaves out the runs without one.
UNRELEASED = [r for r in REQUESTED
              if not PRESET.trains and not registry.get(r).checkpoint_drive_id]
if UNRELEASED:
    print(f"note: {PRESET.name} skips {', '.join(UNRELEASED)} (no released checkpoint)",
          file=sys.stderr)
RUNS = [r for r in REQUESTED if r not in UNRELEASED]
# Per-run URL overrides (a mirror, a local server) name registered runs only.
for key in ("checkpoint_urls", "log_urls"):
    try:
        registry.check_names(config[key])
    except registry.UnknownRunError as exc:
        raise ValueError(f"config '{key}': {exc}") from None

# Training seeds. Seed 0's runs live where single-seed runs always did (<root>/<run>),
# seed s's under <root>/seed<s>/<run> (maiou/rundir.py); the `run` wildcard below is
# such a run key. The primary endpoint's runs train every seed, the others the first
# `secondary_seeds` (presets.run_seeds). Released checkpoints are one model per run.
SEEDS = [int(s) for s in (config["seeds"] or PRESET.seeds)]  # strings from the CLI
if len(set(SEEDS)) < len(SEEDS):
    raise ValueError(f"config key 'seeds': {config['seeds']} names a seed twice")
if not PRESET.trains and SEEDS != [0]:
    print(f"note: {PRESET.name} evaluates the released checkpoints once; seeds ignored",
          file=sys.stderr)
    SEEDS = [0]
SECONDARY_SEEDS = (PRESET.secondary_seeds if config["secondary_seeds"] is None
                   else config["secondary_seeds"])
RUN_SEEDS = presets.run_seeds(RUNS, SEEDS, SECONDARY_SEEDS)
RUN_KEYS = [run_key(r, s) for s in SEEDS for r in RUNS if s in RUN_SEEDS[r]]
# The same allocation, for the report steps (which recompute it from these).
SEED_OPTIONS = f"--seeds {' '.join(map(str, SEEDS))} --secondary-seeds {SECONDARY_SEEDS}"

DATA_ROOT = (config["data_root"] or PRESET.data_root).rstrip("/")
WORK = f"{config['work_root']}/{PRESET.name}"
RESULTS = f"{config['results_root']}/{PRESET.name}"
REPORTS = config["reports_root"]
LOGS = f"logs/{PRESET.name}"
BENCH = f"benchmarks/{PRESET.name}"
CKPT_DIR = config["checkpoint_dir"]
# Files in stores several pipelines may share (data_root, checkpoint_dir, pretrained_dir)
# are never rule outputs: Snakemake deletes a job's outputs before running it, which would
# delete a file another pipeline has just made. Their rules declare a marker in this
# pipeline's own folder instead (the scripts lock and reuse the shared file, maiou/utils/store.py).
READY = f"ready/{PRESET.name}"


def ready(name, path):
    """The marker ``READY/name`` standing for the shared file ``path``. A marker whose file
    has gone is removed, so the rule that makes the file runs again."""
    marker = f"{READY}/{name}"
    if os.path.exists(marker) and not os.path.exists(path):
        os.remove(marker)
    return marker


def seed_of(key):
    """The training seed of a run key ('atss_iou_400' -> 0, 'seed2/atss_iou_400' -> 2)."""
    return split_key(key)[1]


def data_root(seed):
    """The data the runs of training seed ``seed`` train on: with a draw per seed
    (presets.Preset.draw_per_seed) seed s's own folder (seed 0's is DATA_ROOT itself, as
    for run keys), else DATA_ROOT. Every draw holds the same val split."""
    return str(seed_dir(DATA_ROOT, seed)) if PRESET.draw_per_seed else DATA_ROOT


TABLE_MD = f"{config['results_root']}/table.md"
TABLE_CSV = f"{config['results_root']}/table.csv"
COMPARISONS_CSV = f"{config['results_root']}/comparisons.csv"
FIGURES = [f"{REPORTS}/ap_olrp_vs_size.png", f"{REPORTS}/speed_accuracy.png",
           f"{REPORTS}/assignment_iou_vs_maiou.png"]
# Runs compared per mask-over-box-ratio bin: ATSS w. IoU and w. maIoU at every size that
# has both among RUNS.
RATIO_RUNS = [run for pair in registry.ratio_pairs(RUNS) for run in pair]
RATIO_KEYS = [key for key in RUN_KEYS if split_key(key)[0] in RATIO_RUNS]
if RATIO_RUNS:
    FIGURES.append(f"{REPORTS}/ap_gain_by_mask_box_ratio.png")
if PRESET.data == "synthetic":
    FIGURES.append(f"{REPORTS}/embedded_contact_sheet.png")

# The ImageNet ResNet-50 of the coco-train runs, downloaded by the imagenet_backbone rule
# under its own file name (whose hex part is checked against the file's sha256).
RESNET50 = f"{config['pretrained_dir'].rstrip('/')}/{os.path.basename(config['resnet50_url'])}"


def data_env(key):
    """The environment a run key's jobs read their data root from (configs/*/_base_/
    datasets) and, on coco-train, the COCO models their ImageNet weights from
    (configs/coco/_base_/models)."""
    env = f"{PRESET.data_env}={shlex.quote(data_root(seed_of(key)))}"
    if PRESET.backbone == "imagenet":
        env += " MAIOU_RESNET50=" + shlex.quote(RESNET50)
    return env


GPUS_PER_RUN = config["gpus_per_run"] if PRESET.distributed else 1
if PRESET.distributed:
    # The paper's batch whatever the GPU count: gpus x samples_per_gpu x accumulation =
    # images_per_step (32); maiou.train applies it, this refuses a bad count before any job.
    SAMPLES_PER_GPU = config["samples_per_gpu"] or 8  # configs/coco: 8 per GPU
    try:
        ACCUMULATION = accumulation_steps(GPUS_PER_RUN, SAMPLES_PER_GPU,
                                          config["images_per_step"])
    except BatchError as exc:
        raise WorkflowError(f"config gpus_per_run: {exc}") from None
    print(f"{PRESET.name}: {GPUS_PER_RUN} GPU(s) x {SAMPLES_PER_GPU} images x accumulation "
          f"{ACCUMULATION} = {config['images_per_step']} images per optimizer step",
          file=sys.stderr)

# Whether the jobs use a GPU: device cuda, or auto on a preset that needs one.
USES_GPU = config["device"] == "cuda" or (config["device"] == "auto" and PRESET.needs_gpu)
# A run trained in one process is evaluated in that process (maiou.train --evaluate-to):
# torch and mmdet load once per run instead of twice. Released checkpoints and torchrun
# runs are evaluated by the evaluate rule.
EVALUATE_IN_TRAINING = PRESET.trains and GPUS_PER_RUN == 1


def evaluation_outputs():
    """What evaluating a run key writes: metrics.json, the COCO results and the per-image
    matchings the bootstrap re-weights."""
    return dict(
        metrics=metrics_path(RESULTS, "{run}"),
        bbox=f"{RESULTS}/{{run}}/results.bbox.json",
        segm=f"{RESULTS}/{{run}}/results.segm.json",
        matches_bbox=f"{RESULTS}/{{run}}/matches.bbox.npz",
        matches_segm=f"{RESULTS}/{{run}}/matches.segm.npz",
    )


onstart:
    # Before any job (downloads included), not in dry runs: a torch built for a newer CUDA
    # than the driver supports is named with what to do; device auto (or cuda) on a machine
    # whose torch sees no GPU stops a preset that needs one with an estimate of the CPU
    # time. On a cluster executor the jobs' nodes have the GPUs, so this node is not asked.
    if workflow.local_exec:
        try:
            if USES_GPU:
                check_cuda_driver()
            if PRESET.needs_gpu:
                check_coco_device(config["device"], PRESET.trains, RUNS, GPUS_PER_RUN)
        except DeviceError as exc:
            raise WorkflowError(str(exc)) from None

RUN_WILDCARD = ("(?:seed[1-9][0-9]*/)?(?:" + "|".join(map(re.escape, RUNS)) + ")"
                if RUNS else "no-run")

wildcard_constraints:
    run=RUN_WILDCARD,


def run_config(key):
    """The config file of a run key ('atss_iou_400' or 'seed2/atss_iou_400')."""
    return f"{REPO}/{registry.get(split_key(key)[0]).config(PRESET.config_dir)}"


def script(name):
    """The file that `python -m experiments.scripts.<name>` runs (a step's input, so that
    editing it redoes the step), found without importing it."""
    try:
        return importlib.util.find_spec(f"experiments.scripts.{name}").origin
    except ModuleNotFoundError:
        raise ValueError("the package 'experiments' is not importable: run ./setup.sh (it "
                         "installs maiou and experiments into .venv)") from None


def caption(name):
    """The caption of a report entry (`snakemake --report`): experiments/report/<name>.rst."""
    return f"{REPO}/experiments/report/{name}.rst"


# The run registry is an input of the steps that read published numbers or run names.
REGISTRY = registry.__file__


def config_files(run):
    """The run's config and every _base_ file it pulls in, recursively. As inputs they make
    an edit to any of them re-run exactly the runs that use it (and the compile step)."""
    return recipe.config_files(run_config(run))


def train_options(key):
    """--cfg-options for the training command (batch and smoke-test knobs), as one string."""
    if PRESET.distributed:
        opts = [f"images_per_step={config['images_per_step']}"]
        if config["samples_per_gpu"]:
            opts.append(f"data.samples_per_gpu={config['samples_per_gpu']}")
        if config["workers_per_gpu"] is not None:
            opts.append(f"data.workers_per_gpu={config['workers_per_gpu']}")
        if config["max_epochs_override"]:
            opts.append(f"runner.max_epochs={config['max_epochs_override']}")
    else:
        # The schedule follows the run's length (maiou.engine.config.derive_schedule).
        opts = [f"runner.max_iters={config['max_iters_override']}"] if config["max_iters_override"] else []
        if config["samples_per_gpu"]:
            opts.append(f"data.samples_per_gpu={config['samples_per_gpu']}")
    return ("--cfg-options " + " ".join(shlex.quote(o) for o in opts)) if opts else ""


def eval_options(with_device=True):
    """maiou.evaluate's options (maiou.train takes them too, less --device, which it has)."""
    opts = f"--speed-images {config['speed_images']}"
    if with_device:
        opts = f"--device {config['device']} " + opts
    if config["max_images"]:
        opts += f" --max-images {config['max_images']}"
    return opts


def checkpoint_of(run):
    return final_path(WORK, run) if PRESET.trains else f"{CKPT_DIR}/{run}.pth"


def checkpoint_input(run):
    """What the evaluation of ``run`` waits for: the trained checkpoint itself, or the
    released checkpoint's marker."""
    if PRESET.trains:
        return checkpoint_of(run)
    return ready(f"checkpoints/{run}", checkpoint_of(run))
