"""Hand the memory of large freed arrays back to the operating system (glibc only).

glibc serves a block above its mmap threshold (128 KiB at start) with its own mapping, and
unmaps it when freed. But each such free raises the threshold to the block's size (up to
32 MiB) and the heap's trim threshold to twice that, so later arrays of that size come from the
heap, and their pages stay with the process once freed. The baseline stage allocates and frees
arrays of tens of MB one after another: with the sliding threshold its peak RSS at 10 GB of logs
was 612 MB, with the threshold fixed at 1 MiB 547 MB, at the same speed (bench/baseline_mem.py).
Dask's workers are tuned for the same reason (their nanny sets MALLOC_TRIM_THRESHOLD_).
"""

from __future__ import annotations

import ctypes
from functools import cache

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MMAP_THRESHOLD = 1 << 20


@cache
def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold (which also stops it sliding); False where there is no glibc.

    Process-wide, so done once per process (every later call returns the first answer): every
    block of `threshold` bytes or more is mapped on its own and returned to the system when
    freed.
    """
    try:
        # The symbols the process already has: libc's, where libc is glibc.
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
