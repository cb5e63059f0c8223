"""Shared Arrow helpers: where the lines of a block are, column plumbing, JSON text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import PARSED_SCHEMA, RejectTally

_WS_BYTES = np.array([9, 11, 12, 13, 32], dtype=np.uint8)
_JSON_WS = b" \t\r\n"
_OPEN, _CLOSE = ord("{"), ord("}")


class LineIndex:
    """Where each line of a block starts and ends, computed without a Python loop."""

    def __init__(self, data: bytes, first_line: int) -> None:
        self.data = data
        self.first_line = first_line
        buf = np.frombuffer(data, dtype=np.uint8)
        newlines = _find_newlines(buf)
        self.starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(data)]))
        if len(data):
            has_cr = (ends > self.starts) & (buf[np.maximum(ends - 1, 0)] == 13)
            ends = ends - has_cr
        self.ends = ends
        nonblank = ends > self.starts
        # A line of only spaces is blank too; such lines are rare, so check them one by one.
        if len(data):
            first_bytes = buf[np.minimum(self.starts, len(data) - 1)]
            for i in np.flatnonzero(nonblank & np.isin(first_bytes, _WS_BYTES)):
                if not data[self.starts[i] : ends[i]].strip():
                    nonblank[i] = False
        self.nonblank = np.flatnonzero(nonblank)

    @property
    def count(self) -> int:
        return len(self.nonblank)

    def braced(self) -> bool:
        """True when every non-blank line starts with `{` and ends with `}` (JSON whitespace
        aside). Then no JSON value can run on from one line into the next (after a `}` the
        parser needs `,`, `}` or `]`, never `{`), so a reader that gives one row per non-blank
        line gave row i from line i."""
        if not self.count:
            return True
        buf = np.frombuffer(self.data, dtype=np.uint8)
        starts, ends = self.starts[self.nonblank], self.ends[self.nonblank]
        odd = (buf[starts] != _OPEN) | (buf[ends - 1] != _CLOSE)
        for i in np.flatnonzero(odd):  # leading or trailing spaces: rare, checked one by one
            line = self.data[starts[i] : ends[i]].strip(_JSON_WS)
            if not (line.startswith(b"{") and line.endswith(b"}")):
                return False
        return True

    def line_numbers(self) -> np.ndarray:
        return self.nonblank.astype(np.int64) + self.first_line

    def raw(self, line: int) -> bytes:
        i = line - self.first_line
        return self.data[self.starts[i] : self.ends[i]]


def _find_newlines(buf: np.ndarray) -> np.ndarray:
    # In 1 MiB steps: one comparison over a whole 50 MB block allocates a 50 MB temporary,
    # and the page faults alone cost five times the scan.
    step = 1 << 20
    parts = [np.flatnonzero(buf[i : i + step] == 10) + i for i in range(0, len(buf), step)]
    return np.concatenate(parts) if parts else np.array([], dtype=np.int64)


def split_lines(data: bytes, first_line: int) -> Iterable[tuple[int, bytes]]:
    """(line number, line without its end-of-line) for every non-blank line."""
    for i, raw in enumerate(data.split(b"\n")):
        if raw.strip():
            yield first_line + i, raw.removesuffix(b"\r")


def concat_parsed(parts: Sequence[tuple[pa.Table, RejectTally]]) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    for _, t in parts:
        tally.merge(t)
    tables = [t for t, _ in parts if t.num_rows]
    table = pa.concat_tables(tables) if tables else PARSED_SCHEMA.empty_table()
    return table, tally


def orjson_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NAIVE_UTC).decode()


def slot_bounds(values: pa.Array) -> np.ndarray | None:
    """The len+1 offsets of a string array's slots into its data buffer (a view, no copy);
    None for other types. Without an offsets buffer (empty array), all zeros."""
    if pa.types.is_string(values.type):
        width = np.int32
    elif pa.types.is_large_string(values.type):
        width = np.int64
    else:
        return None
    offsets = values.buffers()[1]
    if offsets is None or not len(values):
        return np.zeros(len(values) + 1, dtype=width)
    return np.frombuffer(offsets, dtype=width)[values.offset : values.offset + len(values) + 1]


def slot_lengths(values: pa.Array) -> np.ndarray | None:
    """Byte length of every slot of a string array (null slots too), from its offsets; None
    for other types. Reading the offsets costs a few microseconds, a compute call ~10."""
    bounds = slot_bounds(values)
    if bounds is None:
        return None
    return bounds[1:] - bounds[:-1]  # np.diff's own overhead was ~3 us a call


def combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def fill(values: pa.Array | None, default: str, n: int) -> pa.Array:
    if values is None:
        return pa.repeat(pa.scalar(default), n)
    return pc.fill_null(values, default)


def coalesce(*arrays: pa.Array | None) -> pa.Array | None:
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    return pc.coalesce(*present) if len(present) > 1 else present[0]
