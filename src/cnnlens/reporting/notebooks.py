"""Execute one report notebook with papermill: parameters in, an executed notebook out, or one line saying why not.

Papermill writes its output notebook even when a cell fails; here it writes to a temporary file that
is renamed into place only when every cell ran, so a failed section never leaves a notebook behind
for the report to pick up.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cnnlens.atomic import atomic_path
from cnnlens.errors import CnnlensError


def run_notebook(notebook: str | Path, out: str | Path, parameters: dict) -> None:
    """Execute ``notebook`` with ``parameters`` (papermill's injected cell) into ``out``, in the current folder."""
    import papermill
    from papermill.exceptions import PapermillExecutionError, strip_color

    with atomic_path(out) as temporary:
        try:
            # An immediate shutdown stops the kernel without letting it answer: interrupted mid-cell, a graceful
            # one makes it print a ZMQ traceback into the job's log.
            papermill.execute_notebook(
                str(notebook),
                str(temporary),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=False,
                cwd=".",
                shutdown_kernel="immediate",
            )
        except PapermillExecutionError as error:
            print(strip_color("\n".join(error.traceback)), file=sys.stderr)  # for the job's log
            reason = f"{error.ename}: {error.evalue}".strip().splitlines()[0]
            raise CnnlensError(
                f"notebook {Path(notebook).name} failed in cell {error.exec_count} ({reason}): "
                "its traceback is above, in this job's log"
            ) from None
