"""Exemplar lines from logs.parquet, looked up by evidence ID (object ID -> key via the manifest)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tasks.contracts import EvidenceManifest
from tasks.output import open_frame_file

_EVIDENCE_ID = re.compile(r"^(o[0-9a-f]+):(\d+)$")
_TEXT_COLUMNS = ["ts", "level", "status", "latency_ms", "message"]


@dataclass(frozen=True)
class EvidenceRef:
    """An evidence ID, parsed once: `o1a2b3c4d:17`."""

    object_id: str
    line: int

    @classmethod
    def parse(cls, value: str) -> EvidenceRef | None:
        m = _EVIDENCE_ID.match(value)
        return cls(m.group(1), int(m.group(2))) if m else None

    def __str__(self) -> str:
        return f"{self.object_id}:{self.line}"


@dataclass(frozen=True)
class RawLine:
    ts: datetime | None
    level: str | None
    status: int | None
    latency_ms: float | None
    message: str
    attrs: str | None


def read_lines(
    parquet_path: Path,
    manifest: EvidenceManifest,
    evidence_ids: list[str],
    *,
    with_attrs: set[str] | frozenset[str] = frozenset(),
) -> dict[str, RawLine]:
    """The frame rows behind the given evidence IDs; IDs that resolve to nothing are absent.

    Row group by row group: the key and line columns (dictionary-encoded, so cheap) pick the
    rows, and the text columns are read only for row groups that hold one. The `attrs` column
    (whole CloudTrail records) costs more than all the others together, so it is read only for
    the IDs in `with_attrs`.
    """
    by_id = manifest.object_by_id()
    wanted: dict[tuple[str, str, int], str] = {}
    for eid in evidence_ids:
        ref = EvidenceRef.parse(eid)
        obj = by_id.get(ref.object_id) if ref else None
        if ref is None or obj is None:
            continue
        wanted[(obj.source, obj.key, ref.line)] = eid
    if not wanted or not Path(parquet_path).exists():
        return {}
    keys = pa.array(sorted({k for _, k, _ in wanted}), pa.string())
    lines = pa.array(sorted({n for _, _, n in wanted}), pa.int64())
    pf = open_frame_file(str(parquet_path), read_dictionary=["object_key", "source"])
    names = set(pf.schema_arrow.names)
    text_columns = [c for c in _TEXT_COLUMNS if c in names]
    found: dict[str, RawLine] = {}
    for rg in range(pf.num_row_groups):
        ids = pf.read_row_group(rg, columns=["source", "object_key", "line"])
        mask = pc.and_(
            pc.is_in(ids["object_key"].cast(pa.string()), value_set=keys),
            pc.is_in(ids["line"], value_set=lines),
        )
        if not pc.any(mask).as_py():
            continue
        hits = ids.filter(mask).to_pylist()
        eids = [wanted.get((h["source"], h["object_key"], h["line"])) for h in hits]
        columns = text_columns
        if "attrs" in names and any(e in with_attrs for e in eids if e):
            columns = [*text_columns, "attrs"]
        rows = pf.read_row_group(rg, columns=columns).filter(mask).to_pylist()
        for eid, row in zip(eids, rows, strict=True):
            if eid is None or eid in found:
                continue
            found[eid] = RawLine(
                ts=row.get("ts"),
                level=row.get("level"),
                status=row.get("status"),
                latency_ms=row.get("latency_ms"),
                message=row.get("message") or "",
                attrs=row.get("attrs") if eid in with_attrs else None,
            )
    return found
