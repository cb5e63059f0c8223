"""infra/prefect.yaml is what `prefect deploy` accepts, and points at the real flows."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow
from prefect.events import DeploymentEventTrigger, DeploymentTriggerTypes
from prefect.server.schemas.schedules import CronSchedule
from pydantic import TypeAdapter

from tasks.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RAW: dict[str, Any] = yaml.safe_load((ROOT / "infra" / "prefect.yaml").read_text("utf-8"))
DEPLOYMENTS = {d["name"]: d for d in RAW["deployments"]}
# `postmortem serve` creates deployments of the same names: the two paths are interchangeable.
FLOWS = {
    "incident-postmortem": ("postmortem-run", "postmortem_run"),
    "weekly-review": ("weekly-review", "weekly_review"),
}


def test_prefect_deploy_would_accept_the_file() -> None:
    # The model `prefect deploy` validates prefect.yaml with (it skips a file that fails it).
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(RAW)
    assert {d.name for d in model.deployments} == {
        "incident-postmortem",
        "weekly-review",
        "incident-postmortem-docker",
        "weekly-review-docker",
    }


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_entry_point_is_the_named_flow(name: str) -> None:
    path, _, function = DEPLOYMENTS[name]["entrypoint"].partition(":")
    assert (ROOT / path).is_file()
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, function)
    assert isinstance(flow, Flow)
    flow_name, expected_function = FLOWS[name.removesuffix("-docker")]
    assert (flow.name, function) == (flow_name, expected_function)


@pytest.mark.parametrize("name", ["weekly-review", "weekly-review-docker"])
def test_the_weekly_review_runs_on_monday_at_nine(name: str) -> None:
    (schedule,) = DEPLOYMENTS[name]["schedules"]
    assert schedule["cron"] == Settings().weekly_cron
    # The server's scheduler computes run times with this model.
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    (next_run,) = asyncio.run(cron.get_dates(n=1, start=datetime(2026, 11, 25, 12, tzinfo=UTC)))
    assert (next_run.isoformat(), next_run.strftime("%A")) == (
        "2026-11-30T09:00:00+00:00",
        "Monday",
    )


@pytest.mark.parametrize("name", ["incident-postmortem", "incident-postmortem-docker"])
def test_the_incident_deployment_starts_on_incident_resolved(name: str) -> None:
    (spec,) = DEPLOYMENTS[name]["triggers"]
    trigger = TypeAdapter(DeploymentTriggerTypes).validate_python({**spec, "name": name})
    assert isinstance(trigger, DeploymentEventTrigger)
    assert trigger.expect == {"incident.resolved"}
    assert trigger.parameters == {"spec": "{{ event.payload }}"}


def test_each_pool_gets_its_own_pair() -> None:
    pools = {name: d["work_pool"]["name"] for name, d in DEPLOYMENTS.items()}
    assert pools == {
        "incident-postmortem": "postmortem-process",
        "weekly-review": "postmortem-process",
        "incident-postmortem-docker": "postmortem-docker",
        "weekly-review-docker": "postmortem-docker",
    }
    docker = DEPLOYMENTS["weekly-review-docker"]["work_pool"]["job_variables"]
    assert docker["image"] == "postmortem-flows:latest"
    assert docker["networks"] == ["postmortem"]


def test_runs_start_where_the_image_keeps_the_code() -> None:
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text(encoding="utf-8").splitlines()
    assert [line for line in dockerfile if line.startswith("FROM")] == ["FROM python:3.11-slim"]
    (workdir,) = [line.split()[1] for line in dockerfile if line.startswith("WORKDIR")]
    for name in ("incident-postmortem-docker", "weekly-review-docker"):
        (step,) = DEPLOYMENTS[name]["pull"]
        assert step["prefect.deployments.steps.set_working_directory"]["directory"] == workdir


def test_process_runs_start_where_prefect_deploy_was_run() -> None:
    # No pull step: `prefect deploy` records its own directory, the image's WORKDIR in the
    # compose stack and the checkout for a worker run from one (test_stack_native.py runs it).
    assert RAW["pull"] is None
    for name in ("incident-postmortem", "weekly-review"):
        assert "pull" not in DEPLOYMENTS[name], name
