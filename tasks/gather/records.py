"""Opening one object's records: stored bytes -> decompressed -> UTF-8 -> format -> blocks.

The gather stage and `postmortem patterns` both read objects through `open_records`, so a file
gives the same lines, line numbers and format in both. Parsing the blocks is left to the
caller: the stage sends them to a pool, `patterns` parses them in line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tasks.contracts import LogFormat
from tasks.gather import decompress
from tasks.gather.decompress import (
    MAX_WHOLE_OBJECT_BYTES,
    READ_BYTES,
    SNIFF_BYTES,
    Compression,
    CorruptStream,
    LineBlock,
    TooLarge,
    iter_line_blocks,
    open_decompressed,
    peek,
)
from tasks.gather.encoding import Utf8Transcoder, detect_encoding, invalid_utf8_lines
from tasks.gather.formats import needs_whole_object, sniff_format


@dataclass
class OpenedObject:
    """An object ready to parse: its format, how it was stored, and its blocks of records."""

    fmt: LogFormat  # never AUTO
    compression: Compression
    encoding: str | None  # the codec transcoded from (utf-16-le...), None for UTF-8
    blocks: Iterator[LineBlock]  # CorruptStream or TooLarge may come out of it part-way


def open_records(
    raw: BinaryIO,
    key: str,
    fmt: LogFormat,
    *,
    max_line_bytes: int,
    block_bytes: int | None = None,
    max_whole_bytes: int = MAX_WHOLE_OBJECT_BYTES,
) -> OpenedObject:
    """Decompress, decode and sniff `raw` (stored bytes); `fmt` AUTO is resolved here.

    Blocks hold whole lines numbered from 1, or for whole-object formats (CloudTrail) the
    whole object in one block. When compressed data breaks part-way, the complete lines (or
    the bytes, for a whole object) before the damage come out first, then `CorruptStream`.
    """
    compression, stream = open_decompressed(raw)
    head, stream = peek(stream, SNIFF_BYTES)
    encoding, bom = detect_encoding(head)
    if encoding == "utf-8-sig":
        # UTF-8 all the same: only the mark is dropped. Transcoding would also replace bad
        # bytes before `invalid_utf8_lines` could count them.
        stream.read(bom)
        encoding = None
        head, stream = peek(stream, SNIFF_BYTES)
    elif encoding is not None:
        stream = Utf8Transcoder(stream, encoding, skip=bom)  # type: ignore[assignment]
        head, stream = peek(stream, SNIFF_BYTES)  # sniff the text, not the encoded bytes
    if fmt is LogFormat.AUTO:
        fmt = sniff_format(key, head)
    if block_bytes is None:
        # Looked up per call, not bound at import, so that bench/ingest.py --block-mb can vary it.
        block_bytes = decompress.DEFAULT_BLOCK_BYTES
    if needs_whole_object(fmt):
        blocks = _whole(stream, max_whole_bytes)
    else:
        blocks = _counted(
            iter_line_blocks(stream, max_line_bytes=max_line_bytes, block_bytes=block_bytes)
        )
    return OpenedObject(fmt, compression, encoding, blocks)


def _counted(blocks: Iterator[LineBlock]) -> Iterator[LineBlock]:
    for block in blocks:
        block.invalid_utf8_lines = invalid_utf8_lines(block.data)
        yield block


def _whole(stream: BinaryIO, limit: int) -> Iterator[LineBlock]:
    """The rest of the stream as one block; what came out before a break, then the break."""
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := stream.read(READ_BYTES):
            size += len(chunk)
            if size > limit:
                raise TooLarge(
                    f"the decompressed object is larger than {limit // (1024 * 1024)} MiB"
                )
            parts.append(chunk)
    except CorruptStream:
        if parts:
            yield LineBlock(first_line=1, data=b"".join(parts))
        raise
    data = b"".join(parts)
    yield LineBlock(first_line=1, data=data, invalid_utf8_lines=invalid_utf8_lines(data))
