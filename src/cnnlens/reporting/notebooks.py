"""Execute one report notebook with papermill: parameters in, an executed notebook out, or one line saying why not.

Papermill writes its output notebook even when a cell fails; here it writes to a temporary file that
is renamed into place only when every cell ran, so a failed section never leaves a notebook behind
for the report to pick up. A killed job leaves its temporary file (up to a few MB); the next notebook job
removes it as it starts, whichever notebook that job executes.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path

from cnnlens.atomic import atomic_path
from cnnlens.errors import CnnlensError

TEMPORARY_NOTEBOOKS = ".*.tmp.ipynb"  # cnnlens.atomic's name for a notebook being written


def run_notebook(notebook: str | Path, out: str | Path, parameters: dict) -> None:
    """Execute ``notebook`` with ``parameters`` (papermill's injected cell) into ``out``, in the current folder.

    First the temporary notebooks that killed jobs left are removed, under the folder above ``out``'s: executed
    notebooks lie in folders keyed by what they read (``<results>/notebooks/<key>/``), so the job that would
    overwrite a killed job's file may never run again.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError, strip_color

    remove_abandoned_notebooks(Path(out).parent.parent)
    with contextlib.ExitStack() as claim, atomic_path(out) as temporary:
        claim.enter_context(_claimed(temporary))  # released after atomic_path has renamed the file
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


def remove_abandoned_notebooks(folder: Path) -> list[Path]:
    """Delete the temporary notebooks under ``folder`` whose job is gone (killed); return them.

    Notebook jobs run side by side, and on a cluster on other machines, so a process id cannot tell a running job's
    file from a dead one's: each job holds a lock on its own file (:func:`_claimed`), which the system releases when
    the process ends, however it ends. Where the file system takes no locks, nothing is removed.
    """
    removed = []
    for temporary in sorted(folder.rglob(TEMPORARY_NOTEBOOKS)):
        with contextlib.suppress(OSError), open(temporary, "rb") as handle:  # gone, or locked by its running job
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            temporary.unlink()
            removed.append(temporary)
    return removed


@contextlib.contextmanager
def _claimed(temporary: Path) -> Iterator[None]:
    """Create ``temporary`` and hold a lock on it while the block runs: papermill rewrites the same file after each
    cell, so the lock stays on it, and notebook jobs that start meanwhile leave it alone."""
    with open(temporary, "w") as handle:
        with contextlib.suppress(OSError):  # a file system without locks: other jobs cannot lock it either
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
