# How training runs (cnnlens.training.engine.Engine), as opposed to the recipe it runs.
ENGINE_KEYS = ("compile", "cuda_graph", "precision")


rule train:
    """One model, one seed: checkpoint, per-epoch history, per-iteration losses, metrics, confusion matrix and the
    prediction for every test image."""
    input:
        DATA_CACHE,
    output:
        checkpoint=f"{RUN_DIR}/model.pt",
        history=report(
            f"{RUN_DIR}/history.csv",
            caption="../report/history.rst",
            category="Training runs",
            subcategory="{model}",
            labels={"seed": "{seed}", "file": "history per epoch"},
        ),
        iterations=f"{RUN_DIR}/iterations.csv",
        metrics=report(
            f"{RUN_DIR}/metrics.json",
            caption="../report/metrics.rst",
            category="Training runs",
            subcategory="{model}",
            labels={"seed": "{seed}", "file": "final metrics"},
        ),
        confusion=f"{RUN_DIR}/confusion.csv",
        predictions=f"{RUN_DIR}/predictions.csv",
    log:
        f"{RESULTS}/logs/train/{{model}}-seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{model}}-seed{{seed}}.tsv"
    # A function, asked only when the threads are not set: the cluster profile sets them (set-threads)
    # and gives no --cores, so reading workflow.cores while parsing would fail there.
    threads: lambda wildcards: config["train"]["threads"] or workflow.cores
    resources:
        # A CPU-only run declares no GPU, so jobs with fewer threads than --cores run side by side.
        gpu=0 if config["train"]["device"] == "cpu" else 1,
    params:
        architecture=architecture,
        recipe=canonical({k: v for k, v in config["train"].items() if k not in ENGINE_KEYS + ("device", "threads")}),
        engine=canonical({k: config["train"][k] for k in ENGINE_KEYS}),
        device=config["train"]["device"],
        # Not read by the shell command (that takes the resolved `threads:`), but compared by Snakemake: the
        # thread count is part of what metrics.json reports, so changing it retrains.
        threads_setting=config["train"]["threads"],
        out_dir=lambda wildcards, output: Path(output.checkpoint).parent,
    shell:
        # tee: the progress bars reach the terminal and the log; -i: it outlives a Ctrl-C long enough to log
        # the job's own one-line message.
        "cnnlens train --data {input:q} --model {wildcards.model} --architecture {params.architecture:q}"
        " --seed {wildcards.seed}"
        " --recipe {params.recipe:q} --engine {params.engine:q} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir:q} 2>&1 | tee -i {log:q}"
