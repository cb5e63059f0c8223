"""Trace signals from log lines: latency (own span, call gap), throughput, deepest and missing
services, and how they reach the services table and the ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from tasks.baseline import build_findings
from tasks.baseline.frame import window_view
from tasks.baseline.traces import trace_signals
from tasks.contracts import TimeWindow, WindowSet
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
SETTINGS = Settings()


def windows(minutes: int) -> WindowSet:
    incident = TimeWindow(start=T0, end=T0 + timedelta(minutes=minutes))
    return WindowSet(
        incident=incident, baselines=[incident.shifted(-incident.duration)], baseline_kind="default"
    )


#: The first two lines of every request: gateway receives it and calls cart.
ENTRY = [("gateway", 0.0, "GET /cart received", "info"), ("cart", 5.0, "loading cart", "info")]


def request(logs: Logs, at: datetime, hops: list[tuple[str, float, str, str]]) -> None:
    """One traced request: (service, ms after `at`, message, level) per line."""
    logs.traces += 1
    for service, ms, message, level in hops:
        logs.add(
            at + timedelta(milliseconds=ms),
            service,
            message,
            level,
            trace_id=f"4bf92f3577b34da6a3ce929d{logs.traces:08x}",
        )


def each_minute(logs: Logs, start: datetime, hops: list[tuple[str, float, str, str]]) -> None:
    """The same traced request 5 s into each of ten minutes."""
    for m in range(10):
        request(logs, start + timedelta(minutes=m, seconds=5), hops)


def shop(logs: Logs, start: datetime, minutes: int, per_minute: int, pricing_ms: float) -> None:
    """gateway -> cart -> pricing, as Spring services log it: entry and exit of each hop."""
    for m in range(minutes):
        for k in range(per_minute):
            at = start + timedelta(minutes=m, seconds=k * 60 / per_minute)
            request(
                logs,
                at,
                [
                    *ENTRY,
                    ("pricing", 10 + pricing_ms, "pricing 3 items", "info"),
                    ("pricing", 12 + pricing_ms, "priced", "info"),
                    ("cart", 15 + pricing_ms, "cart loaded", "info"),
                    ("gateway", 20 + pricing_ms, "GET /cart 200", "info"),
                ],
            )


def test_a_slow_callee_without_errors_shows_in_its_call_gap_and_ranks_first() -> None:
    logs = Logs()
    w = windows(10)
    shop(logs, w.baselines[0].start, 10, 12, pricing_ms=20)
    shop(logs, w.incident.start, 10, 12, pricing_ms=900)
    findings = build_findings(logs.frame(), w, "INC-1", SETTINGS)
    table = {s.service: s for s in findings.services}
    pricing = table["pricing"]
    assert pricing.call_gap_ms is not None and pricing.call_gap_slower
    assert pricing.call_gap_ms.baseline == 25 and pricing.call_gap_ms.incident == 905
    assert pricing.call_gap_p_value is not None and pricing.call_gap_p_value < 1e-6
    # cart's own span grows too (it waits), but pricing's did not: it is the slow one.
    assert table["cart"].span_slower and not pricing.span_slower
    assert pricing.traces_per_min is not None and pricing.traces_per_min.incident == 12
    assert findings.suspects[0].service == "pricing"
    assert any("call gap" in r for r in findings.suspects[0].reasons)


def test_the_first_to_err_in_failing_traces_is_the_deepest() -> None:
    logs = Logs()
    w = windows(10)
    shop(logs, w.baselines[0].start, 10, 6, pricing_ms=20)
    each_minute(
        logs,
        w.incident.start,
        [
            *ENTRY,
            ("pricing", 10, "NullPointerException in PriceRule.apply", "error"),
            ("cart", 15, "pricing call failed: HTTP 500", "error"),
            ("gateway", 20, "GET /cart 502", "error"),
        ],
    )
    view = window_view(logs.frame(), w)
    signals = trace_signals(view, SETTINGS)
    assert signals.n_failing == 10
    assert signals.failing_deepest[view.code_of("pricing")] == 10
    assert signals.failing_deepest[view.code_of("gateway")] == 0


def test_a_service_that_vanishes_from_its_requests_is_missing() -> None:
    logs = Logs()
    w = windows(10)
    shop(logs, w.baselines[0].start, 10, 6, pricing_ms=20)
    # pricing is down: cart never reaches it, nothing in pricing's log
    each_minute(
        logs,
        w.incident.start,
        [
            *ENTRY,
            ("cart", 3005, "call to http://pricing:8080/v1/price timed out", "error"),
            ("gateway", 3010, "GET /cart 504", "error"),
        ],
    )
    frame = logs.frame()
    view = window_view(frame, w)
    signals = trace_signals(view, SETTINGS)
    pricing = view.code_of("pricing")
    assert signals.missing[pricing] == 10 and signals.missing_expected[pricing] == 10
    assert signals.throughput_p_drop[pricing] < 1e-3
    findings = build_findings(frame, w, "INC-1", SETTINGS)
    assert findings.suspects[0].service == "pricing"


def test_short_windows_use_exact_tests_and_still_rank() -> None:
    """One minute each, four requests: Mann-Whitney is exact, and the ranking is not empty."""
    logs = Logs()
    w = windows(1)
    shop(logs, w.baselines[0].start, 1, 4, pricing_ms=20)
    shop(logs, w.incident.start, 1, 4, pricing_ms=400)
    view = window_view(logs.frame(), w)
    signals = trace_signals(view, SETTINGS)
    pricing = view.code_of("pricing")
    # Exact U test, 4 against 4, all incident gaps larger: p = 1 / C(8, 4).
    assert np.isclose(signals.gap.p[pricing], 1 / 70)
    assert not signals.gap.significant[pricing]  # 0.014 does not reach 0.01 (after BH either)
    findings = build_findings(logs.frame(), w, "INC-1", SETTINGS)
    assert findings.suspects and findings.suspects[0].service == "pricing"


def test_no_trace_ids_leave_the_table_as_it_was() -> None:
    logs = Logs()
    w = windows(5)
    logs.per_minute("cart", 20, w.baselines[0].start, w.incident.end)
    findings = build_findings(logs.frame(), w, "INC-1", SETTINGS)
    (cart,) = findings.services
    assert cart.span_ms is None and cart.call_gap_ms is None and cart.traces_per_min is None


def test_traces_only_in_the_incident_are_counted_but_never_called_slow() -> None:
    # No baseline trace: no slow limit for any entry service, nothing expected to be present.
    logs = Logs()
    w = windows(5)
    logs.per_minute("cart", 20, w.baselines[0].start, w.incident.end)
    shop(logs, w.incident.start, 5, 4, pricing_ms=900)
    request(logs, w.incident.start + timedelta(seconds=30), [("gateway", 0, "boom", "error")])
    view = window_view(logs.frame(), w)
    signals = trace_signals(view, SETTINGS)
    gateway = view.code_of("gateway")
    assert signals.traces_incident[gateway] == 21 and signals.traces_baseline.sum() == 0
    assert signals.n_slow == 0 and not signals.slow_member.any()
    assert not signals.missing.any()
    # A one-service trace that errs has no deeper service to blame.
    assert signals.n_failing == 0
