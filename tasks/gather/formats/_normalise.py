"""Vectorised normalisers shared by every format: timestamps, levels, HTTP status,
durations, names and messages. Each takes an Arrow array of whatever type the input had
and returns the canonical column, null where the value is unusable.

Timestamps written without a zone are taken as UTC. Logs rarely say which zone they meant,
the canonical frame is UTC, and guessing a local zone would shift events silently.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.gather.formats._arrow import slot_lengths

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


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


MONTH_NUM = {m: i + 1 for i, m in enumerate(MONTHS)}


# Epoch numbers before 1973-03 are more likely durations or counters than timestamps.
_MIN_EPOCH_S = 1e8


_MAX_EPOCH_S = 7.3e9  # year ~2200


def ts_from_epoch(values: pa.Array) -> pa.Array:
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
    month = pc.add(pc.index_in(parts.field("m"), pa.array(MONTHS)), 1)
    month = pc.utf8_lpad(pc.cast(month, pa.string()), 2, "0")
    day = pc.utf8_lpad(parts.field("d"), 2, "0")
    zone = parts.field("z")
    zone = pc.if_else(pc.equal(zone, ""), "+0000", zone)
    canonical = pc.binary_join_element_wise(
        parts.field("y"), "-", month, "-", day, "T", parts.field("t"), zone, ""
    )
    return _cast_ts_lenient(canonical)


def ts_from_strings(values: pa.Array) -> pa.Array:
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
    return ts_from_epoch(pc.cast(pc.utf8_trim_whitespace(as_num), pa.float64()))


def ts_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ts_from_strings(values)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return ts_from_epoch(values)
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


def level_from_words(values: pa.Array) -> pa.Array:
    idx = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=_LEVEL_KEYS)
    return pc.take(_LEVEL_VALUES, idx)


def level_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return level_from_words(values)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        idx = pc.index_in(pc.cast(values, pa.float64()), value_set=_NUM_LEVEL_KEYS)
        return pc.take(_NUM_LEVEL_VALUES, idx)
    return pa.nulls(len(values), pa.string())


# A level word near the start of free text: upper-case bare words (INFO, ERROR...), any case
# in brackets ([error], <warn>), or logfmt's level=... Lower-case bare words are left alone
# because "error" in a sentence is not a log level.
LEVEL_UPPER = (
    "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRIT|CRITICAL|FATAL|PANIC|ALERT|EMERG"
)


_TEXT_LEVEL_RE = (
    r"(?:^|[^A-Za-z0-9_])(?P<a>" + LEVEL_UPPER + r")(?:[^A-Za-z0-9_]|$)"
    r"|[\[<](?P<b>(?i:" + LEVEL_UPPER + r"))[\]>]"
    r"|(?i:level|lvl|severity)[=:]\s*\"?(?P<c>[A-Za-z]+)"
)


_TEXT_LEVEL_SCAN_CHARS = 120


def level_from_text(values: pa.Array) -> pa.Array:
    head = pc.utf8_slice_codeunits(values, 0, _TEXT_LEVEL_SCAN_CHARS)
    parts = pc.extract_regex(head, _TEXT_LEVEL_RE)
    word = pc.binary_join_element_wise(parts.field("a"), parts.field("b"), parts.field("c"), "")
    return level_from_words(word)


_STATUS_RE = r"^\s*[1-5]\d\d\s*$"


def status_from_any(values: pa.Array) -> pa.Array:
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


def latency_from_any(values: pa.Array, default_ms: float) -> pa.Array:
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


def text_from_any(values: pa.Array) -> pa.Array:
    """Non-empty trimmed strings (names, IDs); integers become strings (numeric trace IDs)."""
    t = values.type
    if pa.types.is_integer(t):
        return pc.cast(values, pa.string())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pa.nulls(len(values), pa.string())
    text = pc.utf8_trim_whitespace(values)
    lengths = slot_lengths(text)
    if lengths is not None and (lengths > 0).all():
        # No slot is empty, so no value is "": skip the compare and select (2 of the 3 calls
        # per column; 9 Kubernetes and role columns per Fluent Bit block, ~0.2 ms).
        return text
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def message_from_any(values: pa.Array) -> pa.Array:
    t = values.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pa.nulls(len(values), pa.string())
    # Container runtimes keep the line's trailing newline; it only gets in the way.
    return pc.utf8_rtrim_whitespace(values)


def level_from_status(status: int | None) -> str | None:
    if status is None:
        return None
    return "error" if status >= 500 else "warn" if status >= 400 else "info"


def request_parts(request: str) -> tuple[str, str]:
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


def dash(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value
