rule compare:
    """All runs in one table, mean ± std per variant, each variant against the baseline over seeds and image by
    image, and the baseline's own seed-to-seed noise floor."""
    input:
        metrics=LAYOUT.run_files("metrics.json"),
        predictions=LAYOUT.run_files("predictions.csv"),
    output:
        runs=report(
            f"{RESULTS}/comparison/{{key}}/runs.csv",
            caption="../report/runs.rst",
            category="Comparison",
            labels={"table": "every run"},
        ),
        summary=report(
            f"{RESULTS}/comparison/{{key}}/summary.csv",
            caption="../report/summary.rst",
            category="Comparison",
            labels={"table": "mean ± std per variant"},
        ),
        tests=report(
            f"{RESULTS}/comparison/{{key}}/tests.csv",
            caption="../report/tests.rst",
            category="Comparison",
            labels={"table": "paired tests over seeds against the baseline"},
        ),
        image_tests=report(
            f"{RESULTS}/comparison/{{key}}/image_tests.csv",
            caption="../report/image_tests.rst",
            category="Comparison",
            labels={"table": "McNemar's tests per seed against the baseline"},
        ),
        noise_floor=report(
            f"{RESULTS}/comparison/{{key}}/noise_floor.csv",
            caption="../report/noise_floor.rst",
            category="Comparison",
            labels={"table": "the baseline's seed-to-seed noise floor"},
        ),
    log:
        f"{RESULTS}/logs/compare/{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/compare/{{key}}.tsv"
    params:
        settings=comparison_settings,
        out_dir=lambda wildcards, output: Path(output.runs).parent,
    shell:
        "cnnlens compare --metrics {input.metrics:q} --predictions {input.predictions:q}"
        " --baseline {params.settings[baseline]} --alpha {params.settings[alpha]}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"
