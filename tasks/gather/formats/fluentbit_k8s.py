"""fluentbit-k8s: Fluent Bit's Kubernetes records. The Kubernetes metadata names the
service and pod; the container's own line, when it is JSON, gives level, message, status,
latency and trace ID.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import RejectTally
from tasks.gather.formats._arrow import coalesce, fill
from tasks.gather.formats._context import ParseContext
from tasks.gather.formats._embedded import Embedded, merge_objects, resolve_embedded
from tasks.gather.formats._json import (
    JSON_ROLES,
    NESTED_PATHS,
    TS_PATHS,
    AttrValue,
    FieldSet,
    KeyPath,
    Resolved,
    Role,
    Unquoted,
    json_strings,
    may_need_escaping,
    render_attrs,
    resolve_roles,
)
from tasks.gather.formats._jsonlines import json_parser
from tasks.gather.formats._normalise import message_from_any, text_from_any
from tasks.gather.formats._rows import finish_rows

K8S = "kubernetes"


_K8S_PATHS = {
    "pod": (K8S, "pod_name"),
    "namespace": (K8S, "namespace_name"),
    "container": (K8S, "container_name"),
    "container_image": (K8S, "container_image"),
    "node": (K8S, "host"),
    "label_name": (K8S, "labels", "app.kubernetes.io/name"),
    "label_app": (K8S, "labels", "app"),
    "label_k8s_app": (K8S, "labels", "k8s-app"),
}


# Fluent Bit's own keys: shown as columns or k8s attrs, or duplicates of the record time.
_FLUENTBIT_DROP = (K8S, "log", "stream", "_p", *(p[0] for p in TS_PATHS))


_FLUENTBIT_ATTRS = ("namespace", "container", "container_image", "node", "stream")


_OUTER_ROLES = tuple(
    Role(r.name, tuple(p for p in r.paths if p != ("log",)), r.normalise, r.keep_unused)
    for r in JSON_ROLES
)


# Kubernetes generates pod-name suffixes from this alphabet (no vowels, no 0/1/3): a
# Deployment pod is <name>-<replicaset hash>-<5>, a DaemonSet or Job pod <name>-<5>, a
# StatefulSet pod <name>-<ordinal>.
_K8S_ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"


_POD_SUFFIX_RE = rf"^(.+?)(?:-{_K8S_ALNUM}{{6,10}}-{_K8S_ALNUM}{{5}}|-\d+|-{_K8S_ALNUM}{{5}})$"


def _per_distinct(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """fn applied once per distinct value: Kubernetes metadata repeats on every line."""
    encoded = _distinct(values, fn)
    return pc.take(encoded.dictionary, encoded.indices)


def _distinct(values: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> pa.DictionaryArray:
    """`values` dictionary-encoded, with fn applied to the distinct values."""
    encoded = pc.dictionary_encode(values)
    return pa.DictionaryArray.from_arrays(encoded.indices, fn(encoded.dictionary))


# Workload name per pod name, across blocks. A block holds a pod or two, and the regex kernel
# compiles its pattern on every call (~0.2 ms per block); pods repeat from block to block.
_WORKLOADS: dict[str, str] = {}


_WORKLOADS_MAX = 1 << 16


def _workloads(names: pa.Array) -> pa.Array:
    todo = [p for p in dict.fromkeys(names.to_pylist()) if p is not None and p not in _WORKLOADS]
    if todo:
        if len(_WORKLOADS) + len(todo) > _WORKLOADS_MAX:
            _WORKLOADS.clear()
        found = pc.replace_substring_regex(pa.array(todo, names.type), _POD_SUFFIX_RE, r"\1")
        _WORKLOADS.update(zip(todo, found.to_pylist(), strict=True))
    return pa.array([None if p is None else _WORKLOADS[p] for p in names.to_pylist()], names.type)


def _workload_from_pods(pods: pa.Array) -> pa.Array:
    return _per_distinct(pods, _workloads)


def workload_name(pod: str) -> str:
    """checkout-7d9f8b6c5d-x2x4z -> checkout; web-0 -> web; node-exporter-bbx5c -> node-exporter."""
    m = re.match(_POD_SUFFIX_RE, pod)
    return m.group(1) if m else pod


def _first_text(fields: FieldSet, path: KeyPath) -> pa.Array | None:
    return coalesce(*[text_from_any(v) for _, v in fields.candidates(path)])


def _fluentbit_rows(
    fields: FieldSet, lines: np.ndarray, raw: Callable, ctx: ParseContext, tally: RejectTally
) -> pa.Table:
    """Kubernetes metadata names the service and pod; the container's own line, when it is
    JSON, gives level, message, status, latency and trace ID."""
    n = fields.n
    meta = {name: _first_text(fields, path) for name, path in _FLUENTBIT_PATHS.items()}
    outer = resolve_roles(fields, _OUTER_ROLES, drop=_FLUENTBIT_DROP)
    meta_attrs = [
        (name, _meta_attr(meta[name])) for name in _FLUENTBIT_ATTRS if meta[name] is not None
    ]
    attrs = render_attrs(meta_attrs + outer.attrs, n)
    log = coalesce(*[message_from_any(v) for _, v in fields.candidates(("log",))])
    if log is None:
        inner = Embedded(dict.fromkeys(outer.columns), pa.nulls(n, pa.string()), attrs)
    else:
        inner = resolve_embedded(
            log, meta["container"], drop={k for k, _ in meta_attrs + outer.attrs}
        )
        attrs = merge_objects(attrs, inner.attrs)
    col = inner.columns
    service = coalesce(_k8s_service(meta), col["service"], outer.columns["service"])
    if ctx.default_service:
        service = fill(service, ctx.default_service, n)
    cols = {
        "ts": coalesce(outer.columns["ts"], col["ts"]),
        "service": service,
        "instance": coalesce(meta["pod"], outer.columns["instance"], col["instance"]),
        "level": coalesce(col["level"], outer.columns["level"], inner.level_text),
        "message": coalesce(col["message"], outer.columns["message"]),
        "attrs": attrs,
    }
    for name in ("status", "latency_ms", "trace_id"):
        cols[name] = coalesce(col[name], outer.columns[name])
    return finish_rows(n, cols, _ts_present(outer, col["ts"]), lines, raw, tally)


def _meta_attr(values: pa.Array) -> AttrValue:
    """A Kubernetes attrs column, rendered once per distinct value. Values that need no
    escaping are quoted in the join that adds the key (one call fewer per key, ~0.15 ms per
    Fluent Bit block)."""
    encoded = pc.dictionary_encode(values)
    if not may_need_escaping(encoded.dictionary):
        return Unquoted(encoded)
    return pa.DictionaryArray.from_arrays(encoded.indices, json_strings(encoded.dictionary))


def _k8s_service(meta: dict[str, pa.Array | None]) -> pa.Array | None:
    """The app's name from its labels, else from the pod name without its generated suffix."""
    pods = meta["pod"]
    from_pod = _workload_from_pods(pods) if pods is not None else None
    return coalesce(meta["label_name"], meta["label_app"], meta["label_k8s_app"], from_pod)


def _ts_present(outer: Resolved, inner_ts: pa.Array | None) -> pa.Array | None:
    """Rows that carried some timestamp, usable or not (else they had none at all)."""
    inner = inner_ts.is_valid() if inner_ts is not None else None
    if outer.ts_present is None or inner is None:
        return inner if outer.ts_present is None else outer.ts_present
    return pc.or_(outer.ts_present, inner)


_FLUENTBIT_NESTED = (*NESTED_PATHS, *_K8S_PATHS.values())


_FLUENTBIT_PATHS = {**_K8S_PATHS, "stream": ("stream",)}


# The keys Fluent Bit itself writes, all text. `date` (epoch seconds) stays inferred: it may
# be an integer or a float, and attrs and ts_from_epoch read either.
_FLUENTBIT_SCHEMA = pa.schema(
    [
        ("time", pa.string()),
        ("stream", pa.string()),
        ("logtag", pa.string()),
        ("log", pa.string()),
        (
            K8S,
            pa.struct(
                [
                    ("pod_name", pa.string()),
                    ("namespace_name", pa.string()),
                    ("container_name", pa.string()),
                    ("container_image", pa.string()),
                    ("host", pa.string()),
                ]
            ),
        ),
    ]
)


_parse = json_parser(_fluentbit_rows, _FLUENTBIT_NESTED, _FLUENTBIT_SCHEMA)


def parse(data: bytes, first_line: int, ctx: ParseContext) -> tuple[pa.Table, RejectTally]:
    """A block of fluentbit-k8s lines -> rows in PARSED_SCHEMA, and the lines refused."""
    return _parse(data, first_line, ctx)
