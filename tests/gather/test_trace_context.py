"""Trace and request IDs read from message text and attrs: one real-world line per form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.contracts import PARSED_SCHEMA, Source, TimeWindow
from tasks.gather import gather_logs
from tasks.gather.trace_context import add_trace_context
from tasks.settings import Settings


def frame(messages: list[str | None], trace=None, attrs=None) -> pa.Table:
    n = len(messages)
    return pa.table(
        {
            "ts": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")),
            "service": pa.array(["svc"] * n),
            "instance": pa.nulls(n, pa.string()),
            "level": pa.array(["info"] * n),
            "message": pa.array(messages, pa.string()),
            "status": pa.nulls(n, pa.int32()),
            "latency_ms": pa.nulls(n, pa.float64()),
            "trace_id": pa.array(trace or [None] * n, pa.string()),
            "attrs": pa.array(attrs or [None] * n, pa.string()),
            "line": pa.array(range(1, n + 1), pa.int64()),
        },
        schema=PARSED_SCHEMA,
    )


def one(message: str, attrs: str | None = None) -> tuple[str | None, dict]:
    out = add_trace_context(frame([message], attrs=[attrs]))
    row = out.to_pylist()[0]
    return row["trace_id"], json.loads(row["attrs"]) if row["attrs"] else {}


# Each case: a line as the logging library or framework writes it, and the IDs it holds.
CASES = {
    # OpenTelemetry Java agent logging pattern (as in the microservices demo apps).
    "TraceID/SpanID": (
        "2026-11-24 13:05:01.123 INFO  [orders] c.a.o.OrderController : TraceID: "
        "4bf92f3577b34da6a3ce929d0e0e4736 SpanID: 00f067aa0ba902b7 create order 1234",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    ),
    # Spring Cloud Sleuth 2/3 default pattern: [app,traceId,spanId,exportable].
    "Sleuth": (
        "2021-07-30 10:15:42.101  INFO [ts-order-service,6c3d7e5f4a2b1c0d,8e9fa0b1c2d3e4f5,true]"
        " 1 --- [nio-12031-exec-3] o.s.w.s.DispatcherServlet : Completed initialization",
        "6c3d7e5f4a2b1c0d",
        "8e9fa0b1c2d3e4f5",
    ),
    # Spring Boot 3.2's default correlation pattern: [traceId-spanId].
    "Spring Boot 3": (
        "2024-02-01T09:00:00.000Z  INFO 1 --- [cart] [nio-8080-exec-1] "
        "[65bb4f3a9c1d2e3f4a5b6c7d8e9f0a1b-1a2b3c4d5e6f7a8b] c.e.CartController : add item",
        "65bb4f3a9c1d2e3f4a5b6c7d8e9f0a1b",
        "1a2b3c4d5e6f7a8b",
    ),
    # Micrometer Tracing with an app-name prefix: [app,traceId,spanId], 128-bit trace.
    "Micrometer": (
        "2024-02-01T09:00:00.000Z  INFO [cart,65bb4f3a9c1d2e3f4a5b6c7d8e9f0a1b,1a2b3c4d5e6f7a8b] "
        "1 --- [nio-8080-exec-1] c.e.CartController : add item",
        "65bb4f3a9c1d2e3f4a5b6c7d8e9f0a1b",
        "1a2b3c4d5e6f7a8b",
    ),
    "trace_id=": (
        'time="2026-11-24T13:05:01Z" level=error msg="charge failed" '
        "trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331",
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    ),
    "traceId=": (
        "WARN  c.e.p.PaymentClient - retrying call traceId=5b8aa5a2d2c872e8321cf37308d69df2, "
        "spanId=051581bf3cb55c13",
        "5b8aa5a2d2c872e8321cf37308d69df2",
        "051581bf3cb55c13",
    ),
    # Datadog log injection (dd-trace-java / dd-trace-py default pattern), decimal IDs.
    "dd.trace_id=": (
        "2026-11-24 13:05:01,512 ERROR [main] c.d.Example [dd.trace_id=1234567890123456789 "
        "dd.span_id=987654321987654321] - payment declined",
        "1234567890123456789",
        "987654321987654321",
    ),
    # W3C Trace Context header echoed into a log line.
    "traceparent": (
        "GET /api/cart 200 headers={traceparent: "
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01}",
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    ),
    # oslo.log's context: [req-<uuid> user project domain user_domain project_domain].
    "OpenStack": (
        "nova.compute.manager [req-5bad14f4-b46f-41a7-97f8-543fb41638b2 "
        "ac56eb6da79343ecaab31c32ca79b15f 0b4bd541ed00493485eee69ad2cab8aa - "
        "629edec01f5b48c1b4c69ff9d72f7953 629edec01f5b48c1b4c69ff9d72f7953] [instance: "
        "6d47b3b9-6229-4a0c-80a7-3d666ebf3b88] Cannot reboot instance",
        "req-5bad14f4-b46f-41a7-97f8-543fb41638b2",
        None,
    ),
    # A JSON app log kept as text (e.g. a Fluent Bit `log` field that was not parsed).
    "JSON traceId in text": (
        '{"@timestamp":"2026-11-24T13:05:01.000Z","level":"ERROR","logger":"c.e.Checkout",'
        '"traceId":"463ac35c9f6413ad48485a3953bb6124","spanId":"a2fb4a1d1a96d312",'
        '"message":"upstream timed out"}',
        "463ac35c9f6413ad48485a3953bb6124",
        "a2fb4a1d1a96d312",
    ),
    # nginx / Heroku router style request IDs.
    "request_id=": (
        'at=info method=GET path="/" host=shop.example.com '
        "request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd=10.1.2.3 status=200",
        "8601b555-6a83-4c12-8269-97c8e32cdb22",
        None,
    ),
    "X-Request-ID": (
        "Handling request X-Request-ID: 7f2c1f0c-3a1b-4c7e-9d2f-1b2c3d4e5f60 for /checkout",
        "7f2c1f0c-3a1b-4c7e-9d2f-1b2c3d4e5f60",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_form_on_a_real_world_line(case: str) -> None:
    message, trace, span = CASES[case]
    got_trace, attrs = one(message)
    assert got_trace == trace
    assert attrs.get("span_id") == span


def test_a_structured_trace_id_wins_and_untouched_rows_stay() -> None:
    table = frame(
        ["traceId=5b8aa5a2d2c872e8321cf37308d69df2", "nothing here", "traceId=aaaabbbbccccdddd"],
        trace=["from-field", None, ""],
    )
    out = add_trace_context(table)
    assert out["trace_id"].to_pylist() == ["from-field", None, "aaaabbbbccccdddd"]
    assert out.schema == table.schema


def test_ids_from_attrs_fields_the_parser_did_not_map() -> None:
    trace, _ = one(
        "GET /cart 200",
        attrs='{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
    )
    assert trace == "0af7651916cd43dd8448eb211c80319c"
    trace, _ = one("GET /cart 200", attrs='{"x-request-id":"c0ffee00-1234-4abc-8def-001122334455"}')
    assert trace == "c0ffee00-1234-4abc-8def-001122334455"


def test_span_is_merged_into_existing_attrs() -> None:
    _, attrs = one(
        "trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331",
        attrs='{"pod":"cart-1","nested":{"a":1}}',
    )
    assert attrs == {"pod": "cart-1", "nested": {"a": 1}, "span_id": "b7ad6b7169203331"}
    _, attrs = one("[a,6c3d7e5f4a2b1c0d,8e9fa0b1c2d3e4f5,true]", attrs="{}")
    assert attrs == {"span_id": "8e9fa0b1c2d3e4f5"}


@pytest.mark.parametrize(
    "message",
    [
        "[ts-order-service,,,] unsampled Sleuth line",
        "traceparent: 00-00000000000000000000000000000000-0000000000000000-00",
        "parentSpanId=00f067aa0ba902b7 subtrace_id=abcdefabcdefabcd",
        "Processed 16 items in 1234567890123456 ms",
        "no context yet: trace_id=undefined span_id=undefined",
        "MDC empty: traceId=NOT_SET request_id=null",
        None,
    ],
)
def test_no_id_where_there_is_none(message: str | None) -> None:
    assert one(message)[0] is None  # type: ignore[arg-type]


def test_gather_fills_trace_id_from_text(tmp_path) -> None:
    """The pass runs inside gather: a plain-text log comes out with its request IDs."""
    t0 = datetime(2026, 1, 24, 13, 0, tzinfo=UTC)
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = [
        f"{(t0 + timedelta(seconds=i)):%Y-%m-%d %H:%M:%S}.000 1490 INFO nova.compute.manager "
        f"[req-5bad14f4-b46f-41a7-97f8-543fb41638b{i % 2} - - - - -] step {i}"
        for i in range(4)
    ]
    (logs / "nova-compute.log").write_text("\n".join(lines) + "\n")
    window = TimeWindow(start=t0, end=t0 + timedelta(minutes=5))
    result = gather_logs(
        [Source(name="os", uri=str(logs), format="text")],
        [window],
        tmp_path / "out",
        "T",
        Settings(),
    )
    traces = pq.read_table(result.parquet_path)["trace_id"].to_pylist()
    assert sorted(traces) == [
        "req-5bad14f4-b46f-41a7-97f8-543fb41638b0",
        "req-5bad14f4-b46f-41a7-97f8-543fb41638b0",
        "req-5bad14f4-b46f-41a7-97f8-543fb41638b1",
        "req-5bad14f4-b46f-41a7-97f8-543fb41638b1",
    ]
