"""The baseline stage reads Parquet in batches: the findings must not depend on how."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tasks.baseline.frame as frame_mod
from tasks.baseline import build_findings, findings_from_parquet
from tasks.baseline.comparison import mine_view_patterns
from tasks.baseline.frame import (
    BATCH_ROWS,
    FEW_GROUPS,
    FrameSource,
    LineRuns,
    grouped_percentiles,
    positions_in,
    span,
    where,
    window_view,
)
from tests.baseline.test_suspects import SETTINGS, WINDOWS, cascade, normal_traffic
from tests.frames import Logs


def _logs() -> Logs:
    logs = Logs(seed=3)
    normal_traffic(logs)
    cascade(logs)
    return logs


def _unpinned(findings) -> dict:
    return findings.model_dump(mode="json", exclude={"settings"})


def test_findings_from_a_shuffled_many_row_group_file_equal_those_from_memory(
    tmp_path: Path,
) -> None:
    frame = _logs().frame()
    assert len(frame) > BATCH_ROWS  # more than one batch, so that a batch edge is crossed
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Gather writes objects in the order they finish: rows are not in time order on disk.
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    path = tmp_path / "logs.parquet"
    pq.write_table(shuffled, path, row_group_size=BATCH_ROWS // 3)
    assert pq.ParquetFile(path).metadata.num_row_groups > 3

    from_file = findings_from_parquet(path, WINDOWS, "INC-1", SETTINGS)
    in_memory = build_findings(frame, WINDOWS, "INC-1", SETTINGS)
    assert from_file.suspects and from_file.patterns
    assert _unpinned(from_file) == _unpinned(in_memory)


def test_a_column_read_for_rows_out_of_order_comes_back_in_their_order(tmp_path: Path) -> None:
    frame = _logs().frame()
    path = tmp_path / "logs.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=5000)
    view = window_view(FrameSource(path), WINDOWS)
    rows = np.random.default_rng(1).choice(len(view.orig), size=3000, replace=False)
    want = frame["message"].to_numpy()[view.orig[rows]].tolist()
    assert view.strings("message", rows) == want
    seen = np.concatenate([part for part, _ in view.chunks("message", rows)])
    assert sorted(seen.tolist()) == sorted(rows.tolist())
    for part, values in view.chunks("message", rows):
        assert values.to_pylist() == frame["message"].to_numpy()[view.orig[part]].tolist()


def test_a_pass_over_the_file_leaves_no_row_group_buffers_held(tmp_path: Path) -> None:
    # Long, incompressible attrs: one row group's column chunk is about 20 MB on disk.
    rng = np.random.default_rng(2)
    n = 20_000
    table = pa.table(
        {
            "ts": pa.array(np.arange(n, dtype=np.int64) * 1000, pa.timestamp("us", tz="UTC")),
            "attrs": [rng.bytes(500).hex() for _ in range(n)],
        }
    )
    path = tmp_path / "logs.parquet"
    pq.write_table(table, path, row_group_size=n)
    pa.default_memory_pool().release_unused()
    before = pa.total_allocated_bytes()
    source = FrameSource(path)
    ts, change = source.basics()
    assert len(ts) == n and not change.any()
    # What the stage keeps is the numbers it asked for, not the file's last row group.
    assert pa.total_allocated_bytes() - before < 2_000_000


def test_finding_a_batch_in_the_row_list_does_not_copy_the_list() -> None:
    # A copy per batch made every streaming pass quadratic in the number of rows.
    positions = np.arange(0, 20_000_000, 2, dtype=np.int32)
    tracemalloc.start()
    try:
        bounds = span(positions, 1001, 2001)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bounds == (501, 1001)
    assert span(positions, 0, 20_000_000) == (0, len(positions))
    assert peak < 100_000  # the int64 copy of the list was 80 MB


@pytest.mark.parametrize("n_groups", [5, 200])
def test_grouped_percentiles_match_numpy_per_group_with_few_or_many_groups(n_groups: int) -> None:
    # Up to FEW_GROUPS groups are picked out by masks, more by one sort: both must agree.
    rng = np.random.default_rng(n_groups)
    group = rng.integers(0, n_groups, size=20_000).astype(np.int16)
    values = rng.lognormal(3, 1, size=group.size)
    values[rng.random(group.size) < 0.2] = np.nan
    group[group == 1] = 0  # group 1 has no values: nan
    out = grouped_percentiles(group, values, n_groups, (0.5, 0.95))
    assert (n_groups <= FEW_GROUPS) == (n_groups == 5)
    assert np.isnan(out[1]).all()
    for g in range(n_groups):
        mine = values[(group == g) & ~np.isnan(values)]
        if mine.size:
            assert out[g].tolist() == np.percentile(mine, [50, 95]).tolist()


def test_line_runs_give_each_kept_rows_object_and_line_however_the_frame_is_laid_out() -> None:
    rng = np.random.default_rng(5)
    # Kept frame rows with gaps (rows outside the windows), three objects interleaved in
    # places, lines that skip (rejected lines) and one beyond 32 bits.
    frame_rows = np.sort(rng.choice(10_000, 4_000, replace=False)).astype(np.int32)
    obj = np.repeat(np.array([0, 1, 2, 1, 0], dtype=np.int16), 800)
    line = np.arange(4_000, dtype=np.int64) + np.repeat([0, 50, 0, 7, 2**40], 800)
    runs = LineRuns.of(frame_rows, obj, line)
    shuffled = rng.permutation(4_000)
    found_obj, found_line = runs.locate(frame_rows[shuffled])
    assert found_obj.tolist() == obj[shuffled].tolist()
    assert found_line.tolist() == line[shuffled].tolist()
    # Laid out as gather writes (objects whole, lines in order): one run per object.
    whole = LineRuns.of(np.arange(3_000), np.repeat([0, 1, 2], 1_000), np.tile(np.arange(1_000), 3))
    assert whole.first_row.tolist() == [0, 1_000, 2_000]
    empty = LineRuns.of(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int16), np.zeros(0))
    assert [a.size for a in empty.locate(np.zeros(0, dtype=np.int32))] == [0, 0]


def test_where_finds_positions_a_block_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frame_mod, "BLOCK_ROWS", 1000)
    mask = np.random.default_rng(2).random(10_500) < 0.3
    found = where(mask)
    assert found.dtype == np.int32 and found.tolist() == np.flatnonzero(mask).tolist()
    assert where(np.zeros(0, dtype=bool)).size == 0


def test_a_frame_without_latency_or_status_columns_gives_no_latency_and_no_status_mix() -> None:
    """Latencies and statuses are read from the frame when a step needs them: a frame without
    those columns (plain-text formats) takes the path that reads nulls, and the same frame
    with them gives figures."""
    frame = _logs().frame()
    bare = build_findings(frame.drop(columns=["latency_ms", "status"]), WINDOWS, "x", SETTINGS)
    full = build_findings(frame, WINDOWS, "x", SETTINGS)
    assert any(s.latency_p95_ms for s in full.services)
    assert any(s.status_mix_incident for s in full.services)
    assert bare.services and not any(s.latency_p95_ms for s in bare.services)
    assert not any(s.status_mix_incident or s.status_mix_baseline for s in bare.services)
    assert [m.p95_latency_ms for m in bare.series] == [[None] * len(m.lines) for m in bare.series]


def _flagged_frame(flags: list[bool | None]) -> pa.Table:
    # Row 1's attrs name an eventSource; the flags say otherwise for rows 0 and 1.
    n = len(flags)
    attrs = ['{"k":"v"}'] * n
    attrs[1] = '{"eventSource":"ec2.amazonaws.com"}'
    return pa.table(
        {
            "ts": pa.array(np.arange(n, dtype=np.int64), pa.timestamp("us", tz="UTC")),
            "attrs": attrs,
            "change_record": pa.array(flags, pa.bool_()),
        }
    )


@pytest.mark.parametrize("on_disk", [False, True])
def test_gathers_change_flags_are_read_instead_of_attrs(tmp_path: Path, on_disk: bool) -> None:
    table = _flagged_frame([True, False, False, False])
    source: pa.Table | Path = table
    if on_disk:
        source = tmp_path / "logs.parquet"
        pq.write_table(table, source)
    _, change = FrameSource(source).basics()
    assert change.tolist() == [True, False, False, False]


@pytest.mark.parametrize("on_disk", [False, True])
def test_a_frame_with_a_missing_change_flag_works_them_out_from_attrs(
    tmp_path: Path, on_disk: bool
) -> None:
    table = _flagged_frame([True, False, None, False])
    source: pa.Table | Path = table
    if on_disk:
        source = tmp_path / "logs.parquet"
        pq.write_table(table, source, row_group_size=2)  # the null is in the second group
    _, change = FrameSource(source).basics()
    assert change.tolist() == [False, True, False, False]


def test_a_file_without_null_counts_works_the_change_flags_out_from_attrs(tmp_path: Path) -> None:
    path = tmp_path / "logs.parquet"
    pq.write_table(_flagged_frame([True, False, False, False]), path, write_statistics=False)
    _, change = FrameSource(path).basics()
    assert change.tolist() == [False, True, False, False]


def test_finding_a_batch_among_int32_rows_copies_none_of_them() -> None:
    # Batches come back as int64 view rows; searched for among int32 rows as they were, numpy
    # converted all the rows on every batch (1.8 of 2.4 s reading 5M rows' instances at 10 GB).
    rows = np.arange(0, 8_000_000, 2, dtype=np.int32)
    part = np.array([10, 4_000, 7_999_998], dtype=np.int64)
    tracemalloc.start()
    try:
        at = positions_in(rows, part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert at.tolist() == [5, 2_000, 3_999_999]
    assert peak < 1_000_000  # a converted copy of the rows would be 32 MB


def test_pattern_codes_take_two_bytes_a_row_when_the_patterns_fit() -> None:
    codes = mine_view_patterns(window_view(_logs().frame(), WINDOWS))
    assert codes.codes.dtype == np.int16
    assert len(codes.ids) > 0 and codes.codes.max() == len(codes.ids) - 1
