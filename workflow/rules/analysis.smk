# Analyses of trained runs (one generic rule, driven by cnnlens.registry.ANALYSES), and VGG16 on photos.


rule analysis:
    """One registered analysis of one trained run (cnnlens.registry.ANALYSES), such as activations or faithfulness."""
    input:
        unpack(analysis_input),
    output:
        f"{RESULTS}/analysis/{{model}}-seed{{seed}}/{{key}}/{{analysis}}.pt",
    log:
        f"{RESULTS}/logs/analysis/{{analysis}}-{{model}}-seed{{seed}}-{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/analysis/{{analysis}}-{{model}}-seed{{seed}}-{{key}}.tsv"
    threads: 1
    resources:
        gpu=lambda wildcards: int(LAYOUT.analysis_device(wildcards.analysis) != "cpu"),  # as the train rule's
    params:
        settings=analysis_settings,
    shell:
        "cnnlens analyse {wildcards.analysis} --data {input.data:q} --model {wildcards.model}"
        " --architecture {params.settings[architecture]:q} --seed {wildcards.seed} --checkpoint {input.checkpoint:q}"
        " --threads {threads} --device {params.settings[device]:q} --settings {params.settings[settings]:q}"
        " --out {output:q} > {log:q} 2>&1"


rule vgg:
    """VGG16 on photos: top-5 classes, channel-mean maps by depth, deconvnet projections."""
    input:
        LAYOUT.vgg_inputs,
    output:
        f"{RESULTS}/vgg/{{key}}/vgg.pt",
    log:
        f"{RESULTS}/logs/vgg/{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/vgg/{{key}}.tsv"
    threads: 1
    params:
        settings=vgg_settings,
    shell:
        "cnnlens vgg --weights {params.settings[weights]:q} --photos {params.settings[photos]:q}"
        " --layers {params.settings[layers]} --threads {threads} --out {output:q} > {log:q} 2>&1"
