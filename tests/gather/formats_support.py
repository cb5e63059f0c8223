"""Shared inputs for the format parser tests: every test goes through `parse_block`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from tasks.contracts import PARSED_SCHEMA, LogFormat
from tasks.gather.formats import (
    ParseContext,
    parse_block,
)

DATA = Path(__file__).parent.parent / "data"


AWS = DATA / "aws-formats"


LOGHUB = DATA / "loghub-2k"


REF = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def ctx(key: str = "obj.log", default_service: str | None = None, ref: datetime = REF):
    return ParseContext(source="src", key=key, default_service=default_service, reference_time=ref)


def parse(fmt: LogFormat, data: bytes, first_line: int = 1, **kw):
    table, tally = parse_block(fmt, data, first_line, ctx(**kw))
    assert table.schema == PARSED_SCHEMA
    return table.to_pylist(), tally


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def jline(**record) -> bytes:
    return orjson.dumps(record)


def k8s_record(pod: str, log: str, labels: dict | None = None, **extra) -> bytes:
    record = {
        "time": "2026-01-05T10:00:00.123456789Z",
        "stream": "stdout",
        "_p": "F",
        "log": log,
        "kubernetes": {
            "pod_name": pod,
            "namespace_name": "prod",
            "container_name": pod.split("-")[0],
            "container_image": "registry/app:1.4.2",
            "host": "ip-10-0-1-8.ec2.internal",
            "labels": labels or {},
        },
        **extra,
    }
    return orjson.dumps(record)


EXPORT_KEY = "exports/prod-app/0123abcd-1111-2222-3333-444455556666/ecs/checkout/9f8e7d/000000.gz"
