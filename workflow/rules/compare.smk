rule compare:
    """All runs in one table, mean ± std per variant, paired tests against the baseline."""
    input:
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
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
            labels={"table": "paired tests against the baseline"},
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
        "cnnlens compare --metrics {input.metrics:q} --baseline {params.baseline} --alpha {params.alpha}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"
