"""Literal numbers and times in a claim's text, and the findings' numbers and times they must match.

The analyst is asked to write `{F:...}` where a figure belongs; anything it writes as a literal is
checked here. What counts as a figure is kept narrow on purpose, so that prose is not flagged:
identifiers (evidence IDs, pattern IDs, versions, placeholders), dates, HTTP status classes
("5xx") and bare integers below 10 ("two retries", "3 services") are not figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from tasks.contracts import Findings
from tasks.contracts.pack import FACT_REFERENCE, EvidencePack

# Stripped before numbers are read: identifiers and anything else that is not a figure.
_NOT_FIGURES = [
    re.compile(r"\bo[0-9a-f]{8}:\d+\b"),  # evidence IDs
    re.compile(r"\b[vV]?\d+(?:\.\d+){2,}[\w.-]*"),  # versions 2.3.1, 10.0.0.1
    re.compile(r"\bv\d+\b"),  # v2
    re.compile(r"<[^<>\s]{1,40}>|\[[A-Z_]+[-_ ]?\d*\]"),  # redaction placeholders
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # dates (the time part is read on its own)
    re.compile(r"\b[1-5]xx\b", re.IGNORECASE),  # status classes
    re.compile(r"https?://\S+"),
    re.compile(r"`[^`]*`"),  # quoted log text is evidence, not the analyst's figure
    re.compile(r"\"[^\"]{0,200}\""),
]
_ISO_TIME = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(?:Z|UTC|\+00:?00)?"
)
_CLOCK = re.compile(
    r"(?<![\w:.])(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:\s?(?:Z|UTC)\b|(?![\w:]))"
)
_NUMBER = re.compile(
    r"(?<![\w.$/#:-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(\s?(?:%|percent\b|ms\b|milliseconds?\b|s\b|secs?\b|seconds?\b|min\b|mins\b|minutes?\b"
    r"|x\b|×|times\b|k\b))?(?![\w.]*\d)"
)


@dataclass(frozen=True)
class Literal:
    text: str
    value: float
    unit: str  # "%", "ms", "s", "min", "x", "" (plain)
    tolerance: float  # half a unit of the last written digit


@dataclass(frozen=True)
class WrittenTime:
    text: str
    at: datetime | None  # a full timestamp
    clock: time | None  # a time of day only (13:04)
    has_seconds: bool


def strip_fact_refs(text: str) -> str:
    return FACT_REFERENCE.sub(" ", text)


def fact_refs(text: str) -> list[str]:
    return FACT_REFERENCE.findall(text)


def written_times(text: str) -> list[WrittenTime]:
    """Times the claim writes out: full timestamps and times of day."""
    text = strip_fact_refs(text)
    found: list[WrittenTime] = []
    for m in _ISO_TIME.finditer(text):
        date = datetime.fromisoformat(m.group(1))
        at = date.replace(
            hour=int(m.group(2)), minute=int(m.group(3)), second=int(m.group(4) or 0), tzinfo=UTC
        )
        found.append(WrittenTime(m.group(0).strip(), at, None, m.group(4) is not None))
    rest = _ISO_TIME.sub(" ", text)
    for m in _CLOCK.finditer(rest):
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour > 23 or minute > 59:
            continue
        clock = time(hour, minute, int(m.group(3) or 0))
        found.append(WrittenTime(m.group(0).strip(), None, clock, m.group(3) is not None))
    return found


def literal_numbers(text: str) -> list[Literal]:
    """Numbers the claim writes as literals, outside `{F:...}` references and identifiers."""
    text = strip_fact_refs(text)
    text = _ISO_TIME.sub(" ", text)
    text = _CLOCK.sub(" ", text)
    for pattern in _NOT_FIGURES:
        text = pattern.sub(" ", text)
    found: list[Literal] = []
    for m in _NUMBER.finditer(text):
        whole, frac, raw_unit = m.group(1), m.group(2) or "", (m.group(3) or "").strip().lower()
        value = float(whole.replace(",", "") + frac)
        unit = _unit(raw_unit)
        decimals = len(frac) - 1 if frac else 0
        if decimals:
            tolerance = 0.5 * 10**-decimals
        else:
            # "about 300": a round number is only as precise as its last non-zero digit.
            digits = whole.replace(",", "")
            zeros = len(digits) - len(digits.rstrip("0")) if digits != "0" else 0
            tolerance = 0.5 * 10 ** min(zeros, len(digits) - 1)
        if m.group(3) == "s" and not frac and 100 <= value < 600:
            unit = ""  # "503s": HTTP statuses, not seconds
        if unit == "k":
            value, tolerance, unit = value * 1000, tolerance * 1000, ""
        if not unit and not frac and value < 10:
            continue  # "two retries", "3 services": prose, not a figure
        found.append(Literal(m.group(0).strip(), value, unit, tolerance))
    return found


def _unit(raw: str) -> str:
    if raw in ("%", "percent"):
        return "%"
    if raw in ("ms", "millisecond", "milliseconds"):
        return "ms"
    if raw in ("s", "sec", "secs", "second", "seconds"):
        return "s"
    if raw in ("min", "mins", "minute", "minutes"):
        return "min"
    if raw in ("x", "×", "times"):
        return "x"
    return raw


@dataclass
class NumberPool:
    """The findings' numbers: figures, and durations (seconds) between observed times."""

    values: list[float]
    durations_s: list[float]
    # Shares a writer may quote as percentages: error rates, and rises (ratio - 1). Kept apart
    # so that "31%" is not matched by a suspect score of 0.31.
    fractions: list[float] = field(default_factory=list)


def findings_numbers(
    findings: Findings,
    pack: EvidencePack | None = None,
    observed: set[datetime] | None = None,
) -> NumberPool:
    """Every number the findings hold (settings aside), with derived ones a writer may quote:
    ratio - 1 (a rise of 240%), status codes, window lengths and gaps between observed times.
    `observed` is `observed_times(findings, pack)`, when the caller already has it."""
    values: list[float] = []
    fractions: list[float] = []
    _walk(findings.model_dump(mode="python", exclude={"settings"}), values, fractions, None)
    if pack is not None:
        values.extend(f.value for f in pack.facts if f.value is not None)
        fractions.extend(f.value for f in pack.facts if f.value is not None and f.unit == "ratio")
    durations = [
        w.duration.total_seconds() for w in [findings.windows.incident, *findings.windows.baselines]
    ]
    times = sorted(observed if observed is not None else observed_times(findings, pack))
    for i, a in enumerate(times):
        durations.extend((b - a).total_seconds() for b in times[i + 1 :])
    return NumberPool(
        values=[n for n in values if math.isfinite(n)],
        durations_s=[d for d in durations if math.isfinite(d)],
        fractions=[n for n in fractions if math.isfinite(n)],
    )


_FRACTION_KEYS = {"error_rate", "p_value", "q_value"}
# Free text in the findings whose numbers a writer may quote ("3 callers name it").
_TEXT_KEYS = {"reasons", "text", "summary", "method", "template"}


def _walk(value: Any, out: list[float], fractions: list[float], key: str | None) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        out.append(float(value))
        if key in _FRACTION_KEYS:
            fractions.append(float(value))
    elif isinstance(value, dict):
        for k, item in value.items():
            if isinstance(k, str) and k.isdigit():
                out.append(float(k))  # status codes in the status mix
            if key in _FRACTION_KEYS and isinstance(item, int | float):
                fractions.append(float(item))  # error_rate.incident, .baseline, .delta
            _walk(item, out, fractions, k)
        if value.get("ratio") is not None and "incident" in value and "baseline" in value:
            out.append(float(value["ratio"]) - 1)
            fractions.append(float(value["ratio"]) - 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, out, fractions, key)
    elif isinstance(value, str) and key in _TEXT_KEYS:
        out.extend(float(n) for n in re.findall(r"(?<![\w.:])\d+(?:\.\d+)?(?![\w.]*\d)", value))
        # "67% of its error lines name another service": a share the findings wrote out.
        fractions.extend(float(n) / 100 for n in re.findall(r"(\d+(?:\.\d+)?)\s?%", value))


def observed_times(findings: Findings, pack: EvidencePack | None = None) -> set[datetime]:
    """Every time the findings observed: timeline, onsets, changes, first sightings, windows."""
    times: set[datetime] = {e.at for e in findings.timeline}
    times |= {o.at for o in findings.onsets}
    times |= {c.at for c in findings.changes}
    times |= {p.first_seen for p in findings.patterns if p.first_seen}
    times |= {findings.windows.incident.start, findings.windows.incident.end}
    if pack is not None:
        times |= {f.at for f in pack.facts if f.at is not None}
    # Times the findings write in their own words ("TerminateInstances ×7, 12:33–13:38"),
    # placed on the incident's day(s).
    texts = [e.text for e in findings.timeline] + [c.summary for c in findings.changes]
    texts += [r for s in findings.suspects for r in s.reasons] + [o.method for o in findings.onsets]
    days = {findings.windows.incident.start.date(), findings.windows.incident.end.date()}
    for text in texts:
        for m in _CLOCK.finditer(text):
            hour, minute = int(m.group(1)), int(m.group(2))
            if hour < 24 and minute < 60:
                clock = time(hour, minute, int(m.group(3) or 0))
                times |= {datetime.combine(day, clock, tzinfo=UTC) for day in days}
    return {t.astimezone(UTC) for t in times}


def number_matches(literal: Literal, pool: NumberPool) -> bool:
    """Whether a written figure is one of the findings' numbers, allowing for rounding, for
    percentages written from fractions (12.4% of 0.124) and seconds written from milliseconds;
    durations (minutes, seconds) may also be a gap between two observed times."""
    if literal.unit == "%":
        candidates = [c * 100 for c in pool.fractions]
    else:
        candidates = [scaled for c in pool.values for scaled in _scalings(literal.unit, c)]
    if literal.unit in ("s", "min", "ms"):
        per = {"s": 1.0, "min": 60.0, "ms": 0.001}[literal.unit]
        candidates += [d / per for d in pool.durations_s]
    return any(
        abs(literal.value - scaled) <= max(literal.tolerance, 0.005 * abs(scaled))
        for scaled in candidates
    )


def _scalings(unit: str, c: float) -> Iterator[float]:
    if unit == "s":
        yield from (c, c / 1000)
    elif unit == "min":
        yield from (c, c / 60_000)
    elif unit == "ms":
        yield from (c, c * 1000)
    else:
        yield c


def time_matches(written: WrittenTime, observed: Iterable[datetime]) -> bool:
    """Within a minute of an observed time; a time written to the minute (13:04) matches what
    was observed from 13:03:00 to 13:05:59."""
    limit = timedelta(minutes=1)
    for obs in observed:
        ref = obs if written.has_seconds else obs.replace(second=0, microsecond=0)
        if written.at is not None:
            if abs(ref - written.at) <= limit:
                return True
        elif written.clock is not None:
            wrote = datetime.combine(ref.date(), written.clock, tzinfo=UTC)
            diff = abs(ref - wrote)
            diff = min(diff, timedelta(days=1) - diff)  # around midnight
            if diff <= limit:
                return True
    return False


def datetime_matches(at: datetime, observed: Iterable[datetime]) -> bool:
    return any(abs(obs - at.astimezone(UTC)) <= timedelta(minutes=1) for obs in observed)
