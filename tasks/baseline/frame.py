"""Which windows an incident is compared against, and which rows of the frame fall in each.

The default baseline is the equal-length window just before the incident, plus the same window
seven days earlier (weekly traffic shape), the latter kept only when it holds data. An explicit
`spec.baseline` replaces both. Windows are half-open, [start, end).

`window_view` turns the canonical frame into flat numpy arrays over the rows that matter (the
windows and a stretch of context before the incident), sorted by time. Every later step of the
baseline stage works on that view, so the pandas frame is converted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import IncidentSpec, TimeWindow, WindowSet, evidence_id, object_id

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


def _frame_table(frame: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    return pa.Table.from_pandas(frame, preserve_index=False)


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
    if "attrs" not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    attrs = table["attrs"]
    if not pa.types.is_string(attrs.type) and not pa.types.is_large_string(attrs.type):
        attrs = pc.cast(attrs, pa.string())
    # attrs can be long JSON on every row; RE2 finds a bare word far faster than Arrow's
    # substring search, and the exact key test then runs on the few candidates only.
    maybe = pc.fill_null(pc.match_substring_regex(attrs, "eventSource"), False)
    mask = maybe.to_numpy(zero_copy_only=False)
    candidates = np.flatnonzero(mask)
    if candidates.size:
        exact = pc.match_substring(pc.take(attrs, pa.array(candidates)), '"eventSource"')
        mask[candidates] = pc.fill_null(exact, False).to_numpy(zero_copy_only=False)
    return mask


def _rows_in(ts: np.ndarray, window: TimeWindow) -> np.ndarray:
    return (ts >= to_us(window.start)) & (ts < to_us(window.end))


def drop_empty_baselines(
    windows: WindowSet, frame: pd.DataFrame | pa.Table
) -> tuple[WindowSet, list[str]]:
    """Leave out baseline windows without service log lines, saying so when it matters.

    The default week-ago window is expected to be missing often (short retention), so dropping
    it is silent; an empty explicit window or an empty window-just-before gets a warning.
    """
    table = _frame_table(frame)
    ts = _ts_us(table)
    traffic = ~_change_record_mask(table)
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
class WindowedFrame:
    """The rows of the canonical frame that the baseline stage looks at, sorted by time.

    Arrays are aligned: element i of each describes the same row. `window` is 0 for the
    incident, i for baseline i-1, and -1 for context rows before the incident that fall in no
    window. `change_record` marks CloudTrail rows, which are never service traffic.
    """

    windows: WindowSet
    table: pa.Table  # the whole frame, as given
    orig: np.ndarray  # position of each kept row in `table`
    ts: np.ndarray  # int64 microseconds since the epoch
    window: np.ndarray  # int8
    service: np.ndarray  # int32 codes into service_names
    service_names: list[str]
    change_record: np.ndarray  # bool
    level: np.ndarray  # int8 rank (LEVEL_NAMES index), -1 when absent
    status: np.ndarray  # int32, 0 when absent
    latency: np.ndarray  # float64, nan when absent
    is_error: np.ndarray  # bool: level error/fatal or HTTP status >= 500
    minutes: np.ndarray  # exposure per window, [incident, baseline 1, ...]
    _evidence: tuple[np.ndarray, list[str], np.ndarray] | None = field(default=None, repr=False)
    _columns: dict[str, pa.Array] = field(default_factory=dict, repr=False)

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

        Columns read in bulk (messages, attrs, trace IDs) are taken once for all kept rows and
        cached: gathering from one contiguous array is cheaper than from the frame's chunks.
        """
        if name not in self.table.column_names:
            size = len(self.orig) if rows is None else len(rows)
            return pa.nulls(size, pa.string())
        full = self._columns.get(name)
        if full is None:
            if rows is not None and len(rows) < len(self.orig) // 20:
                return _contiguous(pc.take(self.table[name], pa.array(self.orig[rows])))
            full = self._columns[name] = _contiguous(pc.take(self.table[name], pa.array(self.orig)))
        return full if rows is None else pc.take(full, pa.array(rows))

    def strings(self, name: str, rows: np.ndarray) -> list[str | None]:
        return self.column(name, rows).to_pylist()

    def _evidence_index(self) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Per kept row: its object (code into a list of object IDs) and its line number.

        Built once: the frame has a handful of objects per source, so encoding the columns
        is far cheaper than reading strings back for every evidence request.
        """
        if self._evidence is None:
            codes = []
            names = []
            for column in ("source", "object_key"):
                if column in self.table.column_names:
                    encoded = pc.dictionary_encode(self.table[column]).unify_dictionaries()
                    encoded = encoded.combine_chunks()
                    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
                    codes.append(indices.astype(np.int64)[self.orig] + 1)
                    names.append([""] + [v or "" for v in encoded.dictionary.to_pylist()])
                else:
                    codes.append(np.zeros(len(self.orig), dtype=np.int64))
                    names.append([""])
            pairs, object_code = np.unique(codes[0] * len(names[1]) + codes[1], return_inverse=True)
            ids = [
                object_id(names[0][p // len(names[1])], names[1][p % len(names[1])])
                for p in pairs.tolist()
            ]
            lines = _numeric(self.table, "line", pa.array(self.orig), 0.0).astype(np.int64)
            self._evidence = (object_code.reshape(-1), ids, lines)
        return self._evidence

    def evidence(self, rows: np.ndarray | list[int]) -> list[str]:
        """Evidence IDs (object and line) of view rows, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        object_code, ids, lines = self._evidence_index()
        return [
            evidence_id(ids[c], line)
            for c, line in zip(object_code[rows].tolist(), lines[rows].tolist(), strict=True)
        ]

    def _baseline_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Start (µs) and first bin of each baseline window, the windows laid end to end."""
        starts = np.array([to_us(w.start) for w in self.windows.baselines], dtype=np.int64)
        sizes = [int(np.ceil(w.minutes)) for w in self.windows.baselines]
        return starts, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def baseline_bins(self, rows: np.ndarray) -> tuple[np.ndarray, int]:
        """Minute bin of each baseline row (baselines laid end to end) and the number of bins."""
        starts, offsets = self._baseline_layout()
        which = self.window[rows].astype(np.int64) - 1
        minute = (self.ts[rows] - starts[which]) // MINUTE_US if rows.size else rows
        return (offsets[which] + minute if rows.size else rows.astype(np.int64)), int(offsets[-1])

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

    def latency_percentiles(self, rows: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
        """[service, quantile] latency percentiles over `rows` (numpy's linear method); nan if none."""
        return grouped_percentiles(
            self.service[rows], self.latency[rows], len(self.service_names), quantiles
        )

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


def grouped_percentiles(
    group: np.ndarray, values: np.ndarray, n_groups: int, quantiles: tuple[float, ...]
) -> np.ndarray:
    """Percentiles of `values` per group code, nan where a group has no values."""
    out = np.full((n_groups, len(quantiles)), np.nan)
    ok = ~np.isnan(values)
    group, values = group[ok], values[ok]
    if values.size == 0:
        return out
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


def _levels(table: pa.Table, index: pa.Array) -> np.ndarray:
    if "level" not in table.column_names:
        return np.full(len(index), -1, dtype=np.int8)
    level = pc.utf8_lower(pc.cast(pc.take(table["level"], index), pa.string()))
    names = list(_LEVEL_RANK)
    ranks = np.array([_LEVEL_RANK[n] for n in names] + [-1], dtype=np.int8)
    position = pc.fill_null(pc.index_in(level, value_set=pa.array(names)), len(names))
    return ranks[position.to_numpy(zero_copy_only=False)]


def _numeric(table: pa.Table, name: str, index: pa.Array, fill: float) -> np.ndarray:
    if name not in table.column_names:
        return np.full(len(index), fill)
    col = pc.cast(pc.take(table[name], index), pa.float64())
    return pc.fill_null(col, fill).to_numpy(zero_copy_only=False)


def _services(table: pa.Table, index: pa.Array) -> tuple[np.ndarray, list[str]]:
    if "service" not in table.column_names:
        return np.zeros(len(index), dtype=np.int32), [UNKNOWN_SERVICE]
    service = pc.cast(pc.take(table["service"], index), pa.string())
    service = pc.if_else(pc.equal(service, ""), None, service)
    service = pc.fill_null(service, UNKNOWN_SERVICE)
    encoded = pc.dictionary_encode(service).combine_chunks()
    names = encoded.dictionary.to_pylist()
    # Codes follow sorted names so that every output ordered by code is deterministic.
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    remap = np.empty(len(names), dtype=np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    return remap[codes] if len(codes) else codes, [names[i] for i in order]


def _time_order(table: pa.Table, ts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Order of `rows` by time, ties broken by (source, object key, line).

    Lines of one request in several services often share a microsecond, and gather writes
    objects in the order they finish parsing; without the tie-break, which line becomes an
    evidence ID would change from run to run.
    """
    index = pa.array(rows)
    parts = []
    for name in ("source", "object_key"):
        if name in table.column_names:
            column = pc.take(table[name], index).cast(pa.large_string())
            parts.append(pc.fill_null(column, ""))
    if parts:
        separator = pa.scalar("\x00", pa.large_string())
        joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, separator)
        encoded = pc.dictionary_encode(joined)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        rank = np.empty(len(names), dtype=np.int64)
        rank[np.argsort(names, kind="stable")] = np.arange(len(names))
        objects = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    else:
        objects = np.zeros(len(rows), dtype=np.int64)
    lines = _numeric(table, "line", index, 0.0)
    return np.lexsort((lines, objects, ts[rows]))


def window_view(frame: pd.DataFrame | pa.Table, windows: WindowSet) -> WindowedFrame:
    """The rows in any window or in the context before the incident, sorted by time."""
    table = _frame_table(frame)
    ts = _ts_us(table)
    code = np.full(len(ts), -1, dtype=np.int8)
    keep = np.zeros(len(ts), dtype=bool)
    # Later windows first, so that the incident (code 0) wins where windows overlap.
    all_windows = [windows.incident, *windows.baselines]
    for index in range(len(all_windows) - 1, -1, -1):
        inside = _rows_in(ts, all_windows[index])
        code[inside] = index
        keep |= inside
    context_start = to_us(windows.incident.start - CONTEXT_BEFORE)
    keep |= (ts >= context_start) & (ts < to_us(windows.incident.start))

    kept = np.flatnonzero(keep)
    kept = kept[_time_order(table, ts, kept)]
    index = pa.array(kept)
    status = _numeric(table, "status", index, 0.0).astype(np.int32)
    level = _levels(table, index)
    service, service_names = _services(table, index)
    return WindowedFrame(
        windows=windows,
        table=table,
        orig=kept,
        ts=ts[kept],
        window=code[kept],
        service=service,
        service_names=service_names,
        change_record=_change_record_mask(table)[kept],
        level=level,
        status=status,
        latency=_numeric(table, "latency_ms", index, np.nan),
        is_error=(level >= ERROR_RANK) | (status >= 500),
        minutes=exclusive_minutes(windows),
    )
