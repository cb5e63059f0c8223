"""The registry: every format parses through `parse_block` into the same schema."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tasks.contracts import PARSED_SCHEMA, LogFormat
from tasks.gather.formats import (
    needs_whole_object,
    parse_block,
)
from tests.gather.formats_support import AWS, ctx, jline, k8s_record, parse


def test_only_cloudtrail_needs_the_whole_object():
    assert needs_whole_object(LogFormat.CLOUDTRAIL)
    assert not any(needs_whole_object(f) for f in LogFormat if f != LogFormat.CLOUDTRAIL)


def test_blank_input_gives_an_empty_table_for_every_format():
    for fmt in LogFormat:
        if fmt == LogFormat.AUTO or fmt == LogFormat.CLOUDTRAIL:
            continue
        rows, tally = parse(fmt, b"\n\n  \r\n")
        assert rows == [] and tally.total == 0


def test_auto_must_be_resolved_first():
    with pytest.raises(ValueError, match="sniff_format"):
        parse_block(LogFormat.AUTO, b"", 1, ctx())


def test_every_format_returns_the_parsed_schema_with_utc_timestamps():
    samples = {
        LogFormat.JSONL: jline(time="2026-01-05T10:00:00Z", msg="x"),
        LogFormat.FLUENTBIT_K8S: k8s_record("web-0", "x"),
        LogFormat.TEXT: b"2026-01-05 10:00:00 INFO x",
        LogFormat.ALB: (AWS / "alb-access-log-examples.log").read_bytes(),
        LogFormat.CLOUDTRAIL: (AWS / "cloudtrail-examples.json").read_bytes(),
        LogFormat.CLOUDWATCH_EXPORT: b"2026-01-05T10:00:00.000Z x",
        LogFormat.VPC_FLOW: (AWS / "vpc-flow-log-examples.log").read_bytes(),
    }
    # A new format must bring a sample here.
    assert set(samples) == set(LogFormat) - {LogFormat.AUTO}
    for fmt, data in samples.items():
        table, _ = parse_block(fmt, data + b"\n", 1, ctx())
        assert table.schema == PARSED_SCHEMA, fmt
        assert table.num_rows > 0, fmt
        assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        levels = set(table.column("level").to_pylist()) - {None}
        assert levels <= {"debug", "info", "warn", "error", "fatal"}, fmt
