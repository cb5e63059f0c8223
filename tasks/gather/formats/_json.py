"""JSON records as columns: which keys fill which canonical column (roles), and the
leftover keys rendered as the `attrs` JSON object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tasks.gather.formats._arrow import combined, orjson_text, slot_lengths
from tasks.gather.formats._normalise import (
    latency_from_any,
    level_from_any,
    message_from_any,
    status_from_any,
    text_from_any,
    ts_from_any,
)

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Role:
    """One canonical column and the record keys (paths) that can fill it, best first."""

    name: str
    paths: tuple[KeyPath, ...]
    normalise: Callable[[pa.Array, KeyPath], pa.Array]
    keep_unused: bool = True  # unused candidates stay in attrs


def _p(*paths: str) -> tuple[KeyPath, ...]:
    """'a' is a top-level key; 'a>b' is key b inside object a. Dotted keys are literal keys."""
    return tuple(tuple(p.split(">")) for p in paths)


# Unit of bare latency numbers, in ms. The `_ms` keys say so; `latency` and `response_time`
# are taken as milliseconds (Express/morgan, most app loggers); `request_time` and
# `upstream_response_time` are seconds (nginx variables of those names).
_LATENCY_UNIT_MS = {("request_time",): 1e3, ("upstream_response_time",): 1e3}


TS_PATHS = _p("time", "ts", "timestamp", "@timestamp", "time_local", "date", "datetime")


JSON_ROLES = (
    Role("ts", TS_PATHS, lambda v, _: ts_from_any(v)),
    Role(
        "level",
        _p(
            "level",
            "severity",
            "lvl",
            "log.level",
            "log>level",
            "loglevel",
            "levelname",
            "severity_text",
        ),
        lambda v, _: level_from_any(v),
    ),
    # Not `logger`: it names a class or module (com.acme.cart.CartService), and taking it as
    # the service would split one app into dozens. It stays in attrs.
    Role(
        "service",
        _p("service", "service.name", "service>name", "service_name", "app", "application"),
        lambda v, _: text_from_any(v),
    ),
    Role(
        "instance",
        _p("instance", "host", "hostname", "host>name", "pod", "pod_name", "instance_id"),
        lambda v, _: text_from_any(v),
    ),
    Role(
        "message",
        _p("message", "msg", "log", "event", "@message"),
        lambda v, _: message_from_any(v),
    ),
    Role(
        "status",
        _p(
            "status",
            "status_code",
            "statusCode",
            "http.status",
            "http>status",
            "http_status",
            "http.status_code",
            "http>status_code",
            "http>response>status_code",
        ),
        lambda v, _: status_from_any(v),
    ),
    Role(
        "latency_ms",
        _p(
            "latency_ms",
            "duration_ms",
            "elapsed_ms",
            "response_time_ms",
            "latency",
            "response_time",
            "request_time",
            "upstream_response_time",
        ),
        lambda v, path: latency_from_any(v, _LATENCY_UNIT_MS.get(path, 1.0)),
    ),
    Role(
        "trace_id",
        _p(
            "trace_id",
            "traceId",
            "traceID",
            "trace.id",
            "trace>id",
            "dd.trace_id",
            "dd>trace_id",
            "request_id",
            "requestId",
            "req_id",
        ),
        lambda v, _: text_from_any(v),
    ),
)


NESTED_PATHS = tuple(p for r in JSON_ROLES for p in r.paths if len(p) > 1)


#: Values longer than this (as JSON) are replaced in attrs by a note of their size.
ATTR_VALUE_MAX_CHARS = 2048


_JSON_ESCAPE_RE = r'[\\"\x00-\x1f]'


# Bytes that a JSON string literal must escape: control characters, '"' and '\\'.
_NEEDS_ESCAPE = np.zeros(256, dtype=bool)


_NEEDS_ESCAPE[[*range(0x20), 0x22, 0x5C]] = True


def may_need_escaping(values: pa.Array) -> bool:
    """False when no value holds a byte that JSON escapes. One table lookup over the array's
    bytes costs a fifth of a regex run per value (0.52 -> 0.1 CPU s/GB of Fluent Bit logs),
    and attrs values almost never need escaping."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return True
    _, offsets, data = values.buffers()
    if data is None or not len(values):
        return False
    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[values.offset : values.offset + len(values) + 1]
    # Null slots may span bytes too; a false alarm only takes the exact path below.
    body = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    return bool(_NEEDS_ESCAPE[body].any())


def json_strings(values: pa.Array) -> pa.Array:
    """Strings -> JSON string literals. Most need no escaping; the few that do go via orjson."""
    if not may_need_escaping(values):
        return pc.binary_join_element_wise('"', values, '"', "")
    needs = pc.fill_null(pc.match_substring_regex(values, _JSON_ESCAPE_RE), False)
    if needs.true_count:
        escaped = [orjson.dumps(s).decode()[1:-1] for s in pc.filter(values, needs).to_pylist()]
        values = pc.replace_with_mask(values, needs, pa.array(escaped, pa.string()))
    return pc.binary_join_element_wise('"', values, '"', "")


@dataclass
class _Field:
    """One record key as a column. The slow path may give one key several fields, one per
    JSON type seen; on any row at most one of them is non-null."""

    key: str
    values: pa.Array | pa.ChunkedArray | None  # typed scalars; None for nested values
    nested: list | None = None  # decoded objects and arrays (slow path), rendered on demand
    is_attr: bool = True  # False for values lifted out of a nested object for a role

    def json_text(self) -> pa.Array:
        """Each value rendered as JSON text (null where absent)."""
        if self.nested is not None:
            rendered = [None if v is None else orjson_text(_prune(v)) for v in self.nested]
            return pa.array(rendered, pa.string())
        v, t = combined(self.values), self.values.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return json_strings(v)
        if pa.types.is_boolean(t):
            return pc.if_else(v, "true", "false")
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            return pc.cast(v, pa.string())
        if pa.types.is_timestamp(t):
            text = pc.strftime(
                pc.cast(v, pa.timestamp("s", tz=t.tz), safe=False), "%Y-%m-%dT%H:%M:%SZ"
            )
            return pc.binary_join_element_wise('"', text, '"', "")
        return pa.array([orjson_text(_prune(x)) if x is not None else None for x in v.to_pylist()])

    def attr_value(self) -> pa.Array | Unquoted:
        """The values for attrs: JSON text, or strings that render_attrs quotes itself."""
        if self.nested is None and pa.types.is_string(self.values.type):
            values = combined(self.values)
            if not may_need_escaping(values):
                return Unquoted(values)
        return self.json_text()


@dataclass(frozen=True)
class Unquoted:
    """Strings that need no JSON escaping, for attrs. Quoting them in the same join that adds
    the key saves a pass over the text (0.34 CPU s/GB of Fluent Bit logs)."""

    values: pa.Array  # may be a DictionaryArray (Kubernetes metadata)


def _prune(value: Any) -> Any:
    """Drop null members of objects, recursively: absent and null are one thing in attrs."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class FieldSet:
    """Records as columns, from pyarrow (fast path) or from decoded dicts (slow path)."""

    def __init__(self, n: int, fields: list[_Field], nested: dict[KeyPath, list[_Field]]) -> None:
        self.n = n
        self.fields = fields
        self._nested = nested
        # Field indices by key, built once: roles probe ~130 paths per block, and scanning
        # every field for each cost ~0.5 ms per Fluent Bit block.
        self._by_key: dict[str, list[int]] = {}
        self._sub: dict[tuple[int, KeyPath], Any] = {}
        for i, f in enumerate(fields):
            self._by_key.setdefault(f.key, []).append(i)
        self._unused: dict[int, pa.Array] = {}  # field index -> mask of rows still in attrs

    @classmethod
    def from_table(cls, table: pa.Table) -> FieldSet:
        # Columns stay chunked until a role or attrs needs them: combining a wide nested
        # column (all of the Kubernetes metadata) costs more than reading it.
        fields = [
            _Field(name, col)
            for name, col in zip(table.column_names, table.columns, strict=True)
            if not pa.types.is_null(col.type)
        ]
        return cls(table.num_rows, fields, {})

    @classmethod
    def from_dicts(cls, records: Sequence[dict], nested_paths: Iterable[KeyPath]) -> FieldSet:
        fields = _columns_by_kind(records)
        nested = {path: _lift(records, path) for path in nested_paths}
        return cls(len(records), fields, nested)

    def candidates(self, path: KeyPath) -> list[tuple[int | None, pa.Array]]:
        """(field index if the field itself is an attr, values) for a role's path."""
        indices = self._by_key.get(path[0], ())
        if len(path) == 1:
            return [
                (i, combined(self.fields[i].values))
                for i in indices
                if self.fields[i].values is not None
            ]
        if path in self._nested:
            return [(None, f.values) for f in self._nested[path]]
        out = []
        for i in indices:
            v = self.fields[i].values
            if v is None:
                continue
            for depth, part in enumerate(path[1:], 2):
                if not pa.types.is_struct(v.type) or v.type.get_field_index(part) < 0:
                    v = None
                    break
                v = self._struct_field(i, path[:depth], v, part)
            if v is not None:
                out.append((None, combined(v)))
        return out

    def _struct_field(self, index: int, prefix: KeyPath, parent: Any, part: str) -> Any:
        """pc.struct_field, once per (field, path prefix): the three Kubernetes label paths
        share `kubernetes>labels` (2 of 9 calls per Fluent Bit block)."""
        key = (index, prefix)
        got = self._sub.get(key)
        if got is None:
            got = self._sub[key] = pc.struct_field(parent, part)
        return got

    def resolve(self, role: Role) -> tuple[pa.Array | None, pa.Array | None]:
        """The role's column (first usable candidate per row) and which rows had a candidate."""
        result = None
        present = None
        track_present = role.name == "ts"  # only the ts role's `present` is ever used
        for path in role.paths:
            if path[0] not in self._by_key and path not in self._nested:
                continue  # most of the ~130 role paths are absent: skip the call
            for index, raw in self.candidates(path):
                if result is not None and not result.null_count:
                    # Every row is already filled (the usual case for a second candidate,
                    # e.g. Fluent Bit's epoch `date` after `time`: ~0.25 ms per block), so
                    # this candidate cannot be taken. Normalisers keep nulls null, so
                    # `present` is all true already; on rows where it is present it stays
                    # in attrs, as _mark_unused would find.
                    if index is not None:
                        unused = raw.is_valid() if role.keep_unused else None
                        self._mark(index, unused, len(raw))
                    continue
                value = role.normalise(raw, path)
                if track_present or index is not None:
                    valid = raw.is_valid()
                if track_present:
                    present = valid if present is None else pc.or_(present, valid)
                if index is not None:
                    self._mark_unused(index, valid, value, result, role.keep_unused)
                result = value if result is None else pc.coalesce(result, value)
        return result, present

    def _mark_unused(
        self, index: int, valid: pa.Array, value: pa.Array, result: pa.Array | None, keep: bool
    ) -> None:
        """A candidate stays in attrs on rows where it is present but was not taken: an
        earlier candidate won, or its value was unusable (status "ok", level "x")."""
        unused = None
        if keep:
            taken = (
                value.is_valid() if result is None else pc.and_(result.is_null(), value.is_valid())
            )
            # and_not folds and_(valid, invert(taken)): one call fewer per candidate.
            unused = pc.and_not(valid, taken)
        self._mark(index, unused, len(valid))

    def _mark(self, index: int, unused: pa.Array | None, n: int) -> None:
        """Narrow field `index`'s attrs rows to `unused` (None: no rows)."""
        if unused is None:
            unused = pa.array(np.zeros(n, dtype=bool))
        prev = self._unused.get(index)
        self._unused[index] = unused if prev is None else pc.and_(prev, unused)

    def attrs_entries(self, drop: Iterable[str] = ()) -> list[tuple[str, AttrValue]]:
        """(key, JSON value text or null) for every field left over for attrs."""
        drop = set(drop)
        out = []
        for i, f in enumerate(self.fields):
            if not f.is_attr or f.key in drop:
                continue
            mask = self._unused.get(i)
            if mask is not None and not mask.true_count:
                continue
            value = f.attr_value()
            if mask is not None and mask.false_count:
                if isinstance(value, Unquoted):
                    value = Unquoted(pc.if_else(mask, value.values, pa.scalar(None, pa.string())))
                else:
                    value = pc.if_else(mask, value, pa.scalar(None, pa.string()))
            out.append((f.key, value))
        return out


def _columns_by_kind(records: Sequence[dict]) -> list[_Field]:
    """One field per (key, JSON type): a key that is a number here and a string there
    becomes two fields, each null where the other has the value."""
    n = len(records)
    columns: dict[tuple[str, str], list] = {}
    for i, rec in enumerate(records):
        for k, v in rec.items():
            kind = _json_kind(v)
            if kind is None:
                continue
            col = columns.get((k, kind))
            if col is None:
                col = columns[(k, kind)] = [None] * n
            col[i] = v
    return [_field_from_values(k, kind, col) for (k, kind), col in columns.items()]


def _lift(records: Sequence[dict], path: KeyPath) -> list[_Field]:
    """Scalars found at a nested path, as fields that are not attrs themselves."""
    n = len(records)
    lifted: dict[str, list] = {}
    for i, rec in enumerate(records):
        v = _walk(rec, path)
        kind = _json_kind(v)
        if kind is None or kind == "json":
            continue
        if kind not in lifted:
            lifted[kind] = [None] * n
        lifted[kind][i] = v
    name = ">".join(path)
    return [_field_from_values(name, kind, col, is_attr=False) for kind, col in lifted.items()]


def _json_kind(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return "str"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "float"
    if isinstance(v, float):
        return "float"
    return "json"


_KIND_TYPES = {"str": pa.string(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}


def _field_from_values(key: str, kind: str, col: list, is_attr: bool = True) -> _Field:
    if kind == "json":
        return _Field(key, None, col, is_attr)
    if kind == "float":
        col = [None if v is None else float(v) for v in col]
    return _Field(key, pa.array(col, _KIND_TYPES[kind]), None, is_attr)


def _walk(rec: dict, path: KeyPath) -> Any:
    v: Any = rec
    for part in path:
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


#: An attrs value column: JSON text (maybe dictionary-encoded), or strings to quote.
AttrValue = pa.Array | Unquoted


def render_attrs(entries: Sequence[tuple[str, AttrValue]], n: int) -> pa.Array:
    """One JSON object per row from (key, JSON value) columns; rows with none -> null.

    A value may come as a DictionaryArray (Kubernetes metadata: a few distinct values per
    block); its entry is then rendered once per distinct value.
    """
    if not entries:
        return pa.nulls(n, pa.string())
    parts = []
    for key, text in sorted(entries, key=lambda e: e[0]):
        prefix = orjson.dumps(key).decode() + ":"
        if isinstance(text, pa.DictionaryArray):
            part = pc.take(_attr_entry(prefix, text.dictionary), text.indices)
        elif isinstance(text, Unquoted) and isinstance(text.values, pa.DictionaryArray):
            entry = _attr_entry(prefix, Unquoted(text.values.dictionary))
            part = pc.take(entry, text.values.indices)
        else:
            inline = _inline_entry(prefix, text)
            if inline is not None:
                parts.extend(inline)
                continue
            part = _attr_entry(prefix, text)
        # binary_join_element_wise(null_handling="skip") drops all-null rows in pyarrow 26,
        # so absent entries become "" and each entry carries its own comma.
        parts.append(pc.fill_null(part, "") if part.null_count else part)
    # "{" + entries, then the last entry's comma becomes "}": two passes over the text where
    # slicing the comma off and wrapping took three (attrs are ~25% of Fluent Bit bytes).
    opened = pc.binary_join_element_wise("{", *parts, "")
    closed = pc.binary_replace_slice(opened, -1, _END, "}")
    # Every row starts with "{", so a row is empty iff it is 1 byte long: reading the offsets
    # spares the compare on the usual block with no empty row (one call of ~10 us).
    lengths = slot_lengths(opened)
    if lengths is not None and not (lengths == 1).any():
        return closed
    empty = pc.equal(opened, "{")
    return pc.if_else(empty, pa.scalar(None, pa.string()), closed) if empty.true_count else closed


_END = 2**31 - 1  # "to the end of the string", for the slice kernels


def _longest(values: pa.Array) -> int | None:
    """Byte length of the longest value (None if all null), exactly when it matters: the
    longest slot, from the offsets, bounds it from above, and when that bound is within
    ATTR_VALUE_MAX_CHARS it decides the same. Saves two compute calls per attrs key
    (~12 per Fluent Bit block, ~0.2 ms)."""
    lengths = slot_lengths(values)
    if lengths is not None and len(lengths) and lengths.max() + 2 <= ATTR_VALUE_MAX_CHARS:
        return int(lengths.max()) if values.null_count < len(values) else None
    return pc.max(pc.binary_length(values)).as_py()


def _inline_entry(prefix: str, text: AttrValue) -> list[str | pa.Array] | None:
    """`"key":value,` as pieces of the join that builds the objects, when every row has the
    value and none is over-long: the entry's own join would copy all of its text once more.
    None otherwise (the entry is then built on its own, with its nulls and notes)."""
    values = text.values if isinstance(text, Unquoted) else text
    if not isinstance(values, pa.Array) or isinstance(values, pa.DictionaryArray):
        return None
    if values.null_count or not len(values):
        return None
    quote = '"' if isinstance(text, Unquoted) else ""
    longest = _longest(values)
    if longest is None or longest + 2 * len(quote) > ATTR_VALUE_MAX_CHARS:
        return None
    return [prefix + quote, values, quote + ","]


def _attr_entry(prefix: str, text: AttrValue) -> pa.Array:
    """`"key":value,` per row (null where the value is); over-long values become a note."""
    if isinstance(text, Unquoted):
        longest = _longest(text.values)
        if longest is None or longest + 2 <= ATTR_VALUE_MAX_CHARS:
            return pc.binary_join_element_wise(prefix + '"', text.values, '",', "")
        text = pc.binary_join_element_wise('"', text.values, '"', "")
    longest = _longest(text)
    # Characters never outnumber bytes: most blocks skip the character count entirely.
    if longest is not None and longest > ATTR_VALUE_MAX_CHARS:
        length = pc.utf8_length(text)
        too_long = pc.fill_null(pc.greater(length, ATTR_VALUE_MAX_CHARS), False)
        if too_long.true_count:
            note = pc.binary_join_element_wise(
                '"<omitted: ', pc.cast(length, pa.string()), ' chars>"', ""
            )
            text = pc.if_else(too_long, note, text)
    return pc.binary_join_element_wise(prefix, text, ",", "")


@dataclass
class Resolved:
    """Role columns of a set of JSON records, and their leftover keys for attrs."""

    n: int
    columns: dict[str, pa.Array | None]
    ts_present: pa.Array | None
    attrs: list[tuple[str, AttrValue]] = field(default_factory=list)


def resolve_roles(
    fields: FieldSet, roles: Sequence[Role] = JSON_ROLES, drop: Iterable[str] = ()
) -> Resolved:
    columns: dict[str, pa.Array | None] = {}
    ts_present = None
    for role in roles:
        columns[role.name], present = fields.resolve(role)
        if role.name == "ts":
            ts_present = present
    return Resolved(fields.n, columns, ts_present, fields.attrs_entries(drop))
