"""Keep freed memory inside the process, so that training steps stop paying page faults.

A training step allocates and frees the same megabyte-sized tensors (activations, gradients) step
after step. glibc's malloc hands blocks that large back to the kernel (unmapping them, or trimming
the top of the heap), and the next step's first write to each page faults it back in, zeroed by the
kernel, thousands of pages per step. Fixed thresholds keep the blocks for reuse: a few dozen faults
per step and faster epochs, for a little more peak memory (benchmarks/README.md, allocator).
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks above it (whole data sets) are still mapped alone
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (mallopt(3)).

    Returns whether they were set: False where the C library is not glibc (macOS, musl), whose
    allocator is left as it is.
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library the interpreter runs on
    if mallopt is None:
        return False
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
