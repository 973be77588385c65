# cnnlens: train, look inside, report. `snakemake --cores all` runs everything; see README.md.
from pathlib import Path

from cnnlens.config import validate_config

configfile: "config.yaml"


validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        report=REPORT,
    default_target: True
