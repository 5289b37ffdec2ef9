# Shared names and helpers for the rule files. Everything preset-dependent is decided here
# so the rule files read the same for all presets.
import re
import shlex
import sys

from snakemake.exceptions import WorkflowError

# PY (and REPO) are used directly in shell commands: which interpreter runs a step is not
# a parameter of its results, so it is not a `params` entry (no re-runs when it moves).
PY = sys.executable  # the interpreter running snakemake (the project venv), not PATH's
PRESET = config["preset"]
CFG_DIR = "embedded" if PRESET == "embedded" else "coco"  # configs/<CFG_DIR>/<run>.py

if PRESET == "coco-released" and "mayolact_700" in config["runs"]:
    # The authors never released maYOLACT-700 ("Coming Soon" in their README).
    print("note: coco-released skips mayolact_700 (no released checkpoint)", file=sys.stderr)
RUNS = [r for r in config["runs"] if not (PRESET == "coco-released" and r == "mayolact_700")]

DATA_ROOT = (config.get("data_root") or
             ("data/embedded" if PRESET == "embedded" else "data/coco")).rstrip("/")
WORK = f"{config.get('work_root', 'work_dirs')}/{PRESET}"
RESULTS = f"{config.get('results_root', 'results')}/{PRESET}"
REPORTS = config.get("reports_root", "reports")
LOGS = f"logs/{PRESET}"
BENCH = f"benchmarks/{PRESET}"
CKPT_DIR = config.get("checkpoint_dir", "checkpoints/coco")

TABLE_MD = f"{config.get('results_root', 'results')}/table.md"
TABLE_CSV = f"{config.get('results_root', 'results')}/table.csv"
FIGURES = [f"{REPORTS}/ap_olrp_vs_size.png", f"{REPORTS}/speed_accuracy.png",
           f"{REPORTS}/assignment_iou_vs_maiou.png"]
# Runs compared per mask-over-box-ratio bin: ATSS w. IoU and w. maIoU at every size that
# has both among RUNS.
RATIO_RUNS = [run for size in (400, 550, 700)
              if f"atss_iou_{size}" in RUNS and f"atss_maiou_{size}" in RUNS
              for run in (f"atss_iou_{size}", f"atss_maiou_{size}")]
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

# maiou (batch arithmetic, device checks) from this checkout, whatever is installed.
sys.path.insert(0, REPO)
from maiou.batching import BatchError, accumulation_steps  # noqa: E402
from maiou.device import DeviceError, check_coco_device  # noqa: E402

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
    # Before any job (downloads included), not in dry runs: device auto (or cuda) on a
    # machine whose torch sees no GPU stops a coco preset with an estimate of the CPU time.
    # On a cluster executor the jobs' nodes have the GPUs, so this node is not asked.
    if PRESET != "embedded" and workflow.local_exec:
        try:
            check_coco_device(config["device"], PRESET, RUNS, GPUS_PER_RUN)
        except DeviceError as exc:
            raise WorkflowError(str(exc)) from None
RUN_WILDCARD = "|".join(map(re.escape, RUNS)) or "no-run"

wildcard_constraints:
    run=RUN_WILDCARD,


def run_config(run):
    return f"{REPO}/configs/{CFG_DIR}/{run}.py"


_BASE_REF = re.compile(r"""['"]([.]{1,2}/[^'"]+?\.py)['"]""")


def config_files(run):
    """The run's config and every _base_ file it pulls in, recursively. As inputs they make
    an edit to any of them re-run exactly the runs that use it (and the compile step)."""
    todo, seen = [run_config(run)], []
    while todo:
        path = os.path.normpath(todo.pop())
        if path in seen or not os.path.isfile(path):
            continue
        seen.append(path)
        with open(path) as f:
            todo += [os.path.join(os.path.dirname(path), ref) for ref in _BASE_REF.findall(f.read())]
    return seen


def train_options(run):
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
    opts = []
    iters = config.get("max_iters_override")
    if iters:
        # Keep the schedule's shape (configs/embedded/_base_/schedules/sgd_step.py): 5%
        # warm-up, lr / 10 at 80% and 95% (step runs), one checkpoint at the end.
        opts += [f"runner.max_iters={iters}", f"checkpoint_config.interval={iters}",
                 f"evaluation.interval={iters}", f"lr_config.warmup_iters={max(1, round(iters / 20))}"]
        if not run.startswith("mayolact"):  # the cosine schedule has no steps
            steps = sorted({max(1, round(iters * f)) for f in (0.8, 0.95)})
            opts.append("lr_config.step=[{}]".format(",".join(map(str, steps))))
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
    return f"{CKPT_DIR}/{run}.pth" if PRESET == "coco-released" else f"{WORK}/{run}/final.pth"
