# Datasets and starting weights. Embedded: generated (deterministic in its parameters).
# COCO: downloaded. Each lives in a store other pipelines may share (data_root,
# pretrained_dir), so each rule's output is this pipeline's marker (common.smk: READY).

if PRESET == "embedded":

    DATASET_MARKER = ready("dataset", f"{DATA_ROOT}/.complete")
    BACKBONE_FILE = f"{DATA_ROOT}/backbone.pth"
    PRETRAINED_BACKBONE = ready("backbone", BACKBONE_FILE)

    rule embedded_dataset:
        # The generator writes <data_root>/.complete last and does nothing when that holds
        # the same parameters; a parameter change re-runs this rule.
        output:
            touch(DATASET_MARKER),
        params:
            root=DATA_ROOT,
            seed=config["seed"],
            num_train=config["num_train"],
            num_val=config["num_val"],
        log:
            f"{LOGS}/data/embedded_dataset.log",
        benchmark:
            f"{BENCH}/data/embedded_dataset.tsv"
        threads: 1
        shell:
            "{PY} -m maiou.data.synthetic --out {params.root:q} --seed {params.seed}"
            " --num-train {params.num_train} --num-val {params.num_val} --no-progress"
            " > {log} 2>&1"

    rule embedded_backbone:
        # The embedded runs' stand-in for ImageNet weights: the backbone pretrained once on
        # crops of the train split's objects, loaded by every embedded config
        # (model.backbone.init_cfg; maiou/pretrain_backbone.py says why).
        input:
            DATASET_MARKER,
        output:
            touch(PRETRAINED_BACKBONE),
        params:
            root=DATA_ROOT,
            out=BACKBONE_FILE,
            seed=config["seed"],
            iters=(f"--iters {config['pretrain_iters_override']}"
                   if config.get("pretrain_iters_override") else ""),
        log:
            f"{LOGS}/data/embedded_backbone.log",
        benchmark:
            f"{BENCH}/data/embedded_backbone.tsv"
        # Nothing else can run before it (every training needs it): the threads of the two
        # trainings that will follow it side by side.
        threads: 2 * config["threads_per_run"]
        shell:
            "export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads};"
            " {PY} -m maiou.pretrain_backbone --data-root {params.root:q} --out {params.out:q}"
            " --seed {params.seed} {params.iters} --no-progress > {log} 2>&1"

else:
    # COCO 2017 from cocodataset.org, or from `coco_mirror` (same file names); md5s from
    # `coco_md5` (cocodataset.org's by default).
    COCO_HOST = {"annotations_trainval2017": "http://images.cocodataset.org/annotations",
                 "val2017": "http://images.cocodataset.org/zips",
                 "train2017": "http://images.cocodataset.org/zips"}
    COCO_NEEDED = ["annotations_trainval2017", "val2017"] + (
        ["train2017"] if PRESET == "coco-train" else [])

    def coco_url(name):
        base = (config.get("coco_mirror") or COCO_HOST[name]).rstrip("/")
        return f"{base}/{name}.zip"

    def coco_zip(name):
        return f"{DATA_ROOT}/downloads/{name}.zip"

    rule coco_download:
        output:
            touch(f"{READY}/downloads/{{name}}"),
        wildcard_constraints:
            name="|".join(COCO_HOST),
        params:
            url=lambda wc: coco_url(wc.name),
            out=lambda wc: coco_zip(wc.name),
            md5=lambda wc: config["coco_md5"][f"{wc.name}.zip"],
        log:
            f"{LOGS}/data/download_{{name}}.log",
        retries: 2
        resources:
            downloads=1,
        shell:
            "{PY} -m experiments.scripts.download --url {params.url:q}"
            " --md5 {params.md5} --out {params.out:q} > {log} 2>&1"

    rule coco_unpack:
        # The zips unpack into annotations/, val2017/, train2017/ (the script writes
        # <data_root>/.unpacked_<name> and skips an archive unpacked already). The archive
        # is tested first and the annotation files checked to be COCO.
        input:
            lambda wc: ready(f"downloads/{wc.name}", coco_zip(wc.name)),
        output:
            touch(f"{READY}/unpacked_{{name}}"),
        params:
            root=DATA_ROOT,
            zip=lambda wc: coco_zip(wc.name),
        log:
            f"{LOGS}/data/unpack_{{name}}.log",
        shell:
            "{PY} -m experiments.scripts.unpack_coco {params.zip:q} --root {params.root:q}"
            " > {log} 2>&1"

    DATASET_MARKER = [ready(f"unpacked_{n}", f"{DATA_ROOT}/.unpacked_{n}") for n in COCO_NEEDED]

    if PRESET == "coco-train":

        rule imagenet_backbone:
            # The ImageNet ResNet-50 every COCO training starts from, fetched here so that
            # training jobs never touch the network (maiou/engine/pretrained.py); checked against
            # the sha256 prefix in its file name and loaded as tensors only.
            output:
                touch(f"{READY}/resnet50"),
            params:
                url=config["resnet50_url"],
                out=RESNET50,
            log:
                f"{LOGS}/data/imagenet_backbone.log",
            retries: 2
            resources:
                downloads=1,
            shell:
                "{PY} -m experiments.scripts.download --url {params.url:q}"
                " --hash-in-name --torch-checkpoint --out {params.out:q} > {log} 2>&1"

        BACKBONE_FILE = RESNET50
        PRETRAINED_BACKBONE = ready("resnet50", RESNET50)
    else:
        BACKBONE_FILE = None
        PRETRAINED_BACKBONE = []
