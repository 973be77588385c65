# The report: one executed notebook per section (cnnlens.registry.SECTIONS), both editions' HTML with the config
# that made them, their PDFs, and the finished report published at fixed places.


rule notebook:
    """One section of the report: a notebook executed with its input files and settings (papermill)."""
    input:
        unpack(section_inputs),
    output:
        f"{RESULTS}/notebooks/{{key}}/{{executed}}.ipynb",
    log:
        f"{RESULTS}/logs/notebooks/{{executed}}-{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/notebooks/{{executed}}-{{key}}.tsv"
    params:
        files=notebook_files,
        settings=section_settings,
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule report:
    """All sections in one self-contained HTML file per edition (the full report and the short one to hand in), and
    the config that made them, written last."""
    input:
        unpack(lambda wildcards: LAYOUT.report_inputs),
    output:
        editions=[f"{RESULTS}/report/{{key}}/{edition}.html" for edition in LAYOUT.editions()],
        config=f"{RESULTS}/report/{{key}}/config.yaml",
    log:
        f"{RESULTS}/logs/report/{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/{{key}}.tsv"
    params:
        config=report_config,
        cited=LAYOUT.published_config,  # the config file the report's "Reproduce" section names
        repo=LAYOUT.repo,
        comparison=lambda wildcards, input: os.path.dirname(input.comparison),  # the compare rule's folder
        folder=lambda wildcards, output: os.path.dirname(output.config),
    shell:
        "cnnlens report --config-json {params.config:q} --cited-config {params.cited:q}"
        " --notebooks {input.notebooks:q} --metrics {input.metrics:q} --benchmarks {input.benchmarks:q}"
        " --repo {params.repo:q} --comparison {params.comparison:q} --vgg {input.vgg:q}"
        " --faithfulness {input.faithfulness:q} --out-dir {params.folder:q} > {log:q} 2>&1"


rule pdf:
    """An A4 PDF of one edition of the report, printed from its HTML (WeasyPrint)."""
    input:
        f"{RESULTS}/report/{{key}}/{{edition}}.html",
    output:
        f"{RESULTS}/report/{{key}}/{{edition}}.pdf",
    log:
        f"{RESULTS}/logs/pdf/{{edition}}-{{key}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pdf/{{edition}}-{{key}}.tsv"
    shell:
        "cnnlens pdf --html {input:q} --out {output:q} > {log:q} 2>&1"


rule publish:
    """The finished report (every edition, its PDFs, the config that made it) at fixed places: only a report
    whose every part was written replaces the last one."""
    input:
        [*LAYOUT.report_files(LAYOUT.report_dir), f"{LAYOUT.report_dir}/config.yaml"],
    output:
        [
            report(path, caption="../report/report.rst", category="Report", labels={"file": os.path.basename(path)})
            for path in LAYOUT.report_files(LAYOUT.published_dir)
        ],
        report(
            LAYOUT.published_config,
            caption="../report/config.rst",
            category="Report",
            labels={"file": "effective config"},
        ),
    log:
        f"{RESULTS}/logs/publish.log",
    shell:
        "cnnlens publish --files {input:q} --to {output:q} > {log:q} 2>&1"
