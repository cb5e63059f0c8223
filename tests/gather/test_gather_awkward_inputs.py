"""The gather stage on inputs a new user brings: odd folder entries, encodings, cut-off
objects, huge lines. Each of these once ended a run or lost records without a word."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from tasks.baseline.patterns import mine_patterns
from tasks.contracts import EvidenceManifest, LogFormat, ObjectStatus, Source, TimeWindow
from tasks.gather import gather_logs
from tasks.settings import Settings

T0 = datetime(2026, 1, 24, 13, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=T0, end=T0 + timedelta(hours=1))


def text_lines(n: int, start: datetime = T0 + timedelta(minutes=5), word: str = "ok") -> str:
    return "".join(
        f"{(start + timedelta(seconds=i)).isoformat().replace('+00:00', 'Z')} INFO request "
        f"{i} {word}\n"
        for i in range(n)
    )


def gather(tmp_path: Path, folder: Path, fmt: LogFormat = LogFormat.AUTO) -> EvidenceManifest:
    source = Source(name="app", uri=str(folder), format=fmt)
    result = gather_logs([source], [WINDOW], tmp_path / "out", "INC-1", Settings())
    on_disk = EvidenceManifest.model_validate_json(result.manifest_path.read_text())
    assert on_disk == result.manifest
    return result.manifest


def rows(tmp_path: Path) -> list[dict]:
    return pq.read_table(tmp_path / "out" / "evidence" / "logs.parquet").to_pylist()


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    (path / "app.log").write_text(text_lines(10))
    return path


# --------------------------------------------------------------------------------------------
# Folder entries that are not regular files
# --------------------------------------------------------------------------------------------


def test_symlink_loops_are_skipped_with_a_reason_and_the_rest_is_read(
    tmp_path: Path, folder: Path
) -> None:
    (folder / "self.log").symlink_to("self.log")  # ELOOP when followed
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")  # a folder loop: sub/up/sub/up/...
    (folder / "sub" / "b.log").write_text(text_lines(5))
    manifest = gather(tmp_path, folder)
    by_key = {o.key: o for o in manifest.objects}
    assert by_key["app.log"].status is ObjectStatus.READ
    assert by_key["sub/b.log"].status is ObjectStatus.READ
    for key in ("self.log", "sub/up"):
        assert by_key[key].status is ObjectStatus.SKIPPED, key
        assert "symbolic link" in by_key[key].reason
    assert manifest.stats.skipped_by_reason == {"symlink_loop": 2}
    assert len(rows(tmp_path)) == 15


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_is_skipped_with_a_reason_not_read_or_lost(tmp_path: Path, folder: Path) -> None:
    os.mkfifo(folder / "pipe.log")
    (folder / "dangling.log").symlink_to("nowhere.log")
    manifest = gather(tmp_path, folder)
    by_key = {o.key: o for o in manifest.objects}
    assert by_key["pipe.log"].status is ObjectStatus.SKIPPED
    assert "named pipe" in by_key["pipe.log"].reason
    assert by_key["dangling.log"].status is ObjectStatus.SKIPPED
    assert manifest.stats.skipped_by_reason == {"special_file": 1, "broken_link": 1}
    assert by_key["app.log"].lines_in_window == 10


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codec, recorded",
    [
        ("utf-16", "utf-16-le"),  # Python writes a little-endian BOM
        ("utf-16-be", "utf-16-be"),  # no BOM: recognised by its NUL bytes
        ("utf-32", "utf-32-le"),
        ("utf-8-sig", None),  # UTF-8 all the same; the BOM must not spoil line 1
    ],
)
def test_utf16_and_utf32_logs_are_decoded(tmp_path: Path, codec: str, recorded: str | None) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "win.log").write_bytes(text_lines(20, word="café").encode(codec))
    (folder / "win.log.gz").write_bytes(gzip.compress(text_lines(5).encode(codec)))
    manifest = gather(tmp_path, folder)
    for record in manifest.objects:
        assert record.status is ObjectStatus.READ
        assert record.encoding == recorded
        assert record.rejected.total == 0, record.rejected
    got = sorted((r["object_key"], r["line"], r["message"]) for r in rows(tmp_path))
    assert got[0] == ("win.log", 1, "request 0 café")
    assert len(got) == 25


def test_invalid_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    data = text_lines(3).encode() + b"2026-01-24T13:06:00Z ERROR caf\xe9 \xff\xfe broken\n"
    data += b'{"time":"2026-01-24T13:06:01Z","msg":"\xc3"}\n'
    (folder / "mixed.log").write_bytes(data)
    (folder / "app.jsonl").write_bytes(b'{"time":"2026-01-24T13:06:01Z","msg":"caf\xe9"}\n')
    manifest = gather(tmp_path, folder)
    by_key = {o.key: o for o in manifest.objects}
    assert by_key["mixed.log"].invalid_utf8_lines == 2
    assert by_key["app.jsonl"].invalid_utf8_lines == 1
    assert manifest.stats.invalid_utf8_lines == 3
    messages = {r["message"] for r in rows(tmp_path)}
    assert "caf\ufffd \ufffd\ufffd broken" in messages
    assert "caf\ufffd" in messages


# --------------------------------------------------------------------------------------------
# Objects cut short
# --------------------------------------------------------------------------------------------


def _trail(n: int) -> bytes:
    events = [
        {
            "eventTime": (T0 + timedelta(minutes=10, seconds=i)).isoformat(),
            "eventSource": "ecs.amazonaws.com",
            "eventName": "UpdateService",
            "requestParameters": {"service": f"svc{i}"},
        }
        for i in range(n)
    ]
    return orjson.dumps({"Records": events})


def test_truncated_cloudtrail_keeps_its_complete_records_plain_or_gzip(tmp_path: Path) -> None:
    folder = tmp_path / "trail"
    folder.mkdir()
    whole = _trail(50)
    cut = whole[: whole.index(b"svc40")]  # inside record 41
    (folder / "plain.json").write_bytes(cut)
    gz = gzip.compress(whole)
    (folder / "cut.json.gz").write_bytes(gz[: len(gz) * 3 // 4])
    (folder / "whole.json").write_bytes(_trail(3))
    manifest = gather(tmp_path, folder, LogFormat.CLOUDTRAIL)
    by_key = {o.key: o for o in manifest.objects}
    plain, gzipped = by_key["plain.json"], by_key["cut.json.gz"]
    assert plain.status is ObjectStatus.PARTIAL
    assert plain.lines_in_window == 40
    assert "truncated" in plain.reason
    assert gzipped.status is ObjectStatus.PARTIAL
    assert 0 < gzipped.lines_in_window < 50
    assert "corrupt gzip" in gzipped.reason
    assert by_key["whole.json"].status is ObjectStatus.READ
    stats = manifest.stats
    assert (stats.read, stats.partial, stats.failed) == (1, 2, 0)
    kept = [r for r in rows(tmp_path) if r["object_key"] == "plain.json"]
    assert sorted(r["line"] for r in kept) == list(range(1, 41))


# --------------------------------------------------------------------------------------------
# Long messages and lines
# --------------------------------------------------------------------------------------------


def test_long_messages_and_a_10_mb_line_pass_through(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    long_text = "é漢" * 3000  # 6,000 characters, 15,000 bytes
    long_json = {"time": "2026-01-24T13:07:00Z", "msg": "x" * 5000, "blob": "y" * 10_000}
    data = (
        text_lines(2)
        + f"2026-01-24T13:06:00Z ERROR {long_text}\n"
        + "2026-01-24T13:06:01Z WARN "
        + "z" * (10 * 1024 * 1024)
        + "\n"
        + text_lines(2, start=T0 + timedelta(minutes=7))
    )
    (folder / "big.log").write_text(data)
    (folder / "big.jsonl").write_text(json.dumps(long_json) + "\n")
    manifest = gather(tmp_path, folder)
    by_key = {o.key: o for o in manifest.objects}
    big = by_key["big.log"]
    assert big.status is ObjectStatus.READ
    assert big.rejected.counts == {"line_too_long": 1}
    assert big.rejected.examples[0].line == 4
    assert big.lines_in_window == 5
    assert by_key["big.jsonl"].lines_in_window == 1
    messages = [r["message"] for r in rows(tmp_path)]
    assert long_text in messages and "x" * 5000 in messages
    # The baseline mines patterns over these messages: long non-ASCII ones included.
    mined = mine_patterns(messages)
    assert len(mined.ids) == len(messages)
