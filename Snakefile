# cnnlens: train, look inside, report. `snakemake --cores all` runs everything; see README.md.
import signal
from pathlib import Path

from cnnlens.config import check_config_file, check_device, stop_on_bad_config, validate_config

# A closed terminal hangs up (SIGHUP), which would kill Snakemake with its lock in place, and the same command
# would then fail until `snakemake --unlock`. Stop as on Ctrl-C instead: the jobs are cancelled, the lock released.
signal.signal(signal.SIGHUP, signal.default_int_handler)

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


# Not while the config is checked above: only as the run starts does Snakemake know whether the jobs run on this
# machine (a cluster's login machine needs no GPU). No job has run yet, so nothing is lost.
onstart:
    if workflow.local_exec:
        stop_on_bad_config(check_device, config["train"]["device"])


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


# On a cluster these run on the submitting machine: they only gather small files, queueing costs more.
localrules:
    all,
    compare,
    report,
    pdf,
    publish,


rule all:
    default_target: True
    input:
        rules.publish.output,
