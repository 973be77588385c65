# cnnlens: train, look inside, report. `snakemake --cores all` runs everything; see README.md.
import sys
from pathlib import Path

from cnnlens.config import ConfigError, check_config_file, validate_config


def stop_on_bad_config(check, *arguments, **options):
    """Run a config check; on bad input, one line and exit 1 before any job is planned or anything written."""
    try:
        return check(*arguments, **options)
    except ConfigError as error:
        print(f"cnnlens: error: {error}", file=sys.stderr)
        sys.exit(1)


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


rule all:
    default_target: True
    input:
        report=REPORT,
