"""The window comparison: windows, counts, significance with BH, new patterns, latency, warnings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

import tasks.baseline.stats as stats_mod
from tasks.baseline import build_findings, compare_windows
from tasks.baseline.frame import UNKNOWN_SERVICE, candidate_windows, drop_empty_baselines
from tasks.baseline.stats import (
    bh_qvalues,
    fraction_dispersion,
    minute_dispersion,
    rate_increase_pvalues,
)
from tasks.contracts import (
    CANONICAL_SCHEMA,
    IncidentSpec,
    TimeWindow,
    WindowSet,
    evidence_id,
    object_id,
)
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=30))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")
SETTINGS = Settings(min_baseline_lines=200, significance_level=0.01)


def steady(
    logs: Logs, service: str, rate: float, message: str = "GET /items/{n} 200", **fields
) -> None:
    logs.per_minute(service, rate, BEFORE.start, INCIDENT.end, message, **fields)


def spec(**overrides) -> IncidentSpec:
    data = {
        "id": "INC-1",
        "title": "t",
        "window": {"start": INCIDENT.start, "end": INCIDENT.end},
        "sources": [{"name": "app", "uri": "/tmp/logs"}],
    }
    data.update(overrides)
    return IncidentSpec.model_validate(data)


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


def test_default_windows_are_the_window_before_and_the_same_window_a_week_earlier() -> None:
    windows = candidate_windows(spec())
    assert windows.baseline_kind == "default"
    assert windows.baselines == [BEFORE, INCIDENT.shifted(-timedelta(days=7))]


def test_an_explicit_baseline_replaces_the_default() -> None:
    explicit = TimeWindow(start=T0 - timedelta(days=1), end=T0 - timedelta(hours=23))
    windows = candidate_windows(spec(baseline=[{"start": explicit.start, "end": explicit.end}]))
    assert windows.baseline_kind == "explicit"
    assert windows.baselines == [explicit]


def test_the_week_ago_window_is_kept_only_when_it_has_data() -> None:
    windows = candidate_windows(spec())
    logs = Logs()
    steady(logs, "checkout", 5)
    kept, warnings = drop_empty_baselines(windows, logs.frame())
    assert kept.baselines == [BEFORE] and warnings == []

    logs.add(T0 - timedelta(days=7, minutes=-1), "checkout", "GET / 200")
    kept, _ = drop_empty_baselines(windows, logs.frame())
    assert kept.baselines == windows.baselines


def test_an_empty_explicit_baseline_is_dropped_with_a_warning() -> None:
    empty = TimeWindow(
        start=T0 - timedelta(days=2), end=T0 - timedelta(days=2) + timedelta(hours=1)
    )
    windows = WindowSet(incident=INCIDENT, baselines=[BEFORE, empty], baseline_kind="explicit")
    logs = Logs()
    steady(logs, "checkout", 5)
    kept, warnings = drop_empty_baselines(windows, logs.frame())
    assert kept.baselines == [BEFORE]
    assert len(warnings) == 1 and "has no log lines" in warnings[0]


def test_windows_are_half_open() -> None:
    logs = Logs()
    logs.add(INCIDENT.start, "checkout", "at start")  # incident
    logs.add(INCIDENT.end, "checkout", "at end")  # outside everything
    logs.add(INCIDENT.start - timedelta(microseconds=1), "checkout", "just before")  # baseline
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    assert (findings.total_incident_lines, findings.total_baseline_lines) == (1, 1)


# --------------------------------------------------------------------------------------------
# The significance test
# --------------------------------------------------------------------------------------------


def test_rate_test_finds_a_real_spike_and_ignores_a_wobble() -> None:
    # 30 incident minutes against 30 baseline minutes.
    spike = rate_increase_pvalues(np.array([300]), np.array([60]), 30.0, 30.0)
    wobble = rate_increase_pvalues(np.array([65]), np.array([60]), 30.0, 30.0)
    drop = rate_increase_pvalues(np.array([10]), np.array([60]), 30.0, 30.0)
    assert spike[0] < 1e-30
    assert wobble[0] > 0.3
    assert drop[0] > 0.99  # one-sided: fewer lines is not an increase


def test_dispersion_makes_a_bursty_pattern_need_more_evidence() -> None:
    plain = rate_increase_pvalues(np.array([33_000]), np.array([30_000]), 30.0, 30.0)
    bursty = rate_increase_pvalues(np.array([33_000]), np.array([30_000]), 30.0, 30.0, 50.0)
    assert plain[0] < 1e-20
    assert bursty[0] > 1e-3


def test_benjamini_hochberg_keeps_the_real_effect_and_drops_the_lucky_one() -> None:
    # One real spike among 200 null patterns, one of which is lucky at p = 0.004.
    p = np.concatenate([[1e-12, 0.004], np.linspace(0.05, 1.0, 198)])
    q = bh_qvalues(p)
    assert q[0] <= 0.01
    assert q[1] > 0.01  # would pass 0.01 uncorrected


def test_dispersion_is_one_for_poisson_counts_and_large_for_bursts() -> None:
    rng = np.random.default_rng(0)
    minutes = np.arange(120)
    steady = np.repeat(minutes, rng.poisson(50, 120))
    bursty = np.repeat(minutes, np.where(minutes % 10 == 0, 400, 10))
    group = np.concatenate([np.zeros(steady.size, int), np.ones(bursty.size, int)])
    phi = minute_dispersion(group, np.concatenate([steady, bursty]), 2, 120)
    assert phi[0] < 1.5 and phi[1] > 50


def test_error_fraction_dispersion_sees_errors_arriving_in_bursts() -> None:
    minutes = np.repeat(np.arange(60), 100)  # 100 lines a minute
    share = np.where(np.arange(60) % 6 == 0, 0.5, 0.0)  # all errors in every sixth minute
    errors = (np.tile(np.arange(100), 60) < 100 * share[minutes]).astype(bool)
    steady = np.tile(np.arange(100), 60) % 12 == 0  # the same 8% share, every minute
    group = np.concatenate([np.zeros(6000, int), np.ones(6000, int)])
    phi = fraction_dispersion(
        group, np.concatenate([minutes, minutes]), np.concatenate([errors, steady]), 2, 60
    )
    assert phi[0] > 20 and phi[1] == 1.0


def _patterns(findings) -> dict[str, object]:
    return {p.template: p for p in findings.patterns}


def test_a_spiking_pattern_is_flagged_and_a_bursty_wobble_is_not() -> None:
    logs = Logs(seed=3)
    steady(logs, "checkout", 40, "GET /items/{n} 200")
    # A chatty error pattern that alternates between quiet and busy minutes, 7.5% up overall:
    # a plain Poisson test calls that significant (p ~ 1e-8); its own scatter says it is not.
    for minute in range(60):
        start = BEFORE.start + timedelta(minutes=minute)
        rate = (200 if minute % 2 else 600) * (1.075 if start >= T0 else 1.0)
        end = start + timedelta(minutes=1)
        logs.per_minute("checkout", rate, start, end, "cache refresh failed {n}", level="error")
    logs.per_minute("checkout", 2, BEFORE.start, T0, "retrying order {n}", level="warn")
    logs.per_minute("checkout", 12, T0, INCIDENT.end, "retrying order {n}", level="warn")
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    by_template = _patterns(findings)

    retry = by_template["retrying order <*>"]
    assert retry.is_spike and not retry.is_new
    assert retry.q_value is not None and retry.q_value <= 0.01
    assert retry.incident_per_min > 4 * retry.baseline_per_min
    bursty = by_template["cache refresh failed <*>"]  # listed: it is a loud error pattern
    assert bursty.incident_count > bursty.baseline_count
    assert not bursty.is_spike and bursty.q_value > 0.01


def test_a_new_error_pattern_has_first_seen_level_and_exemplar_evidence() -> None:
    logs = Logs()
    steady(logs, "payments", 20)
    logs.add(
        T0 + timedelta(minutes=4, seconds=5), "payments", "db pool exhausted after 3000 ms", "error"
    )
    logs.add(
        T0 + timedelta(minutes=4, seconds=9), "payments", "db pool exhausted after 3100 ms", "fatal"
    )
    logs.add(T0 + timedelta(minutes=5), "payments", "db pool exhausted after 3050 ms", "error")
    frame = logs.frame()
    findings = compare_windows(frame, WINDOWS, SETTINGS)
    pattern = _patterns(findings)["db pool exhausted after <*>"]

    assert pattern.is_new and pattern.baseline_count == 0 and pattern.incident_count == 3
    assert pattern.level == "fatal"
    assert pattern.services == ["payments"]
    assert pattern.first_seen == T0 + timedelta(minutes=4, seconds=5)
    first = frame[frame.message == "db pool exhausted after 3000 ms"].iloc[0]
    expected = evidence_id(object_id(first.source, first.object_key), int(first.line))
    assert pattern.exemplars[0] == expected and len(pattern.exemplars) == 3


# --------------------------------------------------------------------------------------------
# The service table
# --------------------------------------------------------------------------------------------


def _service(findings, name: str):
    return next(s for s in findings.services if s.service == name)


def test_a_rising_error_rate_is_significant_and_a_flat_one_is_not() -> None:
    logs = Logs(seed=5)
    steady(logs, "checkout", 50, status=200)
    steady(logs, "checkout", 1, "GET /pay/{n} 503", status=503)
    logs.per_minute("checkout", 10, T0, INCIDENT.end, "GET /pay/{n} 503", status=503)
    steady(logs, "search", 50, status=200)
    steady(logs, "search", 2, "GET /q/{n} 500", status=500)
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)

    checkout, search = _service(findings, "checkout"), _service(findings, "search")
    assert checkout.significant and checkout.q_value < 1e-6
    assert checkout.error_rate.incident > 4 * checkout.error_rate.baseline
    assert checkout.status_mix_incident["5xx"] == checkout.errors_incident
    assert checkout.status_mix_incident["503"] == checkout.errors_incident
    assert checkout.status_mix_incident["2xx"] > 0
    assert not search.significant
    assert findings.services[0].service == "checkout"  # significant services come first
    expected_rate = checkout.incident_lines / INCIDENT.minutes
    assert abs(checkout.volume_per_min.incident - expected_rate) < 1e-3


def test_latency_percentiles_and_their_change() -> None:
    logs = Logs(seed=7)
    base = logs.rng.gamma(2.0, 25.0, 3000)
    slow = logs.rng.gamma(2.0, 100.0, 3000)
    for i, ms in enumerate(base):
        logs.add(
            BEFORE.start + timedelta(seconds=i * 0.6),
            "inventory",
            "GET /stock 200",
            latency_ms=float(ms),
        )
    for i, ms in enumerate(slow):
        logs.add(
            T0 + timedelta(seconds=i * 0.6), "inventory", "GET /stock 200", latency_ms=float(ms)
        )
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    inventory = _service(findings, "inventory")

    changes = (inventory.latency_p50_ms, inventory.latency_p95_ms, inventory.latency_p99_ms)
    for change, q in zip(changes, (50, 95, 99), strict=True):
        assert change is not None
        assert np.isclose(change.incident, np.percentile(slow, q), rtol=1e-5)
        assert np.isclose(change.baseline, np.percentile(base, q), rtol=1e-5)
        assert change.ratio is not None and change.ratio > 3
    assert inventory.errors_incident == 0 and not inventory.significant


def test_unknown_services_are_grouped_and_cloudtrail_is_not_traffic() -> None:
    logs = Logs()
    steady(logs, "checkout", 5)
    logs.add(T0 + timedelta(minutes=1), None, "orphan line")
    logs.add(T0 + timedelta(minutes=2), "", "orphan line")
    trail = {
        "eventSource": "ecs.amazonaws.com",
        "eventName": "UpdateService",
        "requestParameters": {"service": "checkout"},
    }
    logs.add(T0 + timedelta(minutes=3), "ecs", "UpdateService", attrs=json.dumps(trail))
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    names = {s.service for s in findings.services}
    assert names == {"checkout", UNKNOWN_SERVICE}
    assert _service(findings, UNKNOWN_SERVICE).incident_lines == 2
    assert findings.total_incident_lines == sum(s.incident_lines for s in findings.services)


# --------------------------------------------------------------------------------------------
# Warnings and edge cases
# --------------------------------------------------------------------------------------------


def test_an_empty_incident_window_gives_zero_totals_and_a_warning() -> None:
    logs = Logs()
    logs.per_minute("checkout", 10, BEFORE.start, BEFORE.end, "GET / 200")
    findings = build_findings(logs.frame(), WINDOWS, "INC-1", SETTINGS)
    assert not findings.has_data and findings.total_incident_lines == 0
    assert any(
        w.startswith("No log lines fell inside the incident window") for w in findings.warnings
    )
    assert findings.suspects == [] and findings.onsets == []


def test_an_entirely_empty_frame_still_gives_findings() -> None:
    frame = pa.Table.from_pylist([], schema=CANONICAL_SCHEMA).to_pandas()
    findings = build_findings(frame, WINDOWS, "INC-1", SETTINGS)
    assert findings.total_incident_lines == 0 and findings.services == []
    assert any("No log lines fell inside the incident window" in w for w in findings.warnings)


def test_too_little_baseline_data_is_a_warning() -> None:
    logs = Logs()
    logs.per_minute("checkout", 2, BEFORE.start, BEFORE.end, "GET / 200")  # about 60 lines
    logs.per_minute("checkout", 20, T0, INCIDENT.end, "GET / 200")
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    assert any("fell in the baseline windows (fewer than 200)" in w for w in findings.warnings)


def test_a_service_with_too_little_baseline_is_named_in_a_warning() -> None:
    logs = Logs()
    steady(logs, "checkout", 20)
    logs.per_minute("newbie", 5, T0, INCIDENT.end, "hello {n}")
    findings = compare_windows(logs.frame(), WINDOWS, SETTINGS)
    thin = [w for w in findings.warnings if w.startswith("Little baseline data")]
    assert len(thin) == 1 and "newbie: 0" in thin[0] and "checkout" not in thin[0]


def test_findings_are_deterministic_and_serialisable() -> None:
    logs = Logs(seed=11)
    steady(logs, "checkout", 30)
    logs.per_minute("checkout", 8, T0, INCIDENT.end, "timeout calling payments:8080", level="error")
    frame = logs.frame()
    first = build_findings(frame, WINDOWS, "INC-1", SETTINGS).model_dump_json()
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    second = build_findings(shuffled, WINDOWS, "INC-1", SETTINGS).model_dump_json()
    assert first == second
    assert json.loads(first)["incident_id"] == "INC-1"


def test_evidence_is_the_same_whatever_the_row_order_when_lines_share_a_timestamp() -> None:
    """One request's lines in several services often share a microsecond; which line becomes
    evidence must not depend on the order gather happened to write objects in."""
    logs = Logs(seed=5)
    steady(logs, "checkout", 20)
    for minute in range(10):
        at = T0 + timedelta(minutes=minute, seconds=7)
        for service in ("checkout", "payments", "frontend"):
            for copy in range(3):  # the same instant, three objects per service
                logs.add(
                    at,
                    service,
                    f"request failed code={minute}",
                    "error",
                    object_key=f"logs/{service}-{copy}.log",
                )
    frame = logs.frame()
    first = build_findings(frame, WINDOWS, "INC-1", SETTINGS)
    for seed in (1, 2, 3):
        shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        again = build_findings(shuffled, WINDOWS, "INC-1", SETTINGS)
        assert again.model_dump_json() == first.model_dump_json()


def test_cells_are_what_np_unique_counts_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted densely or merged from per-block uniques, over several blocks: np.unique's."""
    rng = np.random.default_rng(11)
    group = rng.integers(0, 300, 50_000).astype(np.int16)
    bin_ = rng.integers(0, 90, 50_000).astype(np.int32)
    expected = np.unique(group.astype(np.int64) * 90 + bin_, return_counts=True)
    monkeypatch.setattr(stats_mod, "CELL_BLOCK", 4096)
    for dense in (1 << 20, 10):  # 27,000 cells: counted in an array, then merged
        monkeypatch.setattr(stats_mod, "DENSE_CELLS", dense)
        cells, counts = stats_mod._cells(group, bin_, 90, 300)
        assert cells.tolist() == expected[0].tolist()
        assert counts.tolist() == expected[1].tolist() and counts.dtype == np.int64
    empty = stats_mod._cells(group[:0], bin_[:0], 90, 300)
    assert [a.size for a in empty] == [0, 0]
