"""`postmortem patterns FILE`: the pattern of every line of one log file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tasks.baseline.patterns import mine_patterns
from tasks.contracts import LogFormat
from tasks.errors import SpecError
from tasks.gather.decompress import CorruptStream, TooLarge
from tasks.gather.formats import ParseContext, needs_whole_object, parse_block
from tasks.gather.formats.text import message_content
from tasks.gather.records import open_records


def file_messages(path: Path, fmt: LogFormat, max_line_bytes: int) -> list[str | None]:
    """One message per line (record, for CloudTrail): the parsed message where the format gives
    one, else the raw line, so that every line gets a pattern; None for blank lines.

    Free text is grouped by its content, as Loghub's templates are: without the logger name
    and request context (`message_content`), which the draft keeps in its messages."""
    ctx = ParseContext(
        source="file",
        key=path.name,
        default_service=None,
        reference_time=datetime.fromtimestamp(path.stat().st_mtime, UTC),
    )
    messages: list[str | None] = []
    with path.open("rb") as raw:
        try:
            opened = open_records(raw, path.name, fmt, max_line_bytes=max_line_bytes)
            content = message_content if opened.fmt is LogFormat.TEXT else str
            for block in opened.blocks:
                table, _ = parse_block(opened.fmt, block.data, block.first_line, ctx)
                if needs_whole_object(opened.fmt):
                    return table.column("message").to_pylist()
                lines = block.data.split(b"\n")
                if block.data.endswith(b"\n"):
                    lines.pop()
                messages.extend(line.decode("utf-8", "replace").strip() or None for line in lines)
                for line, message in zip(
                    table.column("line").to_pylist(),
                    table.column("message").to_pylist(),
                    strict=True,
                ):
                    if message:
                        messages[line - 1] = content(message)
        except (CorruptStream, TooLarge) as exc:
            raise SpecError(f"cannot be read to the end: {exc}.") from exc
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
