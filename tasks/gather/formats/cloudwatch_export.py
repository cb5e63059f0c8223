"""cloudwatch-export: lines of a CloudWatch Logs export to S3, `<ISO time> <message>`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import PARSED_SCHEMA, RejectTally
from tasks.gather.formats._arrow import coalesce, fill
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._embedded import resolve_embedded
from tasks.gather.formats._normalise import ts_from_strings
from tasks.gather.formats._rows import finish_rows
from tasks.gather.formats.keys import export_stream

_EXPORT_TS_RE = r"^\d{4}-\d{2}-\d{2}"


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
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
    inner = resolve_embedded(messages, None)
    col = inner.columns
    service = col["service"]
    if ctx.default_service:
        service = fill(service, ctx.default_service, n)
    stream = export_stream(ctx.key)
    cols = {
        **col,
        "ts": ts_from_strings(stamps),
        "service": service,
        "instance": fill(col["instance"], stream, n) if stream else col["instance"],
        "level": coalesce(col["level"], inner.level_text),
        "attrs": inner.attrs,
    }
    present = pc.match_substring_regex(stamps, _EXPORT_TS_RE)
    return finish_rows(n, cols, present, lines, raw, tally)
