# Datasets. Embedded: generated (deterministic in its parameters). COCO: downloaded.

if PRESET == "embedded":

    rule embedded_dataset:
        # The generator writes .complete last and is idempotent for equal parameters, so the
        # marker alone stands for the whole dataset; a parameter change re-runs this rule.
        output:
            f"{DATA_ROOT}/.complete",
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

    DATASET_MARKER = f"{DATA_ROOT}/.complete"
    PRETRAINED_BACKBONE = f"{DATA_ROOT}/backbone.pth"

    rule embedded_backbone:
        # The embedded runs' stand-in for ImageNet weights: the backbone pretrained once on
        # crops of the train split's objects, loaded by every embedded config
        # (model.backbone.init_cfg; maiou/pretrain_backbone.py says why).
        input:
            DATASET_MARKER,
        output:
            PRETRAINED_BACKBONE,
        params:
            root=DATA_ROOT,
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
            " {PY} -m maiou.pretrain_backbone --data-root {params.root:q} --out {output:q}"
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

    rule coco_download:
        output:
            f"{DATA_ROOT}/downloads/{{name}}.zip",
        wildcard_constraints:
            name="|".join(COCO_HOST),
        params:
            url=lambda wc: coco_url(wc.name),
            md5=lambda wc: config["coco_md5"][f"{wc.name}.zip"],
        log:
            f"{LOGS}/data/download_{{name}}.log",
        retries: 2
        resources:
            downloads=1,
        shell:
            "{PY} -m experiments.scripts.download --url {params.url:q}"
            " --md5 {params.md5} --out {output:q} > {log} 2>&1"

    rule coco_unpack:
        # One marker per archive: the zips unpack into annotations/, val2017/, train2017/.
        # The archive is tested first and the annotation files checked to be COCO.
        input:
            f"{DATA_ROOT}/downloads/{{name}}.zip",
        output:
            touch(f"{DATA_ROOT}/.unpacked_{{name}}"),
        params:
            root=DATA_ROOT,
        log:
            f"{LOGS}/data/unpack_{{name}}.log",
        shell:
            "{PY} -m experiments.scripts.unpack_coco {input:q} --root {params.root:q}"
            " > {log} 2>&1"

    DATASET_MARKER = [f"{DATA_ROOT}/.unpacked_{n}" for n in COCO_NEEDED]

    if PRESET == "coco-train":

        rule imagenet_backbone:
            # The ImageNet ResNet-50 every COCO training starts from, fetched here so that
            # training jobs never touch the network (maiou/pretrained.py); checked against
            # the sha256 prefix in its file name and loaded as tensors only.
            output:
                RESNET50,
            params:
                url=config["resnet50_url"],
            log:
                f"{LOGS}/data/imagenet_backbone.log",
            retries: 2
            resources:
                downloads=1,
            shell:
                "{PY} -m experiments.scripts.download --url {params.url:q}"
                " --hash-in-name --torch-checkpoint --out {output:q} > {log} 2>&1"

        PRETRAINED_BACKBONE = RESNET50
    else:
        PRETRAINED_BACKBONE = []
