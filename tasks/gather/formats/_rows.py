"""Finishing parsed rows: the timestamp rule (no usable time, no row) and the table in
PARSED_SCHEMA, for parsers that build columns and for those that build one dict per record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import PARSED_SCHEMA, RejectTally
from tasks.gather.formats._normalise import ts_from_strings


def _column(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(n, type_)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == type_ else value.cast(type_)
    if isinstance(value, np.ndarray):
        return pa.array(value, type=type_)
    if isinstance(value, list):
        return pa.array(value, type=type_)
    return pa.repeat(pa.scalar(value, type=type_), n)


def _assemble(n: int, keep: pa.Array | None = None, **columns: Any) -> pa.Table:
    """A PARSED_SCHEMA table from arrays, lists or constants; `keep` filters the rows."""
    arrays = [_column(columns.get(f.name), n, f.type) for f in PARSED_SCHEMA]
    table = pa.Table.from_arrays(arrays, schema=PARSED_SCHEMA)
    if keep is not None and keep.false_count:
        table = table.filter(keep)
    return table


def _count_rejects(
    tally: RejectTally, reason: str, rows: np.ndarray, lines: np.ndarray, raw: Callable
) -> None:
    """Count rejected rows; only the first few need their raw text, for the examples."""
    for k, i in enumerate(rows):
        line = int(lines[i])
        tally.add(line, reason, raw(line) if k < 3 else b"")


def _ts_rejects(
    ts: pa.Array | None, present: pa.Array | None, n: int
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Rows to keep, rows with no timestamp, rows with an unparseable one."""
    if ts is None:
        return pa.array(np.zeros(n, dtype=bool)), np.arange(n), np.array([], dtype=np.int64)
    keep = ts.is_valid()
    if not keep.false_count:
        return keep, np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    bad = pc.and_(pc.invert(keep), present) if present is not None else pc.invert(keep)
    bad_np = np.asarray(bad.to_numpy(zero_copy_only=False), dtype=bool)
    missing_np = ~np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool) & ~bad_np
    return keep, np.flatnonzero(missing_np), np.flatnonzero(bad_np)


def finish_rows(
    n: int,
    cols: dict[str, Any],
    ts_present: pa.Array | None,
    lines: np.ndarray,
    raw: Callable[[int], bytes],
    tally: RejectTally,
) -> pa.Table:
    """Count the rows without a usable timestamp, and assemble the others."""
    keep, missing, bad = _ts_rejects(cols.get("ts"), ts_present, n)
    _count_rejects(tally, "no_timestamp", missing, lines, raw)
    _count_rejects(tally, "bad_timestamp", bad, lines, raw)
    return _assemble(n, keep=keep, **{**cols, "line": lines})


def records_table(
    records: list[dict[str, Any]],
    lines: list[int],
    raw: Callable,
    tally: RejectTally,
    bad_ts: bool,
) -> pa.Table:
    """Rows from per-record dicts whose `ts` is a timestamp string."""
    n = len(records)
    if not n:
        return PARSED_SCHEMA.empty_table()
    cols: dict[str, Any] = {f.name: [r.get(f.name) for r in records] for f in PARSED_SCHEMA}
    ts_raw = pa.array(cols["ts"], pa.string())
    cols["ts"] = ts_from_strings(ts_raw)
    present = ts_raw.is_valid() if not bad_ts else None
    return finish_rows(n, cols, present, np.array(lines, dtype=np.int64), raw, tally)
