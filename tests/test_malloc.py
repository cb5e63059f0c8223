"""glibc's sliding mmap threshold keeps the pages of freed arrays; fixing it hands them back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tasks.memory import fix_mmap_threshold

# Frees a 20 MB array (which slides glibc's threshold to 20 MB and its trim threshold to 40 MB),
# then allocates and frees another: the RSS the second one leaves behind, in MB.
_KEPT_AFTER_FREE = """
import sys
import numpy as np
from tasks.memory import fix_mmap_threshold

def anon_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("RssAnon")) / 1024

if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
first = np.ones(20 << 17)
del first
before = anon_mb()
second = np.ones(20 << 17)
del second
print(anon_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    # Any MALLOC_* variable (Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in this process) also
    # stops the sliding: the child gets glibc's defaults.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _KEPT_AFTER_FREE, mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout)


@pytest.mark.skipif(not fix_mmap_threshold(), reason="no glibc: nothing to tune")
def test_a_fixed_threshold_hands_freed_arrays_back_to_the_system() -> None:
    assert _kept_mb("sliding") > 15  # what glibc does by itself: the second array's pages stay
    assert _kept_mb("fixed") < 2
