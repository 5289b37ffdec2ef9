# Datasets and starting weights. Synthetic: generated (deterministic in its parameters),
# with a train draw and a pretrained backbone per training seed. COCO: downloaded. Each
# lives in a store other pipelines may share (data_root, pretrained_dir), so each rule's
# output is this pipeline's marker (common.smk: READY).

if PRESET.data == "synthetic":

    def dataset_marker(seed):
        """The marker of training seed ``seed``'s dataset (its own train draw)."""
        return ready(f"dataset/seed{seed}", f"{data_root(seed)}/.complete")

    def backbone_file(seed):
        """The backbone the runs of training seed ``seed`` start from (the configs load
        <data root>/backbone.pth)."""
        return f"{data_root(seed)}/backbone.pth"

    def backbone_marker(seed):
        return ready(f"backbone/seed{seed}", backbone_file(seed))

    rule embedded_dataset:
        # The val split is drawn with `seed`, the train split of training seed s with
        # seed + s (maiou/data/synthetic.py). The generator writes <root>/.complete last
        # and does nothing when that holds the same parameters.
        output:
            touch(f"{READY}/dataset/seed{{draw}}"),
        wildcard_constraints:
            draw="[0-9]+",
        params:
            root=lambda wc: data_root(int(wc.draw)),
            seed=config["seed"],
            train_seed=lambda wc: config["seed"] + int(wc.draw),
            num_train=config["num_train"],
            num_val=config["num_val"],
        log:
            f"{LOGS}/data/embedded_dataset_seed{{draw}}.log",
        benchmark:
            f"{BENCH}/data/embedded_dataset_seed{{draw}}.tsv"
        threads: 1
        shell:
            "{PY} -m maiou.data.synthetic --out {params.root:q} --seed {params.seed}"
            " --train-seed {params.train_seed} --num-train {params.num_train}"
            " --num-val {params.num_val} --no-progress > {log} 2>&1"

    rule embedded_backbone:
        # The embedded runs' stand-in for ImageNet weights: the backbone pretrained on
        # crops of the seed's train draw, with seed + s, loaded by every embedded config
        # (model.backbone.init_cfg; maiou/pretrain_backbone.py says why). Its thread count is
        # the runs' (part of the recipe, experiments/recipe.py).
        input:
            lambda wc: dataset_marker(int(wc.draw)),
        output:
            touch(f"{READY}/backbone/seed{{draw}}"),
        wildcard_constraints:
            draw="[0-9]+",
        params:
            root=lambda wc: data_root(int(wc.draw)),
            out=lambda wc: backbone_file(int(wc.draw)),
            seed=lambda wc: config["seed"] + int(wc.draw),
            iters=(f"--iters {config['pretrain_iters_override']}"
                   if config["pretrain_iters_override"] else ""),
        log:
            f"{LOGS}/data/embedded_backbone_seed{{draw}}.log",
        benchmark:
            f"{BENCH}/data/embedded_backbone_seed{{draw}}.tsv"
        threads: config["threads_per_run"]
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

    def coco_url(name):
        base = (config["coco_mirror"] or COCO_HOST[name]).rstrip("/")
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

    COCO_DATASET = [ready(f"unpacked_{n}", f"{DATA_ROOT}/.unpacked_{n}")
                    for n in PRESET.coco_archives]

    def dataset_marker(seed):
        """COCO is one dataset for every seed."""
        return COCO_DATASET

    if PRESET.backbone == "imagenet":

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

    def backbone_file(seed):
        return RESNET50 if PRESET.backbone == "imagenet" else None

    def backbone_marker(seed):
        return ready("resnet50", RESNET50) if PRESET.backbone == "imagenet" else []
