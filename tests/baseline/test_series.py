"""Per-minute series for the charts: exact counts, aligned baseline, bounded service list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.baseline import build_findings
from tasks.baseline.frame import window_view
from tasks.baseline.series import MAX_CHARTED_SERVICES, charted_services, minute_series
from tasks.contracts import Change, ServiceStats, Suspect, TimeWindow, WindowSet
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=10))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")


def test_counts_errors_and_latency_land_in_their_minute() -> None:
    logs = Logs()
    logs.add(T0 + timedelta(minutes=2, seconds=5), "api", "GET / 200", latency_ms=10.0)
    logs.add(T0 + timedelta(minutes=2, seconds=59), "api", "GET / 500", "error", latency_ms=30.0)
    logs.add(BEFORE.start + timedelta(minutes=2, seconds=1), "api", "GET / 200", latency_ms=5.0)
    logs.add(T0 + timedelta(minutes=9, seconds=59), "api", "GET / 200")  # last minute, kept
    series = {s.window: s for s in minute_series(window_view(logs.frame(), WINDOWS), ["api"])}

    incident, baseline = series["incident"], series["baseline"]
    assert len(incident.lines) == len(baseline.lines) == 10
    assert incident.lines[2] == 2 and incident.errors[2] == 1 and incident.lines[9] == 1
    assert incident.p95_latency_ms[2] == 29.0  # numpy's linear p95 of [10, 30]
    assert incident.p95_latency_ms[0] is None
    assert baseline.start == BEFORE.start and baseline.lines[2] == 1 and sum(baseline.lines) == 1


def test_unknown_services_are_skipped_and_findings_carry_the_series() -> None:
    logs = Logs(seed=3)
    logs.per_minute("api", 20, BEFORE.start, INCIDENT.end)
    logs.per_minute("api", 10, T0 + timedelta(minutes=3), INCIDENT.end, "boom {n}", level="error")
    assert minute_series(window_view(logs.frame(), WINDOWS), ["nope"]) == []
    findings = build_findings(logs.frame(), WINDOWS, "INC-1", Settings())
    charted = {(s.service, s.window) for s in findings.series}
    assert charted == {("api", "incident"), ("api", "baseline")}


def stats(name: str, delta: float) -> ServiceStats:
    return ServiceStats(
        service=name,
        incident_lines=100,
        baseline_lines=100,
        volume_per_min=Change(),
        errors_incident=0,
        errors_baseline=0,
        error_rate=Change(delta=delta),
    )


def test_charted_services_put_suspects_first_and_stay_bounded() -> None:
    services = [stats(f"s{i}", delta=i / 100) for i in range(20)]
    suspects = [Suspect(service="s3", rank=1, score=0.9, reasons=["first"])]
    chosen = charted_services(services, suspects)
    assert chosen[0] == "s3"
    assert chosen[1:3] == ["s19", "s18"]  # then the largest error-rate rises
    assert len(chosen) == MAX_CHARTED_SERVICES
