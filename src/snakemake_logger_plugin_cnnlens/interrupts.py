"""Ctrl-C stops a Snakemake run with one line on the terminal.

On Ctrl-C Snakemake cancels the running jobs and then reports each one as a failed rule (its command, inputs,
outputs and log: some twenty lines a job) and a closing ``WorkflowError``; Ctrl-C while it plans the jobs ends
in a traceback. Neither is an error to act on. So after the first Ctrl-C the console handlers of Snakemake's
logger drop every record, a ``KeyboardInterrupt`` that reaches the top prints no traceback, and one line at
exit says what to do. Snakemake's log file still gets every record.

Two details keep that first Ctrl-C from being lost. Snakemake's console handler swallows a
``KeyboardInterrupt`` raised while it writes a line, so a Ctrl-C that lands there is sent again a moment
later. Further Ctrl-Cs while the run stops are ignored (each would otherwise break Snakemake's clean-up with
a traceback of its own; the jobs get them from the terminal anyway) by a Python handler, not by ignoring the
signal, which programs started meanwhile would inherit.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

from snakemake.logging import logger

from cnnlens.interruption import may_take_over_ctrl_c

STOPPED = "cnnlens: run stopped; finished jobs are kept: run the same command to go on"
RESEND_SECONDS = 0.1


def _is_console(handler: object) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


def _writing_to_the_console(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "emit" and _is_console(frame.f_locals.get("self")):
            return True
        frame = frame.f_back
    return False


def _say_stopped(log_files: list[str]) -> None:
    where = f" (Snakemake's full report: {log_files[0]})" if log_files else ""
    print(STOPPED + where, file=sys.stderr)


def _drop(_record: logging.LogRecord) -> bool:
    """The console filter after Ctrl-C: one function, so a resent Ctrl-C adds nothing (addFilter keeps one)."""
    return False


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A second Ctrl-C while the run stops."""


def _on_ctrl_c(_signum: int, frame: FrameType | None) -> None:
    """Silence the console and stop the run as Python's default handler does."""
    for handler in filter(_is_console, logger.handlers):
        handler.addFilter(_drop)
    if _writing_to_the_console(frame):
        resend = threading.Timer(RESEND_SECONDS, os.kill, (os.getpid(), signal.SIGINT))
        resend.daemon = True  # a run that ends meanwhile need not wait for it
        resend.start()
        return
    signal.signal(signal.SIGINT, _ignore)
    log_files = [handler.baseFilename for handler in logger.handlers if isinstance(handler, logging.FileHandler)]
    atexit.register(_say_stopped, log_files)
    raise KeyboardInterrupt


def _without_ctrl_c_traceback(
    previous: Callable[[type[BaseException], BaseException, TracebackType | None], object],
) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    def excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            previous(kind, error, trace)

    return excepthook


def stop_in_one_line() -> None:
    """Make Ctrl-C stop the run with one line (see the module's docstring), where Snakemake may take it over."""
    if may_take_over_ctrl_c():
        signal.signal(signal.SIGINT, _on_ctrl_c)
        sys.excepthook = _without_ctrl_c_traceback(sys.excepthook)
