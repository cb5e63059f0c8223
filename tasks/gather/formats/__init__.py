"""Log format parsers: the bytes of one object -> rows of the canonical frame (PARSED_SCHEMA).

One module per format, each with a `parse(data, first_line, ctx)` of the same signature, and
`FORMATS`, the registry below, naming them. A parser receives a block of complete lines (or,
for CloudTrail, the whole decompressed object) and returns one row per record plus a tally of
the lines it refused. The rules every format follows:

- Every non-blank line becomes a row or a counted rejection; blank lines are neither (the
  upstream chunker replaces an over-long line with an empty one and counts it itself).
- Timestamps written without a zone are taken as UTC (see `_normalise`).
- A record without a usable timestamp is rejected: the analysis is all about *when*.
"""

from __future__ import annotations

import pyarrow as pa

from tasks.contracts import LogFormat, RejectTally
from tasks.gather.formats import (
    alb,
    cloudtrail,
    cloudwatch_export,
    fluentbit_k8s,
    jsonl,
    text,
    vpc_flow,
)
from tasks.gather.formats._context import TRUNCATED, ParseContext, Parser
from tasks.gather.formats.fluentbit_k8s import workload_name
from tasks.gather.formats.keys import service_from_key
from tasks.gather.formats.sniff import sniff_format

#: Every concrete format and its parser. `auto` is not here: `sniff_format` resolves it first.
FORMATS: dict[LogFormat, Parser] = {
    LogFormat.JSONL: jsonl.parse,
    LogFormat.FLUENTBIT_K8S: fluentbit_k8s.parse,
    LogFormat.TEXT: text.parse,
    LogFormat.ALB: alb.parse,
    LogFormat.VPC_FLOW: vpc_flow.parse,
    LogFormat.CLOUDTRAIL: cloudtrail.parse,
    LogFormat.CLOUDWATCH_EXPORT: cloudwatch_export.parse,
}

#: Formats that cannot be cut into line blocks: one JSON document per object.
WHOLE_OBJECT_FORMATS = frozenset({LogFormat.CLOUDTRAIL})


def needs_whole_object(fmt: LogFormat) -> bool:
    """True when the format cannot be cut into line blocks (CloudTrail is one JSON document)."""
    return fmt in WHOLE_OBJECT_FORMATS


def parse_block(
    fmt: LogFormat, data: bytes, first_line: int, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    """Parse a block of complete lines numbered from `first_line` (1-based) into PARSED_SCHEMA."""
    parser = FORMATS.get(LogFormat(fmt))
    if parser is None:
        raise ValueError(f"cannot parse format {fmt!r}; resolve 'auto' with sniff_format first")
    return parser(bytes(data), first_line, ctx)


__all__ = [
    "FORMATS",
    "TRUNCATED",
    "WHOLE_OBJECT_FORMATS",
    "ParseContext",
    "Parser",
    "needs_whole_object",
    "parse_block",
    "service_from_key",
    "sniff_format",
    "workload_name",
]
