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


def test_written_files_are_readable_like_any_other_file(tmp_path: Path) -> None:
    """mkstemp's 0o600 would leave a shared folder's drafts readable by their writer alone."""
    import os

    umask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "draft.md", "text")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_stage_outputs_read_back_and_bad_files_are_named(tmp_path: Path) -> None:
    from tasks.contracts import RedactionReport
    from tasks.errors import ObjectError
    from tasks.output import read_model_json, write_model_json

    path = write_model_json(RedactionReport(counts={"email": 2}), tmp_path / "r.json")
    assert read_model_json(RedactionReport, path) == RedactionReport(counts={"email": 2})
    assert read_model_json(RedactionReport, tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text('{"counts": {"email": "many"}}')
    with pytest.raises(ObjectError, match=r"bad\.json: not a valid RedactionReport \(counts"):
        read_model_json(RedactionReport, tmp_path / "bad.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ObjectError, match=r"binary\.json: cannot read it"):
        read_model_json(RedactionReport, tmp_path / "binary.json")
