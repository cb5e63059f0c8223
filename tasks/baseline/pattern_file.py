"""`postmortem patterns FILE`: the pattern of every line of one log file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tasks.baseline.patterns import mine_patterns
from tasks.contracts import LogFormat
from tasks.gather.decompress import (
    MAX_WHOLE_OBJECT_BYTES,
    SNIFF_BYTES,
    iter_line_blocks,
    open_decompressed,
    peek,
    read_whole,
)
from tasks.gather.formats import ParseContext, needs_whole_object, parse_block, sniff_format


def file_messages(path: Path, fmt: LogFormat, max_line_bytes: int) -> list[str | None]:
    """One message per line (record, for CloudTrail): the parsed message where the format gives
    one, else the raw line, so that every line gets a pattern; None for blank lines."""
    ctx = ParseContext(
        source="file",
        key=path.name,
        default_service=None,
        reference_time=datetime.fromtimestamp(path.stat().st_mtime, UTC),
    )
    with path.open("rb") as raw:
        _, stream = open_decompressed(raw)
        head, stream = peek(stream, SNIFF_BYTES)
        if fmt is LogFormat.AUTO:
            fmt = sniff_format(path.name, head)
        if needs_whole_object(fmt):
            table, _ = parse_block(fmt, read_whole(stream, MAX_WHOLE_OBJECT_BYTES), 1, ctx)
            return table.column("message").to_pylist()
        messages: list[str | None] = []
        for block in iter_line_blocks(stream, max_line_bytes=max_line_bytes):
            lines = block.data.split(b"\n")
            if block.data.endswith(b"\n"):
                lines.pop()
            messages.extend(line.decode("utf-8", "replace").strip() or None for line in lines)
            table, _ = parse_block(fmt, block.data, block.first_line, ctx)
            for line, message in zip(
                table.column("line").to_pylist(), table.column("message").to_pylist(), strict=True
            ):
                if message:
                    messages[line - 1] = message
    return messages


def file_pattern_records(
    path: Path, fmt: LogFormat = LogFormat.AUTO, *, max_line_bytes: int = 1_048_576
) -> Iterator[dict]:
    """`{"line", "pattern_id", "pattern"}` for every line; blank lines have no pattern."""
    messages = file_messages(path, fmt, max_line_bytes)
    present = [i for i, m in enumerate(messages) if m is not None]
    mined = mine_patterns([messages[i] for i in present])
    ids: list[str | None] = [None] * len(messages)
    for i, pid in zip(present, mined.ids, strict=True):
        ids[i] = pid
    for n, pid in enumerate(ids, 1):
        yield {"line": n, "pattern_id": pid, "pattern": mined.templates.get(pid) if pid else None}
