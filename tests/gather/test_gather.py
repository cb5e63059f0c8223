"""The gather stage end to end: moto's S3 server over HTTP, local folders, faults, bad data."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from isal import igzip

from tasks.contracts import (
    CANONICAL_SCHEMA,
    EvidenceManifest,
    LogFormat,
    ObjectStatus,
    Source,
    TimeWindow,
    object_id,
)
from tasks.gather import _stage as gather_module
from tasks.gather import gather_logs
from tasks.settings import Settings
from tests.s3_faults import ACCESS_DENIED, NO_SUCH_KEY, S3FaultProxy

T0 = datetime(2026, 1, 24, 13, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=T0 + timedelta(minutes=5), end=T0 + timedelta(minutes=47))


def jl(ts: datetime, msg: str, service: str = "checkout", level: str = "info") -> bytes:
    record = {"time": ts.isoformat().replace("+00:00", "Z"), "service": service, "level": level}
    return json.dumps({**record, "message": msg}).encode() + b"\n"


def lines(start: datetime, n: int, step_s: float = 1.0, service: str = "checkout") -> bytes:
    return b"".join(
        jl(start + timedelta(seconds=i * step_s), f"request {i} ok", service) for i in range(n)
    )


# Minute 0-4 are before the window, 5-46 inside, 47+ after: 60 lines a minute.
HOUR = lines(T0, 3600)
FIRST_HALF, SECOND_HALF = lines(T0, 1800), HOUR[len(lines(T0, 1800)) :]
IN_WINDOW = 42 * 60

OBJECTS: dict[str, bytes] = {
    # Fluent Bit keys, gzip, one of them two members
    "fb/checkout/2026/01/24/13/00/00": igzip.compress(FIRST_HALF),
    "fb/checkout/2026/01/24/13/30/00": gzip.compress(SECOND_HALF[:1000])
    + gzip.compress(SECOND_HALF[1000:]),
    # zstd, and plain, under Vector's date= layout
    "vec/date=2026-01-24/a.log.zst": zstandard.compress(lines(T0 + timedelta(minutes=10), 100)),
    "vec/date=2026-01-24/b.log": lines(T0 + timedelta(minutes=20), 50, service="cart"),
    # outside the widened window by key: never read
    "fb/checkout/2026/01/24/10/00/00": igzip.compress(lines(T0 - timedelta(hours=3), 10)),
    "vec/date=2026-01-22/old.log": lines(T0 - timedelta(days=2), 10),
    # never log records
    "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/01/24/d.json.gz": gzip.compress(b"{}"),
    "exports/aws-logs-write-test": b"Permission Check Successful",
}
READABLE = [k for k in OBJECTS if "/10/00/00" not in k and "01-22" not in k]
READABLE = [k for k in READABLE if "Digest" not in k and "write-test" not in k]
ROWS_IN_WINDOW = IN_WINDOW + 100 + 50


def settings(**overrides) -> Settings:
    return Settings(**{"s3_max_attempts": 1, "download_concurrency": 4, **overrides})


@pytest.fixture()
def filled(s3, bucket: str) -> str:
    for key, data in OBJECTS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return bucket


@pytest.fixture()
def proxy(moto_endpoint: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto_endpoint) as p:
        yield p


def run(tmp_path: Path, sources: list[Source], windows=None, **kw) -> EvidenceManifest:
    result = gather_logs(sources, windows or [WINDOW], tmp_path / "out", "INC-1", settings(**kw))
    assert result.parquet_path == tmp_path / "out" / "evidence" / "logs.parquet"
    on_disk = EvidenceManifest.model_validate_json(result.manifest_path.read_text())
    assert on_disk == result.manifest
    return result.manifest


def frame(tmp_path: Path):
    table = pq.read_table(tmp_path / "out" / "evidence" / "logs.parquet")
    assert table.schema.equals(CANONICAL_SCHEMA)
    return table


def test_gather_from_s3(filled: str, tmp_path: Path) -> None:
    manifest = run(tmp_path, [Source(name="app", uri=f"s3://{filled}/")])
    by_key = {o.key: o for o in manifest.objects}
    # The folder date=2026-01-22/ is never listed; the 10:00 key is listed, then pruned.
    assert set(by_key) == set(OBJECTS) - {"vec/date=2026-01-22/old.log"}
    stats = manifest.stats
    assert (stats.listed, stats.read, stats.skipped, stats.failed) == (7, 4, 3, 0)
    assert stats.skipped_by_reason == {
        "outside_window": 1,
        "cloudtrail_digest": 1,
        "write_test": 1,
    }
    old = by_key["fb/checkout/2026/01/24/10/00/00"]
    assert old.status is ObjectStatus.SKIPPED and old.sha256 is None
    assert old.reason == (
        "The key's time (2026-01-24T10:00:00Z to 2026-01-24T10:00:01Z) is more than 15 "
        "minutes from every window."
    )
    assert manifest.margin_minutes == 15
    assert manifest.errors == []

    for key in READABLE:
        record = by_key[key]
        assert record.status is ObjectStatus.READ, record.reason
        assert record.sha256 == hashlib.sha256(OBJECTS[key]).hexdigest()
        assert record.etag == hashlib.md5(OBJECTS[key]).hexdigest()
        assert record.size == len(OBJECTS[key])
        assert record.uri == f"s3://{filled}/{key}"
        assert record.object_id == object_id("app", key)
        assert record.format is LogFormat.JSONL
    assert stats.bytes_read == sum(len(OBJECTS[k]) for k in READABLE)
    assert stats.lines_parsed == 3600 + 150
    assert stats.rows_kept == ROWS_IN_WINDOW
    assert sum(o.lines_in_window for o in manifest.objects) == ROWS_IN_WINDOW
    assert stats.lines_rejected == 0  # rows outside the window are not rejections

    table = frame(tmp_path)
    assert table.num_rows == ROWS_IN_WINDOW
    ts = table.column("ts").to_pylist()
    assert min(ts) >= WINDOW.start and max(ts) < WINDOW.end
    assert set(table.column("source").to_pylist()) == {"app"}
    # Each row leads back to its line: line n of the first object is HOUR's line n.
    rows = table.filter(
        table.column("object_key").to_numpy(zero_copy_only=False)
        == "fb/checkout/2026/01/24/13/00/00"
    ).to_pylist()
    hour_lines = HOUR.split(b"\n")
    for row in rows[:: len(rows) // 7]:
        assert json.loads(hour_lines[row["line"] - 1])["message"] == row["message"]


def test_local_folder_gives_the_same_result_as_s3(filled: str, tmp_path: Path) -> None:
    for key, data in OBJECTS.items():
        path = tmp_path / "mirror" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    s3_manifest = run(tmp_path / "s3", [Source(name="app", uri=f"s3://{filled}/")])
    s3_rows = frame(tmp_path / "s3").sort_by([("object_key", "ascending"), ("line", "ascending")])

    for n, uri in enumerate(((tmp_path / "mirror").as_uri(), str(tmp_path / "mirror"))):
        manifest = run(tmp_path / str(n), [Source(name="app", uri=uri)])
        rows = frame(tmp_path / str(n)).sort_by(
            [("object_key", "ascending"), ("line", "ascending")]
        )
        assert rows.equals(s3_rows)
        strip = {"uri", "etag", "last_modified"}
        assert [o.model_dump(exclude=strip) for o in manifest.objects] == [
            o.model_dump(exclude=strip) for o in s3_manifest.objects
        ]
        assert manifest.stats.model_dump(exclude={"seconds"}) == s3_manifest.stats.model_dump(
            exclude={"seconds"}
        )


def test_window_with_no_data_gives_an_empty_valid_frame(filled: str, tmp_path: Path) -> None:
    empty = TimeWindow(start=T0 + timedelta(days=30), end=T0 + timedelta(days=30, hours=1))
    manifest = run(tmp_path, [Source(name="app", uri=f"s3://{filled}/")], windows=[empty])
    assert manifest.stats.rows_kept == 0
    assert manifest.stats.read == 0  # every dated key is pruned; nothing else to read
    table = frame(tmp_path)
    assert table.num_rows == 0


def test_rows_outside_the_window_of_a_kept_object_are_filtered(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "undated.log").write_bytes(HOUR)  # no time in the key: always read
    narrow = TimeWindow(start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=11))
    manifest = run(tmp_path, [Source(name="app", uri=str(folder))], windows=[narrow])
    (record,) = manifest.objects
    assert (record.lines_parsed, record.lines_in_window, record.rejected.total) == (3600, 60, 0)
    assert frame(tmp_path).num_rows == 60


def test_missing_bucket_is_a_source_error_and_other_sources_still_count(
    filled: str, moto_endpoint: str, tmp_path: Path
) -> None:
    sources = [
        Source(name="gone", uri="s3://no-such-bucket-x/logs/"),
        Source(name="app", uri=f"s3://{filled}/vec/"),
    ]
    manifest = run(tmp_path, sources)
    assert manifest.errors == [
        "Bucket 'no-such-bucket-x' does not exist (source 'gone', s3://no-such-bucket-x/logs/)."
    ]
    assert manifest.stats.read == 2
    assert manifest.stats.rows_kept == 150


def test_missing_local_folder(tmp_path: Path) -> None:
    manifest = run(tmp_path, [Source(name="local", uri=str(tmp_path / "nope"))])
    assert manifest.errors == [f"Folder '{tmp_path / 'nope'}' does not exist (source 'local')."]
    assert frame(tmp_path).num_rows == 0


def test_object_faults_fail_one_object_and_the_rest_still_count(
    filled: str, proxy: S3FaultProxy, tmp_path: Path
) -> None:
    denied, vanished = "vec/date=2026-01-24/a.log.zst", "vec/date=2026-01-24/b.log"
    proxy.fail("get", denied, ACCESS_DENIED)
    proxy.fail("get", vanished, NO_SUCH_KEY)
    manifest = run(
        tmp_path, [Source(name="app", uri=f"s3://{filled}/")], s3_endpoint_url=proxy.endpoint
    )
    by_key = {o.key: o for o in manifest.objects}
    assert by_key[denied].status is ObjectStatus.FAILED
    assert by_key[denied].sha256 is None  # nothing was read, so nothing is vouched for
    assert by_key[denied].reason.startswith(f"Access denied reading s3://{filled}/{denied}")
    assert by_key[vanished].status is ObjectStatus.FAILED
    assert "vanished between listing and reading" in by_key[vanished].reason
    assert (manifest.stats.read, manifest.stats.failed) == (2, 2)
    assert manifest.stats.rows_kept == IN_WINDOW
    assert manifest.stats.lines_rejected == 0


def test_corrupt_gzip_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    good_part = lines(T0 + timedelta(minutes=10), 200)
    bad = bytearray(gzip.compress(lines(T0 + timedelta(minutes=20), 5000)))
    bad[len(bad) // 2 : len(bad) // 2 + 100] = b"\x00" * 100
    (folder / "broken.log.gz").write_bytes(gzip.compress(good_part) + bytes(bad))
    (folder / "fine.log.gz").write_bytes(gzip.compress(lines(T0 + timedelta(minutes=30), 30)))
    manifest = run(tmp_path, [Source(name="app", uri=str(folder))])
    by_key = {o.key: o for o in manifest.objects}
    broken = by_key["broken.log.gz"]
    assert broken.status is ObjectStatus.PARTIAL
    assert broken.reason.startswith("corrupt gzip after ")
    assert "the rows parsed before the damage are kept" in broken.reason
    assert broken.sha256 == hashlib.sha256((folder / "broken.log.gz").read_bytes()).hexdigest()
    assert broken.lines_in_window >= 200
    assert by_key["fine.log.gz"].status is ObjectStatus.READ
    assert by_key["fine.log.gz"].lines_in_window == 30
    assert (manifest.stats.read, manifest.stats.partial, manifest.stats.failed) == (1, 1, 0)
    assert frame(tmp_path).num_rows == broken.lines_in_window + 30


def test_malformed_and_overlong_lines_are_counted_with_their_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    ts = T0 + timedelta(minutes=10)
    body = (
        jl(ts, "first")
        + b"{not json at all\n"
        + jl(ts, "x" * (1024 * 1024 + 10))  # just over the 1 MiB default
        + b"\n"  # blank: neither a row nor a rejection
        + b'{"time": "'
        + b"y" * (10 * 1024 * 1024)
        + b'"}\n'  # a 10 MB line
        + jl(ts, "last")
    )
    (folder / "bad.log.gz").write_bytes(gzip.compress(body))
    manifest = run(tmp_path, [Source(name="app", uri=str(folder))])
    (record,) = manifest.objects
    assert record.status is ObjectStatus.READ
    assert record.rejected.counts["line_too_long"] == 2
    assert sum(record.rejected.counts.values()) == 3
    assert record.lines_parsed == 2
    too_long = sorted(e.line for e in record.rejected.examples if e.reason == "line_too_long")
    assert too_long == [3, 5]
    other = [e.line for e in record.rejected.examples if e.reason != "line_too_long"]
    assert other == [2]
    table = frame(tmp_path)
    rows = table.select(["line", "message"]).to_pylist()
    assert sorted((r["line"], r["message"]) for r in rows) == [(1, "first"), (6, "last")]
    assert manifest.stats.lines_rejected == 3


def test_text_logs_parse_in_worker_processes_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    text = b"".join(
        f"{(T0 + timedelta(seconds=i)):%Y-%m-%dT%H:%M:%SZ} INFO request {i} ok\n".encode()
        for i in range(3600)
    )
    for n in range(3):
        (folder / f"part-{n}.log.gz").write_bytes(gzip.compress(text))
    source = [Source(name="app", uri=str(folder))]
    threads = run(tmp_path / "threads", source, parse_workers=2)
    # Any start method the platform offers must give the same frame as parsing in threads.
    monkeypatch.setattr(gather_module, "PROCESS_POOL_MIN_BYTES", 0)
    processes = run(tmp_path / "processes", source, parse_workers=2)
    assert {o.format for o in processes.objects} == {LogFormat.TEXT}
    order = [("object_key", "ascending"), ("line", "ascending")]
    in_processes = frame(tmp_path / "processes").sort_by(order)
    assert in_processes.equals(frame(tmp_path / "threads").sort_by(order))
    assert processes.stats.rows_kept == threads.stats.rows_kept == 3 * IN_WINDOW


class RecordingProgress:
    """A ProgressReporter that keeps every call, to check what the stage reports."""

    def __init__(self) -> None:
        self.totals: dict[str, float | None] = {}
        self.done: dict[str, float] = {}
        self.finished: list[str] = []

    def add(self, name: str, total: float | None, in_bytes: bool = False) -> None:
        self.totals[name] = total

    def advance(self, name: str, amount: float = 1) -> None:
        self.done[name] = self.done.get(name, 0) + amount

    def finish(self, name: str) -> None:
        self.finished.append(name)


def test_progress_is_reported_through_the_callback(filled: str, tmp_path: Path) -> None:
    progress = RecordingProgress()
    result = gather_logs(
        [Source(name="app", uri=f"s3://{filled}/")],
        [WINDOW],
        tmp_path,
        "INC-1",
        settings(),
        on_progress=progress,
    )
    assert result.manifest.stats.rows_kept == ROWS_IN_WINDOW
    read = [o for o in result.manifest.objects if o.status is ObjectStatus.READ]
    assert progress.done["listing"] == len(result.manifest.objects)
    assert progress.totals["parsing"] == progress.done["parsing"] == len(read)
    assert (
        progress.totals["downloading"] == progress.done["downloading"] == sum(o.size for o in read)
    )
    assert {"listing", "downloading"} <= set(progress.finished)


def test_rich_progress_bars_go_to_stderr(filled: str, tmp_path: Path, capsys) -> None:
    from flows.progress import RichProgress

    bars = RichProgress()
    with bars.shown():
        gather_logs(
            [Source(name="app", uri=f"s3://{filled}/")],
            [WINDOW],
            tmp_path,
            "INC-1",
            settings(),
            bars,
        )
    captured = capsys.readouterr()
    assert "downloading" in captured.err and "parsing" in captured.err
    assert "downloading" not in captured.out


AWS_FORMATS = Path(__file__).parent.parent / "data" / "aws-formats"


def test_cloudtrail_documents_are_parsed_whole(tmp_path: Path) -> None:
    example = json.loads((AWS_FORMATS / "cloudtrail-examples.json").read_text())["Records"][0]
    records = [
        {**example, "eventTime": f"{(T0 + timedelta(seconds=i)):%Y-%m-%dT%H:%M:%SZ}"}
        for i in range(0, 3600, 2)
    ]
    document = json.dumps({"Records": records}, separators=(",", ":")).encode()
    assert len(document) > 1024 * 1024 and b"\n" not in document  # one line over the limit
    folder = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1" / "2026" / "01"
    key = "24/123456789012_CloudTrail_us-east-1_20260124T1335Z_AbCd.json.gz"
    (folder / key).parent.mkdir(parents=True)
    (folder / key).write_bytes(gzip.compress(document))
    manifest = run(tmp_path, [Source(name="trail", uri=str(tmp_path / "AWSLogs"))])
    (record,) = manifest.objects
    assert record.format is LogFormat.CLOUDTRAIL
    assert record.status is ObjectStatus.READ
    assert (record.lines_parsed, record.lines_in_window, record.rejected.total) == (1800, 1260, 0)
    table = frame(tmp_path)
    attrs = json.loads(table.column("attrs")[0].as_py())
    assert "StartInstances" in json.dumps(attrs)
    # Flagged here so that the baseline never decodes attrs to find them.
    assert table.column("change_record").to_pylist() == [True] * 1260


def test_lines_without_a_year_are_dated_by_the_incident_not_the_upload(tmp_path: Path) -> None:
    # Syslog copied into the bucket two years after the incident: its lines still belong to
    # the incident's year (before, the object's date gave them the year of the upload).
    folder = tmp_path / "syslog"
    folder.mkdir()
    path = folder / "messages.log"
    path.write_bytes(
        b"".join(
            f"{(T0 + timedelta(minutes=m)):%b %d %H:%M:%S} web-1 nginx[7]: up {m}\n".encode()
            for m in range(60)
        )
    )
    uploaded = (T0 + timedelta(days=730)).timestamp()
    os.utime(path, (uploaded, uploaded))
    manifest = run(tmp_path, [Source(name="hosts", uri=str(folder), format=LogFormat.TEXT)])
    (record,) = manifest.objects
    assert (record.lines_parsed, record.lines_in_window) == (60, 42)
    assert frame(tmp_path).column("service").to_pylist()[0] == "nginx"


def test_alb_access_logs(tmp_path: Path) -> None:
    folder = tmp_path / "alb"
    folder.mkdir()
    text = (AWS_FORMATS / "alb-access-log-examples.log").read_bytes()
    (folder / "alb.log.gz").write_bytes(gzip.compress(text))
    day = datetime(2018, 7, 2, tzinfo=UTC)
    manifest = run(
        tmp_path,
        [Source(name="lb", uri=str(folder))],
        windows=[TimeWindow(start=day, end=day + timedelta(days=1))],
    )
    (record,) = manifest.objects
    assert record.format is LogFormat.ALB
    assert (record.lines_parsed, record.lines_in_window) == (7, 5)  # two are from November
    table = frame(tmp_path)
    assert set(table.column("status").to_pylist()) >= {200}
    assert table.column("change_record").to_pylist() == [False] * 5
