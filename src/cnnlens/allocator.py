"""Keep freed memory inside the process, so that steps stop paying page faults for every tensor.

A training step allocates and frees the same megabyte-sized tensors (activations, gradients) step
after step. glibc's malloc gives blocks that large back to the kernel (unmapping them, or trimming
the top of the heap once the end of a backward pass frees more than its adaptive threshold), and the
next step's first write to each page faults it back in, zeroed by the kernel: about 1,100 page faults
per step of the plain CNN. Fixed thresholds keep the blocks in the heap for reuse, which made CPU
training steps about 10 % faster on 2 cores (benchmarks/engine_choices.py). Peak memory is what it
was; it is just not handed back between steps.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks above it (whole data sets) are still mapped alone
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process.

    Returns whether they were set: False where the C library is not glibc (macOS, musl), whose
    allocator is left as it is.
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library the interpreter runs on
    if mallopt is None:
        return False
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
