rule effective_config:
    """The config this run used, as one YAML file that the report shows and that reproduces it."""
    output:
        f"{RESULTS}/config.yaml",
    params:
        config=json.dumps(config),
    log:
        f"{RESULTS}/logs/effective_config.log",
    benchmark:
        f"{RESULTS}/benchmarks/effective_config.tsv"
    conda:
        ENV
    shell:
        "cnnlens write-config --json {params.config:q} --out {output:q} > {log:q} 2>&1"


rule notebook_comparison:
    """Variants side by side: mean ± std, paired tests, curves over seeds, per-class accuracy, confusion."""
    input:
        notebook=NOTEBOOKS / "comparison.ipynb",
        comparison=rules.compare.output,
        runs=all_runs(f"{RUN_DIR}/metrics.json"),
        confusion=all_runs(f"{RUN_DIR}/confusion.csv"),
    output:
        f"{RESULTS}/notebooks/comparison.ipynb",
    params:
        papermill=PAPERMILL,
        parameters=lambda wildcards, input: json.dumps(
            {"comparison": str(Path(input.comparison[0]).parent), "runs": [str(Path(p).parent) for p in input.runs]}
        ),
    log:
        f"{RESULTS}/logs/notebooks/comparison.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/comparison.tsv"
    conda:
        ENV
    shell:
        "{params.papermill} {input.notebook:q} {output:q} -y {params.parameters:q} > {log:q} 2>&1"


rule notebook_training:
    """Learning curves of every run, side by side."""
    input:
        notebook=NOTEBOOKS / "training.ipynb",
        runs=all_runs(f"{RUN_DIR}/metrics.json"),
    output:
        f"{RESULTS}/notebooks/training.ipynb",
    params:
        papermill=PAPERMILL,
        parameters=lambda wildcards, input: json.dumps({"runs": [str(Path(p).parent) for p in input.runs]}),
    log:
        f"{RESULTS}/logs/notebooks/training.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/training.tsv"
    conda:
        ENV
    shell:
        "{params.papermill} {input.notebook:q} {output:q} -y {params.parameters:q} > {log:q} 2>&1"


rule notebook_feature_maps:
    """Feature-map grids of one model's representative run."""
    input:
        notebook=NOTEBOOKS / "feature_maps.ipynb",
        activations=f"{RESULTS}/activations/{{model}}-seed{REPRESENTATIVE_SEED}.pt",
    output:
        f"{RESULTS}/notebooks/feature_maps-{{model}}.ipynb",
    params:
        papermill=PAPERMILL,
        channels=config["visualise"]["channels"],
    log:
        f"{RESULTS}/logs/notebooks/feature_maps-{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/feature_maps-{{model}}.tsv"
    conda:
        ENV
    shell:
        "{params.papermill} {input.notebook:q} {output:q} -p activations {input.activations:q}"
        " -p channels {params.channels} > {log:q} 2>&1"


rule report:
    """All sections in one self-contained HTML file."""
    input:
        config=rules.effective_config.output[0],
        comparison=rules.compare.output,
        notebooks=[rules.notebook_comparison.output[0], rules.notebook_training.output[0]]
        + expand(rules.notebook_feature_maps.output[0], model=config["models"]),
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
        benchmarks=[f"{RESULTS}/benchmarks/prepare_data.tsv", f"{RESULTS}/benchmarks/effective_config.tsv"]
        + all_runs(f"{RESULTS}/benchmarks/train/{{model}}-seed{{seed}}.tsv")
        + expand(f"{RESULTS}/benchmarks/activations/{{model}}-seed{REPRESENTATIVE_SEED}.tsv", model=config["models"])
        + [f"{RESULTS}/benchmarks/compare.tsv", f"{RESULTS}/benchmarks/notebooks/comparison.tsv"]
        + [f"{RESULTS}/benchmarks/notebooks/training.tsv"]
        + expand(f"{RESULTS}/benchmarks/notebooks/feature_maps-{{model}}.tsv", model=config["models"]),
    output:
        REPORT,
    params:
        titles=["Comparison", "Training"] + [section_title(model) for model in config["models"]],
        repo=workflow.basedir,
        comparison=lambda wildcards, input: Path(input.comparison[0]).parent,
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        ENV
    shell:
        "cnnlens report --config {input.config:q} --notebooks {input.notebooks:q} --titles {params.titles:q}"
        " --metrics {input.metrics:q} --benchmarks {input.benchmarks:q} --repo {params.repo:q}"
        " --comparison {params.comparison:q}"
        " --out {output:q} > {log:q} 2>&1"
