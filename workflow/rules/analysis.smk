# Analyses of trained runs (one generic rule, driven by cnnlens.registry.ANALYSES), and VGG16 on photos.


rule analysis:
    """One registered analysis of one trained run (cnnlens.registry.ANALYSES), such as activations or faithfulness."""
    input:
        data=DATA_CACHE,
        checkpoint=f"{RUN_DIR}/model.pt",
    output:
        ANALYSIS,
    log:
        f"{RESULTS}/logs/analysis/{{model}}-seed{{seed}}-{{analysis}}.log",
    benchmark:
        f"{BENCHMARKS}/analysis/{{model}}-seed{{seed}}-{{analysis}}.tsv"
    threads: 1
    params:
        architecture=architecture,
        settings=lambda wildcards: settings_of(ANALYSES[wildcards.analysis].settings),
    shell:
        "cnnlens analyse {wildcards.analysis} --data {input.data:q} --model {wildcards.model}"
        " --architecture {params.architecture:q} --seed {wildcards.seed} --checkpoint {input.checkpoint:q}"
        " --threads {threads} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule vgg:
    """VGG16 on photos: top-5 classes, channel-mean maps by depth, deconvnet projections."""
    input:
        photos=config["vgg"]["photos"],
        weights=[] if config["vgg"]["weights"] in ("imagenet", "none") else [config["vgg"]["weights"]],
    output:
        VGG,
    log:
        f"{RESULTS}/logs/vgg.log",
    benchmark:
        f"{BENCHMARKS}/vgg.tsv"
    threads: 1
    params:
        weights=config["vgg"]["weights"],
        layers=config["vgg"]["layers"],
    shell:
        "cnnlens vgg --weights {params.weights:q} --photos {input.photos:q} --layers {params.layers}"
        " --threads {threads} --out {output:q} > {log:q} 2>&1"
