"""Onset per service (errors, latency, log volume) and the deterministic timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.baseline import build_findings
from tasks.baseline.frame import window_view
from tasks.baseline.onset import build_timeline, detect_onsets
from tasks.contracts import TimeWindow, WindowSet
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=40))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")
SETTINGS = Settings(min_baseline_lines=200, significance_level=0.01)


def onsets_of(logs: Logs) -> dict[str, object]:
    onsets, _ = detect_onsets(window_view(logs.frame(), WINDOWS))
    return {o.service: o for o in onsets}


def test_a_step_in_errors_gives_the_onset_in_the_right_minute() -> None:
    logs = Logs(seed=1)
    logs.per_minute("payments", 30, BEFORE.start, INCIDENT.end)
    logs.per_minute("payments", 0.5, BEFORE.start, INCIDENT.end, "db timeout {n}", level="error")
    step = T0 + timedelta(minutes=7)
    logs.per_minute("payments", 8, step, INCIDENT.end, "db pool exhausted {n}", level="error")
    onset = onsets_of(logs)["payments"]

    assert step <= onset.at < step + timedelta(minutes=1)
    assert onset.signal == "errors"
    assert "2 of 3 consecutive minutes" in onset.method
    assert len(onset.evidence_ids) == 3
    first = min(
        r["ts"] for r in logs.rows if r["message"].startswith("db pool") and r["ts"] >= step
    )
    assert onset.at <= first


def test_flat_data_has_no_onset() -> None:
    logs = Logs(seed=2)
    for service in ("payments", "checkout", "search"):
        logs.per_minute(service, 40, BEFORE.start, INCIDENT.end, latency_ms=50.0)
        logs.per_minute(service, 2, BEFORE.start, INCIDENT.end, "retry {n}", level="error")
    assert onsets_of(logs) == {}


def test_a_single_bad_minute_is_not_an_onset() -> None:
    logs = Logs(seed=3)
    logs.per_minute("payments", 30, BEFORE.start, INCIDENT.end)
    blip = T0 + timedelta(minutes=12)
    logs.per_minute("payments", 40, blip, blip + timedelta(minutes=1), "oops {n}", level="error")
    assert onsets_of(logs) == {}


def test_an_onset_before_the_reported_start_is_found_in_the_lead_in() -> None:
    logs = Logs(seed=4)
    logs.per_minute("payments", 30, BEFORE.start, INCIDENT.end)
    early = T0 - timedelta(minutes=6)  # the SRE reported the window six minutes late
    logs.per_minute("payments", 10, early, INCIDENT.end, "db pool exhausted {n}", level="error")
    onset = onsets_of(logs)["payments"]
    assert early <= onset.at < early + timedelta(minutes=1)


def test_latency_rising_without_errors_gives_a_latency_onset() -> None:
    logs = Logs(seed=5)
    slow_from = T0 + timedelta(minutes=9)
    logs.per_minute("inventory", 30, BEFORE.start, slow_from, latency_ms=40.0)
    logs.per_minute("inventory", 30, slow_from, INCIDENT.end, latency_ms=900.0)
    # Latency must vary for a percentile to mean something: add ordinary spread.
    for row in logs.rows:
        row["latency_ms"] = row["latency_ms"] * float(logs.rng.uniform(0.8, 1.2))
    onset = onsets_of(logs)["inventory"]
    assert onset.signal == "latency"
    assert slow_from <= onset.at < slow_from + timedelta(minutes=1)
    assert onset.evidence_ids


def test_a_service_that_stops_logging_gets_a_volume_onset() -> None:
    logs = Logs(seed=6)
    crash = T0 + timedelta(minutes=4)
    logs.per_minute("payments", 30, BEFORE.start, crash)
    logs.per_minute("checkout", 30, BEFORE.start, INCIDENT.end)
    onsets = onsets_of(logs)
    assert set(onsets) == {"payments"}
    assert onsets["payments"].signal == "log volume"
    assert onsets["payments"].at == crash


def test_every_service_going_quiet_at_once_is_a_gap_in_the_logs() -> None:
    logs = Logs(seed=7)
    cut = T0 + timedelta(minutes=20)
    for service in ("payments", "checkout", "search"):
        logs.per_minute(service, 30, BEFORE.start, cut)
    onsets, warnings = detect_onsets(window_view(logs.frame(), WINDOWS))
    assert onsets == []
    assert len(warnings) == 1 and "gap in the logs" in warnings[0]


def test_the_timeline_is_sorted_and_holds_changes_onsets_new_patterns_and_the_peak() -> None:
    logs = Logs(seed=8)
    logs.per_minute("payments", 30, BEFORE.start, INCIDENT.end)
    step = T0 + timedelta(minutes=5)
    logs.per_minute("payments", 6, step, INCIDENT.end, "db pool exhausted {n}", level="error")
    burst = T0 + timedelta(minutes=20)
    logs.per_minute(
        "payments", 60, burst, burst + timedelta(minutes=1), "db pool exhausted {n}", level="error"
    )
    trail = (
        '{"eventSource": "ecs.amazonaws.com", "eventName": "UpdateService", "readOnly": false, '
        '"requestParameters": {"service": "payments", "taskDefinition": "payments:7"}}'
    )
    logs.add(step - timedelta(minutes=2), "cloudtrail", "UpdateService", attrs=trail)
    findings = build_findings(logs.frame(), WINDOWS, "INC-1", SETTINGS)
    timeline = findings.timeline

    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    kinds = [e.kind for e in timeline]
    assert kinds[0] == "window" and kinds[-1] == "window"
    assert kinds.index("change") < kinds.index("onset") < kinds.index("peak")
    assert "new_pattern" in kinds
    peak = next(e for e in timeline if e.kind == "peak")
    assert peak.at == burst and "payments" in peak.text and peak.evidence_ids
    again = build_timeline(
        window_view(logs.frame(), WINDOWS), findings.onsets, findings.changes, findings.patterns
    )
    assert again == timeline
