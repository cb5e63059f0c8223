"""One worker-count rule for every pool: CPU affinity, capped by a container's CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.workers import usable_cpus, worker_count

AFFINITY = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_no_quota_means_every_cpu_this_process_may_use(tmp_path: Path) -> None:
    assert usable_cpus(cpu_max(tmp_path, "max 100000\n")) == AFFINITY
    assert usable_cpus(tmp_path / "absent") == AFFINITY


def test_a_quota_below_the_affinity_caps_the_count(tmp_path: Path) -> None:
    assert usable_cpus(cpu_max(tmp_path, "50000 100000\n")) == 1  # half a CPU still gets one
    if AFFINITY >= 2:
        assert usable_cpus(cpu_max(tmp_path, "150000 100000\n")) == 2


@pytest.mark.parametrize("text", ["", "garbage", "100000 0", "x y"])
def test_an_unreadable_quota_is_ignored(tmp_path: Path, text: str) -> None:
    assert usable_cpus(cpu_max(tmp_path, text)) == AFFINITY


def test_worker_count_takes_a_request_and_a_cap() -> None:
    assert worker_count(3) == 3
    assert worker_count(0) == usable_cpus()
    assert worker_count(64, cap=8) == 8
    assert worker_count(-1, cap=1) == 1
