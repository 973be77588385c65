rule effective_config:
    """The config this run used, as one YAML file that the report shows and that reproduces it."""
    output:
        f"{RESULTS}/config.yaml",
    params:
        config=canonical(config),
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
        histories=all_runs(f"{RUN_DIR}/history.csv"),
        confusion=all_runs(f"{RUN_DIR}/confusion.csv"),
    output:
        f"{RESULTS}/notebooks/comparison.ipynb",
    params:
        files=lambda wildcards, input: canonical(
            {"comparison": str(Path(input.comparison[0]).parent), "runs": [str(Path(p).parent) for p in input.runs]}
        ),
        settings=canonical({}),
    log:
        f"{RESULTS}/logs/notebooks/comparison.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/comparison.tsv"
    conda:
        ENV
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule notebook_training:
    """Learning curves of every run, side by side."""
    input:
        notebook=NOTEBOOKS / "training.ipynb",
        runs=all_runs(f"{RUN_DIR}/metrics.json"),
        histories=all_runs(f"{RUN_DIR}/history.csv"),
        iterations=all_runs(f"{RUN_DIR}/iterations.csv"),
    output:
        f"{RESULTS}/notebooks/training.ipynb",
    params:
        files=lambda wildcards, input: canonical({"runs": [str(Path(p).parent) for p in input.runs]}),
        settings=canonical({}),
    log:
        f"{RESULTS}/logs/notebooks/training.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/training.tsv"
    conda:
        ENV
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule notebook_per_model:
    """One model's section of the report: feature maps, channel attention, or Grad-CAM and deconvnet."""
    input:
        unpack(per_model_notebook_inputs),
    output:
        f"{RESULTS}/notebooks/{{section}}-{{model}}.ipynb",
    params:
        files=lambda wildcards, input: notebook_files(input),
        settings=per_model_notebook_settings,
    wildcard_constraints:
        section="|".join(PER_MODEL_SECTIONS),
    log:
        f"{RESULTS}/logs/notebooks/{{section}}-{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/{{section}}-{{model}}.tsv"
    conda:
        ENV
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule notebook_depth:
    """Shallow, middle and deep layers: VGG16 on photos, the trained CNNs side by side, measured summary."""
    input:
        notebook=NOTEBOOKS / "depth.ipynb",
        vgg=rules.vgg.output[0],
        activations=expand(f"{RESULTS}/activations/{{model}}-seed{REPRESENTATIVE_SEED}.pt", model=config["models"]),
        depth=expand(f"{RESULTS}/analysis/{{model}}-seed{REPRESENTATIVE_SEED}/depth.csv", model=config["models"]),
    output:
        f"{RESULTS}/notebooks/depth.ipynb",
    params:
        files=lambda wildcards, input: canonical(
            {"vgg": input.vgg, "activations": list(input.activations), "depth": list(input.depth)}
        ),
        settings=canonical({}),
    log:
        f"{RESULTS}/logs/notebooks/depth.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/depth.tsv"
    conda:
        ENV
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule report:
    """All sections in one self-contained HTML file."""
    input:
        config=rules.effective_config.output[0],
        comparison=rules.compare.output,
        vgg=rules.vgg.output[0],
        notebooks=[notebook for _, notebook in report_sections()],
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
        benchmarks=all_benchmarks(),
    output:
        REPORT,
    params:
        titles=[title for title, _ in report_sections()],
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
        " --comparison {params.comparison:q} --vgg {input.vgg:q} --out {output:q} > {log:q} 2>&1"
