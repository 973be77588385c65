"""The `cnnlens` logger of the workflow profile: it checks the command line's config before Snakemake reads it,
and makes Ctrl-C one line (:mod:`.interrupts`).

Snakemake loads ``--configfile`` files and parses ``--config`` entries before the Snakefile runs, and
reports a missing file or a dotted key with a traceback, an empty or malformed file in a line that names
no file; of two ``--configfile`` flags it silently keeps the last. A logger plugin is the one part of a
workflow that Snakemake sets up before that, so this one checks those inputs as it is set up: on bad input,
one line naming the file (and line), the entry or the repeated flag, and exit 1. It logs nothing itself;
Snakemake's own console output is unchanged until Ctrl-C.
"""

import sys
from logging import LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase

from cnnlens.config import check_command_line, stop_on_bad_config

from .interrupts import stop_in_one_line


class LogHandler(LogHandlerBase):
    writes_to_stream = False
    writes_to_file = False
    has_filter = False
    has_formatter = False
    needs_rulegraph = False

    def __post_init__(self) -> None:
        stop_on_bad_config(check_command_line, sys.argv[1:])
        stop_in_one_line()

    def emit(self, record: LogRecord) -> None:
        """Nothing: Snakemake's default handler prints every record."""
