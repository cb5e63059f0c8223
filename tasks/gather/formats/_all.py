"""Log format parsers: the bytes of one object -> rows of the canonical frame (PARSED_SCHEMA).

`parse_block` receives a block of complete lines (or, for CloudTrail, the whole decompressed
object) and returns one row per record plus a tally of the lines it refused. The rules every
format follows:

- Every non-blank line becomes a row or a counted rejection; blank lines are neither (the
  upstream chunker replaces an over-long line with an empty one and counts it itself).
- Timestamps written without a zone are taken as UTC. Logs rarely say which zone they meant,
  the canonical frame is UTC, and guessing a local zone would shift events silently.
- A record without a usable timestamp is rejected: the analysis is all about *when*.

JSON lines (jsonl, fluentbit-k8s) have a vectorised fast path on pyarrow's JSON reader and a
per-line orjson slow path. The slow path is the reference semantics; the fast path is taken
only when it provably sees the same lines (one row per non-blank line), otherwise the block is
split and retried, so that bad lines are counted with exact line numbers. Both paths share the
same vectorised normalisers, so they produce the same rows.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tasks.contracts import PARSED_SCHEMA, LogFormat, RejectTally

# --------------------------------------------------------------------------------------------
# Public interface
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParseContext:
    source: str  # source name from the incident spec
    key: str  # object key (or relative path for local files)
    default_service: str | None  # fallback service name when the record names none
    reference_time: datetime  # aware UTC; gives the year to syslog lines that have none


def needs_whole_object(fmt: LogFormat) -> bool:
    """True when the format cannot be cut into line blocks (CloudTrail is one JSON document)."""
    return fmt == LogFormat.CLOUDTRAIL


def parse_block(
    fmt: LogFormat, data: bytes, first_line: int, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    """Parse a block of complete lines numbered from `first_line` (1-based) into PARSED_SCHEMA."""
    parser = _PARSERS.get(LogFormat(fmt))
    if parser is None:
        raise ValueError(f"cannot parse format {fmt!r}; resolve 'auto' with sniff_format first")
    return parser(bytes(data), first_line, ctx)


# --------------------------------------------------------------------------------------------
# Shared helpers: lines, table assembly
# --------------------------------------------------------------------------------------------

_WS_BYTES = np.array([9, 11, 12, 13, 32], dtype=np.uint8)


class _LineIndex:
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


def _split_lines(data: bytes, first_line: int) -> Iterable[tuple[int, bytes]]:
    """(line number, line without its end-of-line) for every non-blank line."""
    for i, raw in enumerate(data.split(b"\n")):
        if raw.strip():
            yield first_line + i, raw.removesuffix(b"\r")


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


def _concat(parts: Sequence[tuple[pa.Table, RejectTally]]) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    for _, t in parts:
        tally.merge(t)
    tables = [t for t, _ in parts if t.num_rows]
    table = pa.concat_tables(tables) if tables else PARSED_SCHEMA.empty_table()
    return table, tally


def _count_rejects(
    tally: RejectTally, reason: str, rows: np.ndarray, lines: np.ndarray, raw: Callable
) -> None:
    """Count rejected rows; only the first few need their raw text, for the examples."""
    for k, i in enumerate(rows):
        line = int(lines[i])
        tally.add(line, reason, raw(line) if k < 3 else b"")


def _orjson_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NAIVE_UTC).decode()


# --------------------------------------------------------------------------------------------
# Vectorised normalisers, shared by every format
# --------------------------------------------------------------------------------------------

_TS_TYPE = pa.timestamp("us", tz="UTC")

_ISO_RE = (
    r"^\s*\[?(?P<d>\d{4}-\d{2}-\d{2})[T ](?P<t>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<f>\d{1,9}))?"
    r"\s*(?P<z>Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\]?\s*$"
)
# nginx/Apache `time_local`: 10/Oct/2000:13:55:36 -0700
_CLF_RE = (
    r"^\s*\[?(?P<d>\d{1,2})/(?P<m>[A-Za-z]{3})/(?P<y>\d{4}):(?P<t>\d{2}:\d{2}:\d{2})"
    r"(?:\s*(?P<z>[+-]\d{4}))?\]?\s*$"
)
_EPOCH_STR_RE = r"^\s*\d{9,19}(?:\.\d+)?\s*$"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUM = {m: i + 1 for i, m in enumerate(_MONTHS)}

# Epoch numbers before 1973-03 are more likely durations or counters than timestamps.
_MIN_EPOCH_S = 1e8
_MAX_EPOCH_S = 7.3e9  # year ~2200


def _ts_from_epoch(values: pa.Array) -> pa.Array:
    """Epoch numbers in s, ms, us or ns (by magnitude) -> UTC timestamps; nonsense -> null."""
    v = np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    scale = np.where(v < 1e11, 1e6, np.where(v < 1e14, 1e3, np.where(v < 1e17, 1.0, 1e-3)))
    with np.errstate(invalid="ignore"):
        seconds = v * scale / 1e6
        ok = (seconds >= _MIN_EPOCH_S) & (seconds <= _MAX_EPOCH_S)
    micros = np.where(ok, np.round(np.nan_to_num(v * scale)), 0).astype(np.int64)
    return pa.array(micros, type=pa.int64(), mask=~ok).cast(_TS_TYPE)


def _cast_ts_lenient(canonical: pa.Array) -> pa.Array:
    """Cast canonical ISO strings; a whole-array cast fails on one bad date, so retry singly."""
    try:
        return pc.cast(canonical, _TS_TYPE)
    except pa.ArrowInvalid:
        out = []
        for s in canonical.to_pylist():
            try:
                out.append(None if s is None else datetime.fromisoformat(s))
            except ValueError:
                out.append(None)
        return pa.array(out, type=_TS_TYPE)


def _ts_from_iso(values: pa.Array) -> pa.Array:
    parts = pc.extract_regex(values, _ISO_RE)
    date, time_ = parts.field("d"), parts.field("t")
    time_ = pc.if_else(
        pc.equal(pc.utf8_length(time_), 5), pc.binary_join_element_wise(time_, ":00", ""), time_
    )
    frac = pc.utf8_slice_codeunits(
        pc.binary_join_element_wise(parts.field("f"), "000000", ""), 0, 6
    )
    zone = parts.field("z")
    zone = pc.if_else(pc.is_in(zone, pa.array(["", "Z", "z", "UTC", "GMT"])), "+00:00", zone)
    zone = pc.if_else(
        pc.equal(pc.utf8_length(zone), 3), pc.binary_join_element_wise(zone, ":00", ""), zone
    )
    canonical = pc.binary_join_element_wise(date, "T", time_, ".", frac, zone, "")
    return _cast_ts_lenient(pc.if_else(parts.is_valid(), canonical, pa.scalar(None, pa.string())))


def _ts_from_clf(values: pa.Array) -> pa.Array:
    parts = pc.extract_regex(values, _CLF_RE)
    month = pc.add(pc.index_in(parts.field("m"), pa.array(_MONTHS)), 1)
    month = pc.utf8_lpad(pc.cast(month, pa.string()), 2, "0")
    day = pc.utf8_lpad(parts.field("d"), 2, "0")
    zone = parts.field("z")
    zone = pc.if_else(pc.equal(zone, ""), "+0000", zone)
    canonical = pc.binary_join_element_wise(
        parts.field("y"), "-", month, "-", day, "T", parts.field("t"), zone, ""
    )
    return _cast_ts_lenient(canonical)


def _ts_from_strings(values: pa.Array) -> pa.Array:
    """Timestamp strings (ISO 8601 with T or space, any fraction, optional zone; nginx
    time_local; epoch digits) -> UTC timestamps, null where unparseable."""
    if values.null_count == len(values):
        return pa.nulls(len(values), _TS_TYPE)
    try:
        # The common case (RFC 3339 with a zone, up to nanoseconds) needs no rewriting.
        return pc.cast(pc.cast(values, pa.timestamp("ns", tz="UTC")), _TS_TYPE, safe=False)
    except pa.ArrowInvalid:
        pass
    result = _ts_from_iso(values)
    missing = pc.and_(result.is_null(), values.is_valid())
    if missing.true_count:
        rest = pc.filter(values, missing)
        other = pc.coalesce(_ts_from_clf(rest), _ts_from_epoch_strings(rest))
        result = pc.replace_with_mask(result, missing, other)
    return result


def _ts_from_epoch_strings(values: pa.Array) -> pa.Array:
    numeric = pc.match_substring_regex(values, _EPOCH_STR_RE)
    as_num = pc.if_else(numeric, values, pa.scalar(None, pa.string()))
    return _ts_from_epoch(pc.cast(pc.utf8_trim_whitespace(as_num), pa.float64()))


def _ts_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _ts_from_strings(values)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _ts_from_epoch(values)
    if pa.types.is_timestamp(t):
        # pyarrow infers naive timestamps from zone-less strings: those are UTC by our rule.
        values = pc.cast(values, pa.timestamp("us", tz=t.tz), safe=False)
        return values if t.tz else values.cast(_TS_TYPE)
    return pa.nulls(len(values), _TS_TYPE)


_LEVEL_WORDS = {
    "debug": ("trace", "debug", "dbg", "verbose", "fine", "finer", "finest", "d", "t"),
    "info": ("info", "information", "informational", "notice", "i", "n"),
    "warn": ("warn", "warning", "w"),
    "error": ("error", "err", "e", "severe", "dpanic"),
    "fatal": ("fatal", "critical", "crit", "alert", "emerg", "emergency", "panic", "f", "c"),
}
_LEVEL_KEYS = pa.array([w for words in _LEVEL_WORDS.values() for w in words])
_LEVEL_VALUES = pa.array([lvl for lvl, words in _LEVEL_WORDS.items() for _ in words])
# pino/bunyan numeric levels, then syslog severities 0-7.
_NUMERIC_LEVELS = {10: "debug", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
_NUMERIC_LEVELS |= {0: "fatal", 1: "fatal", 2: "fatal", 3: "error", 4: "warn", 5: "info"}
_NUMERIC_LEVELS |= {6: "info", 7: "debug"}
_NUM_LEVEL_KEYS = pa.array(list(_NUMERIC_LEVELS), pa.float64())
_NUM_LEVEL_VALUES = pa.array(list(_NUMERIC_LEVELS.values()))


def _level_from_words(values: pa.Array) -> pa.Array:
    idx = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=_LEVEL_KEYS)
    return pc.take(_LEVEL_VALUES, idx)


def _level_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _level_from_words(values)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        idx = pc.index_in(pc.cast(values, pa.float64()), value_set=_NUM_LEVEL_KEYS)
        return pc.take(_NUM_LEVEL_VALUES, idx)
    return pa.nulls(len(values), pa.string())


# A level word near the start of free text: upper-case bare words (INFO, ERROR...), any case
# in brackets ([error], <warn>), or logfmt's level=... Lower-case bare words are left alone
# because "error" in a sentence is not a log level.
_LEVEL_UPPER = (
    "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRIT|CRITICAL|FATAL|PANIC|ALERT|EMERG"
)
_TEXT_LEVEL_RE = (
    r"(?:^|[^A-Za-z0-9_])(?P<a>" + _LEVEL_UPPER + r")(?:[^A-Za-z0-9_]|$)"
    r"|[\[<](?P<b>(?i:" + _LEVEL_UPPER + r"))[\]>]"
    r"|(?i:level|lvl|severity)[=:]\s*\"?(?P<c>[A-Za-z]+)"
)
_TEXT_LEVEL_SCAN_CHARS = 120


def _level_from_text(values: pa.Array) -> pa.Array:
    head = pc.utf8_slice_codeunits(values, 0, _TEXT_LEVEL_SCAN_CHARS)
    parts = pc.extract_regex(head, _TEXT_LEVEL_RE)
    word = pc.binary_join_element_wise(parts.field("a"), parts.field("b"), parts.field("c"), "")
    return _level_from_words(word)


_STATUS_RE = r"^\s*[1-5]\d\d\s*$"


def _status_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        ok = pc.match_substring_regex(values, _STATUS_RE)
        digits = pc.if_else(ok, pc.utf8_trim_whitespace(values), pa.scalar(None, pa.string()))
        return pc.cast(digits, pa.int32())
    if pa.types.is_integer(t):
        # Integers are whole already: no float cast or floor test (4 calls of 9).
        ok = pc.and_(pc.greater_equal(values, 100), pc.less_equal(values, 599))
        return pc.cast(pc.if_else(ok, values, pa.scalar(None, t)), pa.int32())
    if pa.types.is_floating(t):
        v = pc.cast(values, pa.float64())
        ok = pc.and_(
            pc.and_(pc.greater_equal(v, 100), pc.less_equal(v, 599)), pc.equal(pc.floor(v), v)
        )
        return pc.cast(pc.if_else(ok, v, pa.scalar(None, pa.float64())), pa.int32())
    return pa.nulls(len(values), pa.int32())


_DURATION_RE = r"^\s*(?P<n>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(?P<u>ns|us|µs|μs|ms|s|m|h)?\s*$"
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
_UNIT_MS |= {"h": 3.6e6}


def _latency_from_any(values: pa.Array, default_ms: float) -> pa.Array:
    """Durations -> milliseconds. Bare numbers are in the key's unit (`default_ms` per unit);
    strings may carry their own unit, as Go's 12.5ms or 1.2s."""
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        parts = pc.extract_regex(values, _DURATION_RE)
        number = pc.cast(pc.if_else(parts.is_valid(), parts.field("n"), None), pa.float64())
        unit = parts.field("u")
        factor = pc.take(
            pa.array([default_ms, *_UNIT_MS.values()]),
            pc.add(pc.fill_null(pc.index_in(unit, pa.array(list(_UNIT_MS))), -1), 1),
        )
        ms = pc.multiply(number, factor)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        ms = pc.cast(values, pa.float64())
        if default_ms != 1.0:  # x * 1.0 == x: one call fewer for the `_ms` keys
            ms = pc.multiply(ms, default_ms)
    else:
        return pa.nulls(len(values), pa.float64())
    return pc.if_else(pc.greater_equal(ms, 0), ms, pa.scalar(None, pa.float64()))


def _text_from_any(values: pa.Array) -> pa.Array:
    """Non-empty trimmed strings (names, IDs); integers become strings (numeric trace IDs)."""
    t = values.type
    if pa.types.is_integer(t):
        return pc.cast(values, pa.string())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pa.nulls(len(values), pa.string())
    text = pc.utf8_trim_whitespace(values)
    lengths = _slot_lengths(text)
    if lengths is not None and (lengths > 0).all():
        # No slot is empty, so no value is "": skip the compare and select (2 of the 3 calls
        # per column; 9 Kubernetes and role columns per Fluent Bit block, ~0.2 ms).
        return text
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _slot_lengths(values: pa.Array) -> np.ndarray | None:
    """Byte length of every slot of a string array (null slots too), from its offsets; None
    for other types. Reading the offsets costs a few microseconds, a compute call ~10."""
    if pa.types.is_string(values.type):
        width = np.int32
    elif pa.types.is_large_string(values.type):
        width = np.int64
    else:
        return None
    offsets = values.buffers()[1]
    if offsets is None or not len(values):
        return np.zeros(len(values), dtype=width)
    bounds = np.frombuffer(offsets, dtype=width)[values.offset : values.offset + len(values) + 1]
    return bounds[1:] - bounds[:-1]  # np.diff's own overhead was ~3 us a call


def _message_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pa.nulls(len(values), pa.string())
    # Container runtimes keep the line's trailing newline; it only gets in the way.
    return pc.utf8_rtrim_whitespace(values)


# --------------------------------------------------------------------------------------------
# JSON records: fields, roles, attrs
# --------------------------------------------------------------------------------------------

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class _Role:
    """One canonical column and the record keys (paths) that can fill it, best first."""

    name: str
    paths: tuple[KeyPath, ...]
    normalise: Callable[[pa.Array, KeyPath], pa.Array]
    keep_unused: bool = True  # unused candidates stay in attrs


def _p(*paths: str) -> tuple[KeyPath, ...]:
    """'a' is a top-level key; 'a>b' is key b inside object a. Dotted keys are literal keys."""
    return tuple(tuple(p.split(">")) for p in paths)


# Unit of bare latency numbers, in ms. The `_ms` keys say so; `latency` and `response_time`
# are taken as milliseconds (Express/morgan, most app loggers); `request_time` and
# `upstream_response_time` are seconds (nginx variables of those names).
_LATENCY_UNIT_MS = {("request_time",): 1e3, ("upstream_response_time",): 1e3}

_TS_PATHS = _p("time", "ts", "timestamp", "@timestamp", "time_local", "date", "datetime")
_JSON_ROLES = (
    _Role("ts", _TS_PATHS, lambda v, _: _ts_from_any(v)),
    _Role(
        "level",
        _p(
            "level",
            "severity",
            "lvl",
            "log.level",
            "log>level",
            "loglevel",
            "levelname",
            "severity_text",
        ),
        lambda v, _: _level_from_any(v),
    ),
    # Not `logger`: it names a class or module (com.acme.cart.CartService), and taking it as
    # the service would split one app into dozens. It stays in attrs.
    _Role(
        "service",
        _p("service", "service.name", "service>name", "service_name", "app", "application"),
        lambda v, _: _text_from_any(v),
    ),
    _Role(
        "instance",
        _p("instance", "host", "hostname", "host>name", "pod", "pod_name", "instance_id"),
        lambda v, _: _text_from_any(v),
    ),
    _Role(
        "message",
        _p("message", "msg", "log", "event", "@message"),
        lambda v, _: _message_from_any(v),
    ),
    _Role(
        "status",
        _p(
            "status",
            "status_code",
            "statusCode",
            "http.status",
            "http>status",
            "http_status",
            "http.status_code",
            "http>status_code",
            "http>response>status_code",
        ),
        lambda v, _: _status_from_any(v),
    ),
    _Role(
        "latency_ms",
        _p(
            "latency_ms",
            "duration_ms",
            "elapsed_ms",
            "response_time_ms",
            "latency",
            "response_time",
            "request_time",
            "upstream_response_time",
        ),
        lambda v, path: _latency_from_any(v, _LATENCY_UNIT_MS.get(path, 1.0)),
    ),
    _Role(
        "trace_id",
        _p(
            "trace_id",
            "traceId",
            "traceID",
            "trace.id",
            "trace>id",
            "dd.trace_id",
            "dd>trace_id",
            "request_id",
            "requestId",
            "req_id",
        ),
        lambda v, _: _text_from_any(v),
    ),
)
_NESTED_PATHS = tuple(p for r in _JSON_ROLES for p in r.paths if len(p) > 1)

#: Values longer than this (as JSON) are replaced in attrs by a note of their size.
ATTR_VALUE_MAX_CHARS = 2048

_JSON_ESCAPE_RE = r'[\\"\x00-\x1f]'


# Bytes that a JSON string literal must escape: control characters, '"' and '\\'.
_NEEDS_ESCAPE = np.zeros(256, dtype=bool)
_NEEDS_ESCAPE[[*range(0x20), 0x22, 0x5C]] = True


def _may_need_escaping(values: pa.Array) -> bool:
    """False when no value holds a byte that JSON escapes. One table lookup over the array's
    bytes costs a fifth of a regex run per value (0.52 -> 0.1 CPU s/GB of Fluent Bit logs),
    and attrs values almost never need escaping."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return True
    _, offsets, data = values.buffers()
    if data is None or not len(values):
        return False
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[values.offset : values.offset + len(values) + 1]
    # Null slots may span bytes too; a false alarm only takes the exact path below.
    body = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return bool(_NEEDS_ESCAPE[body].any())


def _json_strings(values: pa.Array) -> pa.Array:
    """Strings -> JSON string literals. Most need no escaping; the few that do go via orjson."""
    if not _may_need_escaping(values):
        return pc.binary_join_element_wise('"', values, '"', "")
    needs = pc.fill_null(pc.match_substring_regex(values, _JSON_ESCAPE_RE), False)
    if needs.true_count:
        escaped = [orjson.dumps(s).decode()[1:-1] for s in pc.filter(values, needs).to_pylist()]
        values = pc.replace_with_mask(values, needs, pa.array(escaped, pa.string()))
    return pc.binary_join_element_wise('"', values, '"', "")


@dataclass
class _Field:
    """One record key as a column. The slow path may give one key several fields, one per
    JSON type seen; on any row at most one of them is non-null."""

    key: str
    values: pa.Array | pa.ChunkedArray | None  # typed scalars; None for nested values
    nested: list | None = None  # decoded objects and arrays (slow path), rendered on demand
    is_attr: bool = True  # False for values lifted out of a nested object for a role

    def json_text(self) -> pa.Array:
        """Each value rendered as JSON text (null where absent)."""
        if self.nested is not None:
            rendered = [None if v is None else _orjson_text(_prune(v)) for v in self.nested]
            return pa.array(rendered, pa.string())
        v, t = _combined(self.values), self.values.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return _json_strings(v)
        if pa.types.is_boolean(t):
            return pc.if_else(v, "true", "false")
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return pc.cast(v, pa.string())
        if pa.types.is_timestamp(t):
            text = pc.strftime(
                pc.cast(v, pa.timestamp("s", tz=t.tz), safe=False), "%Y-%m-%dT%H:%M:%SZ"
            )
            return pc.binary_join_element_wise('"', text, '"', "")
        return pa.array([_orjson_text(_prune(x)) if x is not None else None for x in v.to_pylist()])

    def attr_value(self) -> pa.Array | _Unquoted:
        """The values for attrs: JSON text, or strings that _render_attrs quotes itself."""
        if self.nested is None and pa.types.is_string(self.values.type):
            values = _combined(self.values)
            if not _may_need_escaping(values):
                return _Unquoted(values)
        return self.json_text()


@dataclass(frozen=True)
class _Unquoted:
    """Strings that need no JSON escaping, for attrs. Quoting them in the same join that adds
    the key saves a pass over the text (0.34 CPU s/GB of Fluent Bit logs)."""

    values: pa.Array  # may be a DictionaryArray (Kubernetes metadata)


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _prune(value: Any) -> Any:
    """Drop null members of objects, recursively: absent and null are one thing in attrs."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class _FieldSet:
    """Records as columns, from pyarrow (fast path) or from decoded dicts (slow path)."""

    def __init__(self, n: int, fields: list[_Field], nested: dict[KeyPath, list[_Field]]) -> None:
        self.n = n
        self.fields = fields
        self._nested = nested
        # Field indices by key, built once: roles probe ~130 paths per block, and scanning
        # every field for each cost ~0.5 ms per Fluent Bit block.
        self._by_key: dict[str, list[int]] = {}
        self._sub: dict[tuple[int, KeyPath], Any] = {}
        for i, f in enumerate(fields):
            self._by_key.setdefault(f.key, []).append(i)
        self._unused: dict[int, pa.Array] = {}  # field index -> mask of rows still in attrs

    @classmethod
    def from_table(cls, table: pa.Table) -> _FieldSet:
        # Columns stay chunked until a role or attrs needs them: combining a wide nested
        # column (all of the Kubernetes metadata) costs more than reading it.
        fields = [
            _Field(name, col)
            for name, col in zip(table.column_names, table.columns, strict=True)
            if not pa.types.is_null(col.type)
        ]
        return cls(table.num_rows, fields, {})

    @classmethod
    def from_dicts(cls, records: Sequence[dict], nested_paths: Iterable[KeyPath]) -> _FieldSet:
        fields = _columns_by_kind(records)
        nested = {path: _lift(records, path) for path in nested_paths}
        return cls(len(records), fields, nested)

    def candidates(self, path: KeyPath) -> list[tuple[int | None, pa.Array]]:
        """(field index if the field itself is an attr, values) for a role's path."""
        indices = self._by_key.get(path[0], ())
        if len(path) == 1:
            return [
                (i, _combined(self.fields[i].values))
                for i in indices
                if self.fields[i].values is not None
            ]
        if path in self._nested:
            return [(None, f.values) for f in self._nested[path]]
        out = []
        for i in indices:
            v = self.fields[i].values
            if v is None:
                continue
            for depth, part in enumerate(path[1:], 2):
                if not pa.types.is_struct(v.type) or v.type.get_field_index(part) < 0:
                    v = None
                    break
                v = self._struct_field(i, path[:depth], v, part)
            if v is not None:
                out.append((None, _combined(v)))
        return out

    def _struct_field(self, index: int, prefix: KeyPath, parent: Any, part: str) -> Any:
        """pc.struct_field, once per (field, path prefix): the three Kubernetes label paths
        share `kubernetes>labels` (2 of 9 calls per Fluent Bit block)."""
        key = (index, prefix)
        got = self._sub.get(key)
        if got is None:
            got = self._sub[key] = pc.struct_field(parent, part)
        return got

    def resolve(self, role: _Role) -> tuple[pa.Array | None, pa.Array | None]:
        """The role's column (first usable candidate per row) and which rows had a candidate."""
        result = None
        present = None
        track_present = role.name == "ts"  # only the ts role's `present` is ever used
        for path in role.paths:
            if path[0] not in self._by_key and path not in self._nested:
                continue  # most of the ~130 role paths are absent: skip the call
            for index, raw in self.candidates(path):
                if result is not None and not result.null_count:
                    # Every row is already filled (the usual case for a second candidate,
                    # e.g. Fluent Bit's epoch `date` after `time`: ~0.25 ms per block), so
                    # this candidate cannot be taken. Normalisers keep nulls null, so
                    # `present` is all true already; on rows where it is present it stays
                    # in attrs, as _mark_unused would find.
                    if index is not None:
                        unused = raw.is_valid() if role.keep_unused else None
                        self._mark(index, unused, len(raw))
                    continue
                value = role.normalise(raw, path)
                if track_present or index is not None:
                    valid = raw.is_valid()
                if track_present:
                    present = valid if present is None else pc.or_(present, valid)
                if index is not None:
                    self._mark_unused(index, valid, value, result, role.keep_unused)
                result = value if result is None else pc.coalesce(result, value)
        return result, present

    def _mark_unused(
        self, index: int, valid: pa.Array, value: pa.Array, result: pa.Array | None, keep: bool
    ) -> None:
        """A candidate stays in attrs on rows where it is present but was not taken: an
        earlier candidate won, or its value was unusable (status "ok", level "x")."""
        unused = None
        if keep:
            taken = (
                value.is_valid() if result is None else pc.and_(result.is_null(), value.is_valid())
            )
            # and_not folds and_(valid, invert(taken)): one call fewer per candidate.
            unused = pc.and_not(valid, taken)
        self._mark(index, unused, len(valid))

    def _mark(self, index: int, unused: pa.Array | None, n: int) -> None:
        """Narrow field `index`'s attrs rows to `unused` (None: no rows)."""
        if unused is None:
            unused = pa.array(np.zeros(n, dtype=bool))
        prev = self._unused.get(index)
        self._unused[index] = unused if prev is None else pc.and_(prev, unused)

    def attrs_entries(self, drop: Iterable[str] = ()) -> list[tuple[str, _AttrValue]]:
        """(key, JSON value text or null) for every field left over for attrs."""
        drop = set(drop)
        out = []
        for i, f in enumerate(self.fields):
            if not f.is_attr or f.key in drop:
                continue
            mask = self._unused.get(i)
            if mask is not None and not mask.true_count:
                continue
            value = f.attr_value()
            if mask is not None and mask.false_count:
                if isinstance(value, _Unquoted):
                    value = _Unquoted(pc.if_else(mask, value.values, pa.scalar(None, pa.string())))
                else:
                    value = pc.if_else(mask, value, pa.scalar(None, pa.string()))
            out.append((f.key, value))
        return out


def _columns_by_kind(records: Sequence[dict]) -> list[_Field]:
    """One field per (key, JSON type): a key that is a number here and a string there
    becomes two fields, each null where the other has the value."""
    n = len(records)
    columns: dict[tuple[str, str], list] = {}
    for i, rec in enumerate(records):
        for k, v in rec.items():
            kind = _json_kind(v)
            if kind is None:
                continue
            col = columns.get((k, kind))
            if col is None:
                col = columns[(k, kind)] = [None] * n
            col[i] = v
    return [_field_from_values(k, kind, col) for (k, kind), col in columns.items()]


def _lift(records: Sequence[dict], path: KeyPath) -> list[_Field]:
    """Scalars found at a nested path, as fields that are not attrs themselves."""
    n = len(records)
    lifted: dict[str, list] = {}
    for i, rec in enumerate(records):
        v = _walk(rec, path)
        kind = _json_kind(v)
        if kind is None or kind == "json":
            continue
        if kind not in lifted:
            lifted[kind] = [None] * n
        lifted[kind][i] = v
    name = ">".join(path)
    return [_field_from_values(name, kind, col, is_attr=False) for kind, col in lifted.items()]


def _json_kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return "str"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "float"
    if isinstance(v, float):
        return "float"
    return "json"


_KIND_TYPES = {"str": pa.string(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}


def _field_from_values(key: str, kind: str, col: list, is_attr: bool = True) -> _Field:
    if kind == "json":
        return _Field(key, None, col, is_attr)
    if kind == "float":
        col = [None if v is None else float(v) for v in col]
    return _Field(key, pa.array(col, _KIND_TYPES[kind]), None, is_attr)


def _walk(rec: dict, path: KeyPath) -> Any:
    v: Any = rec
    for part in path:
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


#: An attrs value column: JSON text (maybe dictionary-encoded), or strings to quote.
_AttrValue = pa.Array | _Unquoted


def _render_attrs(entries: Sequence[tuple[str, _AttrValue]], n: int) -> pa.Array:
    """One JSON object per row from (key, JSON value) columns; rows with none -> null.

    A value may come as a DictionaryArray (Kubernetes metadata: a few distinct values per
    block); its entry is then rendered once per distinct value.
    """
    if not entries:
        return pa.nulls(n, pa.string())
    parts = []
    for key, text in sorted(entries, key=lambda e: e[0]):
        prefix = orjson.dumps(key).decode() + ":"
        if isinstance(text, pa.DictionaryArray):
            part = pc.take(_attr_entry(prefix, text.dictionary), text.indices)
        elif isinstance(text, _Unquoted) and isinstance(text.values, pa.DictionaryArray):
            entry = _attr_entry(prefix, _Unquoted(text.values.dictionary))
            part = pc.take(entry, text.values.indices)
        else:
            part = _attr_entry(prefix, text)
        # binary_join_element_wise(null_handling="skip") drops all-null rows in pyarrow 26,
        # so absent entries become "" and each entry carries its own comma.
        parts.append(pc.fill_null(part, "") if part.null_count else part)
    # "{" + entries, then the last entry's comma becomes "}": two passes over the text where
    # slicing the comma off and wrapping took three (attrs are ~25% of Fluent Bit bytes).
    opened = pc.binary_join_element_wise("{", *parts, "")
    closed = pc.binary_replace_slice(opened, -1, _END, "}")
    # Every row starts with "{", so a row is empty iff it is 1 byte long: reading the offsets
    # spares the compare on the usual block with no empty row (one call of ~10 us).
    lengths = _slot_lengths(opened)
    if lengths is not None and not (lengths == 1).any():
        return closed
    empty = pc.equal(opened, "{")
    return pc.if_else(empty, pa.scalar(None, pa.string()), closed) if empty.true_count else closed


_END = 2**31 - 1  # "to the end of the string", for the slice kernels


def _longest(values: pa.Array) -> int | None:
    """Byte length of the longest value (None if all null), exactly when it matters: the
    longest slot, from the offsets, bounds it from above, and when that bound is within
    ATTR_VALUE_MAX_CHARS it decides the same. Saves two compute calls per attrs key
    (~12 per Fluent Bit block, ~0.2 ms)."""
    lengths = _slot_lengths(values)
    if lengths is not None and len(lengths) and lengths.max() + 2 <= ATTR_VALUE_MAX_CHARS:
        return int(lengths.max()) if values.null_count < len(values) else None
    return pc.max(pc.binary_length(values)).as_py()


def _attr_entry(prefix: str, text: _AttrValue) -> pa.Array:
    """`"key":value,` per row (null where the value is); over-long values become a note."""
    if isinstance(text, _Unquoted):
        longest = _longest(text.values)
        if longest is None or longest + 2 <= ATTR_VALUE_MAX_CHARS:
            return pc.binary_join_element_wise(prefix + '"', text.values, '",', "")
        text = pc.binary_join_element_wise('"', text.values, '"', "")
    longest = _longest(text)
    # Characters never outnumber bytes: most blocks skip the character count entirely.
    if longest is not None and longest > ATTR_VALUE_MAX_CHARS:
        length = pc.utf8_length(text)
        too_long = pc.fill_null(pc.greater(length, ATTR_VALUE_MAX_CHARS), False)
        if too_long.true_count:
            note = pc.binary_join_element_wise(
                '"<omitted: ', pc.cast(length, pa.string()), ' chars>"', ""
            )
            text = pc.if_else(too_long, note, text)
    return pc.binary_join_element_wise(prefix, text, ",", "")


@dataclass
class _Resolved:
    """Role columns of a set of JSON records, and their leftover keys for attrs."""

    n: int
    columns: dict[str, pa.Array | None]
    ts_present: pa.Array | None
    attrs: list[tuple[str, _AttrValue]] = field(default_factory=list)


def _resolve_roles(
    fields: _FieldSet, roles: Sequence[_Role] = _JSON_ROLES, drop: Iterable[str] = ()
) -> _Resolved:
    columns: dict[str, pa.Array | None] = {}
    ts_present = None
    for role in roles:
        columns[role.name], present = fields.resolve(role)
        if role.name == "ts":
            ts_present = present
    return _Resolved(fields.n, columns, ts_present, fields.attrs_entries(drop))


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


def _finish_rows(
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


# --------------------------------------------------------------------------------------------
# JSON lines: reading
# --------------------------------------------------------------------------------------------

# When pyarrow refuses a block, it is retried in pieces of this size, and only the pieces it
# still refuses are read line by line.
_PIECE_BYTES = 1 << 20
_READ_BLOCK_BYTES = 4 << 20


def _read_json_table(data: bytes | pa.Buffer) -> pa.Table:
    # Types are inferred, not declared: apps disagree on what a key holds ("ts" is a string
    # here and epoch millis there), and unknown keys are wanted for attrs.
    # One thread: gather already runs one parser process per core.
    read = pj.ReadOptions(use_threads=False, block_size=_READ_BLOCK_BYTES)
    return pj.read_json(pa.BufferReader(data), read_options=read)


def _utf8_ok(data: bytes) -> bool:
    # pyarrow's reader does not validate UTF-8; invalid bytes must take the lenient path.
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fast_json_table(data: bytes, first_line: int) -> tuple[pa.Table, _LineIndex] | None:
    """The block read by pyarrow, or None unless every non-blank line gave exactly one row."""
    index = _LineIndex(data, first_line)
    if not index.count:
        return pa.table({}), index
    if not _utf8_ok(data):
        return None
    try:
        table = _read_json_table(data)
    except (pa.ArrowException, ValueError):
        return None
    # Back-to-back records ({..}{..}) give extra rows; row i is line i only if counts match.
    if table.num_rows != index.count:
        return None
    return table, index


def _decode_line(line: bytes) -> list[Any]:
    """The JSON values on one line: usually one, several when a writer (Firehose without a
    separator) put records back to back. Raises ValueError when the line is not JSON."""
    try:
        return [orjson.loads(line)]
    except orjson.JSONDecodeError:
        pass
    # Work on text so that orjson's error positions are character offsets into it.
    text = line.decode("utf-8", "replace").strip()
    values = []
    while text:
        try:
            values.append(orjson.loads(text))
            return values
        except orjson.JSONDecodeError as exc:
            if not exc.msg.startswith("unexpected content after document") or not exc.pos:
                raise ValueError(exc.msg) from None
            values.append(orjson.loads(text[: exc.pos]))
            text = text[exc.pos :].lstrip()
    return values


def _slow_json_records(
    data: bytes, first_line: int, tally: RejectTally
) -> tuple[list[dict], list[int], dict[int, bytes]]:
    """Decoded records, their line numbers, and the raw lines (for reject examples)."""
    records: list[dict] = []
    lines: list[int] = []
    raws: dict[int, bytes] = {}
    for number, raw in _split_lines(data, first_line):
        raws[number] = raw
        try:
            values = _decode_line(raw)
        except ValueError:
            tally.add(number, "invalid_json", raw)
            continue
        for value in values:
            if isinstance(value, dict):
                records.append(value)
                lines.append(number)
            else:
                tally.add(number, "not_an_object", raw)
    return records, lines, raws


ParseFn = Callable[[bytes, int, ParseContext], tuple[pa.Table, RejectTally]]
RowsFn = Callable[[_FieldSet, np.ndarray, Callable, ParseContext, RejectTally], pa.Table]
_Read = tuple[pa.Table, _LineIndex]


def _json_parser(rows: RowsFn, nested_paths: Sequence[KeyPath]) -> ParseFn:
    """A parser for one JSON-lines format: the fast path on the whole block; when pyarrow
    refuses it, the fast path on 1 MiB pieces, and the per-line path on the pieces it still
    refuses. A few bad lines cost a few pieces this way, not the whole block."""

    def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
        fast = _json_fast(data, first_line, ctx, rows)
        if fast is not None:
            return fast
        parts = []
        run: list[_Read] = []
        for start, piece in _cut(data, first_line, _PIECE_BYTES):
            got = _fast_json_table(piece, start)
            if got is not None:
                run.append(got)
                continue
            parts.append(_rows_from_reads(run, rows, ctx))
            parts.append(_json_slow(piece, start, ctx, rows, nested_paths))
            run = []
        parts.append(_rows_from_reads(run, rows, ctx))
        return _concat(parts)

    return parse


def _rows_from_reads(
    reads: list[_Read], rows: RowsFn, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    """Rows from consecutive pyarrow reads, post-processed together when their inferred
    schemas merge (the usual case), else one by one."""
    reads = [(table, index) for table, index in reads if index.count]
    if not reads:
        return PARSED_SCHEMA.empty_table(), RejectTally()
    try:
        table = pa.concat_tables([t for t, _ in reads], promote_options="permissive")
    except pa.ArrowException:
        return _concat([_rows_from_reads([one], rows, ctx) for one in reads])
    indexes = [index for _, index in reads]
    lines = np.concatenate([index.line_numbers() for index in indexes])
    tally = RejectTally()
    return rows(_FieldSet.from_table(table), lines, _raw_lookup(indexes), ctx, tally), tally


def _raw_lookup(indexes: list[_LineIndex]) -> Callable[[int], bytes]:
    firsts = [index.first_line for index in indexes]

    def raw(line: int) -> bytes:
        return indexes[bisect.bisect_right(firsts, line) - 1].raw(line)

    return raw


def _json_slow(
    data: bytes, first_line: int, ctx: ParseContext, rows: RowsFn, nested_paths: Sequence[KeyPath]
) -> tuple[pa.Table, RejectTally]:
    """The reference path: orjson line by line, every bad line counted where it is."""
    tally = RejectTally()
    records, lines, raws = _slow_json_records(data, first_line, tally)
    if not records:
        return PARSED_SCHEMA.empty_table(), tally
    fields = _FieldSet.from_dicts(records, nested_paths)
    return rows(fields, np.array(lines, dtype=np.int64), raws.__getitem__, ctx, tally), tally


def _json_fast(
    data: bytes, first_line: int, ctx: ParseContext, rows: RowsFn
) -> tuple[pa.Table, RejectTally] | None:
    """The fast path alone: None when pyarrow cannot read the block line for line."""
    got = _fast_json_table(data, first_line)
    return None if got is None else _rows_from_reads([got], rows, ctx)


def _cut(data: bytes, first_line: int, size: int) -> list[tuple[int, bytes]]:
    """The block in pieces of about `size` bytes, cut after newlines, with their first line."""
    pieces = []
    start, line = 0, first_line
    while start < len(data):
        cut = data.find(b"\n", start + size)
        end = len(data) if cut < 0 else cut + 1
        pieces.append((line, data[start:end]))
        line += data.count(b"\n", start, end)
        start = end
    return pieces


# --------------------------------------------------------------------------------------------
# jsonl
# --------------------------------------------------------------------------------------------


def _jsonl_rows(
    fields: _FieldSet, lines: np.ndarray, raw: Callable, ctx: ParseContext, tally: RejectTally
) -> pa.Table:
    r = _resolve_roles(fields)
    cols = dict(r.columns)
    if ctx.default_service:
        cols["service"] = _fill(cols["service"], ctx.default_service, r.n)
    cols["attrs"] = _render_attrs(r.attrs, r.n)
    return _finish_rows(r.n, cols, r.ts_present, lines, raw, tally)


def _fill(values: pa.Array | None, default: str, n: int) -> pa.Array:
    if values is None:
        return pa.repeat(pa.scalar(default), n)
    return pc.fill_null(values, default)


_parse_jsonl = _json_parser(_jsonl_rows, _NESTED_PATHS)


# --------------------------------------------------------------------------------------------
# Embedded container lines: the `log` of Fluent Bit, the message of a CloudWatch export
# --------------------------------------------------------------------------------------------

# The app's own timestamp keys inside an embedded line duplicate the record's; not attrs.
_EMBEDDED_ROLES = tuple(
    _Role(r.name, r.paths, r.normalise, keep_unused=False) if r.name == "ts" else r
    for r in _JSON_ROLES
)


@dataclass
class _Embedded:
    """Role columns for n embedded lines: JSON lines give their keys, text lines their text."""

    columns: dict[str, pa.Array | None]  # ts, level, service, ..., aligned to the n lines
    level_text: pa.Array  # level found in the words of text lines
    attrs: pa.Array  # rendered JSON objects (or null)


def _embedded(messages: pa.Array, groups: pa.Array | None, drop: Iterable[str] = ()) -> _Embedded:
    """Resolve lines that may themselves be JSON. `groups` (e.g. container names) splits the
    JSON lines for pyarrow when apps disagree about a key's type, which is common."""
    n = len(messages)
    text = _message_from_any(messages)
    is_json = pc.fill_null(pc.starts_with(text, "{"), False)
    names = [r.name for r in _EMBEDDED_ROLES]
    columns: dict[str, pa.Array | None] = dict.fromkeys(names)
    attrs = pa.nulls(n, pa.string())
    # When every line is JSON (the usual block) the filters and scatters below are identities;
    # skipping them saves ~10 compute calls per Fluent Bit block (~0.15 ms).
    if is_json.true_count:
        all_json = not is_json.false_count
        json_text = text if all_json else pc.filter(text, is_json)
        json_groups = groups if all_json or groups is None else pc.filter(groups, is_json)
        decoded, resolved, rendered = _resolve_json_lines(json_text, json_groups, drop)
        if decoded.false_count:
            is_json = pc.replace_with_mask(is_json, is_json, decoded)
            all_json = False
        for name in names:
            col = resolved.get(name)
            if col is not None:
                col = pc.filter(col, decoded) if decoded.false_count else col
                columns[name] = (
                    col if all_json else pc.replace_with_mask(pa.nulls(n, col.type), is_json, col)
                )
        rendered = pc.filter(rendered, decoded) if decoded.false_count else rendered
        attrs = rendered if all_json else pc.replace_with_mask(attrs, is_json, rendered)
    plain = pc.invert(is_json)
    if plain.true_count or columns["message"] is None:
        text_message = pc.if_else(plain, text, pa.scalar(None, pa.string()))
        columns["message"] = (
            text_message
            if columns["message"] is None
            else pc.coalesce(columns["message"], text_message)
        )
    level_text = pa.nulls(n, pa.string())
    if plain.true_count:
        level_text = pc.replace_with_mask(
            level_text, plain, _level_from_text(pc.filter(text, plain))
        )
    return _Embedded(columns, level_text, attrs)


# (which lines decoded as JSON objects, role columns, rendered attrs), all len(lines)
_JsonLines = tuple[pa.Array, dict[str, pa.Array | None], pa.Array]


def _resolve_json_lines(
    lines: pa.Array, groups: pa.Array | None, drop: Iterable[str]
) -> _JsonLines:
    """JSON app lines resolved, by pyarrow where it can read them, else line by line."""
    fast = _fast_json_lines(lines, drop)
    if fast is not None:
        return fast
    if groups is None:
        return _slow_json_lines(lines, drop)
    group_ids = pc.dictionary_encode(pc.fill_null(groups, "")).indices
    parts = []
    for g in range(int(pc.max(group_ids).as_py()) + 1):
        mask = pc.equal(group_ids, g)
        sub = pc.filter(lines, mask)
        parts.append((mask, _fast_json_lines(sub, drop) or _slow_json_lines(sub, drop)))
    return _scatter_parts(len(lines), parts)


def _scatter_parts(n: int, parts: list[tuple[pa.Array, _JsonLines]]) -> _JsonLines:
    """Per-group results (mask of the group's lines, result) back in line order."""
    decoded = pa.array(np.zeros(n, dtype=bool))
    attrs = pa.nulls(n, pa.string())
    columns: dict[str, pa.Array | None] = {}
    for mask, (dec, cols, rendered) in parts:
        decoded = pc.replace_with_mask(decoded, mask, dec)
        attrs = pc.replace_with_mask(attrs, mask, rendered)
        for name, col in cols.items():
            if col is None:
                columns.setdefault(name, None)
                continue
            base = columns.get(name)
            if base is None:
                base = pa.nulls(n, col.type)
            columns[name] = pc.replace_with_mask(base, mask, col)
    return decoded, columns, attrs


def _fast_json_lines(lines: pa.Array, drop: Iterable[str]) -> _JsonLines | None:
    joined = pc.binary_join_element_wise(lines, "", "\n")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    # The joined text as it lies in Arrow's buffer: no copy to bytes (0.1 CPU s/GB).
    data = joined.buffers()[2][offsets[0] : int(offsets[len(joined)])]
    body = np.frombuffer(data, dtype=np.uint8)
    # Line i is record i only if no line holds a line break of its own (multi-line logs).
    if np.count_nonzero(body == 10) != len(lines) or (body == 13).any():
        return None
    try:
        table = _read_json_table(data)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != len(lines):
        return None
    resolved = _resolve_roles(_FieldSet.from_table(table), _EMBEDDED_ROLES, drop)
    decoded = pa.array(np.ones(len(lines), dtype=bool))
    return decoded, resolved.columns, _render_attrs(resolved.attrs, len(lines))


def _slow_json_lines(lines: pa.Array, drop: Iterable[str]) -> _JsonLines:
    records = []
    ok = []
    for s in lines.to_pylist():
        try:
            value = orjson.loads(s)
        except orjson.JSONDecodeError:
            value = None
        ok.append(isinstance(value, dict))
        records.append(value if isinstance(value, dict) else {})
    resolved = _resolve_roles(_FieldSet.from_dicts(records, _NESTED_PATHS), _EMBEDDED_ROLES, drop)
    return pa.array(ok, pa.bool_()), resolved.columns, _render_attrs(resolved.attrs, len(lines))


def _merge_objects(a: pa.Array, b: pa.Array) -> pa.Array:
    """Two columns of rendered JSON objects -> one (keys are disjoint by construction)."""
    both = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(a, 0, -1), ",", pc.utf8_slice_codeunits(b, 1), ""
    )
    return pc.coalesce(both, a, b)


# --------------------------------------------------------------------------------------------
# fluentbit-k8s
# --------------------------------------------------------------------------------------------

_K8S = "kubernetes"
_K8S_PATHS = {
    "pod": (_K8S, "pod_name"),
    "namespace": (_K8S, "namespace_name"),
    "container": (_K8S, "container_name"),
    "container_image": (_K8S, "container_image"),
    "node": (_K8S, "host"),
    "label_name": (_K8S, "labels", "app.kubernetes.io/name"),
    "label_app": (_K8S, "labels", "app"),
    "label_k8s_app": (_K8S, "labels", "k8s-app"),
}
# Fluent Bit's own keys: shown as columns or k8s attrs, or duplicates of the record time.
_FLUENTBIT_DROP = (_K8S, "log", "stream", "_p", *(p[0] for p in _TS_PATHS))
_FLUENTBIT_ATTRS = ("namespace", "container", "container_image", "node", "stream")
_OUTER_ROLES = tuple(
    _Role(r.name, tuple(p for p in r.paths if p != ("log",)), r.normalise, r.keep_unused)
    for r in _JSON_ROLES
)

# Kubernetes generates pod-name suffixes from this alphabet (no vowels, no 0/1/3): a
# Deployment pod is <name>-<replicaset hash>-<5>, a DaemonSet or Job pod <name>-<5>, a
# StatefulSet pod <name>-<ordinal>.
_K8S_ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"
_POD_SUFFIX_RE = rf"^(.+?)(?:-{_K8S_ALNUM}{{6,10}}-{_K8S_ALNUM}{{5}}|-\d+|-{_K8S_ALNUM}{{5}})$"


def _per_distinct(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """fn applied once per distinct value: Kubernetes metadata repeats on every line."""
    encoded = _distinct(values, fn)
    return pc.take(encoded.dictionary, encoded.indices)


def _distinct(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.DictionaryArray:
    """`values` dictionary-encoded, with fn applied to the distinct values."""
    encoded = pc.dictionary_encode(values)
    return pa.DictionaryArray.from_arrays(encoded.indices, fn(encoded.dictionary))


# Workload name per pod name, across blocks. A block holds a pod or two, and the regex kernel
# compiles its pattern on every call (~0.2 ms per block); pods repeat from block to block.
_WORKLOADS: dict[str, str] = {}
_WORKLOADS_MAX = 1 << 16


def _workloads(names: pa.Array) -> pa.Array:
    todo = [p for p in dict.fromkeys(names.to_pylist()) if p is not None and p not in _WORKLOADS]
    if todo:
        if len(_WORKLOADS) + len(todo) > _WORKLOADS_MAX:
            _WORKLOADS.clear()
        found = pc.replace_substring_regex(pa.array(todo, names.type), _POD_SUFFIX_RE, r"\1")
        _WORKLOADS.update(zip(todo, found.to_pylist(), strict=True))
    return pa.array([None if p is None else _WORKLOADS[p] for p in names.to_pylist()], names.type)


def _workload_from_pods(pods: pa.Array) -> pa.Array:
    return _per_distinct(pods, _workloads)


def workload_name(pod: str) -> str:
    """checkout-7d9f8b6c5d-x2x4z -> checkout; web-0 -> web; node-exporter-bbx5c -> node-exporter."""
    m = re.match(_POD_SUFFIX_RE, pod)
    return m.group(1) if m else pod


def _first_text(fields: _FieldSet, path: KeyPath) -> pa.Array | None:
    return _coalesce(*[_text_from_any(v) for _, v in fields.candidates(path)])


def _coalesce(*arrays: pa.Array | None) -> pa.Array | None:
    present = [a for a in arrays if a is not None]
    if not present:
        return None
    return pc.coalesce(*present) if len(present) > 1 else present[0]


def _fluentbit_rows(
    fields: _FieldSet, lines: np.ndarray, raw: Callable, ctx: ParseContext, tally: RejectTally
) -> pa.Table:
    """Kubernetes metadata names the service and pod; the container's own line, when it is
    JSON, gives level, message, status, latency and trace ID."""
    n = fields.n
    meta = {name: _first_text(fields, path) for name, path in _FLUENTBIT_PATHS.items()}
    outer = _resolve_roles(fields, _OUTER_ROLES, drop=_FLUENTBIT_DROP)
    meta_attrs = [
        (name, _meta_attr(meta[name])) for name in _FLUENTBIT_ATTRS if meta[name] is not None
    ]
    attrs = _render_attrs(meta_attrs + outer.attrs, n)
    log = _coalesce(*[_message_from_any(v) for _, v in fields.candidates(("log",))])
    if log is None:
        inner = _Embedded(dict.fromkeys(outer.columns), pa.nulls(n, pa.string()), attrs)
    else:
        inner = _embedded(log, meta["container"], drop={k for k, _ in meta_attrs + outer.attrs})
        attrs = _merge_objects(attrs, inner.attrs)
    col = inner.columns
    service = _coalesce(_k8s_service(meta), col["service"], outer.columns["service"])
    if ctx.default_service:
        service = _fill(service, ctx.default_service, n)
    cols = {
        "ts": _coalesce(outer.columns["ts"], col["ts"]),
        "service": service,
        "instance": _coalesce(meta["pod"], outer.columns["instance"], col["instance"]),
        "level": _coalesce(col["level"], outer.columns["level"], inner.level_text),
        "message": _coalesce(col["message"], outer.columns["message"]),
        "attrs": attrs,
    }
    for name in ("status", "latency_ms", "trace_id"):
        cols[name] = _coalesce(col[name], outer.columns[name])
    return _finish_rows(n, cols, _ts_present(outer, col["ts"]), lines, raw, tally)


def _meta_attr(values: pa.Array) -> _AttrValue:
    """A Kubernetes attrs column, rendered once per distinct value. Values that need no
    escaping are quoted in the join that adds the key (one call fewer per key, ~0.15 ms per
    Fluent Bit block)."""
    encoded = pc.dictionary_encode(values)
    if not _may_need_escaping(encoded.dictionary):
        return _Unquoted(encoded)
    return pa.DictionaryArray.from_arrays(encoded.indices, _json_strings(encoded.dictionary))


def _k8s_service(meta: dict[str, pa.Array | None]) -> pa.Array | None:
    """The app's name from its labels, else from the pod name without its generated suffix."""
    pods = meta["pod"]
    from_pod = _workload_from_pods(pods) if pods is not None else None
    return _coalesce(meta["label_name"], meta["label_app"], meta["label_k8s_app"], from_pod)


def _ts_present(outer: _Resolved, inner_ts: pa.Array | None) -> pa.Array | None:
    """Rows that carried some timestamp, usable or not (else they had none at all)."""
    inner = inner_ts.is_valid() if inner_ts is not None else None
    if outer.ts_present is None or inner is None:
        return inner if outer.ts_present is None else outer.ts_present
    return pc.or_(outer.ts_present, inner)


_FLUENTBIT_NESTED = (*_NESTED_PATHS, *_K8S_PATHS.values())
_FLUENTBIT_PATHS = {**_K8S_PATHS, "stream": ("stream",)}


_parse_fluentbit = _json_parser(_fluentbit_rows, _FLUENTBIT_NESTED)


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------

_LEVEL_ANYCASE = f"(?i:{_LEVEL_UPPER})"
# A level right after the timestamp, maybe after a thread/pid number: "INFO", "[error]",
# "- WARN ", "148 INFO". Bare words must be upper case (see _TEXT_LEVEL_RE).
_TEXT_HEAD_RE = re.compile(
    r"^[\s\-|:]*(?:\d+\s+)?"
    rf"(?:\[(?P<b>{_LEVEL_ANYCASE})\]|<(?P<a>{_LEVEL_ANYCASE})>|(?P<c>{_LEVEL_UPPER}))"
    r"(?=[\s:|\-\]]|$)[\s\-|:]*"
)
_ISO_TEXT = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
)
_SYSLOG_MONTH = "|".join(_MONTHS)
_TEXT_FORMS = {
    "iso": re.compile(rf"^\[?(?P<ts>{_ISO_TEXT})\]?(?:\s+|$)(?P<rest>.*)$"),
    "syslog": re.compile(
        rf"^(?P<mon>{_SYSLOG_MONTH}) +(?P<day>\d{{1,2}}) (?P<time>\d{{2}}:\d{{2}}:\d{{2}})"
        r"(?P<frac>\.\d+)? (?P<host>\S+) (?:(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?)?"
        r"(?P<rest>.*)$"
    ),
    "apache_error": re.compile(
        r"^\[[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2}) (?P<time>\d{2}:\d{2}:\d{2})"
        r"(?P<frac>\.\d+)? (?P<year>\d{4})\] \[(?:(?P<module>[\w-]+):)?(?P<level>\w+)\]\s*"
        r"(?P<rest>.*)$"
    ),
    "access": re.compile(
        r"^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\] "
        r'"(?P<req>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<size>\d+|-)'
        r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)")?(?P<rest>.*)$'
    ),
    # HDFS (yymmdd hhmmss) and Spark/log4j (yy/MM/dd HH:mm:ss): two-digit years are 20yy.
    "hdfs": re.compile(r"^(?P<d>\d{6}) (?P<t>\d{6})(?:\s+|$)(?P<rest>.*)$"),
    "spark": re.compile(
        r"^(?P<y>\d{2})/(?P<m>\d{2})/(?P<d>\d{2}) (?P<t>\d{2}:\d{2}:\d{2})(?:\s+|$)(?P<rest>.*)$"
    ),
    "epoch": re.compile(
        r"^\[?(?P<e>\d{10}(?:\.\d{1,9})?|\d{13}(?:\.\d{1,6})?)\]?(?:\s+|$)(?P<rest>.*)$"
    ),
    # A file or host name before the timestamp, as in OpenStack's collected logs.
    "prefixed": re.compile(rf"^(?P<prefix>\S+) \[?(?P<ts>{_ISO_TEXT})\]?(?:\s+|$)(?P<rest>.*)$"),
}
_LOG_FILE_RE = re.compile(r"^([A-Za-z][\w-]*?)\.log\b")
# Stack-trace and other continuation lines carry no timestamp of their own.
_CONTINUATION_RE = re.compile(
    r"^(?:\s|Caused by:|Traceback \(|\.\.\. \d+ more|at [\w$.<>]+\("
    r"|[\w$.]*(?:Exception|Error)\b)"
)


@dataclass
class _TextRecord:
    ts: str | float | None  # None: a header was found but its time is impossible
    message: str
    level: str | None = None
    service: str | None = None
    instance: str | None = None
    status: int | None = None
    attrs: dict | None = None
    continuation: bool = False


def _split_level(rest: str) -> tuple[str | None, str]:
    m = _TEXT_HEAD_RE.match(rest)
    if not m:
        return None, rest.strip()
    return m.group("a") or m.group("b") or m.group("c"), rest[m.end() :].rstrip()


def _syslog_ts(m: re.Match, ref: datetime) -> str | None:
    """Syslog lines have no year: take the reference time's, or the year before if that
    puts the line more than a day after the reference (a December line read in January)."""
    h, mi, s = (int(x) for x in m.group("time").split(":"))
    for year in (ref.year, ref.year - 1):
        try:
            ts = datetime(
                year, _MONTH_NUM[m.group("mon")], int(m.group("day")), h, mi, s, tzinfo=UTC
            )
        except ValueError:  # Feb 29 outside a leap year
            continue
        if ts <= ref + timedelta(days=1):
            return ts.isoformat().replace("+00:00", (m.group("frac") or "") + "Z")
    return None


def _text_iso(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    return _TextRecord(m.group("ts"), message, level)


def _text_prefixed(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    prefix = m.group("prefix")
    stem = _LOG_FILE_RE.match(prefix)
    return _TextRecord(
        m.group("ts"),
        message,
        level,
        service=stem.group(1) if stem else None,
        attrs={"prefix": prefix},
    )


def _text_syslog(m: re.Match, ctx: ParseContext) -> _TextRecord:
    # No year fits (Feb 29 with no leap year in reach): kept as a record with a bad time.
    ts = _syslog_ts(m, ctx.reference_time.astimezone(UTC))
    level, message = _split_level(m.group("rest"))
    attrs = {"pid": int(m.group("pid"))} if m.group("pid") else None
    return _TextRecord(ts, message, level, m.group("prog"), m.group("host"), attrs=attrs)


def _text_apache_error(m: re.Match, ctx: ParseContext) -> _TextRecord:
    month = _MONTH_NUM.get(m.group("mon"), 0)
    day = int(m.group("day"))
    ts = f"{m.group('year')}-{month:02d}-{day:02d}T{m.group('time')}{m.group('frac') or ''}"
    attrs = {"module": m.group("module")} if m.group("module") else None
    return _TextRecord(ts, m.group("rest").rstrip(), m.group("level"), attrs=attrs)


def _text_access(m: re.Match, ctx: ParseContext) -> _TextRecord:
    method, path = _request_parts(m.group("req"))
    status = int(m.group("status")) if m.group("status") != "-" else None
    attrs = {"client": m.group("client"), "method": method, "path": path}
    if m.group("ua") and m.group("ua") != "-":
        attrs["user_agent"] = m.group("ua")
    message = f"{method} {path} -> {m.group('status')}"
    return _TextRecord(
        m.group("ts"), message, _level_from_status(status), status=status, attrs=attrs
    )


def _text_hdfs(m: re.Match, ctx: ParseContext) -> _TextRecord:
    d, t = m.group("d"), m.group("t")
    level, message = _split_level(m.group("rest"))
    return _TextRecord(f"20{d[:2]}-{d[2:4]}-{d[4:]}T{t[:2]}:{t[2:4]}:{t[4:]}", message, level)


def _text_spark(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    return _TextRecord(
        f"20{m.group('y')}-{m.group('m')}-{m.group('d')}T{m.group('t')}", message, level
    )


def _text_epoch(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    return _TextRecord(float(m.group("e")), message, level)


_TEXT_HANDLERS: dict[str, Callable[[re.Match, ParseContext], _TextRecord]] = {
    "iso": _text_iso,
    "syslog": _text_syslog,
    "apache_error": _text_apache_error,
    "access": _text_access,
    "hdfs": _text_hdfs,
    "spark": _text_spark,
    "epoch": _text_epoch,
    "prefixed": _text_prefixed,
}


def _level_from_status(status: int | None) -> str | None:
    if status is None:
        return None
    return "error" if status >= 500 else "warn" if status >= 400 else "info"


def _request_parts(request: str) -> tuple[str, str]:
    """'GET http://host:80/a/b?x=1 HTTP/1.1' -> ('GET', '/a/b'): query values would make
    every request a pattern of its own."""
    parts = request.split(" ")
    method = parts[0] if parts and parts[0] else "-"
    url = parts[1] if len(parts) > 1 else "-"
    scheme = url.find("://")
    if scheme >= 0:
        slash = url.find("/", scheme + 3)
        url = url[slash:] if slash >= 0 else "/"
    return method, url.split("?", 1)[0][:256]


def _match_text(line: str, order: list[str], ctx: ParseContext) -> _TextRecord | None:
    for i, name in enumerate(order):
        m = _TEXT_FORMS[name].match(line)
        if m:
            if i:  # a block is usually one form: try it first next time
                order.insert(0, order.pop(i))
            return _TEXT_HANDLERS[name](m, ctx)
    return None


def _parse_text(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    order = list(_TEXT_FORMS)
    rows: list[_TextRecord] = []
    lines: list[int] = []
    previous: tuple[int, _TextRecord] | None = None
    split = data.decode("utf-8", "replace").split("\n")
    for i, line in enumerate(split):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        number = first_line + i
        record = _match_text(line, order, ctx)
        if record is not None:
            previous = (number, record)
        elif previous is not None and _CONTINUATION_RE.match(line):
            record = _continuation(line, *previous)
        else:
            tally.add(number, "no_timestamp", line)
            continue
        rows.append(record)
        lines.append(number)
    return _text_table(rows, np.array(lines, dtype=np.int64), ctx, tally, split, first_line), tally


def _continuation(line: str, prev_line: int, prev: _TextRecord) -> _TextRecord:
    """A stack-trace line belongs to the record above: its time and origin, not its level
    (twenty frames are not twenty more errors)."""
    return _TextRecord(
        prev.ts,
        line.rstrip(),
        service=prev.service,
        instance=prev.instance,
        attrs={"continuation_of": prev_line},
        continuation=True,
    )


def _text_table(
    rows: list[_TextRecord],
    lines: np.ndarray,
    ctx: ParseContext,
    tally: RejectTally,
    split: list[str],
    first_line: int,
) -> pa.Table:
    n = len(rows)
    if not n:
        return PARSED_SCHEMA.empty_table()
    ts_str = pa.array([r.ts if isinstance(r.ts, str) else None for r in rows], pa.string())
    ts_num = pa.array([r.ts if isinstance(r.ts, float) else None for r in rows], pa.float64())
    ts = pc.coalesce(_ts_from_strings(ts_str), _ts_from_epoch(ts_num))
    message = pa.array([r.message for r in rows], pa.string())
    scanned = pc.if_else(
        pa.array([r.continuation for r in rows], pa.bool_()),
        pa.scalar(None, pa.string()),
        _level_from_text(message),
    )
    level = pc.coalesce(_level_from_words(pa.array([r.level for r in rows], pa.string())), scanned)
    service = pa.array([r.service for r in rows], pa.string())
    if ctx.default_service:
        service = pc.fill_null(service, ctx.default_service)
    cols = {
        "ts": ts,
        "service": service,
        "instance": [r.instance for r in rows],
        "level": level,
        "message": message,
        "status": [r.status for r in rows],
        "attrs": [_orjson_text(r.attrs) if r.attrs else None for r in rows],
    }

    def raw(line: int) -> str:
        return split[line - first_line]

    return _finish_rows(n, cols, None, lines, raw, tally)


# --------------------------------------------------------------------------------------------
# alb
# --------------------------------------------------------------------------------------------

# The documented fields in order; each later group is optional because older logs end
# earlier, and anything after the last known field (AWS keeps adding some) is ignored.
_ALB_RE = re.compile(
    r"^(?P<type>http|https|h2|ws|wss|grpcs) (?P<time>\S+) (?P<elb>\S+) (?P<client>\S+) "
    r"(?P<target>\S+) (?P<t1>\S+) (?P<t2>\S+) (?P<t3>\S+) (?P<elb_status>\S+) "
    r"(?P<target_status>\S+) \S+ \S+ "
    r'"(?P<request>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)" \S+ \S+ (?P<tg>\S+)'
    r'(?: "(?P<trace>[^"]*)"'
    r'(?: "(?P<domain>[^"]*)"(?: "[^"]*" \S+ \S+'
    r'(?: "[^"]*"(?: "[^"]*"(?: "(?P<error>[^"]*)"'
    r'(?: "[^"]*"(?: "[^"]*"(?: "(?P<classification>[^"]*)"'
    r"(?: \S.*)?)?)?)?)?)?)?)?)?)?\s*$"
)
_TRACE_ROOT_RE = re.compile(r"Root=([^;\s]+)")


def _dash(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value


def _alb_latency(m: re.Match) -> float | None:
    """The three processing times in ms; -1 in any means the request never got that far."""
    try:
        times = [float(m.group(g)) for g in ("t1", "t2", "t3")]
    except ValueError:
        return None
    if any(t < 0 for t in times):
        return None
    return sum(times) * 1000.0


def _alb_service(tg_arn: str | None, elb: str) -> str:
    if tg_arn and "targetgroup/" in tg_arn:
        return tg_arn.split("targetgroup/", 1)[1].split("/", 1)[0]
    parts = elb.split("/")
    return parts[1] if len(parts) > 1 else elb


# Codes the ALB invents (user guide, "HTTP error codes"); the rest are standard HTTP.
_ALB_STATUS_PHRASES = {
    460: "Client Closed Connection",
    463: "Too Many Forwarded IPs",
    464: "Incompatible Protocol",
    561: "Identity Provider Unauthorized",
}


def _status_phrase(status: int | None) -> str:
    """The reason phrase, so that the pattern miner, which masks numbers, still tells a 503
    from a 200: `GET <*> -> <*> Service Unavailable` and `GET <*> -> <*> OK` stay apart."""
    if status is None:
        return ""
    try:
        return _ALB_STATUS_PHRASES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return ""


def _alb_record(m: re.Match) -> dict[str, Any]:
    elb_status = _dash(m.group("elb_status"))
    target_status = m.group("target_status")
    status = int(elb_status) if elb_status and elb_status.isdigit() else None
    method, path = _request_parts(m.group("request"))
    error = _dash(m.group("error"))
    tg = _dash(m.group("tg"))
    trace = _TRACE_ROOT_RE.search(m.group("trace") or "")
    phrase = _status_phrase(status)
    message = f"{method} {path} -> {elb_status or '-'}{' ' + phrase if phrase else ''} (target {target_status})"
    attrs = {
        "type": m.group("type"),
        "method": method,
        "path": path,
        "elb_status": status,
        "target_status": _dash(target_status),
        "error_reason": error,
        "classification": _dash(m.group("classification")),
        "client": m.group("client").rsplit(":", 1)[0],
        "target_group_arn": tg,
        "user_agent": _dash(m.group("ua")),
        "domain": _dash(m.group("domain")),
    }
    return {
        "ts": m.group("time"),
        "service": _alb_service(tg, m.group("elb")),
        "instance": _dash(m.group("target")),
        "level": _level_from_status(status),
        "message": f"{message} {error}" if error else message,
        "status": status,
        "latency_ms": _alb_latency(m),
        "trace_id": trace.group(1) if trace else None,
        "attrs": _orjson_text({k: v for k, v in attrs.items() if v is not None}),
    }


def _parse_alb(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    raws: dict[int, str] = {}
    for number, raw in _split_lines(data, first_line):
        line = raw.decode("utf-8", "replace")
        m = _ALB_RE.match(line)
        if m is None:
            tally.add(number, "bad_fields", line)
            continue
        raws[number] = line
        records.append(_alb_record(m))
        lines.append(number)
    return _records_table(records, lines, raws.__getitem__, tally, bad_ts=True), tally


def _records_table(
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
    cols["ts"] = _ts_from_strings(ts_raw)
    present = ts_raw.is_valid() if not bad_ts else None
    return _finish_rows(n, cols, present, np.array(lines, dtype=np.int64), raw, tally)


# --------------------------------------------------------------------------------------------
# cloudtrail
# --------------------------------------------------------------------------------------------

# requestParameters keys naming the resource a call changed, best first. `name` is only a
# resource for a few services (SSM parameters, EKS clusters); elsewhere it is too vague.
_CT_RESOURCE_KEYS = (
    "service",
    "functionName",
    "dBInstanceIdentifier",
    "dBClusterIdentifier",
    "autoScalingGroupName",
    "targetGroupArn",
    "loadBalancerName",
    "tableName",
    "stackName",
    "secretId",
    "queueUrl",
    "topicArn",
    "bucketName",
    "family",
)
_CT_NAME_SOURCES = {"ssm", "eks", "ecr", "codedeploy"}
_CT_MESSAGE_KEYS = {
    "service": "service",
    "cluster": "cluster",
    "taskDefinition": "taskDefinition",
    "desiredCount": "desiredCount",
    "functionName": "function",
    "dBInstanceIdentifier": "db",
    "dBClusterIdentifier": "cluster",
    "autoScalingGroupName": "asg",
    "name": "name",
    "userName": "user",
    "roleName": "role",
    "groupName": "group",
    "instanceId": "instance",
}
_CT_PARAMS_MAX_CHARS = 2048


def _short_resource(value: Any) -> str | None:
    """arn:aws:ecs:...:service/prod/checkout -> checkout; queue URLs -> the queue name."""
    if not isinstance(value, str) or not value:
        return None
    if "targetgroup/" in value:
        return value.split("targetgroup/", 1)[1].split("/", 1)[0]
    if value.startswith("arn:"):
        tail = value.split(":", 5)[-1]
        if value.split(":")[2] == "lambda":
            return value.split(":")[6] if len(value.split(":")) > 6 else tail
        return tail.rsplit("/", 1)[-1]
    if value.startswith("https://"):
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


def _ct_source(event: dict) -> str:
    source = event.get("eventSource") or (event.get("insightDetails") or {}).get("eventSource")
    return str(source or "aws").split(".", 1)[0]


def _ct_service(event: dict, source: str) -> str:
    params = event.get("requestParameters")
    if isinstance(params, dict):
        for key in _CT_RESOURCE_KEYS:
            name = _short_resource(params.get(key))
            if name:
                return name
        if source in _CT_NAME_SOURCES:
            name = _short_resource(params.get("name") or params.get("clusterName"))
            if name:
                return name
    return source


def _ct_actor(identity: Any) -> str | None:
    if not isinstance(identity, dict):
        return None
    if identity.get("userName"):
        return str(identity["userName"])
    arn = identity.get("arn")
    if isinstance(arn, str) and arn:
        # arn:aws:sts::123:assumed-role/DeployRole/alice -> DeployRole/alice
        resource = arn.split(":", 5)[-1]
        return resource.split("/", 1)[1] if "/" in resource else resource
    issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName")
    return issuer or identity.get("invokedBy") or identity.get("type")


def _ct_message(event: dict, source: str, actor: str | None) -> str:
    name = event.get("eventName") or (event.get("insightDetails") or {}).get("eventName") or "?"
    text = f"{source}:{name}"
    insight = event.get("insightDetails")
    if isinstance(insight, dict):
        text += f" insight {insight.get('insightType', '')} {insight.get('state', '')}".rstrip()
    params = event.get("requestParameters")
    if isinstance(params, dict):
        for key, label in _CT_MESSAGE_KEYS.items():
            value = params.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                text += f" {label}={_short_resource(value) if isinstance(value, str) else value}"
    if actor:
        text += f" by {actor}"
    if event.get("errorCode"):
        text += f" failed: {event['errorCode']}"
    return text


def _ct_params(params: Any) -> Any:
    """requestParameters, cut to a readable size: a huge policy document helps no one."""
    if params is None:
        return None
    text = _orjson_text(params)
    return params if len(text) <= _CT_PARAMS_MAX_CHARS else text[:_CT_PARAMS_MAX_CHARS] + "…"


def _ct_record(event: dict) -> dict[str, Any]:
    source = _ct_source(event)
    identity = event.get("userIdentity")
    actor = _ct_actor(identity)
    attrs = {
        "eventSource": event.get("eventSource"),
        "eventName": event.get("eventName"),
        "eventType": event.get("eventType"),
        "actor": actor,
        "actorArn": identity.get("arn") if isinstance(identity, dict) else None,
        "errorCode": event.get("errorCode"),
        "errorMessage": event.get("errorMessage"),
        "readOnly": event.get("readOnly"),
        "requestParameters": _ct_params(event.get("requestParameters")),
        "resources": event.get("resources"),
        "sourceIPAddress": event.get("sourceIPAddress"),
        "awsRegion": event.get("awsRegion"),
        "eventID": event.get("eventID"),
        "insightDetails": event.get("insightDetails"),
    }
    ts = event.get("eventTime")
    return {
        "ts": ts if isinstance(ts, str) else None,
        "service": _ct_service(event, source),
        "level": "error" if event.get("errorCode") else "info",
        "message": _ct_message(event, source, actor),
        "attrs": _orjson_text({k: v for k, v in attrs.items() if v is not None}),
    }


def _parse_cloudtrail(
    data: bytes, first_line: int, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        tally.add(first_line, "invalid_json", f"not a CloudTrail JSON document: {exc}")
        return PARSED_SCHEMA.empty_table(), tally
    events = doc.get("Records") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        tally.add(first_line, "not_cloudtrail", 'expected a {"Records": [...]} document')
        return PARSED_SCHEMA.empty_table(), tally
    records, lines, raws = [], [], {}
    for i, event in enumerate(events, start=first_line):
        if not isinstance(event, dict):
            tally.add(i, "not_an_object", _orjson_text(event))
            continue
        records.append(_ct_record(event))
        lines.append(i)
        raws[i] = event
    table = _records_table(records, lines, lambda i: _orjson_text(raws[i]), tally, bad_ts=False)
    return table, tally


# --------------------------------------------------------------------------------------------
# cloudwatch-export
# --------------------------------------------------------------------------------------------

_EXPORT_TS_RE = r"^\d{4}-\d{2}-\d{2}"


def _parse_cloudwatch(
    data: bytes, first_line: int, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    split = data.decode("utf-8", "replace").split("\n")
    stamps: list[str] = []
    messages: list[str] = []
    lines: list[int] = []
    for i, line in enumerate(split):
        if line.strip():
            stamp, _, message = line.removesuffix("\r").partition(" ")
            stamps.append(stamp)
            messages.append(message)
            lines.append(first_line + i)
    if not lines:
        return PARSED_SCHEMA.empty_table(), tally
    table = _cloudwatch_rows(
        pa.array(stamps, pa.string()),
        pa.array(messages, pa.string()),
        np.array(lines, dtype=np.int64),
        lambda k: split[k - first_line],
        ctx,
        tally,
    )
    return table, tally


def _cloudwatch_rows(
    stamps: pa.Array,
    messages: pa.Array,
    lines: np.ndarray,
    raw: Callable,
    ctx: ParseContext,
    tally: RejectTally,
) -> pa.Table:
    """The export's timestamp is the event's; the message may be an app's JSON line."""
    n = len(lines)
    inner = _embedded(messages, None)
    col = inner.columns
    service = col["service"]
    if ctx.default_service:
        service = _fill(service, ctx.default_service, n)
    stream = _export_stream(ctx.key)
    cols = {
        **col,
        "ts": _ts_from_strings(stamps),
        "service": service,
        "instance": _fill(col["instance"], stream, n) if stream else col["instance"],
        "level": _coalesce(col["level"], inner.level_text),
        "attrs": inner.attrs,
    }
    present = pc.match_substring_regex(stamps, _EXPORT_TS_RE)
    return _finish_rows(n, cols, present, lines, raw, tally)


# --------------------------------------------------------------------------------------------
# vpc-flow
# --------------------------------------------------------------------------------------------

# Version 2, the default format; a custom format names its fields in the file's header line.
_VPC_DEFAULT_FIELDS = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
]
_IP_PROTOCOLS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6"}
_VPC_STATUS_MESSAGES = {
    "NODATA": "no traffic on the interface (NODATA)",
    "SKIPDATA": "flow records skipped by AWS (SKIPDATA)",
}


def _vpc_record(values: dict[str, str], ctx: ParseContext) -> dict[str, Any] | None:
    start = values.get("start", "")
    if not start.isdigit():
        return None
    action, status = values.get("action", "-"), values.get("log-status", "-")
    proto = _IP_PROTOCOLS.get(values.get("protocol", ""), values.get("protocol", "-"))
    if status in _VPC_STATUS_MESSAGES:
        message = _VPC_STATUS_MESSAGES[status]
    else:
        message = (
            f"{action} {proto} {values.get('srcaddr')}:{values.get('srcport')} -> "
            f"{values.get('dstaddr')}:{values.get('dstport')}"
        )
    return {
        "ts": datetime.fromtimestamp(int(start), UTC).isoformat(),
        "service": ctx.default_service,
        "instance": _dash(values.get("interface-id") or values.get("instance-id")),
        # A rejected flow or lost records deserve a look; accepted traffic is routine.
        "level": "warn" if action == "REJECT" or status == "SKIPDATA" else "info",
        "message": message,
        "attrs": _orjson_text({k: v for k, v in values.items() if v != "-"}),
    }


def _parse_vpc_flow(
    data: bytes, first_line: int, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    fields = _VPC_DEFAULT_FIELDS
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    raws: dict[int, str] = {}
    for number, raw in _split_lines(data, first_line):
        line = raw.decode("utf-8", "replace").strip()
        parts = line.split()
        if parts and not parts[0].isdigit() and "start" in parts:
            fields = parts  # the header line of an S3 flow-log file: names, not a record
            continue
        record = (
            _vpc_record(dict(zip(fields, parts, strict=True)), ctx)
            if len(parts) == len(fields)
            else None
        )
        if record is None:
            tally.add(number, "bad_fields", line)
            continue
        raws[number] = line
        records.append(record)
        lines.append(number)
    return _records_table(records, lines, raws.__getitem__, tally, bad_ts=True), tally


# --------------------------------------------------------------------------------------------
# Sniffing and object keys
# --------------------------------------------------------------------------------------------

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_EXPORT_KEY_RE = re.compile(rf"(?:^|/)(?P<task>{_UUID})/(?P<stream>.+)/\d{{6}}(?:\.gz)?$")
_CLOUDTRAIL_DOC_RE = re.compile(rb'^\s*\{\s*"Records"\s*:')
# A flow-log header, or a version-2 record: version, 12-digit account, interface or "-".
_VPC_LINE_RE = re.compile(rb"^(?:version account-id |\d+ \d{12} (?:eni-|-))")
_ALB_LINE_RE = re.compile(rb"^(?:http|https|h2|ws|wss|grpcs) \d{4}-\d{2}-\d{2}T\S+ \S+ \S+ \S+ ")
_ISO_LINE_RE = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}) ")


def sniff_format(key: str, head: bytes) -> LogFormat:
    """Guess an object's format from its key, then from its first ~64 KiB (decompressed)."""
    lowered = key.lower()
    if "/cloudtrail/" in lowered or "_cloudtrail_" in lowered:
        return LogFormat.CLOUDTRAIL
    if "elasticloadbalancing" in lowered:
        return LogFormat.ALB
    if "vpcflowlogs" in lowered:
        return LogFormat.VPC_FLOW
    if _CLOUDTRAIL_DOC_RE.match(head):
        return LogFormat.CLOUDTRAIL
    first = next((line.strip() for line in head.split(b"\n") if line.strip()), b"")
    if first.startswith(b"{"):
        return _sniff_json_line(first)
    if _ALB_LINE_RE.match(first):
        return LogFormat.ALB
    if _VPC_LINE_RE.match(first):
        return LogFormat.VPC_FLOW
    if _ISO_LINE_RE.match(first) and _EXPORT_KEY_RE.search(key):
        return LogFormat.CLOUDWATCH_EXPORT
    return LogFormat.TEXT


def _sniff_json_line(line: bytes) -> LogFormat:
    try:
        values = _decode_line(line)
    except ValueError:
        # Cut off by the head's size limit, most likely; a key test still works.
        return LogFormat.FLUENTBIT_K8S if b'"kubernetes"' in line else LogFormat.JSONL
    first = values[0] if values else None
    if isinstance(first, dict) and isinstance(first.get(_K8S), dict):
        return LogFormat.FLUENTBIT_K8S
    return LogFormat.JSONL


_KUBE_TAG_RE = re.compile(
    r"kube\.var\.log\.containers\.(?P<pod>[^_/]+)_(?P<ns>[^_/]+)_(?P<container>[^/]+?)"
    r"-[0-9a-f]{64}\.log"
)
_KUBE_STREAM_RE = re.compile(
    r"^(?P<pod>[a-z0-9][a-z0-9.-]*)_(?P<ns>[a-z0-9-]+)_(?P<container>[a-z0-9-]+)"
)
_ALB_KEY_RE = re.compile(r"_elasticloadbalancing_[a-z0-9-]+_(?:app|net)\.(?P<lb>[^.]+)\.")
_HIVE_SERVICE_RE = re.compile(r"(?:^|/)(?:service|app|application)=(?P<name>[^/]+)")
_GENERIC_SEGMENTS = {"logs", "log", "exports", "export", "exportedlogs", "cloudwatch", "aws", ""}


def service_from_key(key: str) -> str | None:
    """Best guess of the service an object's records come from, from its key alone."""
    m = _KUBE_TAG_RE.search(key)
    if m:
        return workload_name(m.group("pod"))
    m = _HIVE_SERVICE_RE.search(key)
    if m:
        return m.group("name")
    m = _ALB_KEY_RE.search(key)
    if m:
        return m.group("lb")
    m = _EXPORT_KEY_RE.search(key)
    if m:
        return _export_service(key[: m.start("task")], m.group("stream"))
    return None


def _export_service(prefix: str, stream: str) -> str | None:
    """A CloudWatch export: <prefix>/<exportTaskId>/<logStream>/000000.gz. The stream names
    the container for ECS (ecs/<container>/<task>) and EKS (<pod>_<ns>_<container>); the
    prefix is chosen by whoever exported, usually after the log group."""
    parts = stream.split("/")
    if len(parts) == 3 and parts[0] in ("ecs", "fargate"):
        return parts[1]
    kube = _KUBE_STREAM_RE.match(stream)
    if kube:
        return workload_name(kube.group("pod"))
    segments = [s for s in prefix.split("/") if s.lower() not in _GENERIC_SEGMENTS]
    if segments:
        return segments[-1]
    return stream.replace("/", "-") or None


def _export_stream(key: str) -> str | None:
    m = _EXPORT_KEY_RE.search(key)
    return m.group("stream") if m else None


_PARSERS: dict[LogFormat, ParseFn] = {
    LogFormat.JSONL: _parse_jsonl,
    LogFormat.FLUENTBIT_K8S: _parse_fluentbit,
    LogFormat.TEXT: _parse_text,
    LogFormat.ALB: _parse_alb,
    LogFormat.VPC_FLOW: _parse_vpc_flow,
    LogFormat.CLOUDTRAIL: _parse_cloudtrail,
    LogFormat.CLOUDWATCH_EXPORT: _parse_cloudwatch,
}
