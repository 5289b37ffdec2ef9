# Shared names and helpers for the rule files. Everything preset-dependent is decided here
# so the rule files read the same for all presets.
import importlib.util
import json
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError

from experiments import recipe
from maiou.rundir import final_path, metrics_path, run_key, split_key  # a run's folders
from maiou import runs as registry
from maiou.engine.batching import BatchError, accumulation_steps
from maiou.engine.device import DeviceError, check_coco_device, check_cuda_driver

# PY (and REPO) are used directly in shell commands: which interpreter runs a step is not
# a parameter of its results, so it is not a `params` entry (no re-runs when it moves).
PY = sys.executable  # the interpreter running snakemake (the project venv), not PATH's
PRESET = config["preset"]
CFG_DIR = recipe.config_dir(PRESET)  # configs/<CFG_DIR>/<run>.py

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
# coco-released evaluates the released checkpoints; runs without one are left out.
UNRELEASED = [r for r in REQUESTED
              if PRESET == "coco-released" and not registry.get(r).checkpoint_drive_id]
if UNRELEASED:
    print(f"note: coco-released skips {', '.join(UNRELEASED)} (no released checkpoint)",
          file=sys.stderr)
RUNS = [r for r in REQUESTED if r not in UNRELEASED]
# Per-run URL overrides (a mirror, a local server) name registered runs only.
for key in ("checkpoint_urls", "log_urls"):
    try:
        registry.check_names(config.get(key) or {})
    except registry.UnknownRunError as exc:
        raise ValueError(f"config '{key}': {exc}") from None

# Training seeds. Seed 0's runs live where single-seed runs always did (<root>/<run>),
# seed s's under <root>/seed<s>/<run> (maiou/rundir.py); the `run` wildcard below is
# such a run key. The released checkpoints are one model per run: one "seed".
# `seeds: null` (config.yaml) takes the preset's default: the embedded run trains several
# seeds so that every verdict reads its own seed spread (docs/embedded-benchmark.md says how
# many fit the default budget); a COCO run is days of GPU time per seed.
DEFAULT_SEEDS = {"embedded": [0, 1, 2], "coco-train": [0], "coco-released": [0]}
SEEDS = [int(s) for s in (config.get("seeds") or DEFAULT_SEEDS[PRESET])]  # strings from the CLI
if len(set(SEEDS)) < len(SEEDS):
    raise ValueError(f"config key 'seeds': {config['seeds']} names a seed twice")
if PRESET == "coco-released" and SEEDS != [0]:
    print("note: coco-released evaluates the released checkpoints once; seeds ignored",
          file=sys.stderr)
    SEEDS = [0]
RUN_KEYS = [run_key(r, s) for s in SEEDS for r in RUNS]

DATA_ROOT = (config.get("data_root") or
             ("data/embedded" if PRESET == "embedded" else "data/coco")).rstrip("/")
WORK = f"{config.get('work_root', 'work_dirs')}/{PRESET}"
RESULTS = f"{config.get('results_root', 'results')}/{PRESET}"
REPORTS = config.get("reports_root", "reports")
LOGS = f"logs/{PRESET}"
BENCH = f"benchmarks/{PRESET}"
CKPT_DIR = config.get("checkpoint_dir", "checkpoints/coco")
# Files in stores several pipelines may share (data_root, checkpoint_dir, pretrained_dir)
# are never rule outputs: Snakemake deletes a job's outputs before running it, which would
# delete a file another pipeline has just made. Their rules declare a marker in this
# pipeline's own folder instead (the scripts lock and reuse the shared file, maiou/utils/store.py).
READY = f"ready/{PRESET}"


def ready(name, path):
    """The marker ``READY/name`` standing for the shared file ``path``. A marker whose file
    has gone is removed, so the rule that makes the file runs again."""
    marker = f"{READY}/{name}"
    if os.path.exists(marker) and not os.path.exists(path):
        os.remove(marker)
    return marker


TABLE_MD = f"{config.get('results_root', 'results')}/table.md"
TABLE_CSV = f"{config.get('results_root', 'results')}/table.csv"
FIGURES = [f"{REPORTS}/ap_olrp_vs_size.png", f"{REPORTS}/speed_accuracy.png",
           f"{REPORTS}/assignment_iou_vs_maiou.png"]
# Runs compared per mask-over-box-ratio bin: ATSS w. IoU and w. maIoU at every size that
# has both among RUNS.
RATIO_RUNS = [run for pair in registry.ratio_pairs(RUNS) for run in pair]
RATIO_KEYS = [run_key(r, s) for s in SEEDS for r in RATIO_RUNS]
if RATIO_RUNS:
    FIGURES.append(f"{REPORTS}/ap_gain_by_mask_box_ratio.png")
if PRESET == "embedded":
    FIGURES.append(f"{REPORTS}/embedded_contact_sheet.png")

# The ImageNet ResNet-50 of the coco-train runs, downloaded by the imagenet_backbone rule
# under its own file name (whose hex part is checked against the file's sha256).
RESNET50 = (f"{config.get('pretrained_dir', 'checkpoints/imagenet').rstrip('/')}/"
            f"{os.path.basename(config['resnet50_url'])}")

# The configs read their dataset root from these variables (configs/*/_base_/datasets), and
# the COCO models their ImageNet weights from MAIOU_RESNET50 (configs/coco/_base_/models).
DATA_ENV = ("MAIOU_EMBEDDED_ROOT" if PRESET == "embedded" else "MAIOU_COCO_ROOT") + "=" + \
    shlex.quote(DATA_ROOT)
if PRESET == "coco-train":
    DATA_ENV += " MAIOU_RESNET50=" + shlex.quote(RESNET50)

GPUS_PER_RUN = config.get("gpus_per_run", 1)
if PRESET == "coco-train":
    # The paper's batch whatever the GPU count: gpus x samples_per_gpu x accumulation =
    # images_per_step (32); maiou.train applies it, this refuses a bad count before any job.
    COCO_SAMPLES_PER_GPU = config.get("samples_per_gpu") or 8  # configs/coco: 8 per GPU
    try:
        ACCUMULATION = accumulation_steps(GPUS_PER_RUN, COCO_SAMPLES_PER_GPU,
                                          config["images_per_step"])
    except BatchError as exc:
        raise WorkflowError(f"config gpus_per_run: {exc}") from None
    print(f"coco-train: {GPUS_PER_RUN} GPU(s) x {COCO_SAMPLES_PER_GPU} images x accumulation "
          f"{ACCUMULATION} = {config['images_per_step']} images per optimizer step",
          file=sys.stderr)

onstart:
    # Before any job (downloads included), not in dry runs: a torch built for a newer CUDA
    # than the driver supports is named with what to do; device auto (or cuda) on a machine
    # whose torch sees no GPU stops a coco preset with an estimate of the CPU time. On a
    # cluster executor the jobs' nodes have the GPUs, so this node is not asked.
    if workflow.local_exec:
        try:
            if config["device"] == "cuda" or (config["device"] == "auto" and PRESET != "embedded"):
                check_cuda_driver()
            if PRESET != "embedded":
                check_coco_device(config["device"], PRESET, RUNS, GPUS_PER_RUN)
        except DeviceError as exc:
            raise WorkflowError(str(exc)) from None

RUN_WILDCARD = ("(?:seed[1-9][0-9]*/)?(?:" + "|".join(map(re.escape, RUNS)) + ")"
                if RUNS else "no-run")

wildcard_constraints:
    run=RUN_WILDCARD,


def run_config(key):
    """The config file of a run key ('atss_iou_400' or 'seed2/atss_iou_400')."""
    return f"{REPO}/{registry.get(split_key(key)[0]).config(CFG_DIR)}"


def script(name):
    """The file that `python -m experiments.scripts.<name>` runs (a step's input, so that
    editing it redoes the step), found without importing it."""
    try:
        return importlib.util.find_spec(f"experiments.scripts.{name}").origin
    except ModuleNotFoundError:
        raise ValueError("the package 'experiments' is not importable: run ./setup.sh (it "
                         "installs maiou and experiments into .venv)") from None


# The run registry is an input of the steps that read published numbers or run names.
REGISTRY = registry.__file__


def config_files(run):
    """The run's config and every _base_ file it pulls in, recursively. As inputs they make
    an edit to any of them re-run exactly the runs that use it (and the compile step)."""
    return recipe.config_files(run_config(run))


# The workflow settings that, with the config files, make the recipe a seed spread belongs
# to (experiments/recipe.py); the one-seed verdict checks the stored spread against them.
RECIPE_SETTINGS = json.dumps(recipe.settings(config), sort_keys=True)


def train_options(key):
    """--cfg-options for the training command (batch and smoke-test knobs), as one string."""
    if PRESET == "coco-train":
        opts = [f"images_per_step={config['images_per_step']}"]
        if config.get("samples_per_gpu"):
            opts.append(f"data.samples_per_gpu={config['samples_per_gpu']}")
        if config.get("workers_per_gpu") is not None:
            opts.append(f"data.workers_per_gpu={config['workers_per_gpu']}")
        if config.get("max_epochs_override"):
            opts.append(f"runner.max_epochs={config['max_epochs_override']}")
        return "--cfg-options " + " ".join(shlex.quote(o) for o in opts)
    if PRESET != "embedded":
        return ""
    # The schedule follows the run's length (maiou.engine.config.derive_schedule).
    opts = []
    if config.get("max_iters_override"):
        opts.append(f"runner.max_iters={config['max_iters_override']}")
    if config.get("samples_per_gpu"):
        opts.append(f"data.samples_per_gpu={config['samples_per_gpu']}")
    return ("--cfg-options " + " ".join(shlex.quote(o) for o in opts)) if opts else ""


def eval_options():
    opts = f"--device {config['device']} --speed-images {config.get('speed_images', 50)}"
    if config.get("max_images"):
        opts += f" --max-images {config['max_images']}"
    return opts


def gpu_resources():
    """GPUs an evaluation asks the scheduler for: device cuda, or auto on a coco preset."""
    return 1 if config["device"] == "cuda" or (
        config["device"] == "auto" and PRESET != "embedded") else 0


def checkpoint_of(run):
    return f"{CKPT_DIR}/{run}.pth" if PRESET == "coco-released" else final_path(WORK, run)


def checkpoint_input(run):
    """What the evaluation of ``run`` waits for: the released checkpoint's marker, or the
    trained checkpoint itself."""
    if PRESET == "coco-released":
        return ready(f"checkpoints/{run}", checkpoint_of(run))
    return checkpoint_of(run)
