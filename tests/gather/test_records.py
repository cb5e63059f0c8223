"""open_records: one way from stored bytes to blocks of records, for gather and `patterns`."""

from __future__ import annotations

import gzip
import io

import orjson
import pytest

from tasks.contracts import LogFormat
from tasks.gather.decompress import CorruptStream, TooLarge
from tasks.gather.records import open_records

TRAIL = orjson.dumps(
    {"Records": [{"eventTime": "2026-01-05T10:00:00Z", "n": i} for i in range(200)]}
)


def test_sniffs_decodes_and_numbers_lines_from_one() -> None:
    text = "".join(f"2026-01-05T10:00:{i:02d}Z INFO line {i}\n" for i in range(50))
    opened = open_records(
        io.BytesIO(gzip.compress(text.encode("utf-16"))),
        "x.log",
        LogFormat.AUTO,
        max_line_bytes=1000,
        block_bytes=256,
    )
    assert (opened.fmt, opened.encoding) == (LogFormat.TEXT, "utf-16-le")
    blocks = list(opened.blocks)
    assert blocks[0].first_line == 1
    assert b"".join(b.data for b in blocks).decode() == text


def test_a_utf8_bom_is_dropped_and_bad_bytes_after_it_are_still_counted() -> None:
    text = b"\xef\xbb\xbf2026-01-05T10:00:00Z INFO caf\xe9\n2026-01-05T10:00:01Z INFO ok\n"
    opened = open_records(io.BytesIO(text), "x.log", LogFormat.AUTO, max_line_bytes=1000)
    assert (opened.fmt, opened.encoding) == (LogFormat.TEXT, None)
    blocks = list(opened.blocks)
    assert b"".join(b.data for b in blocks) == text[3:]
    assert sum(b.invalid_utf8_lines for b in blocks) == 1


def test_a_whole_object_comes_as_one_block_and_its_part_before_a_break_too() -> None:
    opened = open_records(io.BytesIO(TRAIL), "t.json", LogFormat.AUTO, max_line_bytes=10)
    assert opened.fmt is LogFormat.CLOUDTRAIL
    assert [b.data for b in opened.blocks] == [TRAIL]  # lines longer than 10 bytes: no matter
    gz = gzip.compress(TRAIL)
    opened = open_records(
        io.BytesIO(gz[: len(gz) // 2]), "t.json.gz", LogFormat.CLOUDTRAIL, max_line_bytes=10
    )
    blocks = opened.blocks
    first = next(blocks)
    assert TRAIL.startswith(first.data) and len(first.data) > 100
    with pytest.raises(CorruptStream):
        next(blocks)


def test_a_whole_object_over_the_limit_is_refused() -> None:
    opened = open_records(
        io.BytesIO(TRAIL), "t.json", LogFormat.CLOUDTRAIL, max_line_bytes=10, max_whole_bytes=1000
    )
    with pytest.raises(TooLarge):
        list(opened.blocks)
