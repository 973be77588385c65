# cnnlens: train, look inside, report. `snakemake --cores all` runs everything; see README.md.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from cnnlens.config import ConfigError, validate_config

configfile: "config.yaml"


try:
    validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as error:
    raise WorkflowError(str(error)) from None  # one line, no traceback


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


# On a cluster these run on the submitting machine: they only gather small files, queueing costs more.
localrules:
    all,
    effective_config,
    compare,
    notebook_comparison,
    notebook_training,
    report,


rule all:
    input:
        report=REPORT,
    default_target: True
