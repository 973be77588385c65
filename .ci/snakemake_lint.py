"""`snakemake --lint` without its one lint this workflow answers on purpose: no conda env or container per rule.

The rules run in the environment that `make setup` (pip, pyproject.toml) or environment.yml builds, which
holds torch with the machine's own CUDA build; `conda:` directives were removed for that reason. Snakemake
has no option to skip one lint, so this leaves that check out and runs the real command line. Every other
lint (log directives, hardcoded prefixes, rules and functions in one file, ...) still fails the run.

Usage: python .ci/snakemake_lint.py [snakemake options]
"""

import sys

from snakemake.cli import main
from snakemake.linting.rules import RuleLinter

del RuleLinter.lint_missing_software_definition  # an AttributeError here: Snakemake renamed it, look again

if __name__ == "__main__":
    main(["--lint", *sys.argv[1:]])
