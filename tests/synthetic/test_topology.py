"""The generator's tables and its plan: consistent rows, and a plan that cannot be changed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tasks.synthetic._services import PAGES
from tasks.synthetic.scenarios import SCENARIOS, plan_incident
from tasks.synthetic.topology import CALL_GRAPH, DEPENDENCIES, ENDPOINTS, SERVICES

START = datetime(2026, 11, 24, 13, 5, tzinfo=UTC).timestamp()


def test_every_dependency_reaches_an_endpoint_the_service_serves() -> None:
    for dep in DEPENDENCIES.values():
        assert dep.caller in SERVICES and dep.service in SERVICES, dep.name
        served = ENDPOINTS[dep.service, dep.endpoint]
        # The caller logs the endpoint's path, or that path with the item it asked for.
        assert dep.path in (served.path, served.path + "/{sku}"), dep.name
        assert dep.timeout_ms > 0 and 0 <= dep.retries <= 2, dep.name


def test_pages_call_only_frontend_dependencies() -> None:
    for kind, page in PAGES.items():
        assert all(DEPENDENCIES[name].caller == "frontend" for name in page.calls), kind


def test_call_graph_follows_the_dependency_table() -> None:
    for dep in DEPENDENCIES.values():
        assert dep.service in CALL_GRAPH[dep.caller]
    assert set(CALL_GRAPH) == {"alb", *SERVICES}
    assert CALL_GRAPH["frontend"] == ("auth", "inventory", "recommendations", "checkout")
    assert CALL_GRAPH["checkout"] == ("auth", "inventory", "payments", "pgbouncer")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_plan_is_drawn_once_and_frozen(scenario: str) -> None:
    plan = plan_incident(SCENARIOS[scenario], 1, START)
    assert plan == plan_incident(SCENARIOS[scenario], 1, START)
    assert plan.root in SCENARIOS[scenario].roots
    assert plan.times.start <= plan.times.end and plan.times.onset < plan.times.mitigated
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.root = "frontend"  # type: ignore[misc]
    if plan.fault is not None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            plan.fault.p = 0.0  # type: ignore[misc]
