"""Which windows an incident is compared against, and which rows of the frame fall in each.

The default baseline is the equal-length window just before the incident, plus the same window
seven days earlier (weekly traffic shape), the latter kept only when it holds data. An explicit
`spec.baseline` replaces both. Windows are half-open, [start, end).

`window_view` turns the canonical frame into flat numpy arrays over the rows that matter (the
windows and a stretch of context before the incident), sorted by time. Every later step of the
baseline stage works on that view, so the pandas frame is converted once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.baseline.quantiles import grouped_percentiles_in_passes
from tasks.contracts import (
    IncidentSpec,
    TimeWindow,
    WindowSet,
    evidence_id,
    is_change_record,
    object_id,
)
from tasks.output import open_frame_file
from tasks.workers import BoundedExecutor

UNKNOWN_SERVICE = "(unknown)"

#: How far before the incident rows are kept even outside a baseline window: change events
#: (a deploy an hour before the first error) and the onset lead-in are looked for there.
CONTEXT_BEFORE = timedelta(hours=2)

WEEK = timedelta(days=7)
MINUTE_US = 60_000_000

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Levels as the parsers normalise them, plus the spellings they might let through.
_LEVEL_RANK = {
    "debug": 0,
    "trace": 0,
    "info": 1,
    "notice": 1,
    "warn": 2,
    "warning": 2,
    "error": 3,
    "err": 3,
    "fatal": 4,
    "critical": 4,
    "crit": 4,
    "alert": 4,
    "emerg": 4,
    "panic": 4,
}
LEVEL_NAMES = ("debug", "info", "warn", "error", "fatal")
ERROR_RANK = 3


def candidate_windows(spec: IncidentSpec) -> WindowSet:
    """The incident window and its baselines, before looking at any data."""
    incident = spec.window
    if spec.baseline:
        return WindowSet(incident=incident, baselines=list(spec.baseline), baseline_kind="explicit")
    before = incident.shifted(-incident.duration)
    baselines = [before]
    week = incident.shifted(-WEEK)
    # An incident longer than a week would overlap its own week-ago window.
    if week.end <= before.start:
        baselines.append(week)
    return WindowSet(incident=incident, baselines=baselines, baseline_kind="default")


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (ts - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


#: Rows per batch when the frame is read in a streaming pass: memory is one batch of the
#: columns read, never the whole frame.
BATCH_ROWS = 16 * 1024
#: View rows per block where a computation over many rows is done a block at a time, so that
#: its 8-byte temporaries stay a block long (8 MB) instead of the view's length.
BLOCK_ROWS = 1 << 20


class FrameSource:
    """The canonical frame, read column by column in bounded batches.

    Backed by gather's Parquet file (nothing is read until asked for) or by a table already in
    memory (tests, small frames). The baseline stage reads the few columns each step needs,
    batch by batch, so its memory follows the number of rows in the windows (a few numbers
    per row), not the size of the messages.

    `pool`, when given (a Dask cluster, see tasks/baseline/_dask.py), runs the per-batch work
    of `basics` and of the pattern miner's masking; its results are merged here in batch order.
    """

    def __init__(
        self,
        frame: pd.DataFrame | pa.Table | Path | str,
        pool: BoundedExecutor | None = None,
        pool_reads_file: bool = False,
    ) -> None:
        self.pool = pool
        # The pool's workers see this very file at the same path (shared storage): they read
        # its row groups themselves instead of receiving the columns from this process.
        self.pool_reads_file = pool_reads_file and isinstance(frame, Path | str)
        self._path = str(frame) if isinstance(frame, Path | str) else None
        self._file: pq.ParquetFile | None = None
        self._table: pa.Table | None = None
        if isinstance(frame, Path | str):
            self._file = open_frame_file(frame)
            self.column_names = list(self._file.schema_arrow.names)
            meta = self._file.metadata
            self.num_rows = meta.num_rows
            groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            self._group_starts = np.concatenate([[0], np.cumsum(groups, dtype=np.int64)])
        else:
            table = frame if isinstance(frame, pa.Table) else _from_pandas(frame)
            self._table = table
            self.column_names = list(table.column_names)
            self.num_rows = table.num_rows
        self._basics: tuple[np.ndarray, np.ndarray] | None = None

    def batches(self, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(offset of the first row, batch) over the frame in file order, present columns only."""
        present = [c for c in columns if c in self.column_names]
        offset = 0
        if self._file is not None:
            batches = self._file.iter_batches(
                batch_size=BATCH_ROWS, columns=present, use_threads=False
            )
        else:
            assert self._table is not None
            batches = iter(self._table.select(present).to_batches(max_chunksize=BATCH_ROWS))
        pool = pa.default_memory_pool()
        for batch in batches:
            yield offset, batch
            offset += batch.num_rows
            # The Parquet reader's decoding buffers are freed batch by batch, but the allocator
            # keeps the pages unless asked: without this the pass's footprint follows the
            # row group's size rather than a batch's.
            pool.release_unused()

    def take(self, name: str, file_rows: np.ndarray) -> pa.Array:
        """Values of one column at the given frame rows, in the order given."""
        if name not in self.column_names:
            return pa.nulls(len(file_rows), pa.string())
        file_rows = np.asarray(file_rows, dtype=np.int64)
        if self._table is not None:
            return _contiguous(pc.take(self._table[name], pa.array(file_rows)))
        assert self._file is not None
        order = np.argsort(file_rows, kind="stable")
        wanted = file_rows[order]
        group_of = np.searchsorted(self._group_starts, wanted, side="right") - 1
        parts = []
        for group in np.unique(group_of).tolist():
            offset = int(self._group_starts[group])
            batches = self._file.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[group], columns=[name], use_threads=False
            )
            for batch in batches:
                lo, hi = span(wanted, offset, offset + batch.num_rows)
                if hi > lo:
                    parts.append(batch.column(0).take(pa.array(wanted[lo:hi] - offset)))
                offset += batch.num_rows
                pa.default_memory_pool().release_unused()
                if hi == len(wanted):
                    break
        if not parts:
            return pa.array([], self._file.schema_arrow.field(name).type)
        values = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return values.take(pa.array(inverse))

    def _has_change_flags(self) -> bool:
        """Whether every row has gather's change_record flag (none null)."""
        if "change_record" not in self.column_names:
            return False
        if self._table is not None:
            return self._table["change_record"].null_count == 0
        assert self._file is not None
        meta = self._file.metadata
        at = self._file.schema_arrow.get_field_index("change_record")
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(at).statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                return False
        return True

    def forget_basics(self) -> None:
        self._basics = None

    def basics(self) -> tuple[np.ndarray, np.ndarray]:
        """Per frame row: time (see `_ts_us`) and whether it is a change record. Read once."""
        if self._basics is None:
            if "ts" not in self.column_names:
                raise KeyError("ts")
            ts_parts, change_parts = [], []
            # Gather writes the change-record flag; frames without it (tests, older runs)
            # have it worked out from attrs, the frame's largest column, read for it alone.
            columns = ["ts", "change_record" if self._has_change_flags() else "attrs"]
            batches = (batch for _, batch in self.batches(columns))
            if self.pool is None:
                parts = map(_batch_basics, batches)
            elif self.pool_reads_file and self._file is not None:
                groups = ((self._path, g, columns) for g in range(self._file.num_row_groups))
                parts = self.pool.map_in_order(_row_group_basics, groups)
            else:
                parts = self.pool.map_in_order(_batch_basics, batches)
            for ts_part, change_part in parts:
                ts_parts.append(ts_part)
                change_parts.append(change_part)
            ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, dtype=np.int64)
            change = np.concatenate(change_parts) if change_parts else np.zeros(0, dtype=bool)
            self._basics = (ts, change)
            # The parts are views of Arrow buffers: once they are gone, hand the pages back,
            # or the allocator keeps a second copy of the times for the rest of the stage.
            del ts_parts, change_parts
            pa.default_memory_pool().release_unused()
        return self._basics


def _batch_basics(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """`FrameSource.basics` of one batch of ts and either change_record or attrs."""
    table = pa.Table.from_batches([batch])
    return _ts_us(table), _change_record_mask(table)


def _row_group_basics(where: tuple[str, int, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """`FrameSource.basics` of one row group of the Parquet file at a path, read here."""
    path, group, columns = where
    file = open_frame_file(path)
    present = [c for c in columns if c in file.schema_arrow.names]
    parts = [
        _batch_basics(batch)
        for batch in file.iter_batches(
            batch_size=BATCH_ROWS, row_groups=[group], columns=present, use_threads=False
        )
    ]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    return np.concatenate([t for t, _ in parts]), np.concatenate([c for _, c in parts])


def _from_pandas(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def as_source(frame: pd.DataFrame | pa.Table | FrameSource) -> FrameSource:
    return frame if isinstance(frame, FrameSource) else FrameSource(frame)


def _ts_us(table: pa.Table) -> np.ndarray:
    """Row timestamps as int64 microseconds; rows without a time get the minimum (never in a window)."""
    col = table["ts"]
    if not pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz="UTC"))
    col = pc.cast(col, pa.timestamp("us", tz="UTC"), safe=False)
    ints = pc.cast(col, pa.int64())
    return pc.fill_null(ints, np.iinfo(np.int64).min).to_numpy()


def _change_record_mask(table: pa.Table) -> np.ndarray:
    """CloudTrail records: they describe changes to the system, not traffic of a service."""
    if "change_record" in table.column_names:
        return table["change_record"].to_numpy()
    if "attrs" not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return is_change_record(table["attrs"])


def _rows_in(ts: np.ndarray, window: TimeWindow) -> np.ndarray:
    return (ts >= to_us(window.start)) & (ts < to_us(window.end))


def drop_empty_baselines(
    windows: WindowSet, frame: pd.DataFrame | pa.Table | FrameSource
) -> tuple[WindowSet, list[str]]:
    """Leave out baseline windows without service log lines, saying so when it matters.

    The default week-ago window is expected to be missing often (short retention), so dropping
    it is silent; an empty explicit window or an empty window-just-before gets a warning.
    """
    ts, change = as_source(frame).basics()
    traffic = ~change
    kept: list[TimeWindow] = []
    warnings: list[str] = []
    for index, window in enumerate(windows.baselines):
        if np.any(_rows_in(ts, window) & traffic):
            kept.append(window)
            continue
        if windows.baseline_kind == "explicit":
            warnings.append(f"Baseline window {window} has no log lines; it was left out.")
        elif index == 0:
            warnings.append(
                f"The window just before the incident ({window}) has no log lines; "
                "it was left out of the baseline."
            )
    if windows.baselines and not kept:
        warnings.append(
            "No baseline window has any log lines: every pattern looks new and no change "
            "against normal can be tested."
        )
    return windows.model_copy(update={"baselines": kept}), warnings


def exclusive_minutes(windows: WindowSet) -> np.ndarray:
    """Minutes each window contributes, [incident, baseline 1, ...], overlaps counted once.

    A row in overlapping windows belongs to the earliest listed (the incident first), so the
    exposure of a later window excludes the parts already taken.
    """
    taken: list[tuple[int, int]] = []
    minutes = []
    for window in [windows.incident, *windows.baselines]:
        start, end = to_us(window.start), to_us(window.end)
        own = end - start
        for t_start, t_end in taken:
            own -= max(0, min(end, t_end) - max(start, t_start))
        minutes.append(max(own, 0) / 60e6)
        taken.append((start, end))
    return np.asarray(minutes, dtype=float)


@dataclass
class TraceSample:
    """Traced lines of some view rows, from every trace or from a bottom-k sample of them."""

    rows: np.ndarray  # view rows of the lines kept, ascending
    keys: np.ndarray  # their trace hashes (uint64)
    lines: int  # lines with a trace ID among the rows asked about (kept or not)
    traces: float  # traces among them: exact when `exact`, else the bottom-k estimate
    sampled: int  # traces kept
    exact: bool  # every trace kept: nothing is estimated

    @property
    def scale(self) -> float:
        """Traces per sampled trace: 1.0 when every trace was kept."""
        return self.traces / self.sampled if self.sampled else 1.0


class _BottomK:
    """Lines of the `limit` traces with the smallest hashes, fed a batch of lines at a time."""

    def __init__(self, limit: int, row_dtype: type) -> None:
        self.limit = limit
        self.row_dtype = row_dtype
        # Lines with a hash above the cut cannot be in the sample; it only ever comes down.
        self.cut = np.iinfo(np.uint64).max
        self.rows: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.held = 0  # lines in rows/keys
        self.after_prune = 0
        self.lines = 0
        self.sampled_any = False
        self._distinct = 0  # traces in the buffer after the last prune, at most `limit`

    def add(self, rows: np.ndarray, hashes: np.ndarray) -> None:
        self.lines += rows.size
        keep = hashes <= self.cut
        self.rows.append(rows[keep].astype(self.row_dtype))
        self.keys.append(hashes[keep])
        self.held += int(np.count_nonzero(keep))
        # Prune when the buffer has doubled since the last prune: amortised linear work,
        # and never more than about twice the sample's lines held.
        if self.held > max(2 * self.after_prune, 4 * BATCH_ROWS):
            self._prune()

    def _prune(self) -> None:
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=self.row_dtype)
        keys = np.concatenate(self.keys) if self.keys else np.zeros(0, dtype=np.uint64)
        distinct = np.unique(keys)
        if distinct.size > self.limit:
            self.cut = distinct[self.limit - 1]
            self.sampled_any = True
            keep = keys <= self.cut
            rows, keys = rows[keep], keys[keep]
        self.rows, self.keys = [rows], [keys]
        self.held = self.after_prune = rows.size
        self._distinct = min(int(distinct.size), self.limit)

    def result(self) -> TraceSample:
        self._prune()
        rows, keys = self.rows[0], self.keys[0]
        order = np.argsort(rows, kind="stable")
        rows, keys = rows[order], keys[order]
        sampled = self._distinct
        traces: float = sampled
        if self.sampled_any:
            # The k-th smallest of n uniform hashes sits near k/n of the range: (k-1)/u is
            # the unbiased estimate of n (the "k minimum values" sketch), error about 1/sqrt(k).
            u = (float(self.cut) + 1.0) / 2.0**64
            traces = (sampled - 1) / u if sampled > 1 else float(sampled)
        return TraceSample(rows, keys, self.lines, traces, sampled, not self.sampled_any)


@dataclass
class LineRuns:
    """Which object and line each kept frame row was read from, as runs.

    Gather writes each object's lines together and in order, so the kept rows fall into runs of
    consecutive frame rows that are consecutive lines of one object: a few runs per object
    (one per stretch the windows keep), not an object code and a line number per row. A frame
    laid out otherwise only makes more runs, never wrong answers.
    """

    first_row: np.ndarray  # frame row that starts each run, ascending
    obj: np.ndarray  # object code of each run
    first_line: np.ndarray  # line number of the run's first row (int64)

    @classmethod
    def of(cls, frame_rows: np.ndarray, obj: np.ndarray, line: np.ndarray) -> LineRuns:
        """Runs of kept rows given in frame order: ascending frame rows, their objects, lines."""
        if frame_rows.size == 0:
            return cls(frame_rows[:0], obj[:0], line[:0].astype(np.int64))
        breaks = (np.diff(frame_rows) != 1) | (np.diff(obj) != 0) | (np.diff(line) != 1)
        starts = np.flatnonzero(np.concatenate([[True], breaks]))
        return cls(frame_rows[starts], obj[starts], line[starts].astype(np.int64))

    def locate(self, frame_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(object code, line) of kept frame rows."""
        run = np.searchsorted(self.first_row, frame_rows, side="right") - 1
        return self.obj[run], self.first_line[run] + (frame_rows - self.first_row[run])


@dataclass
class WindowedFrame:
    """The rows of the canonical frame that the baseline stage looks at, sorted by time.

    Arrays are aligned: element i of each describes the same row. `window` is 0 for the
    incident, i for baseline i-1, and -1 for context rows before the incident that fall in no
    window. `change_record` marks CloudTrail rows, which are never service traffic. Only
    numbers are held per row; text columns (messages, attrs, trace IDs) and latencies stay in
    `source` and are read for the rows a step asks for, a batch at a time.
    """

    windows: WindowSet
    source: FrameSource  # the whole frame, read on demand
    orig: np.ndarray  # position of each kept row in the frame (int32 below 2³¹ frame rows)
    ts: np.ndarray  # int64 microseconds since the epoch
    window: np.ndarray  # int8
    service: np.ndarray  # int16 codes into service_names (int32 if there are more)
    service_names: list[str]
    change_record: np.ndarray  # bool
    level: np.ndarray  # int8 rank (LEVEL_NAMES index), -1 when absent
    is_error: np.ndarray  # bool: level error/fatal or HTTP status >= 500
    minutes: np.ndarray  # exposure per window, [incident, baseline 1, ...]
    # Traffic lines per HTTP status (100-999), as rows [kind, service, status, lines], kind 0
    # for the incident and 1 for the baselines: all the stage needs of statuses, so none is
    # held per row.
    status_lines: np.ndarray
    lines: LineRuns  # the object and line each row was read from (see LineRuns)
    object_ids: list[str]
    # View rows in the order of their frame rows (orig ascending), for streaming reads.
    frame_order: np.ndarray | None = field(default=None, repr=False)

    @property
    def traffic(self) -> np.ndarray:
        """Rows that are service log lines (not change records)."""
        return ~self.change_record

    @property
    def incident_us(self) -> tuple[int, int]:
        return to_us(self.windows.incident.start), to_us(self.windows.incident.end)

    @property
    def baseline_minutes(self) -> float:
        return float(self.minutes[1:].sum())

    def column(self, name: str, rows: np.ndarray | None = None) -> pa.Array:
        """One column of the frame for the given view rows (all kept rows when None).

        Read from the source for these rows only: ask for few rows, or in chunks (`chunks`).
        """
        return self.source.take(name, self.orig if rows is None else self.orig[rows])

    def chunks(self, name: str, rows: np.ndarray) -> Iterator[tuple[np.ndarray, pa.Array]]:
        """(view rows, their values) for the distinct `rows`, a batch at a time in frame order.

        One streaming read of the column, for row-wise work on many rows; results come in
        frame order, not time order (sort the view rows back where order matters). It holds a
        byte per view row (which rows are wanted) and one batch's rows: `frame_order` is walked
        alongside the batches, so no list of the wanted rows in frame order is built.
        """
        wanted = np.zeros(len(self.orig), dtype=bool)
        wanted[rows] = True
        remaining = int(np.count_nonzero(wanted))
        order = self._frame_order()
        if name not in self.source.column_names:
            for start in range(0, len(order), BATCH_ROWS):
                part = order[start : start + BATCH_ROWS]
                part = part[wanted[part]].astype(np.int64)
                if part.size:
                    yield part, pa.nulls(len(part), pa.string())
            return
        cursor = 0
        for offset, batch in self.source.batches([name]):
            if remaining == 0:
                break
            # At most a batch's worth of view rows can fall in this batch's frame rows.
            ahead = order[cursor : cursor + batch.num_rows]
            inside = int(np.searchsorted(self.orig[ahead], offset + batch.num_rows))
            part = ahead[:inside]
            cursor += inside
            part = part[wanted[part]]
            if part.size:
                remaining -= part.size
                at = (self.orig[part] - offset).astype(np.int64)
                yield part.astype(np.int64), batch.column(0).take(pa.array(at))

    def _frame_order(self) -> np.ndarray:
        """View rows in the order of their frame rows (`orig` ascending)."""
        if self.frame_order is None:  # a view built by hand (tests)
            self.frame_order = np.argsort(self.orig, kind="stable").astype(
                _index_dtype(len(self.orig))
            )
        return self.frame_order

    def strings(self, name: str, rows: np.ndarray) -> list[str | None]:
        return self.column(name, rows).to_pylist()

    def value_codes(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """For `rows` (ascending view rows): each one's value of a few-valued text column, as a
        code into the values returned, code 0 being "" (no value). Read a batch at a time and
        coded as the view's own columns are (`_Codes`): nothing is held per view row."""
        values = _Codes()
        values.encode([pa.array([""], pa.large_string())], 1)
        codes = np.zeros(len(rows), dtype=np.int32)
        for part, chunk in self.chunks(name, rows):
            batch = _filled(pa.table({name: chunk}), (name,))
            codes[positions_in(rows, part)] = values.encode(batch, len(part))
        return codes, values.values()

    def _trace_hashes(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(view rows with a trace ID, 64-bit hashes of their IDs), a batch at a time.

        Hashes stand in for the IDs, so that grouping lines by trace holds 8 bytes per line
        instead of every ID as a string. Two different IDs collide with odds of about n²/2⁶⁵
        for n traces (one in 36 million for a million traces); grouping is otherwise exact.
        An empty ID is no trace.
        """
        for part, chunk in self.chunks("trace_id", rows):
            ok = pc.fill_null(pc.not_equal(chunk, ""), False).to_numpy(zero_copy_only=False)
            if ok.any():
                ids = chunk.filter(pa.array(ok)).to_numpy(zero_copy_only=False)
                yield part[ok], pd.util.hash_array(ids.astype(object), categorize=False)

    def trace_keys(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """For `rows` (ascending view rows; all when None): trace hash and whether it has one.

        Read on each call, for these rows only: nothing is kept per view row.
        """
        rows = np.arange(len(self.orig)) if rows is None else np.asarray(rows)
        keys = np.zeros(len(rows), dtype=np.uint64)
        valid = np.zeros(len(rows), dtype=bool)
        for part, hashes in self._trace_hashes(rows):
            at = positions_in(rows, part)
            keys[at] = hashes
            valid[at] = True
        return keys, valid

    def sampled_traces(self, rows: np.ndarray, limit: int) -> TraceSample:
        """The lines of `rows` (ascending view rows) that belong to at most `limit` traces.

        With more traces than `limit`, a bottom-k sample: the `limit` traces whose ID hashes
        are smallest, which is a uniform sample without replacement (the hash spreads IDs
        evenly) and the same on every run. One streaming pass over the trace IDs; it keeps
        only lines whose hash can still be among the smallest, so memory follows the sampled
        traces' lines, not the frame's. With at most `limit` traces every traced line is kept.
        """
        rows = np.asarray(rows, dtype=np.int64)
        sampler = _BottomK(limit, _index_dtype(len(self.orig)))
        for part, hashes in self._trace_hashes(rows):
            sampler.add(part, hashes)
        return sampler.result()

    def evidence(self, rows: np.ndarray | list[int]) -> list[str]:
        """Evidence IDs (object and line) of view rows, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        obj, line = self.lines.locate(self.orig[rows])
        return [
            evidence_id(self.object_ids[c], n)
            for c, n in zip(obj.tolist(), line.tolist(), strict=True)
        ]

    def _baseline_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Start (µs) and first bin of each baseline window, the windows laid end to end."""
        starts = np.array([to_us(w.start) for w in self.windows.baselines], dtype=np.int64)
        sizes = [int(np.ceil(w.minutes)) for w in self.windows.baselines]
        return starts, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def baseline_bins(self, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """Minute bin of each baseline row (baselines laid end to end) and the number of bins."""
        starts, offsets = self._baseline_layout()
        n_bins = int(offsets[-1])
        # A block of rows at a time: gathered for every baseline row at once, window, start,
        # time and minute took some 40 bytes a row.
        bins = np.zeros(len(rows), dtype=_index_dtype(n_bins + 1))
        for lo in range(0, len(rows), BLOCK_ROWS):
            part = rows[lo : lo + BLOCK_ROWS]
            which = self.window[part]
            ts = self.ts[part]
            out = bins[lo : lo + BLOCK_ROWS]
            for index, (start, offset) in enumerate(zip(starts, offsets[:-1], strict=True)):
                inside = which == index + 1
                out[inside] = (ts[inside] - start) // MINUTE_US + offset
        return bins, n_bins

    def baseline_bin_starts(self) -> np.ndarray:
        """When each baseline minute bin starts (µs since the epoch)."""
        starts, offsets = self._baseline_layout()
        sizes = np.diff(offsets)
        return np.concatenate(
            [
                s + MINUTE_US * np.arange(n, dtype=np.int64)
                for s, n in zip(starts, sizes, strict=True)
            ]
            or [np.zeros(0, dtype=np.int64)]
        )

    def latencies(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(view rows, their latencies in ms, nan where absent) for the distinct `rows`, a batch
        at a time in frame order (see `chunks`)."""
        for part, values in self.chunks("latency_ms", rows):
            yield part, _as_float(values, np.nan)

    def latency_of(self, rows: np.ndarray) -> np.ndarray:
        """The latencies of `rows` (ascending view rows), nan where absent."""
        rows = np.asarray(rows)
        out = np.full(len(rows), np.nan)
        for part, values in self.latencies(rows):
            out[positions_in(rows, part)] = values
        return out

    def latency_percentiles(
        self,
        rows: np.ndarray,
        quantiles: tuple[float, ...],
        group_of: Callable[[np.ndarray], np.ndarray] | None = None,
        n_groups: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """[group, quantile] latency percentiles over `rows` (numpy's linear method; nan if
        none) and each group's number of latencies. Groups are services unless `group_of`
        maps view rows to codes below `n_groups`.

        Exact, in a few streaming reads of the latencies (tasks/baseline/quantiles.py): the
        view holds no latency per row.
        """
        group_of = group_of or (lambda part: self.service[part])
        n_groups = len(self.service_names) if n_groups is None else n_groups

        def passes() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for part, values in self.latencies(rows):
                yield group_of(part), values

        return grouped_percentiles_in_passes(passes, n_groups, quantiles)

    def time(self, row: int) -> datetime:
        return from_us(int(self.ts[row]))

    def code_of(self, service: str) -> int | None:
        try:
            return self.service_names.index(service)
        except ValueError:
            return None


def _contiguous(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    # Strings stay large_string when they come so: millions of long messages overflow the
    # 32-bit offsets of plain string.
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


#: Up to this many groups, `grouped_percentiles` takes each group's values by a mask (one
#: pass over the rows per group) instead of sorting them all by group.
FEW_GROUPS = 64


def grouped_percentiles(
    group: np.ndarray, values: np.ndarray, n_groups: int, quantiles: tuple[float, ...]
) -> np.ndarray:
    """Percentiles of `values` per group code, nan where a group has no values."""
    out = np.full((n_groups, len(quantiles)), np.nan)
    ok = ~np.isnan(values)
    if not ok.any():
        return out
    present = np.flatnonzero(np.bincount(group[ok], minlength=n_groups))
    if len(present) <= FEW_GROUPS:
        # A mask per group: no sorted copy of all values and no 8-byte sort order, which
        # at millions of rows were the largest temporaries of the baseline stage.
        for g in present.tolist():
            out[g] = np.percentile(values[ok & (group == g)], [q * 100 for q in quantiles])
        return out
    group, values = group[ok], values[ok]
    # A stable sort on 16-bit codes is a radix sort: linear, unlike sorting (group, value) pairs.
    small = n_groups < 2**15
    order = np.argsort(group.astype(np.int16) if small else group, kind="stable")
    sorted_values = values[order]
    counts = np.bincount(group, minlength=n_groups)
    ends = np.cumsum(counts)
    for g in np.flatnonzero(counts).tolist():
        chunk = sorted_values[ends[g] - counts[g] : ends[g]]
        out[g] = np.percentile(chunk, [q * 100 for q in quantiles])
    return out


def _levels(table: pa.Table) -> np.ndarray:
    if "level" not in table.column_names:
        return np.full(table.num_rows, -1, dtype=np.int8)
    level = pc.utf8_lower(pc.cast(table["level"], pa.string()))
    names = list(_LEVEL_RANK)
    ranks = np.array([_LEVEL_RANK[n] for n in names] + [-1], dtype=np.int8)
    position = pc.fill_null(pc.index_in(level, value_set=pa.array(names)), len(names))
    return ranks[position.to_numpy(zero_copy_only=False)]


def _numeric(table: pa.Table, name: str, fill: float) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, fill)
    return _as_float(table[name], fill)


def _as_float(values: pa.Array | pa.ChunkedArray, fill: float) -> np.ndarray:
    return pc.fill_null(pc.cast(values, pa.float64()), fill).to_numpy(zero_copy_only=False)


class _Codes:
    """Global codes for the distinct values (or tuples of values) of few-valued columns."""

    def __init__(self) -> None:
        self.index: dict[object, int] = {}

    def encode(self, columns: list[pa.Array], n_rows: int) -> np.ndarray:
        """Code per row for the tuple of `columns` (strings, nulls filled); one part: the value."""
        if not columns:
            return np.full(n_rows, self.index.setdefault((), len(self.index)), dtype=np.int32)
        combined = np.zeros(n_rows, dtype=np.int64)
        dictionaries = []
        for column in columns:
            encoded = pc.dictionary_encode(column)
            if isinstance(encoded, pa.ChunkedArray):
                encoded = encoded.combine_chunks()
            values = encoded.dictionary.to_pylist()
            combined = combined * max(len(values), 1) + encoded.indices.to_numpy(
                zero_copy_only=False
            ).astype(np.int64)
            dictionaries.append(values)
        distinct, inverse = np.unique(combined, return_inverse=True)
        to_global = np.empty(len(distinct), dtype=np.int32)
        for i, value in enumerate(distinct.tolist()):
            parts = []
            for values in reversed(dictionaries):
                value, j = divmod(value, max(len(values), 1))
                parts.append(values[j])
            key = tuple(reversed(parts)) if len(columns) > 1 else parts[0]
            to_global[i] = self.index.setdefault(key, len(self.index))
        return to_global[inverse.reshape(-1)]

    def values(self) -> list:
        out: list = [None] * len(self.index)
        for key, code in self.index.items():
            out[code] = key
        return out


def _service_column(table: pa.Table) -> list[pa.Array]:
    if "service" not in table.column_names:
        return [pa.array([UNKNOWN_SERVICE] * table.num_rows, pa.string())]
    service = pc.cast(table["service"], pa.string())
    service = pc.if_else(pc.equal(service, ""), None, service)
    return [pc.fill_null(service, UNKNOWN_SERVICE)]


def _filled(table: pa.Table, names: tuple[str, ...]) -> list[pa.Array]:
    return [
        pc.fill_null(pc.cast(table[n], pa.large_string()), "")
        for n in names
        if n in table.column_names
    ]


def _sorted_names(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """The names sorted, and for each old code its new one: codes renumbered this way follow
    sorted names, so every output by code is deterministic."""
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    remap = np.empty(len(names), dtype=np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    return remap, [names[i] for i in order]


class _StatusTally:
    """Traffic lines per (incident or baselines, service code, HTTP status), batch by batch."""

    def __init__(self) -> None:
        self._lines: dict[int, int] = {}

    def add(
        self, window: np.ndarray, change_record: np.ndarray, service: np.ndarray, status: np.ndarray
    ) -> None:
        counted = (window >= 0) & ~change_record & (status >= 100) & (status < 1000)
        kind = (window[counted] > 0).astype(np.int64)
        keys = ((kind << 32) + service[counted]) * 1000 + status[counted]
        for key, lines in zip(*np.unique(keys, return_counts=True), strict=True):
            self._lines[int(key)] = self._lines.get(int(key), 0) + int(lines)

    def rows(self, service_remap: np.ndarray) -> np.ndarray:
        """[kind, service (renumbered), status, lines] rows."""
        keys = np.array(list(self._lines), dtype=np.int64)
        lines = np.array(list(self._lines.values()), dtype=np.int64)
        pair, status = np.divmod(keys, 1000)
        kind, service = np.divmod(pair, 1 << 32)
        service = service_remap[service] if len(service) else service
        return np.stack([kind, service, status, lines], axis=1).reshape(-1, 4)


# ts: so that every batch has a column and so its row count, whatever else the frame lacks.
_VIEW_COLUMNS = ["ts", "service", "level", "status", "source", "object_key", "line"]


def window_view(frame: pd.DataFrame | pa.Table | FrameSource, windows: WindowSet) -> WindowedFrame:
    """The rows in any window or in the context before the incident, sorted by time.

    One streaming pass over the frame's few-valued and numeric columns; rows are ordered by
    time, ties broken by (source, object key, line). Lines of one request in several services
    often share a microsecond, and gather writes objects in the order they finish parsing;
    without the tie-break, which line becomes an evidence ID would change from run to run.
    """
    source = as_source(frame)
    ts_all, change_all = source.basics()
    code_all = np.full(len(ts_all), -1, dtype=np.int8)
    keep_all = np.zeros(len(ts_all), dtype=bool)
    # Later windows first, so that the incident (code 0) wins where windows overlap.
    all_windows = [windows.incident, *windows.baselines]
    for index in range(len(all_windows) - 1, -1, -1):
        inside = _rows_in(ts_all, all_windows[index])
        code_all[inside] = index
        keep_all |= inside
    context_start = to_us(windows.incident.start - CONTEXT_BEFORE)
    keep_all |= (ts_all >= context_start) & (ts_all < to_us(windows.incident.start))
    kept = np.flatnonzero(keep_all)
    del keep_all
    # The view is built: the per-frame-row arrays are not needed again.
    source.forget_basics()

    # Frame row numbers fit 32 bits unless the frame has 2³¹ rows or more.
    kept = kept.astype(_index_dtype(source.num_rows), copy=False)
    n_kept = kept.size
    # The per-frame-row arrays go before the columns are read: they never coexist.
    ts = ts_all[kept]
    window = code_all[kept]
    change_record = change_all[kept]
    del ts_all, code_all, change_all
    # Each column is written in place, batch by batch, into one array of the view's length:
    # no per-batch parts to concatenate, so a column never exists twice while it is built.
    level = np.zeros(n_kept, dtype=np.int8)
    is_error = np.zeros(n_kept, dtype=bool)
    statuses = _StatusTally()
    line = np.zeros(n_kept, dtype=np.int32)
    # Codes start as int16 and widen to int32 only if a code does not fit.
    service = np.zeros(n_kept, dtype=np.int16)
    obj = np.zeros(n_kept, dtype=np.int16)
    services, objects = _Codes(), _Codes()
    has_objects = [n for n in ("source", "object_key") if n in source.column_names]
    for offset, batch in source.batches(_VIEW_COLUMNS):
        lo, hi = span(kept, offset, offset + batch.num_rows)
        table = pa.Table.from_batches([batch]).take(pa.array(kept[lo:hi] - offset))
        n = table.num_rows
        status = _numeric(table, "status", 0.0).astype(np.int64)
        level[lo:hi] = _levels(table)
        is_error[lo:hi] = (level[lo:hi] >= ERROR_RANK) | (status >= 500)
        numbers = _numeric(table, "line", 0.0).astype(np.int64)
        line = _widened(line, numbers)
        line[lo:hi] = numbers
        codes = services.encode(_service_column(table), n)
        service = _widened(service, codes, np.int32)
        service[lo:hi] = codes
        codes = objects.encode(_filled(table, ("source", "object_key")), n)
        obj = _widened(obj, codes, np.int32)
        obj[lo:hi] = codes
        statuses.add(window[lo:hi], change_record[lo:hi], service[lo:hi], status)
        del table, numbers, status

    keys = objects.values()
    # A key's tuple is (source, object key) for the columns present; its rank orders ties.
    tuples = [k if isinstance(k, tuple) else (k,) for k in keys]
    obj_rank, _ = _sorted_names(["\x00".join(t) for t in tuples])
    order = np.lexsort((line, obj_rank[obj] if len(obj) else obj, ts))
    order = order.astype(_index_dtype(n_kept), copy=False)
    # kept is in frame order: the runs come from it before it is sorted by time.
    lines = LineRuns.of(kept, obj, line)
    del obj, line
    named = [dict(zip(has_objects, t, strict=True)) for t in tuples]
    object_ids = [object_id(n.get("source", ""), n.get("object_key", "")) for n in named]
    service_remap, service_names = _sorted_names(services.values())
    # Renumbered in the codes' own dtype: int16 unless a code did not fit.
    service = service_remap.astype(service.dtype)[service] if n_kept else service
    if not service_names:
        service_names = [UNKNOWN_SERVICE] if "service" not in source.column_names else []
    # One column reordered at a time: each unordered copy is let go as soon as its ordered
    # copy exists, so at most one column is held twice.
    kept = kept[order]
    ts = ts[order]
    window = window[order]
    service = service[order]
    change_record = change_record[order]
    level = level[order]
    is_error = is_error[order]
    # kept was ascending, so order's inverse lists the view rows in frame order.
    frame_order = np.empty(n_kept, dtype=order.dtype)
    frame_order[order] = np.arange(n_kept, dtype=order.dtype)
    del order
    return WindowedFrame(
        windows=windows,
        source=source,
        orig=kept,
        ts=ts,
        window=window,
        service=service,
        service_names=service_names,
        change_record=change_record,
        level=level,
        is_error=is_error,
        minutes=exclusive_minutes(windows),
        status_lines=statuses.rows(service_remap),
        lines=lines,
        object_ids=object_ids,
        frame_order=frame_order,
    )


def positions_in(rows: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Where each of `part` sits in `rows` (both ascending view rows, `part` among `rows`).

    `part` is cast to `rows`' dtype: given int64 against int32 rows, numpy converts the whole of
    `rows` on every call, which made reading a column for millions of rows quadratic-like (one
    copy of every row per batch: 1.8 of 2.4 s for 5M rows at 10 GB).
    """
    return np.searchsorted(rows, part.astype(rows.dtype, copy=False))


def where(mask: np.ndarray) -> np.ndarray:
    """Positions of the true elements of a per-row mask, as int32 when they fit.

    np.flatnonzero gives int64; the baseline keeps several such row lists of the view's length
    at once, and at 4 bytes a position they take half the memory. The positions are found a
    block at a time, so that no int64 list of them all exists even for a moment.
    """
    if _index_dtype(mask.size) is np.int64:
        return np.flatnonzero(mask)
    out = np.empty(int(np.count_nonzero(mask)), dtype=np.int32)
    at = 0
    for start in range(0, mask.size, BLOCK_ROWS):
        found = np.flatnonzero(mask[start : start + BLOCK_ROWS])
        out[at : at + found.size] = found + start
        at += found.size
    return out


def span(positions: np.ndarray, start: int, stop: int) -> tuple[int, int]:
    """Where the positions in [start, stop) lie in the ascending array `positions`.

    The bounds are given to numpy in the array's own dtype: `np.searchsorted(int32_array, n)`
    with a Python int converts the whole array to int64 first, a copy of the array on every
    call, which made each streaming pass quadratic in the view's length.
    """
    lo, hi = np.searchsorted(positions, np.array([start, stop], dtype=positions.dtype))
    return int(lo), int(hi)


def _index_dtype(size: int) -> type:
    """int32 for positions in an array of `size` elements when they fit, else int64."""
    return np.int32 if size < 2**31 else np.int64


def _widened(column: np.ndarray, values: np.ndarray, to: type = np.int64) -> np.ndarray:
    """`column` as `to` if `values` do not fit its dtype (kept as is otherwise)."""
    info = np.iinfo(column.dtype)
    if values.size and (values.min() < info.min or values.max() > info.max):
        return column.astype(to)
    return column
