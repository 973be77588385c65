rule activations:
    """Layer outputs (and attention weights) of the trained model for a fixed set of test images."""
    input:
        data=DATA_CACHE,
        checkpoint=f"{RUN_DIR}/model.pt",
    output:
        f"{RESULTS}/activations/{{model}}-seed{{seed}}.pt",
    params:
        args=trained_model_args,
        layers=config["visualise"]["layers"],
        images_per_class=config["visualise"]["images_per_class"],
        max_images=config["visualise"]["max_images"],
    log:
        f"{RESULTS}/logs/activations/{{model}}-seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/activations/{{model}}-seed{{seed}}.tsv"
    conda:
        ENV
    shell:
        "cnnlens activations {params.args} --layers {params.layers}"
        " --images-per-class {params.images_per_class} --max-images {params.max_images} > {log:q} 2>&1"
