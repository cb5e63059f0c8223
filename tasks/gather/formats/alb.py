"""alb: AWS Application Load Balancer access logs, one space-separated line per request."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import pyarrow as pa

from tasks.contracts import RejectTally
from tasks.gather.formats._arrow import orjson_text, split_lines
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._normalise import dash, level_from_status, request_parts
from tasks.gather.formats._rows import records_table

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
    elb_status = dash(m.group("elb_status"))
    target_status = m.group("target_status")
    status = int(elb_status) if elb_status and elb_status.isdigit() else None
    method, path = request_parts(m.group("request"))
    error = dash(m.group("error"))
    tg = dash(m.group("tg"))
    trace = _TRACE_ROOT_RE.search(m.group("trace") or "")
    phrase = _status_phrase(status)
    message = f"{method} {path} -> {elb_status or '-'}{' ' + phrase if phrase else ''} (target {target_status})"
    attrs = {
        "type": m.group("type"),
        "method": method,
        "path": path,
        "elb_status": status,
        "target_status": dash(target_status),
        "error_reason": error,
        "classification": dash(m.group("classification")),
        "client": m.group("client").rsplit(":", 1)[0],
        "target_group_arn": tg,
        "user_agent": dash(m.group("ua")),
        "domain": dash(m.group("domain")),
    }
    return {
        "ts": m.group("time"),
        "service": _alb_service(tg, m.group("elb")),
        "instance": dash(m.group("target")),
        "level": level_from_status(status),
        "message": f"{message} {error}" if error else message,
        "status": status,
        "latency_ms": _alb_latency(m),
        "trace_id": trace.group(1) if trace else None,
        "attrs": orjson_text({k: v for k, v in attrs.items() if v is not None}),
    }


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    tally = RejectTally()
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    raws: dict[int, str] = {}
    for number, raw in split_lines(data, first_line):
        line = raw.decode("utf-8", "replace")
        m = _ALB_RE.match(line)
        if m is None:
            tally.add(number, "bad_fields", line)
            continue
        raws[number] = line
        records.append(_alb_record(m))
        lines.append(number)
    return records_table(records, lines, raws.__getitem__, tally, bad_ts=True), tally
