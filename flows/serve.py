"""`postmortem serve`: the two deployments, served by this process against a Prefect server.

* `postmortem-run/incident-postmortem` drafts, waits for review and publishes one incident. It starts from
  the UI or `prefect deployment run`, and on every `incident.resolved` event whose resource id is
  `incident.<anything>`: a `DeploymentEventTrigger` passes the event's payload, as it is, as the
  run's `spec` (so the payload is an IncidentSpec, see docs/serve.md).
* `weekly-review/weekly-review` writes last week's reliability review on `settings.weekly_cron`, in
  `settings.weekly_timezone`.

Both deployments read their settings when a run starts, from this process's environment and
postmortem.toml (the runs are this process's children), so they are not frozen into the
deployment; only the schedule is read once, here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tasks.contracts.spec import describe_validation_error
from tasks.errors import SpecError
from tasks.settings import Settings

if TYPE_CHECKING:
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import RunnerDeployment
    from prefect.events import DeploymentEventTrigger

EVENT_NAME = "incident.resolved"
#: Only events about an incident start a postmortem, e.g. `incident.INC-2041`.
RESOURCE_PATTERN = "incident.*"
POSTMORTEM_DEPLOYMENT = "incident-postmortem"
WEEKLY_DEPLOYMENT = "weekly-review"

# The whole payload becomes the `spec` parameter: `tojson` then `json` keeps it a mapping (a
# plain "{{ event.payload }}" would render a Python repr). The server renders it in a sandbox.
SPEC_FROM_PAYLOAD: dict[str, Any] = {
    "__prefect_kind": "json",
    "value": {"__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"},
}


def incident_trigger() -> DeploymentEventTrigger:
    """Start the postmortem deployment once per `incident.resolved` event about an incident."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name="incident-resolved",
        description=f"Draft a postmortem when an {EVENT_NAME} event arrives; "
        "its payload is the IncidentSpec.",
        expect={EVENT_NAME},
        match={"prefect.resource.id": RESOURCE_PATTERN},
        parameters={"spec": SPEC_FROM_PAYLOAD},
    )


def weekly_cron_schedule(settings: Settings) -> CronSchedule:
    """The weekly review's schedule; a bad cron string or timezone is refused here, at start."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        return CronSchedule(cron=settings.weekly_cron, timezone=settings.weekly_timezone)
    except ValidationError as exc:
        raise SpecError(f"settings.weekly_{describe_validation_error(exc)}.") from None


def build_deployments(settings: Settings) -> list[RunnerDeployment]:
    """The on-demand (and event-started) postmortem deployment and the weekly one."""
    from prefect.deployments.runner import EntrypointType

    from flows.postmortem import postmortem_run
    from flows.weekly_review import weekly_review

    weekly_schedule = weekly_cron_schedule(settings)
    # The package is installed, so runs load the flows by module path, whatever the directory
    # `postmortem serve` was started from.
    by_module = EntrypointType.MODULE_PATH
    on_demand = postmortem_run.to_deployment(
        name=POSTMORTEM_DEPLOYMENT,
        description="Draft, review and publish one incident's postmortem. Also started by an "
        f"{EVENT_NAME} event whose payload is the IncidentSpec.",
        triggers=[incident_trigger()],
        tags=["postmortem"],
        # Every event must leave a run behind. With the schema enforced, the server refuses a
        # bad payload before any run exists and says so only in an automation event nobody
        # watches; without it the run is created and fails at once, its state naming the field
        # at fault (`spec.window.start: ...`), before anything is gathered or published.
        enforce_parameter_schema=False,
        entrypoint_type=by_module,
    )
    weekly = weekly_review.to_deployment(
        name=WEEKLY_DEPLOYMENT,
        description="The weekly reliability review of last week's postmortems.",
        schedules=[weekly_schedule],
        tags=["postmortem", "weekly"],
        entrypoint_type=by_module,
    )
    return [on_demand, weekly]


def serve_deployments(settings: Settings, limit: int | None = None) -> None:
    """Serve both deployments until interrupted (the runs are this process's children)."""
    from prefect import serve

    # pause_on_shutdown=False: pausing a deployment deletes its scheduled runs, so a restart
    # across Monday 09:00 would skip that week's review. Left active, the run is created anyway
    # and starts (late) when `postmortem serve` is back; a review resumed meanwhile waits too.
    # Without --limit, Prefect's own bound applies (PREFECT_RUNNER_PROCESS_LIMIT, 5): each run
    # is a process doing CPU-heavy work, and `limit=None` would mean no bound at all.
    bound = {"limit": limit} if limit is not None else {}
    serve(*build_deployments(settings), pause_on_shutdown=False, **bound)
