"""Text encodings: every parser reads UTF-8, so other encodings are transcoded on the way in.

Windows tools (PowerShell's `>`, Event Viewer exports, some .NET loggers) write UTF-16 with a
byte-order mark. Read as UTF-8, every line of such a file is rejected and nothing says why. A
BOM is unambiguous, so a stream that starts with one is transcoded to UTF-8 as it streams by;
UTF-16 without a BOM is recognised by its NUL bytes in every other position, which no text
log in an 8-bit encoding has. A UTF-8 BOM is dropped, or the first line would not parse.

Line numbers survive transcoding: each line feed stays one line feed.

Bytes that are not valid UTF-8 are replaced by U+FFFD by the parsers; `invalid_utf8_lines`
counts the lines that had some, so the manifest can say so instead of hiding it.
"""

from __future__ import annotations

import codecs
from typing import BinaryIO

from tasks.gather.decompress import ReadStream

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
)
_READ_BYTES = 1024 * 1024


def detect_encoding(head: bytes) -> tuple[str | None, int]:
    """(codec, BOM length) for a stream that is not plain UTF-8, else (None, 0)."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    sample = head[:4096]
    if len(sample) >= 16:
        even, odd = sample[0::2], sample[1::2]
        # Mostly-ASCII UTF-16: one byte of each pair is NUL, the other almost never.
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le", 0
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be", 0
    return None, 0


class Utf8Transcoder(ReadStream):
    """A byte stream in `codec`, read as UTF-8 (undecodable input becomes U+FFFD)."""

    def __init__(self, raw: BinaryIO, codec: str, skip: int = 0) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self._buffer = bytearray()
        self._eof = False
        if skip:
            raw.read(skip)

    def _fill(self, size: int) -> None:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            data = self._raw.read(_READ_BYTES)
            self._eof = not data
            self._buffer += self._decoder.decode(data, final=self._eof).encode("utf-8")

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        self._fill(size)
        if size < 0 or size >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def invalid_utf8_lines(data: bytes) -> int:
    """How many lines of `data` hold bytes that are not valid UTF-8."""
    if data.isascii():
        return 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return 0
    count = 0
    for line in data.split(b"\n"):
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                count += 1
    return count
