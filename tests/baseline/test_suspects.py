"""Suspect ranking: the origin of a cascade must beat its louder victims and red herrings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tasks.baseline import build_findings
from tasks.baseline.frame import window_view
from tasks.baseline.suspects import blame_reach, find_blame, trace_depth_credit
from tasks.contracts import Findings, TimeWindow, WindowSet
from tasks.settings import Settings
from tests.frames import Logs

T0 = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)
INCIDENT = TimeWindow(start=T0, end=T0 + timedelta(minutes=40))
BEFORE = INCIDENT.shifted(-INCIDENT.duration)
WINDOWS = WindowSet(incident=INCIDENT, baselines=[BEFORE], baseline_kind="default")
SETTINGS = Settings(min_baseline_lines=200, significance_level=0.01)
ORIGIN = T0 + timedelta(minutes=4)  # the fault starts here
CASCADE = ORIGIN + timedelta(minutes=3)  # callers start failing here


def findings_of(logs: Logs) -> Findings:
    return build_findings(logs.frame(), WINDOWS, "INC-1", SETTINGS)


def ranking(findings: Findings) -> list[str]:
    return [s.service for s in findings.suspects]


def normal_traffic(logs: Logs) -> None:
    rates = {"gateway": 80, "checkout": 50, "payments": 20, "search": 40, "batch": 10}
    for service, rate in rates.items():
        logs.per_minute(service, rate, BEFORE.start, INCIDENT.end, latency_ms=40.0)
    # Errors that happen every day: unrelated, in the baseline and the incident alike.
    logs.per_minute(
        "batch", 3, BEFORE.start, INCIDENT.end, "job {n} failed, will retry", level="error"
    )
    logs.per_minute(
        "checkout", 0.3, BEFORE.start, INCIDENT.end, "timeout calling payments:8080", level="error"
    )


def cascade(logs: Logs) -> None:
    """payments fails quietly; checkout and gateway, its callers, fail loudly three minutes later."""
    logs.requests([("payments", "db pool exhausted after 3000 ms")], 4, ORIGIN, CASCADE)
    logs.requests(
        [
            ("payments", "db pool exhausted after 3000 ms"),
            ("checkout", "timeout calling payments.prod.svc.cluster.local:8080"),
            ("gateway", "upstream checkout returned 503"),
        ],
        4,
        CASCADE,
        INCIDENT.end,
    )
    # Retries and requests that never reached payments' logs make the callers far louder.
    logs.per_minute(
        "checkout",
        30,
        CASCADE,
        INCIDENT.end,
        "connection refused to payments-7f9c8d5b4-x2v9q:8080",
        level="error",
    )
    logs.per_minute(
        "gateway", 60, CASCADE, INCIDENT.end, "upstream checkout returned 503", level="error"
    )


def test_the_origin_of_a_cascade_ranks_first_although_its_callers_are_louder() -> None:
    logs = Logs(seed=1)
    normal_traffic(logs)
    cascade(logs)
    # Red herring: search has its own burst of errors later in the incident.
    herring = T0 + timedelta(minutes=20)
    logs.per_minute(
        "search",
        25,
        herring,
        herring + timedelta(minutes=6),
        "shard {n} unavailable",
        level="error",
    )
    findings = findings_of(logs)

    loudest = max(findings.services, key=lambda s: s.errors_incident)
    assert loudest.service != "payments"
    assert ranking(findings)[0] == "payments"
    top = findings.suspects[0]
    assert top.rank == 1 and top.score > findings.suspects[1].score
    assert any(r.startswith("first to deviate: errors rose at 13:09") for r in top.reasons)
    assert any("checkout" in r and "named in" in r for r in top.reasons)
    assert top.evidence_ids
    assert "batch" not in ranking(findings)  # its errors are as common as ever
    assert ranking(findings).index("search") > 0


def test_a_red_herring_that_deviates_first_still_loses_to_the_blamed_origin() -> None:
    logs = Logs(seed=2)
    normal_traffic(logs)
    cascade(logs)
    early = T0 - timedelta(minutes=2)
    logs.per_minute(
        "search", 25, early, early + timedelta(minutes=5), "shard {n} unavailable", level="error"
    )
    findings = findings_of(logs)
    assert findings.onsets[0].service == "search"
    assert ranking(findings)[0] == "payments"


def test_a_crashed_origin_that_logs_nothing_is_found_through_its_callers() -> None:
    logs = Logs(seed=3)
    logs.per_minute("gateway", 80, BEFORE.start, INCIDENT.end)
    logs.per_minute("checkout", 50, BEFORE.start, INCIDENT.end)
    logs.per_minute("inventory", 20, BEFORE.start, ORIGIN)  # then it crashes: silence
    logs.requests(
        [
            ("checkout", "connection refused to inventory.prod.svc.cluster.local:8080"),
            ("gateway", "upstream checkout returned 503"),
        ],
        30,
        ORIGIN,
        INCIDENT.end,
    )
    findings = findings_of(logs)
    assert ranking(findings)[0] == "inventory"
    onset = next(o for o in findings.onsets if o.service == "inventory")
    assert onset.method.startswith("log volume")


def test_a_slow_dependency_without_errors_beats_the_caller_that_times_out() -> None:
    logs = Logs(seed=4)
    logs.per_minute("checkout", 50, BEFORE.start, INCIDENT.end, latency_ms=30.0)
    logs.per_minute("inventory", 30, BEFORE.start, ORIGIN, latency_ms=20.0)
    logs.per_minute("inventory", 30, ORIGIN, INCIDENT.end, latency_ms=2500.0)
    for row in logs.rows:
        row["latency_ms"] *= float(logs.rng.uniform(0.7, 1.3))
    logs.requests(
        [("checkout", "timeout calling inventory after 2000 ms")],
        25,
        ORIGIN + timedelta(seconds=30),
        INCIDENT.end,
    )
    findings = findings_of(logs)
    assert ranking(findings)[0] == "inventory"
    checkout = next(s for s in findings.suspects if s.service == "checkout")
    assert any("name another service" in r for r in checkout.reasons)


def test_a_deploy_shortly_before_the_onset_counts_for_the_service_it_touched() -> None:
    logs = Logs(seed=5)
    normal_traffic(logs)
    # Two services fail at the same time, independently; only one was just deployed.
    for service in ("payments", "search"):
        logs.per_minute(
            service, 10, ORIGIN, INCIDENT.end, f"{service} internal error {{n}}", level="error"
        )
    trail = {
        "eventSource": "ecs.amazonaws.com",
        "eventName": "UpdateService",
        "readOnly": False,
        "actor": "DeployRole/ci",
        "requestParameters": {"service": "search", "taskDefinition": "search:9"},
    }
    logs.add(ORIGIN - timedelta(minutes=2), "ecs", "ecs:UpdateService", attrs=json.dumps(trail))
    findings = findings_of(logs)
    assert ranking(findings)[0] == "search"
    assert any(
        r.startswith("changed shortly before it deviated") for r in findings.suspects[0].reasons
    )


def test_blame_reads_service_names_in_host_names_and_ignores_self_mentions() -> None:
    logs = Logs()
    for service in ("checkout", "payments", "payments-db", "inventory"):
        logs.per_minute(service, 5, BEFORE.start, INCIDENT.end)
    messages = {
        "connection refused to payments-7f9c8d5b4-x2v9q:8080": "payments",
        "timeout calling payments.prod.svc.cluster.local:8080": "payments",
        "upstream inventory returned 503": "inventory",
        "GET http://payments-svc:8080/charge failed": "payments",
        "could not reach payments-db:5432": "payments-db",
        "checkout: internal error": None,  # its own name
        "POST /api/payments/charge -> 502": None,  # a route it serves, not a host it calls
    }
    at = T0 + timedelta(minutes=1)
    for i, message in enumerate(messages):
        logs.add(at + timedelta(seconds=i), "checkout", message, "error")
    view = window_view(logs.frame(), WINDOWS)
    blame = find_blame(view)
    found = {
        view.strings("message", [r])[0]: view.service_names[c]
        for r, c in zip(blame.rows.tolist(), blame.callee.tolist(), strict=True)
    }
    expected = {m: s for m, s in messages.items() if s is not None}
    assert found == expected


def test_blame_flows_down_a_chain_to_the_last_named_service() -> None:
    # gateway blames checkout, checkout blames payments: payments is reached by both.
    assert blame_reach({(0, 1), (1, 2)}, 3).tolist() == [0, 1, 2]


def test_in_a_failing_trace_the_deepest_service_gets_the_credit() -> None:
    logs = Logs(seed=6)
    for service in ("gateway", "checkout", "payments"):
        logs.per_minute(service, 5, BEFORE.start, INCIDENT.end)
    # Requests where no message names another service: the first to fail is the deepest.
    logs.requests(
        [("payments", "internal error"), ("checkout", "bad gateway"), ("gateway", "503")],
        3,
        ORIGIN,
        INCIDENT.end,
    )
    view = window_view(logs.frame(), WINDOWS)
    credit, n_chains, _ = trace_depth_credit(view, find_blame(view))
    assert n_chains == logs.traces
    assert credit[view.code_of("payments")] == n_chains


def test_the_ranking_is_deterministic() -> None:
    logs = Logs(seed=7)
    normal_traffic(logs)
    cascade(logs)
    frame = logs.frame()
    first = build_findings(frame, WINDOWS, "INC-1", SETTINGS).suspects
    second = build_findings(
        frame.iloc[::-1].reset_index(drop=True), WINDOWS, "INC-1", SETTINGS
    ).suspects
    assert first == second
