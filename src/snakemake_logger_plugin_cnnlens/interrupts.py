"""Ctrl-C stops a Snakemake run with one line on the terminal.

On Ctrl-C Snakemake cancels the running jobs and then reports each one as a failed rule (its command, inputs,
outputs and log: some twenty lines a job) and a closing ``WorkflowError``; Ctrl-C while it plans the jobs ends
in a traceback. Neither is an error to act on. So after the first Ctrl-C the console handlers of Snakemake's
logger drop every record, a ``KeyboardInterrupt`` that reaches the top prints no traceback, and one line at
exit says what to do. Snakemake's log file under ``.snakemake/log/`` still gets every record.

Further Ctrl-Cs while the run stops are ignored (each would otherwise break Snakemake's clean-up with a
traceback of its own, and the jobs get them from the terminal anyway).
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
from types import FrameType, TracebackType

from snakemake.logging import logger

STOPPED = (
    "cnnlens: run stopped; finished jobs are kept: run the same command to go on "
    "(Snakemake's full report: .snakemake/log/)"
)


def _say_stopped() -> None:
    print(STOPPED, file=sys.stderr)


def _is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def _on_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
    """Silence the console and stop the run as Python's default handler does; ignore the Ctrl-Cs after."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for handler in filter(_is_console, logger.handlers):
        handler.addFilter(lambda _record: False)
    atexit.register(_say_stopped)
    raise KeyboardInterrupt


def _no_traceback_for_ctrl_c(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)


def stop_in_one_line() -> None:
    """Make Ctrl-C stop the run with one line (see the module's docstring); call it from the main thread."""
    signal.signal(signal.SIGINT, _on_ctrl_c)
    sys.excepthook = _no_traceback_for_ctrl_c
