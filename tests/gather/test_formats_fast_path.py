"""The block fast path (pyarrow over a whole block) against the exact per-line path (orjson line
by line): same rows, same rejects with the same line numbers and reasons, on real formats and
on inputs that force the fallback."""

from __future__ import annotations

import gzip
import json

import orjson
import pyarrow as pa
import pytest

from tasks.contracts import LogFormat
from tasks.gather.formats import fluentbit_k8s, jsonl, parse_block
from tasks.gather.formats._embedded import (
    _fast_json_lines,
    _resolve_json_lines,
    _slow_json_lines,
)
from tasks.gather.formats._json import NESTED_PATHS
from tasks.gather.formats._jsonlines import _fast_json_table, _json_slow
from tests.gather.formats_support import AWS, ctx, jline, k8s_record

_EXACT = {
    LogFormat.JSONL: (jsonl._jsonl_rows, NESTED_PATHS),
    LogFormat.FLUENTBIT_K8S: (fluentbit_k8s._fluentbit_rows, fluentbit_k8s._FLUENTBIT_NESTED),
}


def _both(fmt: LogFormat, data: bytes, first_line: int = 1):
    """(rows, tally) from parse_block, and from the per-line reference path."""
    table, tally = parse_block(fmt, data, first_line, ctx())
    rows_fn, nested = _EXACT[fmt]
    ref_table, ref_tally = _json_slow(data, first_line, ctx(), rows_fn, nested)
    return (table.to_pylist(), tally.model_dump()), (ref_table.to_pylist(), ref_tally.model_dump())


def _assert_same(fmt: LogFormat, data: bytes, first_line: int = 1) -> list[dict]:
    got, ref = _both(fmt, data, first_line)
    assert got == ref
    return got[0]


@pytest.fixture(scope="module")
def fluentbit_blocks(tmp_path_factory) -> list[bytes]:
    """Fluent Bit k8s objects as the generator writes them (a dozen apps' own JSON lines)."""
    from tasks.synthetic.generator import LocalSink, generate_incident

    root = tmp_path_factory.mktemp("incident")
    generate_incident("bad-deploy", 1, LocalSink(root), source_root=str(root), scale=0.003)
    files = sorted(f for f in (root / "fluent-bit-logs").rglob("*") if f.is_file())
    blocks = [gzip.decompress(f.read_bytes()) for f in files]
    # One object per app (the prefix names it), and every one of them together.
    by_app = {}
    for f, block in zip(files, blocks, strict=True):
        by_app.setdefault(f.relative_to(root / "fluent-bit-logs").parts[0], block)
    return [*by_app.values(), b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blocks)]


def test_generated_fluentbit_objects_parse_the_same_on_both_paths(fluentbit_blocks):
    assert len(fluentbit_blocks) > 5
    for block in fluentbit_blocks:
        # The fast path must really have been taken, or this compares the slow path to itself.
        assert _fast_json_table(block, 1) is not None
        rows = _assert_same(LogFormat.FLUENTBIT_K8S, block)
        assert rows and all(r["service"] for r in rows)


def test_generated_container_lines_resolve_the_same_on_both_paths(fluentbit_blocks):
    for block in fluentbit_blocks[:-1]:
        logs = [orjson.loads(line)["log"].rstrip() for line in block.splitlines()]
        lines = pa.array([s for s in logs if s.startswith("{")], pa.string())
        if not len(lines):
            continue
        assert _fast_json_lines(lines, ()) is not None  # the fast path, not its fallback
        fast_ok, fast_cols, fast_attrs = _resolve_json_lines(lines, None, ())
        ok, cols, attrs = _slow_json_lines(lines, ())
        assert fast_ok.to_pylist() == ok.to_pylist()
        assert fast_attrs.to_pylist() == attrs.to_pylist()
        for name, col in cols.items():
            fast = fast_cols.get(name)
            assert (None if fast is None else fast.to_pylist()) == (
                None if col is None else col.to_pylist()
            ), name


def test_cloudtrail_records_as_json_lines_parse_the_same_on_both_paths():
    records = json.loads((AWS / "cloudtrail-examples.json").read_text())["Records"]
    block = b"".join(orjson.dumps({**r, "ts": r["eventTime"]}) + b"\n" for r in records)
    assert _fast_json_table(block, 1) is not None
    assert len(_assert_same(LogFormat.JSONL, block)) == len(records)


def _k8s(i: int, log: str) -> bytes:
    return k8s_record(f"web-7d9f8b6c5d-x2x4{i % 3}", log, {"app": "web"})


def _k8s_block(n: int = 50) -> list[bytes]:
    return [_k8s(i, f'{{"level":"info","msg":"req {i}","status":200}}') for i in range(n)]


def _jsonl_block(n: int = 50) -> list[bytes]:
    return [jline(ts=f"2026-01-05T10:00:{i % 60:02d}Z", msg=f"req {i}", n=i) for i in range(n)]


_BLOCKS = {LogFormat.JSONL: _jsonl_block, LogFormat.FLUENTBIT_K8S: _k8s_block}


@pytest.mark.parametrize("fmt", list(_BLOCKS))
def test_a_malformed_line_mid_block_is_rejected_at_its_line(fmt):
    lines = _BLOCKS[fmt]()
    lines[20] = b'{"broken": '
    rows = _assert_same(fmt, b"\n".join(lines) + b"\n", first_line=101)
    assert len(rows) == 49 and 121 not in [r["line"] for r in rows]
    _, tally = parse_block(fmt, b"\n".join(lines) + b"\n", 101, ctx())
    assert tally.counts == {"invalid_json": 1} and tally.examples[0].line == 121


@pytest.mark.parametrize("fmt", list(_BLOCKS))
def test_invalid_utf8_mid_block_parses_as_the_exact_path_does(fmt):
    lines = _BLOCKS[fmt]()
    lines[7] = lines[7].replace(b"req 7", b"req \xff\xfe 7")
    rows = _assert_same(fmt, b"\n".join(lines) + b"\n")
    assert "\ufffd" in rows[7]["message"]


@pytest.mark.parametrize("fmt", list(_BLOCKS))
def test_a_10_mb_line_and_a_one_line_block(fmt):
    lines = _BLOCKS[fmt](3)
    big = "x" * (10 * 1024 * 1024)
    if fmt is LogFormat.JSONL:
        lines[1] = jline(ts="2026-01-05T10:00:00Z", msg=big)
    else:
        lines[1] = _k8s(1, json.dumps({"level": "warn", "msg": big}))
    rows = _assert_same(fmt, b"\n".join(lines) + b"\n")
    assert len(rows[1]["message"]) == len(big)
    assert len(_assert_same(fmt, lines[0])) == 1  # no final newline either


@pytest.mark.parametrize("fmt", list(_BLOCKS))
def test_empty_and_blank_blocks_give_no_rows_and_no_rejects(fmt):
    for data in (b"", b"\n", b"  \n\r\n\n"):
        assert _assert_same(fmt, data) == []


@pytest.mark.parametrize("fmt", list(_BLOCKS))
def test_a_record_running_over_a_line_break_is_not_taken_for_the_next_line(fmt):
    """Line 2 opens a record that line 3 closes, and line 4 holds two records: pyarrow gives one
    row per line all the same, but row 3 is not line 3. The exact path rejects lines 2 and 3."""
    lines = _BLOCKS[fmt](5)
    lines[1] = lines[1][:-1] + b","  # ends part-way: `{..., `
    lines[2] = b'"extra": 1}'
    lines[3] = lines[3] + lines[4]
    del lines[4]
    got, ref = _both(fmt, b"\n".join(lines) + b"\n")
    assert got == ref
    assert ref[1]["counts"] == {"invalid_json": 2}
    assert [r["line"] for r in got[0]] == [1, 4, 4]


def test_container_lines_that_run_into_each_other_are_text():
    """Each of these `log` values starts with `{` but none is one JSON object; read back to back,
    they would give three records, and the first line would take the second's level."""
    logs = ['{"level":"error","ctx":', '{"level":"warn"}}', '{"msg":"a"}{"msg":"b"}']
    lines = [_k8s(i, '{"level":"info","msg":"ok"}') for i in range(4)]
    lines += [_k8s(i, log) for i, log in enumerate(logs)]
    rows = _assert_same(LogFormat.FLUENTBIT_K8S, b"\n".join(lines) + b"\n")
    assert [r["message"] for r in rows[4:]] == logs
    assert [r["level"] for r in rows] == ["info"] * 4 + [None] * 3


def test_container_lines_that_are_not_json_keep_their_text():
    logs = [
        "{not json",
        "plain ERROR text",
        '{"level":"warn","msg":"w"}',
        "",
        '{"msg":"a"} trailing',
    ]
    lines = [_k8s(i, log) for i, log in enumerate(logs)]
    rows = _assert_same(LogFormat.FLUENTBIT_K8S, b"\n".join(lines) + b"\n")
    assert [r["level"] for r in rows] == [None, "error", "warn", None, None]
    assert rows[0]["message"] == "{not json" and rows[2]["message"] == "w"


def test_strings_pyarrow_reads_as_timestamps_keep_their_text():
    """pyarrow types "2026-01-05" and second-precision ISO strings as timestamps, at any depth."""
    lines = [
        jline(
            ts=f"2026-01-05T10:00:0{i}Z",
            msg="2026-01-05",
            day="2026-01-05 10:00:00",
            events=[{"at": "2026-01-05T09:59:00Z", "n": i}],
        )
        for i in range(3)
    ]
    block = b"\n".join(lines) + b"\n"
    assert _fast_json_table(block, 1) is not None
    rows = _assert_same(LogFormat.JSONL, block)
    assert [r["message"] for r in rows] == ["2026-01-05"] * 3
    attrs = json.loads(rows[0]["attrs"])
    assert attrs == {
        "day": "2026-01-05 10:00:00",
        "events": [{"at": "2026-01-05T09:59:00Z", "n": 0}],
    }


def test_fluentbit_keys_declared_as_text_but_holding_other_types_parse_as_the_exact_path_does():
    """The Fluent Bit schema declares `time`, `stream`, `log` and the Kubernetes names as
    strings; a block where one of them is a number, an object or absent must still give the
    reference rows (read_json refuses the schema, and the block is read by inference)."""

    def changed(i: int, key: str, value) -> bytes:
        record = orjson.loads(_k8s(i, '{"level":"info","msg":"a"}'))
        if key == "host":
            record["kubernetes"]["host"] = value
        else:
            record[key] = value
        return orjson.dumps(record)

    odd = {"time": 1767607200.5, "stream": 2, "log": {"msg": "an object"}, "host": 12}
    for key, value in odd.items():
        # Every line so: read_json infers the block once the schema is refused.
        block = b"\n".join(changed(i, key, value) for i in range(4)) + b"\n"
        assert _fast_json_table(block, 1, fluentbit_k8s._FLUENTBIT_SCHEMA) is not None
        assert len(_assert_same(LogFormat.FLUENTBIT_K8S, block)) == 4
        # One line so: the block takes the exact path for that line.
        block = b"\n".join([*_k8s_block(5), changed(5, key, value)]) + b"\n"
        assert len(_assert_same(LogFormat.FLUENTBIT_K8S, block)) == 6


def test_fluentbit_second_precision_times_are_read_once_as_text():
    """pyarrow would take a second-precision `time` for a timestamp and the block would be
    read twice; declared as a string it is read once, and the rows are the exact path's."""
    lines = [
        k8s_record("web-7d9f8b6c5d-x2x40", f'{{"msg":"m{i}"}}', {"app": "web"}).replace(
            b"10:00:00.123456789Z", f"10:00:0{i}Z".encode()
        )
        for i in range(3)
    ]
    block = b"\n".join(lines) + b"\n"
    got = _fast_json_table(block, 1, fluentbit_k8s._FLUENTBIT_SCHEMA)
    assert got is not None and got[0].schema.field("time").type == pa.string()
    # No `logtag` in these records: a declared key that no line has is not a column.
    assert "logtag" not in got[0].column_names
    rows = _assert_same(LogFormat.FLUENTBIT_K8S, block)
    assert [r["ts"].second for r in rows] == [0, 1, 2]
