rule train:
    """One model, one seed: checkpoint, per-epoch history, per-iteration losses, metrics, confusion matrix and the
    prediction for every test image."""
    input:
        LAYOUT.data_cache,
    output:
        checkpoint=f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/model.pt",
        history=report(
            f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/history.csv",
            caption="../report/history.rst",
            category="Training runs",
            subcategory="{model}",
            labels={"seed": "{seed}", "file": "history per epoch"},
        ),
        iterations=f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/iterations.csv",
        metrics=report(
            f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/metrics.json",
            caption="../report/metrics.rst",
            category="Training runs",
            subcategory="{model}",
            labels={"seed": "{seed}", "file": "final metrics"},
        ),
        confusion=f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/confusion.csv",
        predictions=f"{RESULTS}/models/{{model}}/seed{{seed}}/{{key}}/predictions.csv",
    log:
        f"{RESULTS}/logs/train/{{model}}-seed{{seed}}-{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}-seed{{seed}}-{{key}}.tsv"
    # A function, asked only when the threads are not set: the cluster profile sets them (set-threads)
    # and gives no --cores, so reading workflow.cores while parsing would fail there.
    threads: lambda wildcards: config["train"]["threads"] or workflow.cores
    resources:
        # A CPU-only run declares no GPU, so jobs with fewer threads than --cores run side by side; auto asks for
        # one (on a cluster, the node decides).
        gpu=0 if config["train"]["device"] == "cpu" else 1,
    params:
        # architecture, recipe, engine, the kind of device and the thread setting (not read by the command, which
        # takes the resolved `threads:`, but part of what metrics.json reports): the run's key. The command gets
        # train.device as written (cuda:1, or auto for a cluster node to resolve): a setting that trains on the
        # same kind of device is the same run (the profile's rerun-triggers leave parameters out).
        settings=train_settings,
        device=config["train"]["device"],
        out_dir=lambda wildcards, output: Path(output.checkpoint).parent,
    shell:
        # tee: the progress bars reach the terminal and the log; -i: it outlives a Ctrl-C long enough to log
        # the job's own one-line message.
        "cnnlens train --data {input:q} --model {wildcards.model} --architecture {params.settings[architecture]:q}"
        " --seed {wildcards.seed} --recipe {params.settings[recipe]:q} --engine {params.settings[engine]:q}"
        " --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir:q} 2>&1 | tee -i {log:q}"
