"""The canonical log frame and the chain of custody: manifest, objects, rejects."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from tasks.contracts.spec import LogFormat, TimeWindow

LEVELS = ("debug", "info", "warn", "error", "fatal")

#: What a format parser returns for each record: the canonical frame without provenance.
PARSED_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("service", pa.string()),
        pa.field("instance", pa.string()),
        pa.field("level", pa.string()),  # one of LEVELS, or null
        pa.field("message", pa.string()),
        pa.field("status", pa.int32()),  # HTTP status, or null
        pa.field("latency_ms", pa.float64()),
        pa.field("trace_id", pa.string()),
        # Structured extras as a JSON object (CloudTrail eventName/actor/requestParameters,
        # container image, ALB error_reason...), or null. Later stages read it; the frame
        # stays flat and columnar.
        pa.field("attrs", pa.string()),
        pa.field("line", pa.int64()),  # 1-based line (record index for CloudTrail) in the object
    ]
)

#: One row per log record; `source` + `object_key` + `line` lead back to the raw bytes.
#: `change_record` is `is_change_record(attrs)`, written by gather so that readers who only
#: need the flag do not decode `attrs`, the frame's largest column.
CANONICAL_SCHEMA = pa.schema(
    [
        *PARSED_SCHEMA,
        pa.field("source", pa.string()),
        pa.field("object_key", pa.string()),
        pa.field("change_record", pa.bool_()),
    ]
)


def is_change_record(attrs: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which rows are change records (CloudTrail: changes to the system, not a service's
    traffic), from their `attrs` text: the ones with an `eventSource` key."""
    if not pa.types.is_string(attrs.type) and not pa.types.is_large_string(attrs.type):
        attrs = pc.cast(attrs, pa.string())
    # attrs can be long JSON on every row; RE2 finds a bare word far faster than Arrow's
    # substring search, and the exact key test then runs on the few candidates only.
    maybe = pc.fill_null(pc.match_substring_regex(attrs, "eventSource"), False)
    mask = maybe.to_numpy(zero_copy_only=False)
    candidates = np.flatnonzero(mask)
    if candidates.size:
        exact = pc.match_substring(pc.take(attrs, pa.array(candidates)), '"eventSource"')
        mask[candidates] = pc.fill_null(exact, False).to_numpy(zero_copy_only=False)
    return mask


def object_id(source: str, key: str) -> str:
    """A short, stable name for one object, used inside evidence IDs."""
    return "o" + hashlib.blake2b(f"{source}\x00{key}".encode(), digest_size=4).hexdigest()


def evidence_id(obj_id: str, line: int) -> str:
    """`o1a2b3c4d:17`: line 17 of the object whose manifest entry has that object_id."""
    return f"{obj_id}:{line}"


MAX_EXAMPLES_PER_REASON = 3


class RejectedLine(BaseModel):
    line: int
    reason: str
    excerpt: str  # at most 200 characters of the raw line, for the reviewer


class RejectTally(BaseModel):
    """Lines a parser refused, by reason, with a few examples. Never silently dropped."""

    counts: dict[str, int] = Field(default_factory=dict)
    examples: list[RejectedLine] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, line: int, reason: str, raw: bytes | str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self._room_for(reason):
            text = raw if isinstance(raw, str) else raw[:400].decode("utf-8", "replace")
            self.examples.append(RejectedLine(line=line, reason=reason, excerpt=text[:200]))

    def merge(self, other: RejectTally) -> None:
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
        for ex in other.examples:
            if self._room_for(ex.reason):
                self.examples.append(ex)

    def _room_for(self, reason: str) -> bool:
        return sum(1 for e in self.examples if e.reason == reason) < MAX_EXAMPLES_PER_REASON


class ObjectStatus(StrEnum):
    READ = "read"  # fetched and parsed (some lines may still have been rejected)
    SKIPPED = "skipped"  # deliberately not read: outside the window, digest file, write test
    FAILED = "failed"  # could not be read: vanished, access denied, corrupt compression
    # read in part: it breaks off (truncated, or corrupt compression part-way) and the records
    # before the break are kept; `reason` says where
    PARTIAL = "partial"


class ObjectRecord(BaseModel):
    """One object's chain-of-custody entry in the evidence manifest."""

    object_id: str
    source: str
    key: str
    uri: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    sha256: str | None = None  # of the bytes as stored (before decompression)
    format: LogFormat | None = None  # as detected when the source says auto
    status: ObjectStatus = ObjectStatus.READ
    reason: str | None = None  # why it was skipped or failed, in one sentence
    lines_parsed: int = 0
    lines_in_window: int = 0
    rejected: RejectTally = Field(default_factory=RejectTally)
    encoding: str | None = None  # the text encoding transcoded from (utf-16-le...); None: UTF-8
    invalid_utf8_lines: int = 0  # lines whose bytes were not UTF-8 (kept, with U+FFFD)


class GatherStats(BaseModel):
    listed: int = 0
    read: int = 0
    skipped: int = 0
    failed: int = 0
    partial: int = 0  # read in part; their kept rows are in the frame
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    bytes_read: int = 0
    lines_parsed: int = 0
    lines_rejected: int = 0
    invalid_utf8_lines: int = 0
    rows_kept: int = 0  # rows inside the gather windows, written to logs.parquet
    seconds: float = 0.0


class EvidenceManifest(BaseModel):
    incident_id: str
    created_at: datetime
    windows: list[TimeWindow]  # the windows the frame covers (incident + baselines)
    margin_minutes: float  # how far outside the windows key-based pruning still looks
    stats: GatherStats
    objects: list[ObjectRecord]
    errors: list[str] = Field(default_factory=list)  # source-level failures, one sentence each

    def object_by_id(self) -> dict[str, ObjectRecord]:
        return {o.object_id: o for o in self.objects}


class GatherResult(BaseModel):
    manifest: EvidenceManifest
    parquet_path: Path
    manifest_path: Path
