"""What the baseline stage found: windows, services, patterns, onsets, changes, suspects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)

from tasks.contracts.spec import TimeWindow


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
    # From trace IDs in the logs (tasks/baseline/traces.py): medians in ms, one-sided
    # Mann-Whitney p-values (incident slower), and whether the rise is significant and large.
    span_ms: Change | None = None  # own span: first to last line of the service in a trace
    span_p_value: float | None = None
    span_slower: bool = False
    call_gap_ms: Change | None = None  # caller's last line to this service's first, per trace
    call_gap_p_value: float | None = None
    call_gap_slower: bool = False
    traces_per_min: Change | None = None  # throughput: traces the service took part in
    traces_p_value: float | None = None  # exact test of the change, the likelier direction


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
    parts: dict[str, float] = Field(
        default_factory=dict, description="Each score component in [0, 1], before its weight."
    )


class TimelineEntry(BaseModel):
    at: datetime
    service: str | None = None
    kind: Literal["change", "onset", "new_pattern", "peak", "window"]
    text: str
    evidence_ids: list[str] = Field(default_factory=list)


class MinuteSeries(BaseModel):
    """One service's minute-by-minute counts in one window, for the charts."""

    service: str
    window: Literal["incident", "baseline"]
    start: datetime = Field(description="Start of minute 0; the baseline is aligned by offset.")
    lines: list[int]
    errors: list[int]
    p95_latency_ms: list[float | None]


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
    series: list[MinuteSeries] = Field(
        default_factory=list, description="Per-minute series of the charted services."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The settings that produced these findings."
    )

    @property
    def has_data(self) -> bool:
        return self.total_incident_lines > 0
