rule compare:
    """All runs in one table, mean ± std per variant, paired tests against the baseline."""
    input:
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
    output:
        runs=f"{RESULTS}/comparison/runs.csv",
        summary=f"{RESULTS}/comparison/summary.csv",
        tests=f"{RESULTS}/comparison/tests.csv",
    params:
        baseline=config["compare"]["baseline"],
        alpha=config["compare"]["alpha"],
        out_dir=lambda wildcards, output: Path(output.runs).parent,
    log:
        f"{RESULTS}/logs/compare.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare.tsv"
    conda:
        ENV
    shell:
        "cnnlens compare --metrics {input.metrics:q} --baseline {params.baseline} --alpha {params.alpha}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"
