"""text: free-text lines that start with a timestamp (ISO, syslog, Apache, access logs,
HDFS, Spark, epoch, or a file name then ISO), or with one of the headers of the Loghub systems
(Android logcat, Windows CBS, BGL and Thunderbird, HPC, Proxifier, HealthApp); stack-trace lines
join the record above.

Where a header names a component (syslog's program, logcat's tag, BGL's component...), it is
the line's service; otherwise the service comes from the object's key. A log4j thread in
brackets is layout, not message: it goes to attrs, so that one event logged by many threads is
one pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import PARSED_SCHEMA, RejectTally
from tasks.gather.formats._arrow import orjson_text
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._normalise import (
    LEVEL_UPPER,
    MONTH_NUM,
    MONTHS,
    level_from_status,
    level_from_text,
    level_from_words,
    request_parts,
    ts_from_epoch,
    ts_from_strings,
)
from tasks.gather.formats._rows import finish_rows

_LEVEL_ANYCASE = f"(?i:{LEVEL_UPPER})"


# A level right after the timestamp, maybe after a thread/pid number: "INFO", "[error]",
# "- WARN ", "148 INFO". Bare words must be upper case (see _normalise.level_from_text).
_TEXT_HEAD_RE = re.compile(
    r"^[\s\-|:]*(?:\d+\s+)?"
    rf"(?:\[(?P<b>{_LEVEL_ANYCASE})\]|<(?P<a>{_LEVEL_ANYCASE})>|(?P<c>{LEVEL_UPPER}))"
    r"(?=[\s:|\-\]]|$)[\s\-|:]*"
)


_ISO_TEXT = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:\s?(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
)


_SYSLOG_MONTH = "|".join(MONTHS)


_TEXT_FORMS = {
    "iso": re.compile(rf"^\[?(?P<ts>{_ISO_TEXT})\]?(?:\s+|$)(?P<rest>.*)$"),
    # macOS adds the sender's address after the pid: "sandboxd[129] ([31211]): text".
    "syslog": re.compile(
        rf"^(?P<mon>{_SYSLOG_MONTH}) +(?P<day>\d{{1,2}}) (?P<time>\d{{2}}:\d{{2}}:\d{{2}})"
        r"(?P<frac>\.\d+)? (?P<host>\S+) "
        r"(?:(?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?(?: \([^)\s]*\))?: ?)?(?P<rest>.*)$"
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
    # Android logcat (threadtime): "03-17 16:13:38.811  1702  2395 D WindowManager: text".
    "logcat": re.compile(
        r"^(?P<mon>\d{2})-(?P<day>\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,6})?"
        r"\s+(?P<pid>\d+)\s+(?P<tid>\d+)\s+(?P<level>[VDIWEFA]) (?P<tag>.*?)\s*: ?(?P<rest>.*)$"
    ),
    # Windows CBS: "2016-09-28 04:30:30, Info                  CBS    text".
    "cbs": re.compile(
        r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}), (?P<level>[A-Za-z]+)\s+"
        r"(?P<component>\S+)(?:\s+(?P<rest>.*))?$"
    ),
    # The CFDR supercomputer logs (BGL, Thunderbird, Liberty, Spirit): an alert tag ("-" for
    # none), epoch seconds, a date and the node, then the system's own line.
    "cfdr": re.compile(
        r"^(?P<alert>-|[A-Z][A-Z0-9_]*) (?P<e>\d{10}) \d{4}\.\d{2}\.\d{2} (?P<node>\S+)"
        r"(?: (?P<rest>.*))?$"
    ),
    # HPC: "134681 node-246 unix.hw state_change.unavailable 1077804742 1 text".
    "hpc": re.compile(
        r"^(?P<id>\d+) (?P<node>\S+) (?P<component>\S+) (?P<state>\S+) (?P<e>\d{10}) "
        r"(?P<flag>\d+)(?: (?P<rest>.*))?$"
    ),
    # Proxifier: "[10.30 16:49:06] chrome.exe - text" (no year).
    "proxifier": re.compile(
        r"^\[(?P<mon>\d{2})\.(?P<day>\d{2}) (?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?\] "
        r"(?P<program>.+?) - (?P<rest>.*)$"
    ),
    # HealthApp: "20171223-22:15:29:606|Step_LSC|30002312|text".
    "healthapp": re.compile(
        r"^(?P<d>\d{8})-(?P<h>\d{1,2}):(?P<mi>\d{1,2}):(?P<s>\d{1,2}):(?P<ms>\d{1,3})"
        r"\|(?P<component>[^|]*)\|(?P<pid>\d+)\|(?P<rest>.*)$"
    ),
}

# BGL's own part of a CFDR line: local time with microseconds, the node again, the record
# type, component and level.
_BGL_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.(?P<us>\d{6}) \S+ (?P<type>[A-Z]+) "
    r"(?P<component>[A-Z_]+) (?P<level>[A-Z]+)(?: (?P<rest>.*))?$"
)

_LOGCAT_LEVELS = {
    "V": "verbose",
    "D": "debug",
    "I": "info",
    "W": "warn",
    "E": "error",
    "F": "fatal",
    "A": "fatal",
}

# BGL's levels beyond the usual words.
_BGL_LEVELS = {"FAILURE": "fatal"}

# A log4j thread in brackets before a dotted logger name or a dash, right after the level:
# "[main] org.apache.Foo: text", "[QuorumPeer[myid=1]/...@774] - text".
_THREAD = r"\[(?P<thread>(?:[^\[\]]|\[[^\[\]]*\])+)\]"
_LOGGER = r"[A-Za-z_$][\w$]*(?:\.[\w$]+)+"
_THREAD_LAYOUT_RE = re.compile(rf"^{_THREAD}(?:\s+-\s+|\s+(?={_LOGGER}:\s))(?=\S)")

# What a message has before its content: a dotted logger name and a colon ("dfs.DataNode:
# text"), or a logger and an OpenStack request context ("nova.api [req-... - - -] text"). An
# exception's class name before its text is content.
_CONTENT_RE = re.compile(
    rf"^(?![\w$.]*(?:Exception|Error):){_LOGGER}"
    r"(?::\s+|\s+\[(?:None )?req-[^\]]*\]\s+|\s+\[-\]\s+)(?=\S)"
)


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


def _split_thread(message: str) -> tuple[str, dict | None]:
    """The message without a leading log4j thread, and the thread as attrs."""
    m = _THREAD_LAYOUT_RE.match(message)
    if not m:
        return message, None
    return message[m.end() :], {"thread": m.group("thread")}


def _level_and_message(rest: str) -> tuple[str | None, str, dict | None]:
    level, message = _split_level(rest)
    message, attrs = _split_thread(message)
    return level, message, attrs


def message_content(message: str) -> str:
    """What Loghub calls a line's content: the message without its logger name and request
    context. The frame keeps them in the message, where they tell two API servers apart."""
    m = _CONTENT_RE.match(message)
    return message[m.end() :] if m else message


def _yearless_ts(month: int, day: int, time: str, frac: str | None, ref: datetime) -> str | None:
    """A time without a year (syslog, logcat): take the reference time's, or the year before
    if that puts the line more than a day after the reference (a December line read in
    January)."""
    h, mi, s = (int(x) for x in time.split(":"))
    for year in (ref.year, ref.year - 1):
        try:
            ts = datetime(year, month, day, h, mi, s, tzinfo=UTC)
        except ValueError:  # Feb 29 outside a leap year, or no such month or day
            continue
        if ts <= ref + timedelta(days=1):
            return ts.isoformat().replace("+00:00", (frac or "") + "Z")
    return None


def _syslog_ts(m: re.Match, ref: datetime) -> str | None:
    month = MONTH_NUM[m.group("mon")]
    return _yearless_ts(month, int(m.group("day")), m.group("time"), m.group("frac"), ref)


def _numeric_yearless_ts(m: re.Match, ctx: ParseContext) -> str | None:
    ref = ctx.reference_time.astimezone(UTC)
    day, time, frac = int(m.group("day")), m.group("time"), m.group("frac")
    return _yearless_ts(int(m.group("mon")), day, time, frac, ref)


def _text_prefixed(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message, layout = _level_and_message(m.group("rest"))
    prefix = m.group("prefix")
    stem = _LOG_FILE_RE.match(prefix)
    return _TextRecord(
        m.group("ts"),
        message,
        level,
        service=stem.group(1) if stem else None,
        attrs={"prefix": prefix, **(layout or {})},
    )


def _text_syslog(m: re.Match, ctx: ParseContext) -> _TextRecord:
    # No year fits (Feb 29 with no leap year in reach): kept as a record with a bad time.
    ts = _syslog_ts(m, ctx.reference_time.astimezone(UTC))
    level, message = _split_level(m.group("rest"))
    attrs = {"pid": int(m.group("pid"))} if m.group("pid") else None
    return _TextRecord(ts, message, level, m.group("prog"), m.group("host"), attrs=attrs)


def _text_apache_error(m: re.Match, ctx: ParseContext) -> _TextRecord:
    month = MONTH_NUM.get(m.group("mon"), 0)
    day = int(m.group("day"))
    ts = f"{m.group('year')}-{month:02d}-{day:02d}T{m.group('time')}{m.group('frac') or ''}"
    attrs = {"module": m.group("module")} if m.group("module") else None
    return _TextRecord(ts, m.group("rest").rstrip(), m.group("level"), attrs=attrs)


def _text_access(m: re.Match, ctx: ParseContext) -> _TextRecord:
    method, path = request_parts(m.group("req"))
    status = int(m.group("status")) if m.group("status") != "-" else None
    attrs = {"client": m.group("client"), "method": method, "path": path}
    if m.group("ua") and m.group("ua") != "-":
        attrs["user_agent"] = m.group("ua")
    message = f"{method} {path} -> {m.group('status')}"
    return _TextRecord(
        m.group("ts"), message, level_from_status(status), status=status, attrs=attrs
    )


def _time_then_text(ts: Callable[[re.Match], str | float]) -> Callable:
    """A handler for forms that are a time, then maybe a level, then the message."""

    def handler(m: re.Match, ctx: ParseContext) -> _TextRecord:
        level, message, attrs = _level_and_message(m.group("rest"))
        return _TextRecord(ts(m), message, level, attrs=attrs)

    return handler


def _text_logcat(m: re.Match, ctx: ParseContext) -> _TextRecord:
    attrs = {"pid": int(m.group("pid")), "tid": int(m.group("tid"))}
    level = _LOGCAT_LEVELS[m.group("level")]
    tag = m.group("tag") or None
    return _TextRecord(
        _numeric_yearless_ts(m, ctx), m.group("rest").rstrip(), level, tag, attrs=attrs
    )


def _text_cbs(m: re.Match, ctx: ParseContext) -> _TextRecord:
    message = (m.group("rest") or "").rstrip()
    return _TextRecord(m.group("ts"), message, m.group("level"), m.group("component"))


def _text_cfdr(m: re.Match, ctx: ParseContext) -> _TextRecord:
    rest = m.group("rest") or ""
    attrs: dict = {"alert": m.group("alert")} if m.group("alert") != "-" else {}
    epoch = float(m.group("e"))
    bgl = _BGL_RE.match(rest)
    if bgl:
        # The epoch is exact (UTC); BGL's local time adds the microseconds.
        level = bgl.group("level")
        return _TextRecord(
            epoch + int(bgl.group("us")) / 1e6,
            (bgl.group("rest") or "").rstrip(),
            _BGL_LEVELS.get(level, level),
            bgl.group("component"),
            m.group("node"),
            attrs=attrs | {"type": bgl.group("type")},
        )
    # Thunderbird's (and Liberty's, Spirit's) own part is a syslog line whose host is the
    # location; the epoch dates it, not the syslog time.
    inner = _TEXT_FORMS["syslog"].match(rest)
    if inner:
        if inner.group("pid"):
            attrs["pid"] = int(inner.group("pid"))
        attrs["location"] = inner.group("host")
        level, message = _split_level(inner.group("rest"))
        return _TextRecord(epoch, message, level, inner.group("prog"), m.group("node"), attrs=attrs)
    level, message = _split_level(rest)
    return _TextRecord(epoch, message, level, instance=m.group("node"), attrs=attrs or None)


def _text_hpc(m: re.Match, ctx: ParseContext) -> _TextRecord:
    attrs = {"log_id": int(m.group("id")), "state": m.group("state"), "flag": int(m.group("flag"))}
    return _TextRecord(
        float(m.group("e")),
        (m.group("rest") or "").rstrip(),
        service=m.group("component"),
        instance=m.group("node"),
        attrs=attrs,
    )


def _text_proxifier(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    return _TextRecord(_numeric_yearless_ts(m, ctx), message, level, m.group("program"))


def _healthapp_ts(m: re.Match) -> str:
    d = m.group("d")
    clock = ":".join(m.group(k).zfill(2) for k in ("h", "mi", "s"))
    return f"{d[:4]}-{d[4:6]}-{d[6:]}T{clock}.{m.group('ms').zfill(3)}"


def _text_healthapp(m: re.Match, ctx: ParseContext) -> _TextRecord:
    level, message = _split_level(m.group("rest"))
    attrs = {"pid": int(m.group("pid"))}
    return _TextRecord(_healthapp_ts(m), message, level, m.group("component") or None, attrs=attrs)


def _hdfs_ts(m: re.Match) -> str:
    d, t = m.group("d"), m.group("t")
    return f"20{d[:2]}-{d[2:4]}-{d[4:]}T{t[:2]}:{t[2:4]}:{t[4:]}"


_TEXT_HANDLERS: dict[str, Callable[[re.Match, ParseContext], _TextRecord]] = {
    "iso": _time_then_text(lambda m: m.group("ts")),
    "syslog": _text_syslog,
    "apache_error": _text_apache_error,
    "access": _text_access,
    "hdfs": _time_then_text(_hdfs_ts),
    "spark": _time_then_text(lambda m: f"20{m['y']}-{m['m']}-{m['d']}T{m['t']}"),
    "epoch": _time_then_text(lambda m: float(m.group("e"))),
    "prefixed": _text_prefixed,
    "logcat": _text_logcat,
    "cbs": _text_cbs,
    "cfdr": _text_cfdr,
    "hpc": _text_hpc,
    "proxifier": _text_proxifier,
    "healthapp": _text_healthapp,
}


def _match_text(line: str, order: list[str], ctx: ParseContext) -> _TextRecord | None:
    for i, name in enumerate(order):
        m = _TEXT_FORMS[name].match(line)
        if m:
            if i:  # a block is usually one form: try it first next time
                order.insert(0, order.pop(i))
            return _TEXT_HANDLERS[name](m, ctx)
    return None


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
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
    ts = pc.coalesce(ts_from_strings(ts_str), ts_from_epoch(ts_num))
    message = pa.array([r.message for r in rows], pa.string())
    scanned = pc.if_else(
        pa.array([r.continuation for r in rows], pa.bool_()),
        pa.scalar(None, pa.string()),
        level_from_text(message),
    )
    level = pc.coalesce(level_from_words(pa.array([r.level for r in rows], pa.string())), scanned)
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
        "attrs": [orjson_text(r.attrs) if r.attrs else None for r in rows],
    }

    def raw(line: int) -> str:
        return split[line - first_line]

    return finish_rows(n, cols, None, lines, raw, tally)
