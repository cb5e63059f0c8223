"""The contracts between stages: every stage takes and returns these models.

Data flows one way: IncidentSpec -> gather (GatherResult + the canonical frame in Parquet)
-> baseline (Findings) -> render. Everything here is JSON-serialisable so that Prefect can
persist it and a reviewer can read it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import pyarrow as pa
import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# --------------------------------------------------------------------------------------------
# Incident specification
# --------------------------------------------------------------------------------------------

INCIDENT_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class LogFormat(StrEnum):
    AUTO = "auto"
    JSONL = "jsonl"
    FLUENTBIT_K8S = "fluentbit-k8s"
    TEXT = "text"
    ALB = "alb"
    CLOUDTRAIL = "cloudtrail"
    CLOUDWATCH_EXPORT = "cloudwatch-export"
    VPC_FLOW = "vpc-flow"


class TimeWindow(BaseModel):
    """A half-open UTC interval [start, end). Naive timestamps are refused, not guessed."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    @field_validator("start", "end")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _end_after_start(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            )
        return self

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def minutes(self) -> float:
        return self.duration.total_seconds() / 60.0

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end

    def shifted(self, delta: timedelta) -> TimeWindow:
        return TimeWindow(start=self.start + delta, end=self.end + delta)

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M:%S}Z – {self.end:%Y-%m-%d %H:%M:%S}Z"


_URI_SCHEMES = ("s3://", "file://")


class Source(BaseModel):
    """Where one family of logs lives, and how to read it."""

    name: Annotated[str, Field(pattern=INCIDENT_ID_PATTERN)]
    uri: str
    format: LogFormat = LogFormat.AUTO

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, uri: str) -> str:
        uri = uri.strip()
        if not uri:
            raise ValueError("is empty; expected s3://bucket/prefix, file:///dir or a local folder")
        if uri.startswith("s3://"):
            bucket = uri[5:].split("/", 1)[0]
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
                raise ValueError(f"{uri!r} does not name a valid S3 bucket")
            return uri
        if "://" in uri and not uri.startswith(_URI_SCHEMES):
            scheme = uri.split("://", 1)[0]
            raise ValueError(
                f"{uri!r} uses the unsupported scheme {scheme!r}; "
                "expected s3://bucket/prefix, file:///dir or a local folder"
            )
        return uri

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        return self.uri[5:].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        parts = self.uri[5:].split("/", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def local_path(self) -> Path:
        return Path(self.uri[7:] if self.uri.startswith("file://") else self.uri)


class IncidentSpec(BaseModel):
    """What the SRE lead knows when they ask for a postmortem."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=INCIDENT_ID_PATTERN)]
    title: str = Field(min_length=1, max_length=200)
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV3"
    window: TimeWindow
    services: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(min_length=1)
    baseline: list[TimeWindow] = Field(default_factory=list)
    ai_dependencies: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_source_names(self) -> IncidentSpec:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources: names must be unique, repeated: {', '.join(dupes)}")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> IncidentSpec:
        """Load a YAML or JSON spec; every error names the file and the field at fault."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read the incident spec ({exc.strerror}).") from exc
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise SpecError(
                f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise SpecError(f"{path}: expected a mapping of fields, got {type(data).__name__}.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{path}: {describe_validation_error(exc)}") from exc


class SpecError(ValueError):
    """An incident spec that cannot be used; the message names the field at fault."""


def describe_validation_error(exc: ValidationError) -> str:
    """One sentence per problem, each naming the field as `sources[0].uri` would."""
    parts = []
    for err in exc.errors():
        loc = ""
        for item in err["loc"]:
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "timezone_aware":
            msg = "timestamp has no timezone; write it as 2026-11-24T13:05:00Z or with +00:00"
        elif err["type"] == "string_pattern_mismatch" and loc.endswith(("id", "name")):
            msg = "must be 1-64 characters of letters, digits, '.', '_' or '-'"
        elif err["type"] == "enum":
            msg = (
                f"unknown value {err.get('input')!r}; {err['msg'].removeprefix('Input should be ')}"
            )
        parts.append(f"{loc or 'spec'}: {msg}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Canonical log frame
# --------------------------------------------------------------------------------------------

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
CANONICAL_SCHEMA = pa.schema(
    [*PARSED_SCHEMA, pa.field("source", pa.string()), pa.field("object_key", pa.string())]
)


def object_id(source: str, key: str) -> str:
    """A short, stable name for one object, used inside evidence IDs."""
    return "o" + hashlib.blake2b(f"{source}\x00{key}".encode(), digest_size=4).hexdigest()


def evidence_id(obj_id: str, line: int) -> str:
    """`o1a2b3c4d:17`: line 17 of the object whose manifest entry has that object_id."""
    return f"{obj_id}:{line}"


# --------------------------------------------------------------------------------------------
# Gather
# --------------------------------------------------------------------------------------------

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
        seen = sum(1 for e in self.examples if e.reason == reason)
        if seen < MAX_EXAMPLES_PER_REASON:
            text = raw if isinstance(raw, str) else raw[:400].decode("utf-8", "replace")
            self.examples.append(RejectedLine(line=line, reason=reason, excerpt=text[:200]))

    def merge(self, other: RejectTally) -> None:
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
        for ex in other.examples:
            if sum(1 for e in self.examples if e.reason == ex.reason) < MAX_EXAMPLES_PER_REASON:
                self.examples.append(ex)


class ObjectStatus(StrEnum):
    READ = "read"  # fetched and parsed (some lines may still have been rejected)
    SKIPPED = "skipped"  # deliberately not read: outside the window, digest file, write test
    FAILED = "failed"  # could not be read: vanished, access denied, corrupt compression


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


class GatherStats(BaseModel):
    listed: int = 0
    read: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    bytes_read: int = 0
    lines_parsed: int = 0
    lines_rejected: int = 0
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


# --------------------------------------------------------------------------------------------
# Baseline findings
# --------------------------------------------------------------------------------------------


class WindowSet(BaseModel):
    incident: TimeWindow
    baselines: list[TimeWindow]
    baseline_kind: Literal["default", "explicit"]


class Change(BaseModel):
    """Incident against baseline; `ratio` is None when the baseline is zero."""

    incident: float | None = None
    baseline: float | None = None
    delta: float | None = None
    ratio: float | None = None


class ServiceStats(BaseModel):
    service: str
    incident_lines: int
    baseline_lines: int
    volume_per_min: Change
    errors_incident: int
    errors_baseline: int
    error_rate: Change  # fraction of lines at level error/fatal or HTTP status >= 500
    p_value: float | None = None
    q_value: float | None = None  # Benjamini–Hochberg across services
    significant: bool = False
    status_mix_incident: dict[str, int] = Field(default_factory=dict)  # "2xx": n, "503": n ...
    status_mix_baseline: dict[str, int] = Field(default_factory=dict)
    latency_p50_ms: Change | None = None
    latency_p95_ms: Change | None = None
    latency_p99_ms: Change | None = None


class PatternFinding(BaseModel):
    pattern_id: str
    template: str
    services: list[str]
    level: str | None = None  # the most severe level seen with this pattern
    incident_count: int
    baseline_count: int
    incident_per_min: float
    baseline_per_min: float
    p_value: float | None = None
    q_value: float | None = None
    is_new: bool = False  # absent from every baseline window
    is_spike: bool = False  # significant rate increase
    first_seen: datetime | None = None  # first occurrence inside the incident window
    exemplars: list[str] = Field(default_factory=list)  # evidence IDs


class Onset(BaseModel):
    service: str
    at: datetime
    signal: Literal["errors", "latency", "log volume"] = "errors"  # what deviated first
    method: str  # how it was found, in words a reviewer understands
    evidence_ids: list[str] = Field(default_factory=list)


ChangeKind = Literal[
    "deploy", "config", "iam", "network", "database", "scaling", "restart", "version", "other"
]


class ChangeEvent(BaseModel):
    at: datetime
    kind: ChangeKind
    service: str | None = None
    actor: str | None = None
    summary: str
    source: Literal["cloudtrail", "app"]
    evidence_ids: list[str] = Field(default_factory=list)


class Suspect(BaseModel):
    service: str
    rank: int
    score: float
    reasons: list[str]
    evidence_ids: list[str] = Field(default_factory=list)


class TimelineEntry(BaseModel):
    at: datetime
    service: str | None = None
    kind: Literal["change", "onset", "new_pattern", "peak", "window"]
    text: str
    evidence_ids: list[str] = Field(default_factory=list)


class Findings(BaseModel):
    incident_id: str
    windows: WindowSet
    total_incident_lines: int = 0
    total_baseline_lines: int = 0
    services: list[ServiceStats] = Field(default_factory=list)
    patterns: list[PatternFinding] = Field(default_factory=list)
    onsets: list[Onset] = Field(default_factory=list)
    suspects: list[Suspect] = Field(default_factory=list)
    changes: list[ChangeEvent] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.total_incident_lines > 0


class DraftResult(BaseModel):
    """What `postmortem draft` reports when it is done."""

    incident_id: str
    out_dir: Path
    draft_path: Path
    findings_path: Path
    manifest_path: Path
    parquet_path: Path
    stats: GatherStats
    errors: list[str] = Field(default_factory=list)  # sources that could not be read at all
    warnings: list[str] = Field(default_factory=list)
    top_suspect: str | None = None
