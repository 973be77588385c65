rule prepare_data:
    """CIFAR-10 download or an ImageFolder dir/.tar.gz -> one cache of uint8 tensors."""
    input:
        [config["data"]["path"]] if config["data"]["source"] == "imagefolder" else [],
    output:
        DATA_CACHE,
    log:
        f"{RESULTS}/logs/prepare_data.log",
    benchmark:
        f"{BENCHMARKS}/prepare_data.tsv"
    params:
        source=config["data"]["source"],
        path=config["data"]["path"] or f"{RESULTS}/data/cifar10",
        image_size=config["data"]["image_size"],
    shell:
        "cnnlens prepare-data --source {params.source} --path {params.path:q}"
        " --image-size {params.image_size} --out {output:q} > {log:q} 2>&1"
