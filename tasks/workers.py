"""How many CPUs this process may really use: one rule for every pool in the tool."""

from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cgroup_cpu_max: Path = _CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on (affinity), capped by a container's CPU quota (cgroup v2).

    `os.cpu_count()` reports the host, which oversubscribes a container limited to two CPUs on a
    64-core node; the quota is what the scheduler actually grants.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_cpu_max)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def worker_count(requested: int = 0, cap: int | None = None) -> int:
    """`requested` workers, or (0) one per usable CPU, at most `cap`."""
    n = requested if requested > 0 else usable_cpus()
    return max(1, min(n, cap) if cap else n)


def _cgroup_quota(path: Path) -> float | None:
    """The CPU quota in CPUs from cgroup v2's `cpu.max` ("max 100000" means none)."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
