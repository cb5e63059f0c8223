"""Streaming decompression and line chunking for log objects.

Compression is recognised by magic bytes, never by file extension: shippers name files
`.log` that are gzip (Vector, ALB), and `.gz` files that a tool already inflated on download.

- gzip goes through isal's zlib, at several times the stdlib's speed, releasing the GIL while
  it inflates. Every member of a concatenated stream is read (chunked writers produce them; a
  bare `zlib.decompressobj(31)` silently stops after the first), and everything inflated
  before a break is handed over before the error (isal's `GzipFile` drops its last read).
- zstd goes through `zstandard` with `read_across_frames=True`, for the same reason.
- Anything else is read as it is.

Corrupt or truncated compressed data raises `CorruptStream`, which says how many decompressed
bytes came out before the damage. The gather stage keeps the lines it had already parsed from
such an object (they are genuine records, and each one still leads back to its line) and marks
the object PARTIAL with that sentence, so the reviewer knows the object was only partly read.

`iter_line_blocks` cuts a decompressed stream into blocks of complete lines, each with the
1-based number of its first line. A line longer than `max_line_bytes` becomes an empty line, so
that the numbering of every later line stays right, and is counted as rejected
(`line_too_long`). It is dropped while it streams past, so a 10 MB line, or a multi-gigabyte
file without a single newline, never sits in memory.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import BinaryIO

import numpy as np
import zstandard
from isal import isal_zlib

from tasks.contracts import RejectTally

#: Lines per parse job come in blocks of about this size: big enough that per-block overhead
#: (a parse call, ~80 Arrow kernel calls, maybe a trip to another process) stays small, small
#: enough that peak memory does not follow the objects' size. Every block in flight holds its
#: bytes plus the Arrow tables parsing builds from them, and readers hold one more each while
#: they wait for a slot: with 8 MiB blocks, gather's peak grew a third from 2 to 7.5 MB objects;
#: with 2 MiB it stays flat, at no cost in speed (1 MiB costs more CPU per GB). See
#: docs/ingest.md.
DEFAULT_BLOCK_BYTES = 2 * 1024 * 1024
READ_BYTES = 1024 * 1024

#: How much decompressed data format sniffing looks at.
SNIFF_BYTES = 64 * 1024
# Whole-object formats (CloudTrail) are read in one piece; real files are a few MB at most.
MAX_WHOLE_OBJECT_BYTES = 256 * 1024 * 1024

TOO_LONG = "line_too_long"

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Compression(StrEnum):
    GZIP = "gzip"
    ZSTD = "zstd"
    NONE = "none"


class CorruptStream(Exception):
    """Compressed data that cannot be inflated past some point."""

    def __init__(self, compression: Compression, after_bytes: int, detail: str) -> None:
        self.compression = compression
        self.after_bytes = after_bytes
        self.detail = detail
        super().__init__(f"corrupt {compression} after {after_bytes} bytes: {detail}")


class TooLarge(Exception):
    """An object that must be parsed whole but is bigger than we are willing to hold."""


def detect_compression(head: bytes) -> Compression:
    if head.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(_ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


class ReadStream(io.RawIOBase):
    """A readable raw stream defined by its `read`; `readinto` follows from it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Prefixed(ReadStream):
    """A stream with some already-read bytes put back in front of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                head, self._head = bytes(self._head), memoryview(b"")
                return head + self._rest.read()
            n = min(size, len(self._head))
            out, self._head = bytes(self._head[:n]), self._head[n:]
            return out
        return self._rest.read(size)


def peek(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first `size` bytes (fewer at end of stream), and a stream that still starts with them."""
    parts: list[bytes] = []
    got = 0
    rest = stream
    while got < size:
        try:
            chunk = stream.read(size - got)
        except CorruptStream as exc:
            if not parts:
                raise
            rest = _Broken(exc)  # the head is good data: the break comes after it
            break
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    head = b"".join(parts)
    return head, _Prefixed(head, rest)  # type: ignore[return-value]


class _Broken(ReadStream):
    """What is left of a stream that broke: the error, on every read."""

    def __init__(self, error: CorruptStream) -> None:
        self._error = error

    def read(self, size: int = -1) -> bytes:
        raise self._error


class _Decompressed(ReadStream):
    """Counts what comes out and turns codec errors into `CorruptStream`.

    Errors raised by the underlying stored-bytes stream (network, permissions) pass through
    untouched: they are not corruption.
    """

    def __init__(self, reader, compression: Compression, errors: tuple[type[BaseException], ...]):
        self._reader = reader
        self._compression = compression
        self._errors = errors
        self.bytes_out = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._reader.read(size)
        except self._errors as exc:
            raise CorruptStream(self._compression, self.bytes_out, _describe(exc)) from exc
        self.bytes_out += len(data)
        return data


class _GzipMembers(ReadStream):
    """Every gzip member of a stream, inflated by isal's zlib.

    isal's `GzipFile` hands over nothing from its last read when the data breaks off there: a
    truncated one-member object (a failed upload, CloudTrail's usual size) would give no
    bytes at all. A decompressor object gives everything inflated before the break; the error
    comes on the next read. Reads may return fewer bytes than asked, as raw streams do.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = isal_zlib.decompressobj(31)
        self._input = b""  # compressed bytes not yet given to the decompressor
        self._in_member = False  # some of the current member was read
        self._out = b""
        self._error: BaseException | None = None
        self._done = False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while not self._done and self._error is None:
                self._step()
                parts.append(self._out)
                self._out = b""
            if not any(parts) and self._error is not None:
                raise self._error
            return b"".join(parts)
        while not self._out and not self._done and self._error is None:
            self._step()
        if not self._out and self._error is not None:
            raise self._error
        out = self._out
        if len(out) <= size:
            self._out = b""
            return out
        self._out = out[size:]
        return out[:size]

    def _step(self) -> None:
        # Small input pieces keep each call's leftover input (copied back in) small.
        data = self._input or self._raw.read(_GZIP_INPUT_BYTES)
        self._input = b""
        if not data:
            if self._in_member:
                self._error = EOFError("truncated")
            self._done = True
            return
        if not self._in_member:
            data = data.lstrip(b"\x00")  # zero padding between or after members
            if not data:
                return
        self._in_member = True
        try:
            # Bounded output: a megabyte of zeros inflates to a gigabyte.
            self._out = self._inflate.decompress(data, READ_BYTES)
        except isal_zlib.error as exc:
            self._error = exc
            return
        self._input = self._inflate.unconsumed_tail
        if self._inflate.eof:
            # The next member, if any; writers may pad the end with zeros, as gzip allows.
            self._input = self._inflate.unused_data
            self._inflate = isal_zlib.decompressobj(31)
            self._in_member = False


_GZIP_INPUT_BYTES = 128 * 1024


def _describe(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the stream ends before its end-of-stream marker (truncated object)"
    return str(exc) or type(exc).__name__


def open_decompressed(raw: BinaryIO) -> tuple[Compression, BinaryIO]:
    """Wrap a stream of stored bytes so that reading it yields the decompressed bytes."""
    head, stream = peek(raw, 4)
    compression = detect_compression(head)
    if compression is Compression.GZIP:
        reader = _GzipMembers(stream)
        errors = (isal_zlib.error, EOFError)
    elif compression is Compression.ZSTD:
        reader = zstandard.ZstdDecompressor().stream_reader(
            stream, read_across_frames=True, closefd=False, read_size=READ_BYTES
        )
        errors = (zstandard.ZstdError,)
    else:
        return compression, stream
    return compression, _Decompressed(reader, compression, errors)  # type: ignore[return-value]


@dataclass
class LineBlock:
    first_line: int  # 1-based number of the first line in `data`
    data: bytes  # complete lines; only the object's last line may lack its newline
    rejected: RejectTally = field(default_factory=RejectTally)
    invalid_utf8_lines: int = 0  # lines with bytes that are not UTF-8 (parsers replace them)


def iter_line_blocks(
    stream: BinaryIO,
    *,
    max_line_bytes: int,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    read_bytes: int = READ_BYTES,
) -> Iterator[LineBlock]:
    """Blocks of whole lines, at most about `block_bytes + read_bytes` each.

    Memory stays within one block plus one read however long the lines are: a line that
    outgrows `max_line_bytes` is reported, cut from the buffer and skipped as it streams by.
    """
    buf = bytearray()
    line_no = 1  # number of the line that starts buf
    pending = RejectTally()
    discarding = False  # inside an over-long line that was already reported
    eof = False
    while not eof:
        try:
            chunk = stream.read(read_bytes)
        except CorruptStream:
            # Hand over the whole lines read before the damage, then report it.
            cut = buf.rfind(b"\n") + 1
            if cut:
                data = _blank_long_lines(_take(buf, cut), line_no, max_line_bytes, pending)
                yield LineBlock(first_line=line_no, data=data, rejected=pending)
            raise
        eof = not chunk
        if discarding and chunk:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            # The over-long line ends here: it stays in the numbering as an empty line.
            buf += b"\n"
            chunk = chunk[nl + 1 :]
            discarding = False
        buf += chunk

        tail = buf.rfind(b"\n") + 1
        if len(buf) - tail > max_line_bytes:
            bad_line = line_no + buf.count(b"\n", 0, tail)
            pending.add(bad_line, TOO_LONG, bytes(buf[tail : tail + 400]))
            del buf[tail:]
            discarding = not eof

        if len(buf) >= block_bytes or (eof and buf):
            cut = len(buf) if eof else tail
            if cut == 0:
                continue
            data = _take(buf, cut)
            data = _blank_long_lines(data, line_no, max_line_bytes, pending)
            yield LineBlock(first_line=line_no, data=data, rejected=pending)
            line_no += count_lines(data)
            pending = RejectTally()
    if pending.total:
        # Only an over-long last line was left: report it with an empty block.
        yield LineBlock(first_line=line_no, data=b"", rejected=pending)


def _take(buf: bytearray, n: int) -> bytes:
    """The first n bytes, removed from buf, with a single copy."""
    with memoryview(buf) as view:
        data = bytes(view[:n])
    del buf[:n]  # bytearray drops a prefix by moving its start, not the bytes
    return data


def count_lines(data: bytes) -> int:
    """Newlines in data; numpy's compare releases the GIL, unlike bytes.count."""
    if len(data) < 65536:
        return data.count(b"\n")
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))


def _blank_long_lines(data: bytes, first_line: int, limit: int, tally: RejectTally) -> bytes:
    """Replace complete lines longer than `limit` by empty lines.

    Any such line spans a whole aligned window of `(limit + 1) // 2` bytes, so probing one
    window at a time with `find` (memchr) costs a handful of calls per block instead of a
    Python step per line.
    """
    step = max(1, (limit + 1) // 2)
    if len(data) <= limit:
        return data
    cuts: list[tuple[int, int]] = []
    pos = 0
    while pos < len(data):
        if data.find(b"\n", pos, pos + step) >= 0:
            pos += step
            continue
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        if end - start > limit:
            cuts.append((start, end))
        pos = end + 1
    if not cuts:
        return data
    parts = []
    prev = 0
    for start, end in cuts:
        line = first_line + data.count(b"\n", 0, start)
        tally.add(line, TOO_LONG, data[start : start + 400])
        parts.append(data[prev:start])
        prev = end  # keep the newline, drop the content
    parts.append(data[prev:])
    return b"".join(parts)
