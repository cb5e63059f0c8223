"""How many CPUs this process may really use: one rule for every pool in the tool."""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

T = TypeVar("T")
R = TypeVar("R")


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


@dataclass(frozen=True)
class BoundedExecutor:
    """An executor (a thread pool, a Dask cluster) and how many calls may wait on it at once."""

    executor: Executor
    in_flight: int

    def map_in_order(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """`fn(item)` for each item, in the items' order; at most `in_flight + 1` pending.

        The next item is read only when a slot is free, so memory holds a bounded number of
        inputs and results however far ahead the executor could run.
        """
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(self.executor.submit(fn, item))
            if len(pending) > self.in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
