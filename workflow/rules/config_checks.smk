# How the Snakefile runs its config checks (a file of its own: `snakemake --lint` wants rules and functions apart).
import sys

from cnnlens.config import ConfigError


def stop_on_bad_config(check, *arguments, **options):
    """Run a config check; on bad input, one line and exit 1 before any job is planned or anything written."""
    try:
        return check(*arguments, **options)
    except ConfigError as error:
        print(f"cnnlens: error: {error}", file=sys.stderr)
        sys.exit(1)
