"""The deployments `postmortem serve` builds, checked without a server (fast)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect.events import Event
from prefect.exceptions import ParameterTypeError
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

from flows.postmortem import postmortem_run
from flows.serve import EVENT_NAME, build_deployments, incident_trigger, weekly_cron_schedule
from tasks.contracts import IncidentSpec
from tasks.errors import SpecError
from tasks.settings import Settings
from tests.prefect_server import clean_env


def example_spec() -> IncidentSpec:
    """The payload shape docs/serve.md shows."""
    return IncidentSpec.model_validate(
        {
            "id": "INC-2041",
            "title": "Checkout 5xx after deploy",
            "severity": "SEV2",
            "window": {"start": "2026-11-24T13:05:00Z", "end": "2026-11-24T13:47:00Z"},
            "services": ["checkout"],
            "sources": [{"name": "app", "uri": "s3://acme-logs/fluent-bit-logs/"}],
            "detected_at": "2026-11-24T13:09:00Z",
            "resolved_at": "2026-11-24T13:47:00Z",
        }
    )


def _parameters_for(payload: dict) -> dict:
    """The run parameters the server renders from the trigger for an event with `payload`,
    with the server's own template machinery."""
    event = Event(
        event=EVENT_NAME,
        resource={"prefect.resource.id": "incident.INC-1"},
        payload=payload,
        occurred=datetime.now(UTC),
        id=uuid.uuid4(),
    )
    context = HydrationContext(render_jinja=True, jinja_context={"event": event})
    return hydrate(incident_trigger().parameters, context)


def test_the_event_payload_becomes_the_runs_incident_spec() -> None:
    spec = example_spec()
    parameters = _parameters_for(spec.model_dump(mode="json"))
    assert list(parameters) == ["spec"]
    assert IncidentSpec.model_validate(parameters["spec"]) == spec
    assert postmortem_run.validate_parameters(parameters)["spec"] == spec


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"window": {"start": "2026-11-24T13:05:00", "end": "2026-11-24T13:45:00Z"}}, "window"),
        ({"severity": "P1"}, "spec.severity"),
        ({"sources": []}, "spec.sources"),
        ({"runbook": "x"}, "spec.runbook"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_field(change: dict, field: str) -> None:
    """What the engine does with a served run's parameters before anything else runs: the
    run fails with this message, and nothing is gathered or published."""
    payload = example_spec().model_dump(mode="json") | change
    with pytest.raises(ParameterTypeError, match=field.replace(".", r"\.")):
        postmortem_run.validate_parameters(_parameters_for(payload))


def test_a_payload_missing_a_field_names_it() -> None:
    payload = example_spec().model_dump(mode="json")
    del payload["title"]
    with pytest.raises(ParameterTypeError, match=r"spec\.title: Field required"):
        postmortem_run.validate_parameters(_parameters_for(payload))


def test_only_incident_resolved_events_about_an_incident_start_a_run() -> None:
    trigger = incident_trigger()
    assert trigger.expect == {EVENT_NAME}
    assert trigger.match.root == {"prefect.resource.id": "incident.*"}


def test_the_deployments_carry_the_trigger_and_the_configured_weekly_schedule() -> None:
    settings = Settings(weekly_cron="15 7 * * 2", weekly_timezone="America/New_York")
    on_demand, weekly = build_deployments(settings)
    assert (on_demand.flow_name, on_demand.name) == ("postmortem-run", "incident-postmortem")
    assert on_demand.entrypoint == "flows.postmortem.postmortem_run"
    assert [t.expect for t in on_demand.triggers] == [{EVENT_NAME}]
    assert on_demand.enforce_parameter_schema is False  # a bad event must leave a failed run
    assert not on_demand.schedules
    assert (weekly.flow_name, weekly.name) == ("weekly-review", "weekly-review")
    assert weekly.entrypoint == "flows.weekly_review.weekly_review"
    [schedule] = weekly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (
        "15 7 * * 2",
        "America/New_York",
    )


@pytest.mark.parametrize(
    ("field", "value"), [("weekly_cron", "every monday"), ("weekly_timezone", "Mars/Base")]
)
def test_a_bad_schedule_setting_is_refused_naming_it(field: str, value: str) -> None:
    with pytest.raises(SpecError, match=rf"^settings\.{field}: .*{value}"):
        weekly_cron_schedule(Settings(**{field: value}))


@pytest.mark.slow  # two fresh Python processes
def test_serve_refuses_without_a_server_and_names_an_unreachable_one(tmp_path: Path) -> None:
    from tasks.synthetic.embedded_s3 import free_port

    postmortem = Path(sys.executable).parent / "postmortem"
    env = clean_env(tmp_path)
    unset = subprocess.run(
        [str(postmortem), "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert unset.returncode == 2
    assert "PREFECT_API_URL" in unset.stderr and "no scheduler" in unset.stderr

    url = f"http://127.0.0.1:{free_port()}/api"
    unreachable = subprocess.run(
        [str(postmortem), "serve"],
        env={**env, "PREFECT_API_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unreachable.returncode == 2
    assert f"cannot reach the Prefect server at {url}" in unreachable.stderr
