"""Fluent Bit Kubernetes records: metadata, the container's own line, both parse paths."""

from __future__ import annotations

import json

import orjson

from tasks.contracts import LogFormat
from tests.gather.formats_support import k8s_record, parse, ts


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


def test_fluentbit_a_block_read_line_by_line_gives_the_rows_pyarrow_gives():
    """As for jsonl: one bad line must not change the rows of the good ones."""
    lines = []
    for i in range(300):
        pod = ["checkout-7d9f8b6c5d-x2x4z", "cart-5c8d9f7b6d-bk2cd", "db-0"][i % 3]
        log = (
            f'{{"level":"info","msg":"req {i}","status":{200 + i % 2 * 300},"user":{i}}}\n'
            if i % 4
            else f"plain WARN line {i}\n"
        )
        lines.append(k8s_record(pod, log, {"app": pod.split("-")[0]} if i % 5 else None))
    clean, _ = parse(LogFormat.FLUENTBIT_K8S, b"\n".join(lines) + b"\n")
    rows, tally = parse(LogFormat.FLUENTBIT_K8S, b"\n".join(lines) + b"\n{broken\n")
    assert tally.counts == {"invalid_json": 1}
    assert len(rows) == 300
    assert rows == clean


def test_fluentbit_metadata_needing_json_escapes_and_repeated_pods():
    record = orjson.loads(k8s_record("web-7d9f8b6c5d-x2x4z", "hello"))
    record["kubernetes"]["namespace_name"] = 'team "a"\\b'
    data = orjson.dumps(record) + b"\n" + k8s_record("web-7d9f8b6c5d-k2m4p", "again") + b"\n"
    for _ in range(2):  # the second block finds its pods' workloads already known
        rows, _ = parse(LogFormat.FLUENTBIT_K8S, data)
        assert [r["service"] for r in rows] == ["web", "web"]
        assert [json.loads(r["attrs"])["namespace"] for r in rows] == ['team "a"\\b', "prod"]
