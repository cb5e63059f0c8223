"""The weekly review as data: what one ISO week of postmortems says, computed from loaded records.

Everything here is a pure function of the records, the week and the settings: no clock, no files.
An incident belongs to the week in which its incident window starts (UTC, ISO weeks start on
Monday 00:00).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from tasks.contracts import (
    Analysis,
    EvidencePack,
    Findings,
    IncidentSpec,
    Publication,
    ReviewRecord,
    TimeWindow,
    Verification,
)
from tasks.errors import SpecError
from tasks.render.claims import claim_views
from tasks.settings import Settings
from tasks.weekly._themes import WeeklySummary

TREND_WEEKS = 4
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
_PRIORITY_ORDER = {"P1": 0, "P2": 1, "P3": 2, None: 3}

RecordStatus = Literal["published", "pending", "changes requested", "rejected"]


class PostmortemRecord(BaseModel):
    """One incident's folder as the weekly review needs it. Only the findings are required:
    a draft from before spec.json was written still counts, with severity unknown."""

    incident_id: str
    findings: Findings
    spec: IncidentSpec | None = None
    analysis: Analysis | None = None
    verification: Verification | None = None
    pack: EvidencePack | None = None
    review: ReviewRecord | None = None
    publication: Publication | None = None

    @property
    def status(self) -> RecordStatus:
        if self.publication is not None:
            return "published"
        if self.review is not None and self.review.decision == "reject":
            return "rejected"
        if self.review is not None and self.review.decision == "request_changes":
            return "changes requested"
        return "pending"

    @property
    def started_at(self) -> datetime:
        return self.findings.windows.incident.start

    @property
    def severity(self) -> str:
        return self.spec.severity if self.spec else "unknown"

    @property
    def title(self) -> str:
        if self.analysis and self.analysis.title:
            return self.analysis.title
        return self.spec.title if self.spec else self.incident_id

    @property
    def top_suspect(self) -> str | None:
        return self.findings.suspects[0].service if self.findings.suspects else None

    @property
    def affected_services(self) -> list[str]:
        """What the SRE reported, plus the services whose error rate rose significantly."""
        reported = list(self.spec.services) if self.spec else []
        significant = [s.service for s in self.findings.services if s.significant]
        return sorted(set(reported) | set(significant))


class WeekBounds(TimeWindow):
    week: str  # 2026-W48


def week_bounds(week: str) -> WeekBounds:
    """Monday 00:00 UTC to the next Monday, for an ISO week written `2026-W48`."""
    try:
        year, number = week.upper().split("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise SpecError(
            f"week {week!r} is not an ISO week; write it as 2026-W48 (year, W, week 01-53)."
        ) from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return WeekBounds(week=iso_week(start), start=start, end=start + timedelta(days=7))


def iso_week(at: datetime) -> str:
    year, number, _ = at.astimezone(UTC).isocalendar()
    return f"{year}-W{number:02d}"


def previous_weeks(week: str, count: int = TREND_WEEKS) -> list[WeekBounds]:
    """The `count` weeks before `week`, oldest first."""
    start = week_bounds(week).start
    return [week_bounds(iso_week(start - timedelta(weeks=n))) for n in range(count, 0, -1)]


class IncidentRow(BaseModel):
    incident_id: str
    title: str
    severity: str
    status: RecordStatus
    started_at: datetime
    minutes: float
    top_suspect: str | None
    affected: list[str]
    mttd_minutes: float | None = None
    mttr_minutes: float | None = None
    analyst: str | None = None
    grounding_rate: float | None = None


class ServiceCount(BaseModel):
    service: str
    top_suspect: int = 0
    affected: int = 0


class Duration(BaseModel):
    """Mean and median minutes over the incidents that recorded the times; `missing` did not."""

    count: int = 0
    missing: int = 0
    mean_minutes: float | None = None
    median_minutes: float | None = None


class Recurrence(BaseModel):
    kind: Literal["pattern", "top suspect", "affected service", "change kind"]
    key: str
    label: str  # the pattern's template, or the service / change kind again
    incidents: list[str]  # every incident in the horizon that has it, oldest first
    this_week: int


class ActionItem(BaseModel):
    incident_id: str
    claim_id: str
    text: str
    priority: str | None
    action_type: str | None
    service: str | None
    age_days: int
    status: str  # the verifier's verdict, or "not checked"
    incident_status: RecordStatus


class WeekCount(BaseModel):
    week: str
    total: int
    by_severity: dict[str, int]
    mttd_median_minutes: float | None = None
    mttr_median_minutes: float | None = None


class WeeklyReview(BaseModel):
    week: str
    start: datetime
    end: datetime
    incidents: list[IncidentRow] = Field(default_factory=list)
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_service: list[ServiceCount] = Field(default_factory=list)
    mttd: Duration = Field(default_factory=Duration)
    mttr: Duration = Field(default_factory=Duration)
    recurring: list[Recurrence] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)
    action_items_to_write: int = Field(
        0, description="Action items the drafts leave for the responders to write."
    )
    trend: list[WeekCount] = Field(
        default_factory=list, description="Oldest first; this week last."
    )
    warnings: list[str] = Field(default_factory=list)
    summary: WeeklySummary | None = Field(
        None, description="The AI summary of themes; None when the settings turn it off."
    )

    @property
    def published(self) -> int:
        return sum(1 for i in self.incidents if i.status == "published")

    @property
    def pending(self) -> int:
        return sum(1 for i in self.incidents if i.status != "published")


def mttd_minutes(record: PostmortemRecord) -> float | None:
    """detected_at minus the earliest onset the logs show, or the window start without one."""
    if record.spec is None or record.spec.detected_at is None:
        return None
    onsets = [o.at for o in record.findings.onsets]
    began = min(onsets) if onsets else record.started_at
    return (record.spec.detected_at - began) / timedelta(minutes=1)


def mttr_minutes(record: PostmortemRecord) -> float | None:
    """resolved_at minus the incident window's start."""
    if record.spec is None or record.spec.resolved_at is None:
        return None
    return (record.spec.resolved_at - record.started_at) / timedelta(minutes=1)


def build_weekly_review(
    postmortems: list[PostmortemRecord], week: str, settings: Settings
) -> WeeklyReview:
    """The weekly review of `week` from already-loaded postmortems (any weeks; others are used
    for the trend and for what recurs)."""
    del settings  # the knobs (AI summary, review gate) act in the flow, not on the numbers
    bounds = week_bounds(week)
    earlier = previous_weeks(bounds.week)
    # Rejected drafts are not postmortems: they count nowhere but in a note.
    kept = sorted(
        (p for p in postmortems if p.status != "rejected"),
        key=lambda p: (p.started_at, p.incident_id),
    )
    rejected = [p for p in postmortems if p.status == "rejected" and bounds.contains(p.started_at)]
    current = [p for p in kept if bounds.contains(p.started_at)]
    horizon = [p for p in kept if earlier[0].start <= p.started_at < bounds.end]

    warnings = []
    if rejected:
        warnings.append(
            f"{len(rejected)} draft(s) rejected by a reviewer are left out: "
            + ", ".join(p.incident_id for p in rejected)
            + "."
        )
    no_spec = [p.incident_id for p in current if p.spec is None]
    if no_spec:
        warnings.append(
            "No spec.json (drafted before it was saved), so severity and MTTD/MTTR are unknown for: "
            + ", ".join(no_spec)
            + "."
        )
    action_items, to_write = _action_items(horizon, bounds.end)
    rows = []
    for p in current:
        mttd, mttr = mttd_minutes(p), mttr_minutes(p)
        if mttd is not None and mttd < 0:
            warnings.append(
                f"{p.incident_id}: detected_at is before the first onset the logs show; "
                "its MTTD is left out (check detected_at or the window)."
            )
            mttd = None
        if mttr is not None and mttr < 0:
            warnings.append(
                f"{p.incident_id}: resolved_at is before the incident window starts; "
                "its MTTR is left out."
            )
            mttr = None
        rows.append(
            IncidentRow(
                incident_id=p.incident_id,
                title=p.title,
                severity=p.severity,
                status=p.status,
                started_at=p.started_at,
                minutes=p.findings.windows.incident.minutes,
                top_suspect=p.top_suspect,
                affected=p.affected_services,
                mttd_minutes=mttd,
                mttr_minutes=mttr,
                analyst=p.analysis.analyst if p.analysis else None,
                grounding_rate=p.verification.grounding_rate if p.verification else None,
            )
        )
    return WeeklyReview(
        week=bounds.week,
        start=bounds.start,
        end=bounds.end,
        incidents=rows,
        by_severity=_by_severity(r.severity for r in rows),
        by_service=_by_service(current),
        mttd=_duration([r.mttd_minutes for r in rows]),
        mttr=_duration([r.mttr_minutes for r in rows]),
        recurring=_recurring(horizon, current),
        action_items=action_items,
        action_items_to_write=to_write,
        trend=[_week_count(w, kept) for w in [*earlier, bounds]],
        warnings=warnings,
    )


def _by_severity(severities) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for s in severities:
        counts[s] = counts.get(s, 0) + 1
    return counts


def _by_service(records: list[PostmortemRecord]) -> list[ServiceCount]:
    counts: dict[str, ServiceCount] = {}
    for p in records:
        if p.top_suspect:
            counts.setdefault(p.top_suspect, ServiceCount(service=p.top_suspect)).top_suspect += 1
        for s in p.affected_services:
            counts.setdefault(s, ServiceCount(service=s)).affected += 1
    return sorted(counts.values(), key=lambda c: (-c.top_suspect, -c.affected, c.service))


def _duration(values: list[float | None]) -> Duration:
    known = [v for v in values if v is not None]
    if not known:
        return Duration(missing=len(values))
    return Duration(
        count=len(known),
        missing=len(values) - len(known),
        mean_minutes=statistics.fmean(known),
        median_minutes=statistics.median(known),
    )


def _recurring(
    horizon: list[PostmortemRecord], current: list[PostmortemRecord]
) -> list[Recurrence]:
    """What shows up in two incidents or more of the horizon, at least one of them this week."""
    now = {p.incident_id for p in current}
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    labels: dict[tuple[str, str], str] = {}
    for p in horizon:
        keys: dict[tuple[str, str], str] = {}
        # Only the patterns the baseline flagged: the steady ones recur by definition.
        for pattern in p.findings.patterns:
            if pattern.is_new or pattern.is_spike:
                keys[("pattern", pattern.pattern_id)] = pattern.template
        if p.top_suspect:
            keys[("top suspect", p.top_suspect)] = p.top_suspect
        for service in p.affected_services:
            keys[("affected service", service)] = service
        window = p.findings.windows.incident
        for change in p.findings.changes:
            if window.contains(change.at):
                keys[("change kind", change.kind)] = change.kind
        for key, label in keys.items():
            seen[key].append(p.incident_id)
            labels.setdefault(key, label)
    order = {"top suspect": 0, "pattern": 1, "change kind": 2, "affected service": 3}
    found = [
        Recurrence(
            kind=kind,
            key=key,
            label=labels[(kind, key)],
            incidents=ids,
            this_week=sum(1 for i in ids if i in now),
        )
        for (kind, key), ids in seen.items()
        if len(ids) >= 2 and any(i in now for i in ids)
    ]
    return sorted(found, key=lambda r: (order[r.kind], -len(r.incidents), r.key))


def _action_items(records: list[PostmortemRecord], as_of: datetime) -> tuple[list[ActionItem], int]:
    """Every action item of the horizon's postmortems, as the drafts show them, and how many
    are placeholders left for the responders to write. Nothing records an item as done yet, so
    all count as open; the age runs from the incident's start to the end of the week."""
    items, to_write = [], 0
    for p in records:
        for view in claim_views(p.analysis, p.verification, p.pack)["action_items"]:
            # A placeholder only asks the responders to write the item: nothing to track yet.
            if view.status == "for the responders":
                to_write += 1
                continue
            items.append(
                ActionItem(
                    incident_id=p.incident_id,
                    claim_id=view.claim.id,
                    text=view.text,
                    priority=view.claim.priority,
                    action_type=view.claim.action_type,
                    service=view.claim.service,
                    age_days=max(0, (as_of - p.started_at).days),
                    status=view.status,
                    incident_status=p.status,
                )
            )
    items.sort(key=lambda a: (_PRIORITY_ORDER.get(a.priority, 3), -a.age_days, a.incident_id))
    return items, to_write


def _week_count(bounds: WeekBounds, records: list[PostmortemRecord]) -> WeekCount:
    inside = [p for p in records if bounds.contains(p.started_at)]
    mttd = [v for v in (mttd_minutes(p) for p in inside) if v is not None and v >= 0]
    mttr = [v for v in (mttr_minutes(p) for p in inside) if v is not None and v >= 0]
    return WeekCount(
        week=bounds.week,
        total=len(inside),
        by_severity=_by_severity(p.severity for p in inside),
        mttd_median_minutes=statistics.median(mttd) if mttd else None,
        mttr_median_minutes=statistics.median(mttr) if mttr else None,
    )
