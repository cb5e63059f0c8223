"""CloudWatch Logs exports: the export's timestamp, JSON or text messages."""

from __future__ import annotations

import json

from tasks.contracts import LogFormat
from tasks.gather.formats import (
    service_from_key,
)
from tests.gather.formats_support import EXPORT_KEY, parse, ts


def test_cloudwatch_export_lines_with_json_and_text_messages():
    data = (
        b'2026-01-05T10:00:02.000Z {"level":"warn","msg":"slow","latency_ms":800,"path":"/a"}\n'
        b"2026-01-05T10:00:01.000Z plain ERROR line\n"
        b"not a timestamp line\n"
        b"2026-13-45T10:00:00.000Z impossible date\n"
    )
    default = service_from_key(EXPORT_KEY)
    rows, tally = parse(LogFormat.CLOUDWATCH_EXPORT, data, key=EXPORT_KEY, default_service=default)
    assert [r["ts"] for r in rows] == [ts("2026-01-05T10:00:02Z"), ts("2026-01-05T10:00:01Z")]
    assert [r["service"] for r in rows] == ["checkout", "checkout"]
    assert [r["instance"] for r in rows] == ["ecs/checkout/9f8e7d"] * 2
    assert [r["level"] for r in rows] == ["warn", "error"]
    assert [r["message"] for r in rows] == ["slow", "plain ERROR line"]
    assert rows[0]["latency_ms"] == 800.0
    assert json.loads(rows[0]["attrs"]) == {"path": "/a"}
    assert tally.counts == {"no_timestamp": 1, "bad_timestamp": 1}
    assert {(e.reason, e.line) for e in tally.examples} == {
        ("no_timestamp", 3),
        ("bad_timestamp", 4),
    }
