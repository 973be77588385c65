# The report: the effective config, one executed notebook per section (cnnlens.registry.SECTIONS), the HTML.
import os


rule effective_config:
    """The config this run used, as one YAML file that the report shows and that reproduces it."""
    output:
        report(
            f"{RESULTS}/config.yaml",
            caption="../report/config.rst",
            category="Report",
            labels={"file": "effective config"},
        ),
    log:
        f"{RESULTS}/logs/effective_config.log",
    benchmark:
        f"{BENCHMARKS}/effective_config.tsv"
    params:
        config=canonical(config),
    shell:
        "cnnlens write-config --json {params.config:q} --out {output:q} > {log:q} 2>&1"


rule notebook:
    """One section of the report: a notebook executed with its input files and settings (papermill)."""
    input:
        unpack(section_inputs),
    output:
        f"{RESULTS}/notebooks/{{section}}.ipynb",
    log:
        f"{RESULTS}/logs/notebooks/{{section}}.log",
    benchmark:
        f"{BENCHMARKS}/notebooks/{{section}}.tsv"
    wildcard_constraints:
        section="|".join(section.notebook for section in SECTIONS if not section.per_model),
    params:
        files=lambda wildcards, input: notebook_parameters(input),
        settings=section_settings,
    shell:
        "cnnlens notebook {input.notebook:q} --files {params.files:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


use rule notebook as notebook_per_model with:
    output:
        f"{RESULTS}/notebooks/{{section}}-{{model}}.ipynb",
    log:
        f"{RESULTS}/logs/notebooks/{{section}}-{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/notebooks/{{section}}-{{model}}.tsv"
    wildcard_constraints:
        section="|".join(section.notebook for section in SECTIONS if section.per_model),


rule report:
    """All sections in one self-contained HTML file per edition: the full report and the short one to hand in."""
    input:
        config=rules.effective_config.output[0],
        comparison=f"{COMPARISON}/tests.csv",
        vgg=VGG,
        notebooks=executed_notebooks(),
        metrics=all_runs(f"{RUN_DIR}/metrics.json"),
        faithfulness=analysis_files("faithfulness"),
        benchmarks=all_benchmarks(),
    output:
        [
            report(path, caption="../report/report.rst", category="Report", labels={"file": os.path.basename(path)})
            for path in REPORTS
        ],
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{BENCHMARKS}/report.tsv"
    params:
        folder=lambda wildcards, output: os.path.dirname(output[0]),  # of every edition
        repo=workflow.basedir,
        comparison=lambda wildcards, input: os.path.dirname(input.comparison),  # the compare rule's folder
    shell:
        "cnnlens report --config {input.config:q} --notebooks {input.notebooks:q}"
        " --metrics {input.metrics:q} --benchmarks {input.benchmarks:q} --repo {params.repo:q}"
        " --comparison {params.comparison:q} --vgg {input.vgg:q} --faithfulness {input.faithfulness:q}"
        " --out-dir {params.folder:q} > {log:q} 2>&1"


rule pdf:
    """An A4 PDF of one edition of the report, printed from its HTML (WeasyPrint)."""
    input:
        f"{REPORT_DIR}/{{edition}}.html",
    output:
        report(
            f"{REPORT_DIR}/{{edition}}.pdf",
            caption="../report/pdf.rst",
            category="Report",
            labels={"file": "{edition}.pdf"},
        ),
    log:
        f"{RESULTS}/logs/pdf-{{edition}}.log",
    benchmark:
        f"{BENCHMARKS}/pdf-{{edition}}.tsv"
    wildcard_constraints:
        edition="|".join(EDITION_FILES.values()),
    shell:
        "cnnlens pdf --html {input:q} --out {output:q} > {log:q} 2>&1"
