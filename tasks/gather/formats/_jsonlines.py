"""Reading JSON lines into records, for jsonl and fluentbit-k8s.

There is a vectorised fast path on pyarrow's JSON reader and a per-line orjson slow path.
The slow path is the reference semantics; the fast path is taken only when it provably sees
the same lines (one row per non-blank line), otherwise the block is split and retried, so
that bad lines are counted with exact line numbers. Both paths share the same vectorised
normalisers, so they produce the same rows.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from tasks.contracts import PARSED_SCHEMA, RejectTally
from tasks.gather.formats._arrow import LineIndex, concat_parsed, split_lines
from tasks.gather.formats._context import ParseContext, Parser
from tasks.gather.formats._json import FieldSet, KeyPath

# When pyarrow refuses a block, it is retried in pieces of this size, and only the pieces it
# still refuses are read line by line.
_PIECE_BYTES = 1 << 20


_READ_BLOCK_BYTES = 4 << 20


def read_json_table(
    data: bytes | pa.Buffer,
    block_bytes: int = _READ_BLOCK_BYTES,
    schema: pa.Schema | None = None,
) -> pa.Table:
    """The block as pyarrow reads it. `schema` declares the types of a format's known keys
    (string where the key is text): read_json then neither infers them nor guesses
    timestamps in them. Other keys are still inferred: they are wanted for attrs. When a
    declared key holds another JSON type somewhere, the block is read with inference alone,
    as if no schema had been given."""
    # One thread: gather already runs one parser per core.
    read = pj.ReadOptions(use_threads=False, block_size=block_bytes)
    table = None
    if schema is not None:
        parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
        try:
            table = _without_absent(pj.read_json(pa.BufferReader(data), read, parse), schema)
        except pa.ArrowInvalid:
            table = None
    if table is None:
        # Types are inferred, not declared: apps disagree on what a key holds ("ts" is a
        # string here and epoch millis there), and unknown keys are wanted for attrs.
        table = pj.read_json(pa.BufferReader(data), read_options=read)
    if not _has_timestamps(table.schema):
        return table
    # pyarrow reads "2026-01-05", "2026-01-05 10:00:00" and second-precision ISO strings as
    # timestamps: their text would be lost for attrs ("...Z" becomes "...+00:00") and for
    # text roles (a message that is a date). Read again with those keys as the strings the
    # per-line path sees.
    parse = pj.ParseOptions(explicit_schema=_untimed(table.schema))
    return pj.read_json(pa.BufferReader(data), read_options=read, parse_options=parse)


def _without_absent(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Declared columns that no line had dropped, as inference (a null-typed column, which
    FieldSet skips) would have left them. Declared struct members are looked up by name, so
    an all-null member inside a struct changes nothing."""
    absent = [
        i
        for i, name in enumerate(table.column_names)
        if name in schema.names and table.column(i).null_count == table.num_rows
    ]
    return table.drop_columns([table.column_names[i] for i in absent]) if absent else table


def _has_timestamps(schema: pa.Schema) -> bool:
    return any(_untimed_type(f.type) is not None for f in schema)


def _untimed(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(_untimed_type(f.type) or f.type) for f in schema])


def _untimed_type(t: pa.DataType) -> pa.DataType | None:
    """`t` with every timestamp in it (at any depth) replaced by string; None if it has none.
    (Arrow hands out a new type object on every access, so "unchanged" cannot be `is`.)"""
    if pa.types.is_timestamp(t):
        return pa.string()
    if pa.types.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        new = [_untimed_type(f.type) for f in fields]
        if all(n is None for n in new):
            return None
        return pa.struct(
            [f if n is None else f.with_type(n) for f, n in zip(fields, new, strict=True)]
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _untimed_type(t.value_type)
        if inner is None:
            return None
        make = pa.large_list if pa.types.is_large_list(t) else pa.list_
        return make(t.value_field.with_type(inner))
    return None


def _utf8_ok(data: bytes) -> bool:
    # pyarrow's reader does not validate UTF-8; invalid bytes must take the lenient path.
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fast_json_table(
    data: bytes, first_line: int, schema: pa.Schema | None = None
) -> tuple[pa.Table, LineIndex] | None:
    """The block read by pyarrow, or None unless every non-blank line gave exactly one row."""
    index = LineIndex(data, first_line)
    if not index.count:
        return pa.table({}), index
    if not _utf8_ok(data):
        return None
    try:
        table = read_json_table(data, schema=schema)
    except (pa.ArrowException, ValueError):
        return None
    # Back-to-back records ({..}{..}) give extra rows, and a value may run on over a line
    # break; row i is line i only if counts match and no value crossed a line (braced lines).
    if table.num_rows != index.count or not index.braced():
        return None
    return table, index


def decode_line(line: bytes) -> list[Any]:
    """The JSON values on one line: usually one, several when a writer (Firehose without a
    separator) put records back to back. Raises ValueError when the line is not JSON."""
    try:
        return [orjson.loads(line)]
    except orjson.JSONDecodeError:
        pass
    # Work on text so that orjson's error positions are character offsets into it.
    text = line.decode("utf-8", "replace").strip()
    values = []
    while text:
        try:
            values.append(orjson.loads(text))
            return values
        except orjson.JSONDecodeError as exc:
            if not exc.msg.startswith("unexpected content after document") or not exc.pos:
                raise ValueError(exc.msg) from None
            values.append(orjson.loads(text[: exc.pos]))
            text = text[exc.pos :].lstrip()
    return values


def _slow_json_records(
    data: bytes, first_line: int, tally: RejectTally
) -> tuple[list[dict], list[int], dict[int, bytes]]:
    """Decoded records, their line numbers, and the raw lines (for reject examples)."""
    records: list[dict] = []
    lines: list[int] = []
    raws: dict[int, bytes] = {}
    for number, raw in split_lines(data, first_line):
        raws[number] = raw
        try:
            values = decode_line(raw)
        except ValueError:
            tally.add(number, "invalid_json", raw)
            continue
        for value in values:
            if isinstance(value, dict):
                records.append(value)
                lines.append(number)
            else:
                tally.add(number, "not_an_object", raw)
    return records, lines, raws


RowsFn = Callable[[FieldSet, np.ndarray, Callable, ParseContext, RejectTally], pa.Table]


_Read = tuple[pa.Table, LineIndex]


def json_parser(
    rows: RowsFn, nested_paths: Sequence[KeyPath], schema: pa.Schema | None = None
) -> Parser:
    """A parser for one JSON-lines format: the fast path on the whole block; when pyarrow
    refuses it, the fast path on 1 MiB pieces, and the per-line path on the pieces it still
    refuses. A few bad lines cost a few pieces this way, not the whole block."""

    def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
        fast = _json_fast(data, first_line, ctx, rows, schema)
        if fast is not None:
            return fast
        parts = []
        run: list[_Read] = []
        for start, piece in _cut(data, first_line, _PIECE_BYTES):
            got = _fast_json_table(piece, start, schema)
            if got is not None:
                run.append(got)
                continue
            parts.append(_rows_from_reads(run, rows, ctx))
            parts.append(_json_slow(piece, start, ctx, rows, nested_paths))
            run = []
        parts.append(_rows_from_reads(run, rows, ctx))
        return concat_parsed(parts)

    return parse


def _rows_from_reads(
    reads: list[_Read], rows: RowsFn, ctx: ParseContext
) -> tuple[pa.Table, RejectTally]:
    """Rows from consecutive pyarrow reads, post-processed together when their inferred
    schemas merge (the usual case), else one by one."""
    reads = [(table, index) for table, index in reads if index.count]
    if not reads:
        return PARSED_SCHEMA.empty_table(), RejectTally()
    try:
        table = pa.concat_tables([t for t, _ in reads], promote_options="permissive")
    except pa.ArrowException:
        return concat_parsed([_rows_from_reads([one], rows, ctx) for one in reads])
    indexes = [index for _, index in reads]
    lines = np.concatenate([index.line_numbers() for index in indexes])
    tally = RejectTally()
    return rows(FieldSet.from_table(table), lines, _raw_lookup(indexes), ctx, tally), tally


def _raw_lookup(indexes: list[LineIndex]) -> Callable[[int], bytes]:
    firsts = [index.first_line for index in indexes]

    def raw(line: int) -> bytes:
        return indexes[bisect.bisect_right(firsts, line) - 1].raw(line)

    return raw


def _json_slow(
    data: bytes, first_line: int, ctx: ParseContext, rows: RowsFn, nested_paths: Sequence[KeyPath]
) -> tuple[pa.Table, RejectTally]:
    """The reference path: orjson line by line, every bad line counted where it is."""
    tally = RejectTally()
    records, lines, raws = _slow_json_records(data, first_line, tally)
    if not records:
        return PARSED_SCHEMA.empty_table(), tally
    fields = FieldSet.from_dicts(records, nested_paths)
    return rows(fields, np.array(lines, dtype=np.int64), raws.__getitem__, ctx, tally), tally


def _json_fast(
    data: bytes, first_line: int, ctx: ParseContext, rows: RowsFn, schema: pa.Schema | None
) -> tuple[pa.Table, RejectTally] | None:
    """The fast path alone: None when pyarrow cannot read the block line for line."""
    got = _fast_json_table(data, first_line, schema)
    return None if got is None else _rows_from_reads([got], rows, ctx)


def _cut(data: bytes, first_line: int, size: int) -> list[tuple[int, bytes]]:
    """The block in pieces of about `size` bytes, cut after newlines, with their first line."""
    pieces = []
    start, line = 0, first_line
    while start < len(data):
        cut = data.find(b"\n", start + size)
        end = len(data) if cut < 0 else cut + 1
        pieces.append((line, data[start:end]))
        line += data.count(b"\n", start, end)
        start = end
    return pieces
