"""The one atomic writer: whole files only, and no collisions between runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tasks.output import sibling_temp, write_atomic


def test_concurrent_writers_leave_one_whole_file_and_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "incident" / "findings.json"
    payloads = [(str(i) * 200_000).encode() for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda data: write_atomic(target, data), payloads))
    assert target.read_bytes() in payloads
    assert [p.name for p in target.parent.iterdir()] == ["findings.json"]


def test_temporary_names_are_unique_and_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "draft.md"
    first, second = sibling_temp(target), sibling_temp(target)
    assert first != second
    assert first.parent == second.parent == tmp_path


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "draft.md"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["draft.md"]
