"""The incident spec: what an SRE lead hands the tool, as a file or as flow parameters."""

from __future__ import annotations

import codecs
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

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

from tasks.errors import SpecError

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
    service_pattern: str | None = Field(
        default=None,
        description=(
            "A regular expression searched in each object key, with a named group `service` "
            "naming the service of the object's records when they do not name one, e.g. "
            "`(?P<service>[^/]+)/[^/]+$` for one folder per service."
        ),
    )

    @field_validator("service_pattern")
    @classmethod
    def _check_service_pattern(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        if "service" not in compiled.groupindex:
            raise ValueError(
                f"{pattern!r} has no named group `service`; write it as (?P<service>...)"
            )
        return pattern

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

    def relative_to(self, folder: Path) -> Source:
        """This source with a relative local path resolved against `folder`."""
        if self.is_s3 or self.local_path.expanduser().is_absolute():
            return self
        scheme = "file://" if self.uri.startswith("file://") else ""
        return self.model_copy(
            update={"uri": scheme + str(Path(folder).absolute() / self.local_path)}
        )


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
    # For the weekly review's MTTD and MTTR; unknown until someone records them.
    detected_at: AwareDatetime | None = Field(None, description="When a person or alert noticed.")
    resolved_at: AwareDatetime | None = Field(None, description="When service was restored.")

    @field_validator("detected_at", "resolved_at")
    @classmethod
    def _moments_to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

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
            raw = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"{path}: cannot read the incident spec ({exc.strerror}).") from exc
        text = _spec_text(path, raw)
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise SpecError(
                f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise SpecError(f"{path}: expected a mapping of fields, got {type(data).__name__}.")
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{path}: {describe_validation_error(exc)}") from exc
        return spec.with_sources_relative_to(path.parent)

    def with_sources_relative_to(self, folder: Path) -> IncidentSpec:
        """Relative local source paths taken from `folder` (the spec file's), as compose
        files do: a spec and its logs can move together, and the run works from anywhere."""
        sources = [s.relative_to(folder) for s in self.sources]
        return self.model_copy(update={"sources": sources})


def _spec_text(path: Path, raw: bytes) -> str:
    """The spec's text: UTF-8 (with or without a BOM) or UTF-16 with a BOM, else one sentence."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path}: not a text file in UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); an incident spec is YAML or JSON saved as UTF-8."
        ) from None


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
