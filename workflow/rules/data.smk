rule prepare_data:
    """CIFAR-10 download or an ImageFolder dir/.tar.gz -> one cache of uint8 tensors."""
    input:
        LAYOUT.data_inputs,
    output:
        f"{RESULTS}/data/{{key}}/dataset.pt",
    log:
        f"{RESULTS}/logs/prepare_data/{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data/{{key}}.tsv"
    params:
        settings=data_settings,
    shell:
        "cnnlens prepare-data --source {params.settings[source]} --path {params.settings[path]:q}"
        " --image-size {params.settings[image_size]} --out {output:q} > {log:q} 2>&1"
