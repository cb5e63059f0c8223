"""vpc-flow: VPC flow logs, version 2 or the custom fields named by a header line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tasks.contracts import RejectTally
from tasks.gather.formats._arrow import orjson_text, split_lines
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._normalise import dash
from tasks.gather.formats._rows import records_table

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
        "instance": dash(values.get("interface-id") or values.get("instance-id")),
        # A rejected flow or lost records deserve a look; accepted traffic is routine.
        "level": "warn" if action == "REJECT" or status == "SKIPDATA" else "info",
        "message": message,
        "attrs": orjson_text({k: v for k, v in values.items() if v != "-"}),
    }


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    fields = _VPC_DEFAULT_FIELDS
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    raws: dict[int, str] = {}
    for number, raw in split_lines(data, first_line):
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
    return records_table(records, lines, raws.__getitem__, tally, bad_ts=True), tally
