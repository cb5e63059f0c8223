"""Format parsers: every documented field mapping, exact line numbers, counted rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tasks.contracts import PARSED_SCHEMA, LogFormat
from tasks.gather.formats import (
    ParseContext,
    needs_whole_object,
    parse_block,
    service_from_key,
    sniff_format,
    workload_name,
)
from tasks.gather.formats import _all as formats

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


# --------------------------------------------------------------------------------------------
# ALB
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# CloudTrail
# --------------------------------------------------------------------------------------------


def test_cloudtrail_documentation_examples_parse_one_row_per_record():
    data = (AWS / "cloudtrail-examples.json").read_bytes()
    rows, tally = parse(LogFormat.CLOUDTRAIL, data)
    assert tally.total == 0
    assert [r["line"] for r in rows] == list(range(1, 9))  # record index, 1-based
    names = [json.loads(r["attrs"]).get("eventName") for r in rows]
    assert names[:6] == [
        "StartInstances",
        "StopInstances",
        "CreateKeyPair",
        "CreateUser",
        "AddUserToGroup",
        "UpdateTrail",
    ]
    assert rows[0]["ts"] == ts("2014-03-06T21:22:54Z")
    assert rows[0]["service"] == "ec2"
    assert rows[0]["message"] == "ec2:StartInstances by Alice"
    assert rows[3]["message"] == "iam:CreateUser user=Bob by Alice"
    trail = rows[5]
    assert trail["level"] == "error"
    assert trail["message"].endswith("failed: TrailNotFoundException")
    attrs = json.loads(trail["attrs"])
    assert attrs["errorCode"] == "TrailNotFoundException"
    assert attrs["actor"] == "Alice"
    assert attrs["eventID"] == "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f"
    assert attrs["requestParameters"] == {"name": "myTrail2"}
    insight = rows[6]  # Insights events carry their source inside insightDetails
    assert insight["service"] == "ssm"
    assert "ApiCallRateInsight" in insight["message"]
    assert {r["level"] for r in rows[:5]} == {"info"}


def _trail(*events: dict) -> bytes:
    return orjson.dumps({"Records": list(events)})


def _event(source: str, name: str, params: dict, **extra) -> dict:
    return {
        "eventTime": "2026-01-05T10:00:00Z",
        "eventSource": f"{source}.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": "arn:aws:sts::123456789012:assumed-role/Deployer/alice",
        },
        "requestParameters": params,
        **extra,
    }


def test_cloudtrail_service_is_the_affected_resource():
    data = _trail(
        _event(
            "ecs",
            "UpdateService",
            {
                "service": "arn:aws:ecs:eu-west-1:123456789012:service/prod/checkout",
                "cluster": "prod",
                "taskDefinition": "checkout:42",
            },
        ),
        _event(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            {"functionName": "arn:aws:lambda:eu-west-1:123456789012:function:resize"},
        ),
        _event("rds", "ModifyDBInstance", {"dBInstanceIdentifier": "orders-db"}),
        _event("ssm", "PutParameter", {"name": "/prod/checkout/timeout"}),
        _event("ec2", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1"}),
    )
    rows, tally = parse(LogFormat.CLOUDTRAIL, data)
    assert tally.total == 0
    assert [r["service"] for r in rows] == [
        "checkout",
        "resize",
        "orders-db",
        "/prod/checkout/timeout",
        "ec2",
    ]
    assert rows[0]["message"] == (
        "ecs:UpdateService service=checkout cluster=prod taskDefinition=checkout:42"
        " by Deployer/alice"
    )
    assert json.loads(rows[0]["attrs"])["actorArn"].endswith("assumed-role/Deployer/alice")


def test_cloudtrail_truncates_huge_request_parameters():
    big = {"policyDocument": "x" * 10_000}
    rows, _ = parse(LogFormat.CLOUDTRAIL, _trail(_event("iam", "PutRolePolicy", big)))
    params = json.loads(rows[0]["attrs"])["requestParameters"]
    assert isinstance(params, str)
    assert len(params) < 2100


def test_cloudtrail_not_a_records_document_is_one_clear_rejection():
    for data, reason in [
        (b'{"Records": [ {"eventTime": ', "invalid_json"),
        (b'{"foo": 1}', "not_cloudtrail"),
        (b"[1, 2]", "not_cloudtrail"),
    ]:
        rows, tally = parse(LogFormat.CLOUDTRAIL, data)
        assert rows == []
        assert tally.counts == {reason: 1}
        assert tally.examples[0].line == 1


def test_cloudtrail_record_without_time_is_rejected_at_its_index():
    event = _event("ecs", "UpdateService", {"service": "checkout"})
    undated = {k: v for k, v in event.items() if k != "eventTime"}
    rows, tally = parse(LogFormat.CLOUDTRAIL, _trail(event, undated, "junk"))
    assert [r["line"] for r in rows] == [1]
    assert tally.counts == {"no_timestamp": 1, "not_an_object": 1}
    assert {(e.line, e.reason) for e in tally.examples} == {
        (2, "no_timestamp"),
        (3, "not_an_object"),
    }


def test_only_cloudtrail_needs_the_whole_object():
    assert needs_whole_object(LogFormat.CLOUDTRAIL)
    assert not any(needs_whole_object(f) for f in LogFormat if f != LogFormat.CLOUDTRAIL)


# --------------------------------------------------------------------------------------------
# jsonl
# --------------------------------------------------------------------------------------------


def test_jsonl_maps_common_key_names():
    data = b"\n".join(
        [
            jline(
                time="2026-01-05T10:00:00Z",
                level="ERROR",
                service="checkout",
                msg="payment failed",
                status_code=503,
                latency_ms=12.5,
                trace_id="t1",
                host="pod-1",
                order_id=42,
            ),
            jline(
                ts=1767607201.5,
                severity="warning",
                app="cart",
                message="slow",
                status="404",
                duration_ms=7,
                traceId="t2",
            ),
            jline(
                **{
                    "@timestamp": "2026-01-05 10:00:02.250+01:00",
                    "log.level": "debug",
                    "service.name": "search",
                    "event": "query",
                    "http": {"status": 200},
                    "request_time": "0.25",
                    "trace.id": "t3",
                }
            ),
            jline(timestamp=1767607203000, lvl=50, msg="pino", latency="1.5s", request_id="r4"),
        ]
    )
    rows, tally = parse(LogFormat.JSONL, data + b"\n")
    assert tally.total == 0
    assert [r["ts"] for r in rows] == [
        ts("2026-01-05T10:00:00Z"),
        ts("2026-01-05T10:00:01.5Z"),  # epoch seconds
        ts("2026-01-05T09:00:02.25Z"),  # offset converted to UTC
        ts("2026-01-05T10:00:03Z"),  # epoch milliseconds
    ]
    assert [r["level"] for r in rows] == ["error", "warn", "debug", "error"]
    assert [r["service"] for r in rows] == ["checkout", "cart", "search", None]
    assert [r["message"] for r in rows] == ["payment failed", "slow", "query", "pino"]
    assert [r["status"] for r in rows] == [503, 404, 200, None]
    assert [r["latency_ms"] for r in rows] == [12.5, 7.0, 250.0, 1500.0]
    assert [r["trace_id"] for r in rows] == ["t1", "t2", "t3", "r4"]
    assert rows[0]["instance"] == "pod-1"
    assert json.loads(rows[0]["attrs"]) == {"order_id": 42}
    assert json.loads(rows[2]["attrs"]) == {"http": {"status": 200}}
    assert rows[1]["attrs"] is None


def test_jsonl_timestamp_without_zone_is_utc():
    rows, _ = parse(LogFormat.JSONL, jline(time="2026-01-05 10:00:00,5", msg="x") + b"\n")
    assert rows[0]["ts"] == ts("2026-01-05T10:00:00.5Z")


def test_jsonl_nginx_time_local_and_nanosecond_iso():
    data = jline(time_local="05/Jan/2026:10:00:00 -0700", msg="a") + b"\n"
    data += jline(time="2026-01-05T10:00:00.123456789Z", msg="b") + b"\n"
    rows, _ = parse(LogFormat.JSONL, data)
    assert rows[0]["ts"] == ts("2026-01-05T17:00:00Z")
    assert rows[1]["ts"] == ts("2026-01-05T10:00:00.123456Z")


def test_jsonl_default_service_and_unusable_values_stay_in_attrs():
    data = jline(time="2026-01-05T10:00:00Z", status="ok", level="chatty", msg="m") + b"\n"
    rows, _ = parse(LogFormat.JSONL, data, default_service="fallback")
    (row,) = rows
    assert row["service"] == "fallback"
    assert row["status"] is None and row["level"] is None
    assert json.loads(row["attrs"]) == {"level": "chatty", "status": "ok"}


def test_jsonl_huge_attr_values_are_replaced_by_a_note():
    data = jline(time="2026-01-05T10:00:00Z", msg="m", dump="x" * 5000, small="y") + b"\n"
    rows, _ = parse(LogFormat.JSONL, data)
    attrs = json.loads(rows[0]["attrs"])
    assert attrs["small"] == "y"
    assert attrs["dump"].startswith("<omitted")


def test_jsonl_firehose_back_to_back_records_share_their_line():
    data = (
        jline(time="2026-01-05T10:00:00Z", msg="a")
        + jline(time="2026-01-05T10:00:01Z", msg="b")
        + b" "
        + jline(time="2026-01-05T10:00:02Z", msg="c")
        + b"\n"
        + jline(time="2026-01-05T10:00:03Z", msg="d")
        + b"\n"
    )
    rows, tally = parse(LogFormat.JSONL, data, first_line=7)
    assert tally.total == 0
    assert [(r["message"], r["line"]) for r in rows] == [("a", 7), ("b", 7), ("c", 7), ("d", 8)]


def test_jsonl_malformed_lines_are_counted_with_examples_and_line_numbers():
    data = b"\n".join(
        [
            jline(time="2026-01-05T10:00:00Z", msg="ok"),
            b"{not json",
            b"",
            b"   ",
            b"[1, 2]",
            jline(msg="no time"),
            jline(time="yesterday", msg="bad time"),
            jline(time=12, msg="a counter, not an epoch"),
            b"\xff\xfe garbage",
            jline(time="2026-01-05T10:00:09Z", msg="ok \xe9".encode("latin-1").decode("latin-1")),
        ]
    )
    rows, tally = parse(LogFormat.JSONL, data + b"\n", first_line=101)
    assert [r["line"] for r in rows] == [101, 110]
    assert tally.counts == {
        "invalid_json": 2,
        "not_an_object": 1,
        "no_timestamp": 1,
        "bad_timestamp": 2,
    }
    lines = {(e.reason, e.line) for e in tally.examples}
    assert lines == {
        ("invalid_json", 102),
        ("invalid_json", 109),
        ("not_an_object", 105),
        ("no_timestamp", 106),
        ("bad_timestamp", 107),
        ("bad_timestamp", 108),
    }
    assert next(e for e in tally.examples if e.line == 102).excerpt == "{not json"


def test_jsonl_invalid_utf8_inside_a_record_is_replaced_not_dropped():
    data = b'{"time":"2026-01-05T10:00:00Z","msg":"caf\xe9"}\n'
    rows, tally = parse(LogFormat.JSONL, data)
    assert tally.total == 0
    assert rows[0]["message"] == "caf\ufffd"


def test_blank_input_gives_an_empty_table_for_every_format():
    for fmt in LogFormat:
        if fmt == LogFormat.AUTO or fmt == LogFormat.CLOUDTRAIL:
            continue
        rows, tally = parse(fmt, b"\n\n  \r\n")
        assert rows == [] and tally.total == 0


def test_auto_must_be_resolved_first():
    with pytest.raises(ValueError, match="sniff_format"):
        parse_block(LogFormat.AUTO, b"", 1, ctx())


def _big_jsonl(lines: int) -> list[bytes]:
    return [
        jline(
            time=f"2026-01-05T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            level="info" if i % 7 else "error",
            msg=f"request {i} done",
            status=200 if i % 7 else 500,
            latency_ms=i % 300,
            user=f"u{i % 13}",
        )
        for i in range(lines)
    ]


def test_bad_lines_in_a_large_block_keep_exact_line_numbers():
    lines = _big_jsonl(20_000)  # several of the pieces a refused block is retried in
    assert len(b"\n".join(lines)) > 2 * formats._PIECE_BYTES
    clean, _ = parse(LogFormat.JSONL, b"\n".join(lines) + b"\n", first_line=1000)
    broken = list(lines)
    broken[10] = b'{"time": "2026-01-05T10:00:00Z", "msg": '
    broken[3000] = b""
    broken[14500] = b"plain text"
    rows, tally = parse(LogFormat.JSONL, b"\n".join(broken) + b"\n", first_line=1000)
    assert tally.counts == {"invalid_json": 2}
    assert [e.line for e in tally.examples] == [1010, 15500]
    assert rows == [r for r in clean if r["line"] not in (1010, 4000, 15500)]


def test_jsonl_fast_and_slow_paths_agree():
    data = b"\n".join(_big_jsonl(500)) + b"\n\n"
    fast = formats._json_fast(data, 1, ctx(), formats._jsonl_rows)
    assert fast is not None, "the fast path must accept clean, uniform JSON lines"
    slow = formats._json_slow(data, 1, ctx(), formats._jsonl_rows, formats._NESTED_PATHS)
    assert fast[0].equals(slow[0])


def test_jsonl_fast_path_refuses_back_to_back_records():
    data = jline(time="2026-01-05T10:00:00Z") + jline(time="2026-01-05T10:00:01Z") + b"\n"
    assert formats._json_fast(data, 1, ctx(), formats._jsonl_rows) is None


# --------------------------------------------------------------------------------------------
# fluentbit-k8s
# --------------------------------------------------------------------------------------------


def test_fluentbit_maps_kubernetes_metadata_and_the_json_log_line():
    log = (
        '{"level":"error","msg":"charge failed","status":502,"latency_ms":80,'
        '"trace_id":"abc","order":7}\n'
    )
    data = k8s_record("checkout-7d9f8b6c5d-x2x4z", log, {"app.kubernetes.io/name": "checkout"})
    rows, tally = parse(LogFormat.FLUENTBIT_K8S, data + b"\n")
    assert tally.total == 0
    (row,) = rows
    assert row["ts"] == ts("2026-01-05T10:00:00.123456Z")
    assert row["service"] == "checkout"
    assert row["instance"] == "checkout-7d9f8b6c5d-x2x4z"
    assert row["level"] == "error"
    assert row["message"] == "charge failed"
    assert row["status"] == 502
    assert row["latency_ms"] == 80.0
    assert row["trace_id"] == "abc"
    attrs = json.loads(row["attrs"])
    assert attrs["container_image"] == "registry/app:1.4.2"
    assert attrs["namespace"] == "prod"
    assert attrs["order"] == 7
    assert "kubernetes" not in attrs and "log" not in attrs and "time" not in attrs


def test_fluentbit_service_from_labels_then_pod_name():
    data = b"\n".join(
        [
            k8s_record("a-7d9f8b6c5d-x2x4z", "x", {"app.kubernetes.io/name": "n1", "app": "n2"}),
            k8s_record("b-7d9f8b6c5d-x2x4z", "x", {"app": "n2", "k8s-app": "n3"}),
            k8s_record("c-7d9f8b6c5d-x2x4z", "x", {"k8s-app": "n3"}),
            k8s_record("payments-api-7d9f8b6c5d-x2x4z", "x"),  # Deployment
            k8s_record("kafka-2", "x"),  # StatefulSet
            k8s_record("node-exporter-bbx5c", "x"),  # DaemonSet
        ]
    )
    rows, _ = parse(LogFormat.FLUENTBIT_K8S, data + b"\n")
    assert [r["service"] for r in rows] == [
        "n1",
        "n2",
        "n3",
        "payments-api",
        "kafka",
        "node-exporter",
    ]


def test_fluentbit_plain_text_log_lines_keep_their_text_and_level():
    data = b"\n".join(
        [
            k8s_record("web-0", "2026-01-05 10:00:00 ERROR upstream timed out\n"),
            k8s_record("web-0", 'level=warn msg="slow query"\n'),
            k8s_record("web-0", "{this is not json}\n"),
            k8s_record("web-0", "GET /healthz 200\n", date=1767607200.5),
        ]
    )
    rows, tally = parse(LogFormat.FLUENTBIT_K8S, data + b"\n")
    assert tally.total == 0
    assert [r["message"] for r in rows] == [
        "2026-01-05 10:00:00 ERROR upstream timed out",
        'level=warn msg="slow query"',
        "{this is not json}",
        "GET /healthz 200",
    ]
    assert [r["level"] for r in rows] == ["error", "warn", None, None]


def test_fluentbit_epoch_date_key_and_missing_time_is_rejected():
    undated = orjson.loads(k8s_record("web-0", "hello"))
    del undated["time"]
    dated = dict(undated, date=1767607200.25)
    data = orjson.dumps(dated) + b"\n" + orjson.dumps(undated) + b"\n"
    rows, tally = parse(LogFormat.FLUENTBIT_K8S, data)
    assert [r["ts"] for r in rows] == [ts("2026-01-05T10:00:00.25Z")]
    assert tally.counts == {"no_timestamp": 1}
    assert tally.examples[0].line == 2


def test_fluentbit_apps_disagreeing_about_key_types_still_parse():
    data = b"\n".join(
        [
            k8s_record("a-0", '{"level":"info","msg":"a","status":200}'),
            k8s_record("b-0", '{"level":"info","msg":"b","status":"ok"}'),
        ]
    )
    rows, _ = parse(LogFormat.FLUENTBIT_K8S, data + b"\n")
    assert [r["status"] for r in rows] == [200, None]
    assert json.loads(rows[1]["attrs"])["status"] == "ok"


def test_fluentbit_fast_and_slow_paths_agree():
    lines = []
    for i in range(300):
        pod = ["checkout-7d9f8b6c5d-x2x4z", "cart-5c8d9f7b6d-bk2cd", "db-0"][i % 3]
        log = (
            f'{{"level":"info","msg":"req {i}","status":{200 + i % 2 * 300},"user":{i}}}\n'
            if i % 4
            else f"plain WARN line {i}\n"
        )
        lines.append(k8s_record(pod, log, {"app": pod.split("-")[0]} if i % 5 else None))
    data = b"\n".join(lines) + b"\n"
    fast = formats._json_fast(data, 1, ctx(), formats._fluentbit_rows)
    assert fast is not None
    slow = formats._json_slow(data, 1, ctx(), formats._fluentbit_rows, formats._FLUENTBIT_NESTED)
    assert fast[0].equals(slow[0])
    assert fast[0].num_rows == 300


def test_workload_name_strips_generated_pod_suffixes():
    assert workload_name("checkout-7d9f8b6c5d-x2x4z") == "checkout"
    assert workload_name("web-0") == "web"
    assert workload_name("node-exporter-bbx5c") == "node-exporter"
    assert workload_name("redis-cache") == "redis-cache"  # vowels: not a generated suffix
    assert workload_name("order-worker-queue") == "order-worker-queue"


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------


def test_syslog_year_comes_from_the_reference_time():
    line = b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186\n"
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2026, 1, 5, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")  # December read in January: last year
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 12, 10, 6, 0, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")  # an hour ahead: clock skew, same year
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 12, 31, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2025-12-10T06:55:46Z")
    assert rows[0]["service"] == "sshd"
    assert rows[0]["instance"] == "LabSZ"
    assert rows[0]["message"] == "Invalid user webmaster from 173.234.31.186"
    assert json.loads(rows[0]["attrs"]) == {"pid": 24200}


def test_syslog_feb_29_takes_the_last_leap_year_or_is_a_bad_timestamp():
    line = b"Feb 29 10:00:00 host app: leap\n"
    rows, _ = parse(LogFormat.TEXT, line, ref=datetime(2025, 3, 1, tzinfo=UTC))
    assert rows[0]["ts"] == ts("2024-02-29T10:00:00Z")
    rows, tally = parse(LogFormat.TEXT, line, ref=datetime(2026, 3, 1, tzinfo=UTC))
    assert rows == []
    assert tally.counts == {"bad_timestamp": 1}


def test_apache_error_and_access_lines():
    data = (
        b"[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6\n"
        b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 503 2326 '
        b'"http://ref/" "Mozilla/4.08"\n'
    )
    rows, tally = parse(LogFormat.TEXT, data)
    assert tally.total == 0
    err, access = rows
    assert err["ts"] == ts("2005-12-04T04:47:44Z")
    assert err["level"] == "error"
    assert err["message"] == "mod_jk child workerEnv in error state 6"
    assert access["ts"] == ts("2000-10-10T20:55:36Z")
    assert access["status"] == 503
    assert access["level"] == "error"
    assert access["message"] == "GET /a.gif -> 503"
    assert json.loads(access["attrs"])["user_agent"] == "Mozilla/4.08"


def test_text_iso_and_epoch_headers_with_levels():
    data = (
        b"2026-01-05T10:00:00.5+01:00 WARN disk almost full\n"
        b"2026-01-05 10:00:01,250 [ERROR] db down\n"
        b"[2026-01-05 10:00:02] <info> bracketed\n"
        b"1767607203 INFO epoch seconds\n"
        b"1767607204000 epoch millis with ERROR in the text\n"
        b"2026-01-05T10:00:05Z error in lower case is a word, not a level\n"
    )
    rows, tally = parse(LogFormat.TEXT, data, default_service="svc")
    assert tally.total == 0
    assert [r["ts"] for r in rows] == [
        ts("2026-01-05T09:00:00.5Z"),
        ts("2026-01-05T10:00:01.25Z"),
        ts("2026-01-05T10:00:02Z"),
        ts("2026-01-05T10:00:03Z"),
        ts("2026-01-05T10:00:04Z"),
        ts("2026-01-05T10:00:05Z"),
    ]
    assert [r["level"] for r in rows] == ["warn", "error", "info", "info", "error", None]
    assert rows[0]["message"] == "disk almost full"
    assert rows[1]["message"] == "db down"
    assert {r["service"] for r in rows} == {"svc"}


def test_text_continuation_lines_join_their_record_and_orphans_are_rejected():
    data = (
        b"orphan line before any record\n"
        b"2026-01-05 10:00:00,000 ERROR Request failed\n"
        b"java.lang.IllegalStateException: boom\n"
        b"\tat com.acme.Cart.add(Cart.java:42)\n"
        b"Caused by: java.io.IOException: ERROR reading\n"
    )
    rows, tally = parse(LogFormat.TEXT, data, first_line=50)
    assert tally.counts == {"no_timestamp": 1}
    assert [e.line for e in tally.examples] == [50]
    assert [r["line"] for r in rows] == [51, 52, 53, 54]
    assert {r["ts"] for r in rows} == {ts("2026-01-05T10:00:00Z")}
    assert [r["level"] for r in rows] == ["error", None, None, None]  # frames are not errors
    assert json.loads(rows[2]["attrs"]) == {"continuation_of": 51}


@pytest.mark.parametrize(
    "system, first_ts, level",
    [
        ("Apache", "2005-12-04T04:47:44Z", "info"),
        ("HDFS", "2008-11-09T20:36:15Z", "info"),
        ("Hadoop", "2015-10-18T18:01:47.978Z", "info"),
        ("OpenSSH", "2025-12-10T06:55:46Z", None),
        ("OpenStack", "2017-05-16T00:00:00.008Z", "info"),
        ("Spark", "2017-06-09T20:10:40Z", "info"),
        ("Zookeeper", "2015-07-29T17:41:44.747Z", "info"),
    ],
)
def test_loghub_files_parse_with_timestamps(system, first_ts, level):
    data = (LOGHUB / system / f"{system}_2k.log").read_bytes()
    rows, tally = parse(LogFormat.TEXT, data)
    assert tally.total == 0
    assert len(rows) == 2000
    assert rows[0]["ts"] == ts(first_ts)
    assert rows[0]["level"] == level
    assert all(r["message"] for r in rows)
    assert [r["line"] for r in rows] == list(range(1, 2001))


def test_loghub_levels_and_services_are_found():
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "Zookeeper" / "Zookeeper_2k.log").read_bytes())
    assert {r["level"] for r in rows} >= {"info", "warn", "error"}
    rows, _ = parse(LogFormat.TEXT, (LOGHUB / "OpenStack" / "OpenStack_2k.log").read_bytes())
    assert {r["service"] for r in rows} >= {"nova-api", "nova-compute"}


# --------------------------------------------------------------------------------------------
# cloudwatch-export
# --------------------------------------------------------------------------------------------

EXPORT_KEY = "exports/prod-app/0123abcd-1111-2222-3333-444455556666/ecs/checkout/9f8e7d/000000.gz"


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


# --------------------------------------------------------------------------------------------
# Sniffing and keys
# --------------------------------------------------------------------------------------------


def test_sniff_by_key():
    ct = "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/01/05/x_CloudTrail_eu-west-1_a.json.gz"
    alb = "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/01/05/x.log.gz"
    assert sniff_format(ct, b"") == LogFormat.CLOUDTRAIL
    assert sniff_format(alb, b"") == LogFormat.ALB


def test_sniff_by_content():
    k8s = k8s_record("web-0", "hello")
    cases = {
        LogFormat.CLOUDTRAIL: (AWS / "cloudtrail-examples.json").read_bytes(),
        LogFormat.FLUENTBIT_K8S: b"\n" + k8s + b"\n",
        LogFormat.JSONL: jline(time="2026-01-05T10:00:00Z", msg="x") + b"\n",
        LogFormat.ALB: (AWS / "alb-access-log-examples.log").read_bytes(),
        LogFormat.TEXT: (LOGHUB / "HDFS" / "HDFS_2k.log").read_bytes()[:65536],
    }
    for expected, head in cases.items():
        assert sniff_format("logs/2026/01/05/object", head) == expected
    assert sniff_format("x", k8s[:40] + b'"kubernetes"') == LogFormat.FLUENTBIT_K8S  # cut short
    assert sniff_format("x", jline(a=1) + jline(b=2)) == LogFormat.JSONL  # Firehose


def test_sniff_iso_lines_as_cloudwatch_export_only_under_an_export_key():
    head = b"2026-01-05T10:00:00.000Z hello\n"
    assert sniff_format(EXPORT_KEY, head) == LogFormat.CLOUDWATCH_EXPORT
    assert sniff_format("app/2026/01/05/app.log", head) == LogFormat.TEXT


def test_service_from_key():
    tag = (
        "fluent-bit-logs/kube.var.log.containers.checkout-7d9f8b6c5d-x2x4z_prod_checkout-"
        + "a" * 64
        + ".log/2026/01/05/10/00/00-obj"
    )
    assert service_from_key(tag) == "checkout"
    assert service_from_key(EXPORT_KEY) == "checkout"
    uuid = "0123abcd-1111-2222-3333-444455556666"
    lambda_key = f"exports/aws/lambda/resize/{uuid}/2026/01/05/[$LATEST]ab/000000.gz"
    assert service_from_key(lambda_key) == "resize"
    eks_key = f"{uuid}/payments-api-7d9f8b6c5d-x2x4z_prod_api/000000.gz"
    assert service_from_key(eks_key) == "payments-api"
    alb = (
        "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/01/05/123456789012_"
        "elasticloadbalancing_eu-west-1_app.shop-lb.50dc6c495c0c9188_20260105T1000Z_"
        "10.0.0.1_x.log.gz"
    )
    assert service_from_key(alb) == "shop-lb"
    assert service_from_key("vector/date=2026-01-05/service=cart/part-1.ndjson.gz") == "cart"
    assert service_from_key("logs/2026/01/05/app.log") is None


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


def test_jsonl_later_candidates_of_a_filled_role_stay_in_attrs():
    # Every row has `time` and `level`, so `ts` and `severity` are never taken: they stay in
    # attrs on the rows that have them, and a blank service name is no service.
    data = b"\n".join(
        [
            jline(time="2026-01-05T10:00:00Z", ts=1, level="info", severity="warn", app=" "),
            jline(time="2026-01-05T10:00:01Z", level="error", app="cart"),
        ]
    )
    rows, tally = parse(LogFormat.JSONL, data + b"\n")
    assert tally.total == 0
    assert [r["level"] for r in rows] == ["info", "error"]
    assert [r["service"] for r in rows] == [None, "cart"]
    assert json.loads(rows[0]["attrs"]) == {"app": " ", "severity": "warn", "ts": 1}
    assert rows[1]["attrs"] is None


def test_fluentbit_metadata_needing_json_escapes_and_repeated_pods():
    record = orjson.loads(k8s_record("web-7d9f8b6c5d-x2x4z", "hello"))
    record["kubernetes"]["namespace_name"] = 'team "a"\\b'
    data = orjson.dumps(record) + b"\n" + k8s_record("web-7d9f8b6c5d-k2m4p", "again") + b"\n"
    for _ in range(2):  # the second block finds its pods' workloads already known
        rows, _ = parse(LogFormat.FLUENTBIT_K8S, data)
        assert [r["service"] for r in rows] == ["web", "web"]
        assert [json.loads(r["attrs"])["namespace"] for r in rows] == ['team "a"\\b', "prod"]


# --------------------------------------------------------------------------------------------
# vpc-flow
# --------------------------------------------------------------------------------------------


def test_vpc_flow_documentation_examples_parse_with_their_fields():
    rows, tally = parse(LogFormat.VPC_FLOW, (AWS / "vpc-flow-log-examples.log").read_bytes())
    assert tally.total == 0
    assert len(rows) == 7
    accepted, rejected, nodata, skipdata = rows[:4]
    assert accepted["ts"] == ts("2014-12-14T04:06:50Z")  # the flow's start, epoch 1418530010
    assert accepted["instance"] == "eni-1235b8ca123456789"
    assert accepted["message"] == "ACCEPT tcp 172.31.16.139:20641 -> 172.31.16.21:22"
    assert accepted["level"] == "info"
    attrs = json.loads(accepted["attrs"])
    assert attrs["bytes"] == "4249" and attrs["account-id"] == "123456789010"
    assert rejected["level"] == "warn"
    assert rejected["message"] == "REJECT tcp 172.31.9.69:49761 -> 172.31.9.12:3389"
    assert nodata["message"] == "no traffic on the interface (NODATA)"
    assert "srcaddr" not in json.loads(nodata["attrs"])  # "-" means no value
    assert skipdata["level"] == "warn"
    assert rows[4]["message"].startswith("ACCEPT icmp 203.0.113.12:0 ->")
    assert rows[6]["message"] == (
        "ACCEPT tcp 2001:db8:1234:a100:8d6e:3477:df66:f105:34892 -> "
        "2001:db8:1234:a102:3304:8879:34cf:4071:22"
    )
    assert [r["line"] for r in rows] == list(range(1, 8))


def test_vpc_flow_header_line_names_the_fields_and_bad_records_are_counted():
    data = (
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
        b"bytes start end action log-status\n"
        b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 51000 6 3 120 1764000000 1764000060 REJECT OK\n"
        b"2 123456789010 eni-1 10.0.0.1 truncated\n"
    )
    rows, tally = parse(LogFormat.VPC_FLOW, data)
    assert len(rows) == 1 and rows[0]["line"] == 2
    assert tally.counts == {"bad_fields": 1}
    assert tally.examples[0].line == 3


def test_vpc_flow_logs_are_sniffed_by_key_and_by_content():
    key = "AWSLogs/1/vpcflowlogs/us-east-1/2026/11/24/1_vpcflowlogs_us-east-1_fl-1_20261124T1305Z_a.log.gz"
    assert sniff_format(key, b"") is LogFormat.VPC_FLOW
    head = (AWS / "vpc-flow-log-examples.log").read_bytes()
    assert sniff_format("flows/x.log", head) is LogFormat.VPC_FLOW
    assert (
        sniff_format("flows/x.log", b"version account-id interface-id srcaddr\n")
        is LogFormat.VPC_FLOW
    )
