# Per-model analyses of the representative run, and VGG16. Each writes the numbers a notebook plots.

TRAINED = dict(data=DATA_CACHE, checkpoint=f"{RUN_DIR}/model.pt")


rule depth_stats:
    """Sparsity and spatial concentration of each layer's output over the whole test set."""
    input:
        **TRAINED,
    output:
        f"{ANALYSIS_DIR}/depth.csv",
    params:
        args=trained_model_args,
        layers=config["visualise"]["depth_layers"],
    threads: 1
    log:
        f"{RESULTS}/logs/analysis/{{model}}-seed{{seed}}-depth.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/{{model}}-seed{{seed}}-depth.tsv"
    conda:
        ENV
    shell:
        "cnnlens depth-stats {params.args} --layers {params.layers} > {log:q} 2>&1"


rule attention_weights:
    """Channel weights of every attention module for every test image."""
    input:
        **TRAINED,
    output:
        f"{ANALYSIS_DIR}/attention.pt",
    params:
        args=trained_model_args,
    threads: 1
    log:
        f"{RESULTS}/logs/analysis/{{model}}-seed{{seed}}-attention.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/{{model}}-seed{{seed}}-attention.tsv"
    conda:
        ENV
    shell:
        "cnnlens attention-weights {params.args} > {log:q} 2>&1"


rule explain:
    """Grad-CAM and deconvnet projections of the visualised images; ZFNet's top test images per channel."""
    input:
        **TRAINED,
    output:
        f"{ANALYSIS_DIR}/explain.pt",
    params:
        args=trained_model_args,
        layers=config["visualise"]["layers"],
        images_per_class=config["visualise"]["images_per_class"],
        max_images=config["visualise"]["max_images"],
        gradcam_layer=config["visualise"]["gradcam_layer"],
        zfnet_channels=config["visualise"]["zfnet_channels"],
        zfnet_images=config["visualise"]["zfnet_images"],
    threads: 1
    log:
        f"{RESULTS}/logs/analysis/{{model}}-seed{{seed}}-explain.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/{{model}}-seed{{seed}}-explain.tsv"
    conda:
        ENV
    shell:
        "cnnlens explain {params.args} --layers {params.layers} --images-per-class {params.images_per_class}"
        " --max-images {params.max_images}"
        " --gradcam-layer {params.gradcam_layer} --zfnet-channels {params.zfnet_channels}"
        " --zfnet-images {params.zfnet_images} > {log:q} 2>&1"


rule vgg:
    """VGG16 on photos: top-5 classes, channel-mean maps by depth, deconvnet projections."""
    input:
        photos=config["vgg"]["photos"],
        weights=[] if config["vgg"]["weights"] in ("imagenet", "none") else [config["vgg"]["weights"]],
    output:
        f"{RESULTS}/vgg/vgg.pt",
    params:
        weights=config["vgg"]["weights"],
        layers=config["vgg"]["layers"],
    threads: 1
    log:
        f"{RESULTS}/logs/vgg.log",
    benchmark:
        f"{RESULTS}/benchmarks/vgg.tsv"
    conda:
        ENV
    shell:
        "cnnlens vgg --weights {params.weights:q} --photos {input.photos:q} --layers {params.layers}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"
