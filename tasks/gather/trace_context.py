"""Trace and request IDs that services write inside the message text, lifted into `trace_id`.

Many services never put trace context in a structured field: a logging pattern prints it in
the line itself. Without it the baseline stage cannot follow a request across services. This
pass runs once per parsed block, after any format parser, and fills `trace_id` only where the
parser left it empty (a structured field always wins). The span ID, when the form carries one,
goes into `attrs` as `span_id`.

Recognised forms, most specific first (the README lists them with examples):

========================  ==========================================================  =========
form                      example                                                     span
========================  ==========================================================  =========
Sleuth / Micrometer       ``INFO [cart,5f3c4a1d8e2b7c6a,9a8b7c6d5e4f3a2b,true]``      yes
Spring Boot 3.2           ``[65bb…0a1b-1a2b…7a8b]`` (32 hex, dash, 16 hex)               yes
key: value / key=value    ``TraceID: 4bf9…4736 SpanID: 00f0…02b7``, ``trace_id=…``,  when near
                          ``traceId=…``, ``dd.trace_id=…``, ``"traceId":"…"``
W3C traceparent           ``traceparent: 00-4bf9…4736-00f0…02b7-01``                  yes
OpenStack request         ``[req-9f6c…-…-…-…-…41b2 ac56… 0b4b… - - -]``              no
request IDs               ``request_id=…``, ``X-Request-ID: …``, ``"requestId":"…"``  no
========================  ==========================================================  =========

The same key forms are also read from `attrs` (JSON fields the parser did not map, such as
``traceparent`` or ``x-request-id``). IDs made only of zeros (the W3C "invalid" value) are
ignored, and hex IDs are lower-cased so that services that print them in different cases
still share a trace.

Everything is vectorised: one RE2 prefilter finds the few rows that can hold an ID, and each
form's extraction runs on those rows only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = "0-9a-fA-F"
_ID = r"[0-9A-Za-z][0-9A-Za-z\-_.:]{6,126}[0-9A-Za-z]"


@dataclass(frozen=True)
class _Form:
    name: str
    pattern: str  # RE2, with a named group `trace` and optionally `span`
    lower: bool = True  # hex IDs: case carries no meaning


# A key is preceded by a non-word character (or the start) so that e.g. `subtrace_id` or
# `parentSpanId` do not count; the separator may be `:`, `=` or a JSON `":"`.
_KEY_SEP = r"""["']?\s*[:=]\s*["']?"""
_TRACE_KEY = r"(?:^|[^A-Za-z0-9_.])(?:dd\.|otel\.)?(?i:trace[_.\-]?id|x-b3-traceid)"
_SPAN_KEY = r"(?:^|[^A-Za-z0-9_.])(?:dd\.|otel\.)?(?i:span[_.\-]?id|x-b3-spanid)"

FORMS: tuple[_Form, ...] = (
    _Form(
        "sleuth",
        # [app,traceId,spanId] or [app,traceId,spanId,exportable]; unsampled lines print
        # empty slots ([app,,,]) and are left alone.
        rf"\[[A-Za-z0-9_.\-]*,(?P<trace>[{_HEX}]{{16}}|[{_HEX}]{{32}}),(?P<span>[{_HEX}]{{16}})"
        r"(?:,(?:true|false))?\]",
    ),
    _Form(
        "spring-boot-3",
        # Spring Boot 3.2's default correlation pattern: [traceId-spanId].
        rf"\[(?P<trace>[{_HEX}]{{32}})-(?P<span>[{_HEX}]{{16}})\]",
    ),
    _Form(
        "key-value",
        rf"{_TRACE_KEY}{_KEY_SEP}(?P<trace>[{_HEX}]{{16,32}}\b|{_ID})"
        rf"(?:.{{0,40}}?{_SPAN_KEY}{_KEY_SEP}(?P<span>[{_HEX}]{{16}}\b|\d{{1,20}}\b))?",
        lower=False,
    ),
    _Form(
        "traceparent",
        rf"(?:^|[^{_HEX}\-])[{_HEX}]{{2}}-(?P<trace>[{_HEX}]{{32}})-(?P<span>[{_HEX}]{{16}})"
        rf"-[{_HEX}]{{2}}(?:[^{_HEX}\-]|$)",
    ),
    _Form(
        "openstack",
        rf"\[(?P<trace>req-[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}})"
        r"[\s\]]",
    ),
    _Form(
        "request-id",
        r"(?:^|[^A-Za-z0-9_.])(?i:(?:x-)?(?:request|req|correlation)[_.\-]?id)"
        rf"{_KEY_SEP}(?P<trace>{_ID})",
        lower=False,
    ),
)

# One cheap pass: which rows can hold any form at all.
_PREFILTER = (
    r"(?i)trace|span|req-[0-9a-f]{8}-|request.?id|req.?id|correlation.?id|"
    r"[0-9a-f]{16},[0-9a-f]{16}|[0-9a-f]{32}-[0-9a-f]{16}"
)
# Zeros (the W3C "invalid" ID) and the placeholders loggers print when no context is set.
_NO_ID = r"^[0\-]*$|^(?i:null|none|nil|undefined|unknown|empty|missing|n/?a|not[_\-]?set)$"


def _empty_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _extract(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(trace, span) per row of `text`, null where no form matches.

    Each form runs only on the rows that no earlier form matched.
    """
    n = len(text)
    trace = pa.nulls(n, pa.string())
    span = pa.nulls(n, pa.string())
    todo = np.arange(n)
    for form in FORMS:
        if todo.size == 0:
            break
        subset = text if todo.size == n else pc.take(text, pa.array(todo))
        found = pc.extract_regex(subset, form.pattern)
        t = _empty_to_null(pc.struct_field(found, "trace"))
        if form.lower:
            t = pc.utf8_lower(t)
        t = pc.if_else(pc.fill_null(pc.match_substring_regex(t, _NO_ID), False), None, t)
        hit = pc.is_valid(t).to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        mask = np.zeros(n, dtype=bool)
        mask[todo[hit]] = True
        keep = pa.array(hit)
        trace = pc.replace_with_mask(trace, pa.array(mask), t.filter(keep).cast(pa.string()))
        if "span" in {f.name for f in found.type}:
            s = _empty_to_null(pc.struct_field(found, "span"))
            if form.lower:
                s = pc.utf8_lower(s)
            span = pc.replace_with_mask(span, pa.array(mask), s.filter(keep).cast(pa.string()))
        todo = todo[~hit]
    return trace, span


def _with_span(attrs: pa.Array, span: pa.Array) -> pa.Array:
    """attrs with `"span_id": span` added where span is set and attrs has no span_id yet."""
    has = pc.fill_null(pc.match_substring(attrs, '"span_id"'), False)
    add = pc.and_(pc.is_valid(span), pc.invert(has))
    if not pc.any(add).as_py():
        return attrs
    pair = pc.binary_join_element_wise('"span_id":"', span, '"', "")
    # attrs is a JSON object rendered by the parsers (ends with "}"), or null.
    body = pc.utf8_slice_codeunits(pc.fill_null(attrs, "{}"), 0, -1)
    sep = pc.if_else(pc.equal(body, "{"), "", ",")
    merged = pc.binary_join_element_wise(body, sep, pair, "}", "")
    return pc.if_else(add, merged, attrs)


def _scatter(column: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), values.cast(column.type))


def add_trace_context(table: pa.Table) -> pa.Table:
    """`table` (the canonical or parsed schema) with trace IDs read from message text and attrs.

    Only rows whose `trace_id` is empty are touched; spans found with a trace go into `attrs`.
    """
    if table.num_rows == 0 or "trace_id" not in table.column_names:
        return table
    trace_col = table["trace_id"].combine_chunks()
    trace_col = pc.if_else(pc.equal(trace_col, ""), pa.scalar(None, trace_col.type), trace_col)
    attrs_col = (
        table["attrs"].combine_chunks()
        if "attrs" in table.column_names
        else pa.nulls(table.num_rows, pa.string())
    )
    found_any = False
    for name in ("message", "attrs"):
        if name not in table.column_names:
            continue
        text = table[name].combine_chunks() if name == "message" else attrs_col
        maybe = pc.and_(
            pc.is_null(trace_col), pc.fill_null(pc.match_substring_regex(text, _PREFILTER), False)
        )
        rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False))
        if rows.size == 0:
            continue
        trace, span = _extract(pc.take(text, pa.array(rows)))
        hit = pc.is_valid(trace).to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        found_any = True
        rows, trace, span = rows[hit], trace.filter(pa.array(hit)), span.filter(pa.array(hit))
        trace_col = _scatter(trace_col, rows, trace)
        if name == "message" and pc.any(pc.is_valid(span)).as_py():
            sub = pc.take(attrs_col, pa.array(rows))
            attrs_col = _scatter(attrs_col, rows, _with_span(sub, span))
    if not found_any:
        return table
    table = table.set_column(table.schema.get_field_index("trace_id"), "trace_id", trace_col)
    if "attrs" in table.column_names:
        table = table.set_column(table.schema.get_field_index("attrs"), "attrs", attrs_col)
    return table
