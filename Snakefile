# cnnlens: train, look inside, report. `snakemake --cores all` runs everything; see README.md.
from pathlib import Path

from cnnlens.config import check_config_file, validate_config


include: "workflow/rules/config_checks.smk"


if Path("config.yaml").exists():
    stop_on_bad_config(check_config_file, "config.yaml")  # Snakemake's own message names neither file nor line


configfile: "config.yaml"


stop_on_bad_config(
    validate_config,
    config,
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    relative_to=Path.cwd(),
    repo=workflow.basedir,
)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


# On a cluster these run on the submitting machine: they only gather small files, queueing costs more.
localrules:
    all,
    effective_config,
    compare,
    notebook,
    report,
    pdf,


rule all:
    default_target: True
    input:
        reports=REPORTS,
        pdfs=PDFS,
