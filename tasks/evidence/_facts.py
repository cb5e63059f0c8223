"""Fact IDs for every figure in the findings, so the analyst cites `{F:...}` instead of a number."""

from __future__ import annotations

import re
from datetime import datetime

from tasks.contracts import (
    Change,
    ChangeEvent,
    Findings,
    Onset,
    PatternFinding,
    ServiceStats,
    Suspect,
    TimelineEntry,
)
from tasks.contracts.pack import Fact, FactUnit
from tasks.render import format_number, format_percent, format_time

_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def fact_key(name: str) -> str:
    """A service or pattern name as it may appear inside a fact ID."""
    return _UNSAFE.sub("-", name).strip("-") or "unnamed"


def _display(unit: FactUnit, value: float | None, at: datetime | None) -> str:
    if unit == "time":
        return format_time(at)
    if unit == "ratio":
        return format_percent(value)
    if unit == "score":
        return "–" if value is None else f"{value:.2f}"
    if unit == "per_min":
        return format_number(value, 2)
    return format_number(value)


def make_fact(
    fact_id: str,
    subject: str,
    metric: str,
    unit: FactUnit,
    value: float | None = None,
    at: datetime | None = None,
) -> Fact:
    return Fact(
        id=fact_id,
        subject=subject,
        metric=metric,
        unit=unit,
        value=value,
        at=at,
        display=_display(unit, value, at),
    )


def incident_facts(findings: Findings) -> list[Fact]:
    w = findings.windows.incident
    facts = [
        make_fact("F:incident.start", "incident", "start", "time", at=w.start),
        make_fact("F:incident.end", "incident", "end", "time", at=w.end),
        make_fact(
            "F:incident.minutes",
            "incident",
            "minutes",
            "count",
            round((w.end - w.start).total_seconds() / 60, 1),
        ),
        make_fact("F:incident.lines", "incident", "lines", "count", findings.total_incident_lines),
        make_fact("F:baseline.lines", "baseline", "lines", "count", findings.total_baseline_lines),
    ]
    for i, b in enumerate(findings.windows.baselines):
        facts.append(make_fact(f"F:baseline.{i}.start", "baseline", "start", "time", at=b.start))
        facts.append(make_fact(f"F:baseline.{i}.end", "baseline", "end", "time", at=b.end))
    return facts


def _pair(key: str, service: str, metric: str, unit: FactUnit, change: Change | None) -> list[Fact]:
    if change is None:
        return []
    return [
        make_fact(f"F:{key}.{metric}.{side}", service, f"{metric}.{side}", unit, value)
        for side, value in (("incident", change.incident), ("baseline", change.baseline))
        if value is not None
    ]


def service_facts(s: ServiceStats) -> list[Fact]:
    key = fact_key(s.service)
    facts = [
        make_fact(
            f"F:{key}.lines.incident", s.service, "lines.incident", "count", s.incident_lines
        ),
        make_fact(
            f"F:{key}.lines.baseline", s.service, "lines.baseline", "count", s.baseline_lines
        ),
        make_fact(
            f"F:{key}.errors.incident", s.service, "errors.incident", "count", s.errors_incident
        ),
        make_fact(
            f"F:{key}.errors.baseline", s.service, "errors.baseline", "count", s.errors_baseline
        ),
        *_pair(key, s.service, "error_rate", "ratio", s.error_rate),
        *_pair(key, s.service, "volume_per_min", "per_min", s.volume_per_min),
        *_pair(key, s.service, "p50_ms", "ms", s.latency_p50_ms),
        *_pair(key, s.service, "p95_ms", "ms", s.latency_p95_ms),
        *_pair(key, s.service, "p99_ms", "ms", s.latency_p99_ms),
    ]
    if s.q_value is not None:
        facts.append(
            Fact(
                id=f"F:{key}.error_rate.q",
                subject=s.service,
                metric="error_rate.q",
                unit="score",
                value=s.q_value,
                display=f"{s.q_value:.2g}",
            )
        )
    return facts


def suspect_fact(s: Suspect) -> Fact:
    key = fact_key(s.service)
    return make_fact(f"F:{key}.suspect_score", s.service, "suspect_score", "score", s.score)


def onset_fact(o: Onset) -> Fact:
    return make_fact(f"F:{fact_key(o.service)}.onset", o.service, "onset", "time", at=o.at)


def change_fact_id(index: int) -> str:
    """The ID of the time of `Findings.changes[index]`."""
    return f"F:change.{index}.at"


def change_fact(index: int, c: ChangeEvent) -> Fact:
    return make_fact(change_fact_id(index), c.service or "change", "at", "time", at=c.at)


def pattern_facts(p: PatternFinding) -> list[Fact]:
    key = f"pattern.{fact_key(p.pattern_id)}"
    facts = [
        make_fact(f"F:{key}.{name}", p.pattern_id, name, unit, getattr(p, name))
        for name, unit in (
            ("incident_count", "count"),
            ("baseline_count", "count"),
            ("incident_per_min", "per_min"),
            ("baseline_per_min", "per_min"),
        )
    ]
    if p.first_seen is not None:
        facts.append(
            make_fact(f"F:{key}.first_seen", p.pattern_id, "first_seen", "time", at=p.first_seen)
        )
    return facts


def timeline_fact(index: int, t: TimelineEntry) -> Fact:
    """The time of `Findings.timeline[index]`."""
    return make_fact(f"F:timeline.{index}.at", t.service or "incident", "at", "time", at=t.at)


def all_facts(findings: Findings) -> list[Fact]:
    """Every fact the pack can hold for `findings`, unbudgeted, in the pack's section order."""
    facts = incident_facts(findings) + [suspect_fact(s) for s in findings.suspects]
    for s in findings.services:
        facts += service_facts(s)
    facts += [onset_fact(o) for o in findings.onsets]
    facts += [change_fact(i, c) for i, c in enumerate(findings.changes)]
    for p in findings.patterns:
        facts += pattern_facts(p)
    facts += [timeline_fact(i, t) for i, t in enumerate(findings.timeline)]
    return facts
