"""Ctrl-C ends a ``cnnlens`` step with one line and exit status 130, even where a library loses it.

Python raises ``KeyboardInterrupt`` wherever the main thread is when Ctrl-C comes. In a training job's first
seconds that is often inside torch's lazy imports (``torch._dynamo`` imports sympy and mpmath), and there a
bare ``except:`` can swallow it, so training goes on, or the half-done import fails later with another error.
So the first Ctrl-C also starts a watchdog: a step that has not reached its Ctrl-C exit within
:data:`GRACE_SECONDS` is ended by it, with the same line. An error raised after a Ctrl-C counts as the
interruption. Later Ctrl-Cs are ignored: one that lands while Python exits would end it with a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

INTERRUPTED_STATUS = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
GRACE_SECONDS = 10.0  # long enough for a notebook step to shut its kernel down after a delivered Ctrl-C


def may_take_over_ctrl_c() -> bool:
    """Only the main thread may handle Ctrl-C, and only where Ctrl-C stops Python: a shell starts a background
    job with Ctrl-C ignored, and that job should keep ignoring it."""
    return threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )


class OneLineCtrlC:
    """Run a step so that Ctrl-C ends it with ``line`` on stderr and status 130 (see the module's docstring).

    Used as ``with OneLineCtrlC(line): step()``. Outside the block, Ctrl-C is what it was.
    """

    def __init__(self, line: str) -> None:
        self.line = line
        self._pressed = False
        self._installed = False
        self._exiting = threading.Event()

    def __enter__(self) -> OneLineCtrlC:
        if may_take_over_ctrl_c():
            signal.signal(signal.SIGINT, self._on_ctrl_c)
            self._installed = True
        return self

    def __exit__(self, _kind: type[BaseException] | None, error: BaseException | None, _trace: object) -> None:
        if self._pressed or isinstance(error, KeyboardInterrupt):
            self._exit()
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _exit(self) -> NoReturn:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._exiting.set()
        _close_progress_bars()
        print(self.line, file=sys.stderr)
        sys.exit(INTERRUPTED_STATUS)

    def _on_ctrl_c(self, _signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self._pressed = True
        threading.Thread(target=self._end_if_lost, name="cnnlens-ctrl-c", daemon=True).start()
        raise KeyboardInterrupt

    def _end_if_lost(self) -> None:
        if not self._exiting.wait(GRACE_SECONDS):
            os.write(sys.stderr.fileno(), f"{self.line}\n".encode())  # the main thread may hold stderr's lock
            os._exit(INTERRUPTED_STATUS)


def _close_progress_bars() -> None:
    """Close the progress bars an interrupted step leaves open (the epochs bar; a nested bar that was just drawn
    leaves the cursor on the line above), so that the step's one line starts a line of its own. A Ctrl-C inside
    a bar's constructor leaves it registered (tqdm.__new__ does that) but unfinished: it is left alone."""
    progress = sys.modules.get("tqdm.std")  # only where the step imported tqdm
    if progress is not None:
        finished = [bar for bar in progress.tqdm._instances if hasattr(bar, "start_t")]  # set last by the constructor
        for bar in sorted(finished, key=lambda bar: -abs(bar.pos)):  # the innermost first
            bar.close()
