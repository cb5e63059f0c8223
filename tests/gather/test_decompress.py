"""Streaming decompression by magic bytes, and line chunking that keeps numbering exact."""

from __future__ import annotations

import gzip
import io
import random
import tracemalloc

import pytest
import zstandard
from isal import igzip

from tasks.gather.decompress import (
    TOO_LONG,
    Compression,
    CorruptStream,
    detect_compression,
    iter_line_blocks,
    open_decompressed,
    peek,
)

LINES = [f'{{"n": {i}, "msg": "line {i}"}}\n'.encode() for i in range(5000)]
TEXT = b"".join(LINES)


def inflate(data: bytes) -> tuple[Compression, bytes]:
    compression, stream = open_decompressed(io.BytesIO(data))
    return compression, stream.read()


def test_compression_is_recognised_by_magic_bytes_not_extension() -> None:
    assert detect_compression(gzip.compress(b"x")) is Compression.GZIP
    assert detect_compression(zstandard.compress(b"x")) is Compression.ZSTD
    assert detect_compression(b'{"a": 1}\n') is Compression.NONE
    assert detect_compression(b"") is Compression.NONE


def test_multi_member_gzip_is_read_to_the_end() -> None:
    half = len(LINES) // 2
    data = igzip.compress(b"".join(LINES[:half])) + gzip.compress(b"".join(LINES[half:]))
    compression, out = inflate(data)
    assert compression is Compression.GZIP
    assert out == TEXT


def test_multi_frame_zstd_is_read_to_the_end() -> None:
    cctx = zstandard.ZstdCompressor()
    data = cctx.compress(TEXT[:1000]) + cctx.compress(TEXT[1000:])
    compression, out = inflate(data)
    assert compression is Compression.ZSTD
    assert out == TEXT


def test_plain_data_passes_through() -> None:
    assert inflate(TEXT) == (Compression.NONE, TEXT)
    assert inflate(b"") == (Compression.NONE, b"")


def test_corrupt_gzip_says_how_far_it_got() -> None:
    good = igzip.compress(TEXT[: len(TEXT) // 2])
    bad = bytearray(igzip.compress(TEXT[len(TEXT) // 2 :]))
    bad[len(bad) // 2 : len(bad) // 2 + 64] = b"\xff" * 64
    _, stream = open_decompressed(io.BytesIO(good + bytes(bad)))
    got = b""
    with pytest.raises(CorruptStream) as info:
        while chunk := stream.read(4096):
            got += chunk
    assert info.value.compression is Compression.GZIP
    assert info.value.after_bytes == len(got) >= len(TEXT) // 2
    assert str(info.value).startswith(f"corrupt gzip after {len(got)} bytes")


def test_truncated_gzip_is_corrupt_too() -> None:
    data = igzip.compress(TEXT)
    _, stream = open_decompressed(io.BytesIO(data[: len(data) - 100]))
    got = stream.read()  # what was inflated before the break comes first...
    assert got and TEXT.startswith(got)
    with pytest.raises(CorruptStream, match="truncated"):  # ...then the break
        stream.read()


def test_a_truncated_small_gzip_still_gives_what_it_holds() -> None:
    # One small member cut short: isal's GzipFile gave nothing at all from it.
    data = igzip.compress(TEXT[:5000])
    _, stream = open_decompressed(io.BytesIO(data[: len(data) * 3 // 4]))
    head, stream = peek(stream, 65536)
    assert len(head) > 1000 and TEXT.startswith(head)
    with pytest.raises(CorruptStream, match=f"corrupt gzip after {len(head)} bytes"):
        stream.read()


def test_corrupt_zstd() -> None:
    data = bytearray(zstandard.compress(TEXT))
    data[20:60] = b"\x00" * 40
    _, stream = open_decompressed(io.BytesIO(bytes(data)))
    with pytest.raises(CorruptStream, match="corrupt zstd"):
        stream.read()


def test_peek_puts_the_bytes_back() -> None:
    head, stream = peek(io.BytesIO(TEXT), 100)
    assert head == TEXT[:100]
    assert stream.read(50) == TEXT[:50]
    assert stream.read() == TEXT[50:]


def blocks(data: bytes, **kwargs):
    return list(iter_line_blocks(io.BytesIO(data), **kwargs))


def test_blocks_hold_whole_lines_and_number_them() -> None:
    out = blocks(TEXT, max_line_bytes=1024, block_bytes=10_000, read_bytes=3_000)
    assert len(out) > 5
    assert b"".join(b.data for b in out) == TEXT
    for block in out:
        assert block.data.endswith(b"\n")
        first = block.data.split(b"\n", 1)[0]
        assert first == LINES[block.first_line - 1].rstrip(b"\n")


def test_last_line_without_newline_is_kept() -> None:
    out = blocks(b"a\nb\nc", max_line_bytes=1024)
    assert b"".join(b.data for b in out) == b"a\nb\nc"


def test_overlong_lines_become_empty_lines_and_are_counted() -> None:
    limit = 1024
    lines = [b"short 1", b"x" * (limit + 1), b"short 3", b"y" * limit, b"z" * 5000, b"short 6"]
    out = blocks(b"\n".join(lines) + b"\n", max_line_bytes=limit, block_bytes=2048, read_bytes=512)
    text = b"".join(b.data for b in out)
    assert text.split(b"\n") == [b"short 1", b"", b"short 3", b"y" * limit, b"", b"short 6", b""]
    rejected = [ex for b in out for ex in b.rejected.examples]
    assert [(r.line, r.reason) for r in rejected] == [(2, TOO_LONG), (5, TOO_LONG)]
    assert rejected[0].excerpt == "x" * 200
    assert sum(b.rejected.counts.get(TOO_LONG, 0) for b in out) == 2


def test_overlong_last_line_without_newline() -> None:
    out = blocks(b"a\n" + b"b" * 5000, max_line_bytes=1024, read_bytes=100)
    assert b"".join(b.data for b in out) == b"a\n"
    assert [ex.line for b in out for ex in b.rejected.examples] == [2]


def test_random_line_lengths_against_a_simple_reference() -> None:
    rng = random.Random(7)
    limit = 300
    for _ in range(40):
        lines = [
            bytes([97 + rng.randrange(26)]) * rng.choice([0, 1, 5, 50, limit, limit + 1, 1000])
            for _ in range(rng.randrange(1, 60))
        ]
        data = b"\n".join(lines) + rng.choice([b"", b"\n"])
        expected_lines = [b"" if len(line) > limit else line for line in data.split(b"\n")]
        expected_bad = [i + 1 for i, line in enumerate(data.split(b"\n")) if len(line) > limit]
        out = blocks(
            data,
            max_line_bytes=limit,
            block_bytes=rng.choice([64, 400, 2000]),
            read_bytes=rng.choice([7, 100, 333]),
        )
        text = b"".join(b.data for b in out)
        if len(lines[-1]) > limit and not data.endswith(b"\n"):
            expected_lines = [*expected_lines[:-1], b""]
        assert text.split(b"\n") == expected_lines, data
        examples = [ex.line for b in out for ex in b.rejected.examples]
        assert set(examples) <= set(expected_bad)
        assert len(examples) >= min(3, len(expected_bad))
        assert sum(b.rejected.total for b in out) == len(expected_bad)
        line = 1
        for block in out:
            if block.data:
                assert block.first_line == line
            line += block.data.count(b"\n")


class _Endless(io.RawIOBase):
    """`size` bytes of one huge line and then a short one, generated on the fly."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.tail = b"\nafter\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left:
            n = min(len(buffer), self.left)
            buffer[:n] = b"x" * n
            self.left -= n
            return n
        n = min(len(buffer), len(self.tail))
        buffer[:n] = self.tail[:n]
        self.tail = self.tail[n:]
        return n


def test_a_10_mb_line_streams_past_without_being_held() -> None:
    block = 1024 * 1024
    tracemalloc.start()
    try:
        out = list(
            iter_line_blocks(
                io.BufferedReader(_Endless(10 * 1024 * 1024), 256 * 1024),
                max_line_bytes=1024 * 1024,
                block_bytes=block,
                read_bytes=256 * 1024,
            )
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b"".join(b.data for b in out) == b"\nafter\n"
    assert [ex.line for b in out for ex in b.rejected.examples] == [1]
    assert peak < 3 * block, f"peak {peak} bytes"
