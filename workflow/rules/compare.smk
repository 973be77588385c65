rule compare:
    """All runs in one table, mean ± std per variant, each variant against the baseline over seeds and image by
    image, and the baseline's own seed-to-seed noise floor."""
    input:
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
        predictions=all_runs(f"{RUN_DIR}/predictions.csv"),
    output:
        runs=report(
            f"{COMPARISON}/runs.csv",
            caption="../report/runs.rst",
            category="Comparison",
            labels={"table": "every run"},
        ),
        summary=report(
            f"{COMPARISON}/summary.csv",
            caption="../report/summary.rst",
            category="Comparison",
            labels={"table": "mean ± std per variant"},
        ),
        tests=report(
            f"{COMPARISON}/tests.csv",
            caption="../report/tests.rst",
            category="Comparison",
            labels={"table": "paired tests over seeds against the baseline"},
        ),
        image_tests=report(
            f"{COMPARISON}/image_tests.csv",
            caption="../report/image_tests.rst",
            category="Comparison",
            labels={"table": "McNemar's tests per seed against the baseline"},
        ),
        noise_floor=report(
            f"{COMPARISON}/noise_floor.csv",
            caption="../report/noise_floor.rst",
            category="Comparison",
            labels={"table": "the baseline's seed-to-seed noise floor"},
        ),
    log:
        f"{RESULTS}/logs/compare.log",
    benchmark:
        f"{BENCHMARKS}/compare.tsv"
    params:
        baseline=config["compare"]["baseline"],
        alpha=config["compare"]["alpha"],
        out_dir=lambda wildcards, output: Path(output.runs).parent,
    shell:
        "cnnlens compare --metrics {input.metrics:q} --predictions {input.predictions:q}"
        " --baseline {params.baseline} --alpha {params.alpha}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"
