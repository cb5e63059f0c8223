"""JSON lines: key names, timestamps, attrs, bad lines counted at their line numbers."""

from __future__ import annotations

import json

from tasks.contracts import LogFormat
from tests.gather.formats_support import jline, parse, ts


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
    lines = _big_jsonl(20_000)  # several of the 1 MiB pieces a refused block is retried in
    assert len(b"\n".join(lines)) > 2 * (1 << 20)
    clean, _ = parse(LogFormat.JSONL, b"\n".join(lines) + b"\n", first_line=1000)
    broken = list(lines)
    broken[10] = b'{"time": "2026-01-05T10:00:00Z", "msg": '
    broken[3000] = b""
    broken[14500] = b"plain text"
    rows, tally = parse(LogFormat.JSONL, b"\n".join(broken) + b"\n", first_line=1000)
    assert tally.counts == {"invalid_json": 2}
    assert [e.line for e in tally.examples] == [1010, 15500]
    assert rows == [r for r in clean if r["line"] not in (1010, 4000, 15500)]


def test_jsonl_a_block_read_line_by_line_gives_the_rows_pyarrow_gives():
    """A clean block is read by pyarrow; one bad line sends a block down the per-line path.
    The rows of the good lines must not depend on which path read them."""
    lines = _big_jsonl(500)
    clean, _ = parse(LogFormat.JSONL, b"\n".join(lines) + b"\n\n")
    rows, tally = parse(LogFormat.JSONL, b"\n".join(lines) + b"\n{broken\n")
    assert tally.counts == {"invalid_json": 1}
    assert len(rows) == 500
    assert rows == clean


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
