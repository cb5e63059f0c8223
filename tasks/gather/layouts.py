"""Time from object keys, and pruning objects that cannot hold records inside the windows.

Log shippers put a time in the key. The layouts recognised here:

| layout | example key | interval |
|---|---|---|
| Fluent Bit `%Y/%m/%d/%H/%M/%S` | `fluent-bit-logs/app/2026/01/24/13/05/12-a1b2` | that second |
| Firehose `YYYY/MM/dd/HH/` + name | `fh/2026/01/24/13/stream-1-2026-01-24-13-05-12-uuid` | that second |
| AWS file-name stamps | `..._elasticloadbalancing_..._20260124T1305Z_...log.gz` | that minute |
| CloudTrail / ALB folders | `AWSLogs/123/CloudTrail/us-east-1/2026/01/24/` | that day |
| Vector `date=%F` | `vector/date=2026-01-24/1769259912-uuid.log.gz` | that day |
| Hive | `year=2026/month=01/day=24/hour=13/part-0.gz` | that hour |
| CloudWatch Logs export | `exports/<exportTaskId>/<logStream>/000000.gz` | none: kept |

When several appear in one key the finest wins (a CloudTrail file's `_20260124T1305Z_` stamp
beats its day folder). A key with no recognisable time is always kept, and so is a CloudWatch
export, even when its log stream is named by date (Lambda's `2026/01/24/[$LATEST]...`): a
stream runs for hours and crosses midnight, so its name says when it started, not what it holds.

The margin. A key's time is not the time of the records inside:

- Fluent Bit names an upload by its chunk's *first* record, so the records run from the key
  time to `upload_timeout` (10 min by default) after it.
- ALB names a file by the *end* of its 5-minute interval, CloudTrail and VPC Flow Logs by
  delivery, Firehose by when its buffer (up to 15 min) was flushed: records come *before*.

The layout cannot tell which convention a writer followed, so the windows are widened on
both sides: an object is kept when its key interval `[t, t + granularity)` overlaps some window
`[start - margin, end + margin)`, with `margin = settings.late_delivery_margin_minutes` (15 by
default: Firehose's longest buffer and CloudTrail's usual delivery delay). An asymmetric margin
(small before the window, wide after) would suit flush-time names but lose the tail of the
incident from Fluent Bit's first-record names. The cost of the symmetric margin is only some
extra bytes read: rows are filtered to the exact windows after parsing, so the margin never
adds rows to the frame. CloudTrail can occasionally deliver later than 15 minutes; raise the
margin for audit-heavy incidents.

Prefix narrowing: `prefix_interval` gives the time span of a folder (`.../2026/01/24/`,
`date=2026-01-24/`, `year=2026/month=01/`), so that storage walks only the day folders that
can match instead of listing a whole bucket.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tasks.contracts import TimeWindow

_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Interval:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


# AWS service file names: 123456789012_CloudTrail_us-east-1_20260124T1305Z_abc.json.gz
_AWS_STAMP = re.compile(r"(?<![0-9A-Za-z])(\d{8})T(\d{4})(\d{2})?Z(?![0-9A-Za-z])")
# Firehose object names: <stream>-<version>-2026-01-24-13-05-12-<uuid>
_FIREHOSE_STAMP = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})(?!\d)")
# Vector's `date=%F` and the common `dt=` partition, optionally with an hour.
_DATE_PARTITION = re.compile(
    r"(?:^|/)(?:date|dt)=(\d{4})-(\d{2})-(\d{2})(?:[T -](\d{2})|/hour=(\d{1,2})(?=/|$))?(?=/|$|[T -])"
)
_HIVE = re.compile(
    r"(?:^|/)year=(\d{4})(?:/month=(\d{1,2})(?:/day=(\d{1,2})(?:/hour=(\d{1,2})"
    r"(?:/minute=(\d{1,2}))?)?)?)?(?=/|$)"
)
_HIVE_AT_END = re.compile(_HIVE.pattern + r"\Z")
_DATE_PARTITION_AT_END = re.compile(
    r"(?:^|/)(?:date|dt)=(\d{4})-(\d{2})-(\d{2})(?:[T -](\d{2})|/hour=(\d{1,2}))?\Z"
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_CW_EXPORT_OBJECT = re.compile(r"^\d{6}(\.gz)?$")
_TWO_DIGITS = re.compile(r"^\d{2}$")
_TWO_DIGITS_THEN_NAME = re.compile(r"^(\d{2})(?:[^0-9]|$)")


def _interval(parts: list[int]) -> Interval | None:
    """[start, start + unit) for (year, month, day, hour, minute, second), most significant first."""
    year = parts[0]
    if not 1990 <= year <= 2100:
        return None
    month = parts[1] if len(parts) > 1 else 1
    day = parts[2] if len(parts) > 2 else 1
    try:
        start = datetime(year, month, day, *parts[3:6], tzinfo=UTC)
    except ValueError:
        return None
    if len(parts) == 1:
        end = start.replace(year=year + 1)
    elif len(parts) == 2:
        end = start + timedelta(days=calendar.monthrange(year, month)[1])
    else:
        end = start + (_DAY, _HOUR, _MINUTE, _SECOND)[min(len(parts), 6) - 3]
    return Interval(start, end)


def is_cloudwatch_export(key: str) -> bool:
    """`<prefix>/<exportTaskId>/<logStream>/000000.gz`: the task folder is a UUID."""
    segments = key.split("/")
    if not _CW_EXPORT_OBJECT.match(segments[-1]):
        return False
    return any(_UUID.match(s) for s in segments[:-2])


def _segment_run(segments: list[str], last_is_name: bool) -> list[Interval]:
    """Y/M/D[/H[/M[/S]]] runs of folders (Fluent Bit, Firehose, CloudTrail, ALB)."""
    found = []
    for i, seg in enumerate(segments):
        if not (len(seg) == 4 and seg.isdigit()):
            continue
        parts = [int(seg)]
        for j in range(i + 1, min(i + 6, len(segments))):
            is_name = last_is_name and j == len(segments) - 1
            m = (_TWO_DIGITS_THEN_NAME if is_name else _TWO_DIGITS).match(segments[j])
            if not m:
                break
            parts.append(int(m.group(1) if is_name else segments[j]))
        if len(parts) < 3:
            continue  # a lone `2026/` or `2026/01/` in a key is too likely to be an ID
        # A Lambda log stream (`2026/01/24/[$LATEST]abc`) is named by when it started.
        following = segments[i + len(parts)] if i + len(parts) < len(segments) else ""
        if following.startswith("["):
            continue
        interval = _interval(parts)
        if interval:
            found.append(interval)
    return found


def _candidates(path: str, *, last_is_name: bool) -> list[Interval]:
    found: list[Interval] = []
    name = path.rsplit("/", 1)[-1] if last_is_name else ""
    for m in _AWS_STAMP.finditer(name):
        d, hm, s = m.group(1), m.group(2), m.group(3)
        parts = [int(d[:4]), int(d[4:6]), int(d[6:]), int(hm[:2]), int(hm[2:])]
        if s:
            parts.append(int(s))
        if interval := _interval(parts):
            found.append(interval)
    for m in _FIREHOSE_STAMP.finditer(name):
        if interval := _interval([int(g) for g in m.groups()]):
            found.append(interval)
    for m in _DATE_PARTITION.finditer(path):
        parts = [int(g) for g in m.groups()[:3]]
        hour = m.group(4) or m.group(5)
        if hour:
            parts.append(int(hour))
        if interval := _interval(parts):
            found.append(interval)
    for m in _HIVE.finditer(path):
        parts = [int(g) for g in m.groups() if g is not None]
        if interval := _interval(parts):
            found.append(interval)
    found.extend(_segment_run(path.split("/"), last_is_name))
    return found


def key_interval(key: str) -> Interval | None:
    """The time span an object's key claims, or None when the key carries no usable time."""
    if is_cloudwatch_export(key):
        return None
    found = _candidates(key, last_is_name=True)
    return min(found, key=lambda i: i.span) if found else None


def prefix_interval(prefix: str) -> Interval | None:
    """The time span of a folder such as `.../2026/01/24/` or `year=2026/month=01/`.

    Only time parts that end the prefix count: once a walk has gone past the date
    (`2026/01/24/app/`), the date was already judged on the way down.
    """
    path = prefix.rstrip("/")
    segments = path.split("/")
    if any(_UUID.match(s) for s in segments):
        return None  # a CloudWatch export: its stream folders may be dates (see key_interval)
    # Y/M/D[/H...] folders at the end, judged exactly as key_interval judges a key's folders,
    # so that a folder is never skipped when a key inside it would have been kept.
    n = 0
    while n < min(5, len(segments) - 1) and _TWO_DIGITS.match(segments[-1 - n]):
        n += 1
    year = segments[-1 - n] if n else ""
    if n >= 2 and len(year) == 4 and year.isdigit():
        return _interval([int(year)] + [int(s) for s in segments[len(segments) - n :]])
    for pattern in (_HIVE_AT_END, _DATE_PARTITION_AT_END):
        m = pattern.search(path)
        if m:
            return _interval([int(g) for g in m.groups() if g is not None])
    return None


def widen(windows: Iterable[TimeWindow], margin: timedelta) -> list[Interval]:
    """The windows as key-pruning sees them: each widened by the margin on both sides."""
    return [Interval(w.start - margin, w.end + margin) for w in windows]


def may_hold_window_data(interval: Interval | None, wide_windows: list[Interval]) -> bool:
    """False only when the key's time proves that no record can fall inside any window."""
    if interval is None:
        return True
    return any(interval.overlaps(w) for w in wide_windows)
