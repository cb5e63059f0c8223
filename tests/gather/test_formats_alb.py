"""ALB access logs: documented examples, fields AWS added later, statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tasks.contracts import LogFormat
from tasks.gather.formats import (
    ParseContext,
    parse_block,
)
from tests.gather.formats_support import AWS, parse, ts


def test_alb_documentation_examples_parse_with_their_fields():
    rows, tally = parse(LogFormat.ALB, (AWS / "alb-access-log-examples.log").read_bytes())
    assert tally.total == 0
    assert len(rows) == 7
    first = rows[0]
    assert first["ts"] == ts("2018-07-02T22:23:00.186641Z")
    assert first["service"] == "my-targets"  # target group name, not the load balancer
    assert first["instance"] == "10.0.0.1:80"
    assert first["status"] == 200
    assert first["latency_ms"] == pytest.approx(1.0)
    assert first["trace_id"] == "1-58337262-36d228ad5d99923122bbe354"
    assert first["level"] == "info"
    assert first["message"] == "GET / -> 200 OK (target 200)"
    attrs = json.loads(first["attrs"])
    assert attrs["method"] == "GET"
    assert attrs["path"] == "/"
    assert attrs["client"] == "192.168.131.39"
    assert attrs["user_agent"] == "curl/7.46.0"
    assert attrs["target_group_arn"].endswith("targetgroup/my-targets/73e2d6bc24d8a067")
    assert rows[1]["latency_ms"] == pytest.approx(171.0)  # 0.086 + 0.048 + 0.037 s
    assert rows[3]["status"] == 101  # WebSocket upgrade
    assert [r["line"] for r in rows] == list(range(1, 8))


def test_alb_lambda_error_line_is_an_error_with_its_reason():
    rows, _ = parse(LogFormat.ALB, (AWS / "alb-access-log-examples.log").read_bytes())
    last = rows[-1]
    assert last["status"] == 502
    assert last["level"] == "error"
    assert last["instance"] is None  # no target
    assert last["message"] == "GET / -> 502 Bad Gateway (target -) LambdaInvalidResponse"
    attrs = json.loads(last["attrs"])
    assert attrs["error_reason"] == "LambdaInvalidResponse"
    assert "target_status" not in attrs


_ALB_BASE = (
    "https 2026-01-05T10:00:01.500000Z app/shop-lb/50dc6c495c0c9188 10.0.0.9:443 10.0.3.4:8080 "
    '0.001 -1 -1 503 - 120 300 "POST https://shop.example.com:443/api/cart/42?session=abc '
    'HTTP/1.1" '
    '"Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - "Self=1-aaa;Root=1-67a-b2c" '
    '"shop.example.com" "-" 0 2026-01-05T10:00:01.400000Z "forward" "-" "TargetConnectionError" '
    '"10.0.3.4:8080" "-" "Ambiguous" "UndefinedContentLengthSemantics"'
)


def test_alb_service_falls_back_to_lb_name_and_unusable_latency_is_null():
    rows, tally = parse(LogFormat.ALB, _ALB_BASE.encode() + b"\n")
    assert tally.total == 0
    (row,) = rows
    assert row["service"] == "shop-lb"
    assert row["latency_ms"] is None  # a -1 processing time: the target was never reached
    assert row["level"] == "error"
    assert row["trace_id"] == "1-67a-b2c"
    assert (
        row["message"]
        == "POST /api/cart/42 -> 503 Service Unavailable (target -) TargetConnectionError"
    )
    assert "session" not in row["message"]  # query strings would explode pattern counts
    assert json.loads(row["attrs"])["classification"] == "Ambiguous"


def test_alb_ignores_fields_aws_appends_later_and_accepts_older_shorter_lines():
    newer = _ALB_BASE + ' "TID_abc123" "-" "extra"'
    older = _ALB_BASE.split(' "shop.example.com"')[0]
    rows, tally = parse(LogFormat.ALB, f"{newer}\n{older}\n".encode())
    assert tally.total == 0
    assert [r["status"] for r in rows] == [503, 503]
    assert [r["trace_id"] for r in rows] == ["1-67a-b2c", "1-67a-b2c"]


def test_alb_status_4xx_is_warn_and_garbage_is_rejected_as_bad_fields():
    line_404 = _ALB_BASE.replace(" 503 - ", " 404 404 ")
    data = f"{line_404}\nnot an alb line\n\n".encode()
    rows, tally = parse(LogFormat.ALB, data, first_line=40)
    assert [(r["level"], r["line"]) for r in rows] == [("warn", 40)]
    assert tally.counts == {"bad_fields": 1}
    assert tally.examples[0].line == 41


def test_alb_messages_keep_statuses_apart_after_pattern_mining() -> None:
    """The miner masks numbers, so the reason phrase is what separates a 503 from a 200."""
    from tasks.baseline.patterns import mine_patterns

    line = (
        "http 2026-11-24T13:05:{s:02d}.1Z app/shop/50dc 10.0.0.{c}:2817 10.0.1.{c}:80 0.000 0.001 "
        '0.000 {st} {st} 34 366 "GET http://shop.example.com:80/api/items/{c} HTTP/1.1" "curl/8" '
        '- - arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/checkout/73e2 "Root=1-5-{c}" '
        '"-" "-" 0 2026-11-24T13:05:00.0Z "forward" "-" "-" "10.0.1.{c}:80" "{st}" "-" "-"'
    )
    data = "\n".join(
        line.format(s=i, c=i + 1, st=503 if i % 2 else 200) for i in range(20)
    ).encode()
    ctx = ParseContext("alb", "k", None, datetime(2026, 11, 24, tzinfo=UTC))
    table, rejects = parse_block(LogFormat.ALB, data, 1, ctx)
    assert rejects.total == 0 and table.num_rows == 20
    mined = mine_patterns(table.column("message").to_pylist())
    assert len(set(mined.ids)) == 2
    assert any("Service Unavailable" in t for t in mined.templates.values())
