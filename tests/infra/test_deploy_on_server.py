"""`prefect deploy` of infra/prefect.yaml on a real server with basic auth: the deployments get
their cron schedule, and an `incident.resolved` event starts a run whose `spec` is the event's
payload, a valid IncidentSpec. This is what the compose stack's deploy-flows job does."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tasks.contracts import IncidentSpec
from tests.infra.prefect_server import AUTH, prefect_server
from tests.prefect_server import clean_env

ROOT = Path(__file__).resolve().parents[2]
SPEC = {
    "id": "INC-7",
    "title": "Checkout 5xx after deploy",
    "severity": "SEV2",
    "window": {"start": "2026-11-24T13:05:00Z", "end": "2026-11-24T13:47:00Z"},
    "sources": [{"name": "app", "uri": "s3://incident-logs/logs/checkout/"}],
}


def _deploy(api: str, home: Path) -> None:
    env = clean_env(home, PREFECT_API_URL=api, PREFECT_API_AUTH_STRING=":".join(AUTH))
    command = [sys.executable, "-m", "prefect", "deploy", "--no-prompt"]
    command += ["--prefect-file", "infra/prefect.yaml"]
    command += ["--name", "incident-postmortem", "--name", "weekly-review"]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _runs_of(client: httpx.Client, api: str, deployment_id: str) -> list[dict]:
    body = {"deployments": {"id": {"any_": [deployment_id]}}}
    response = client.post(f"{api}/flow_runs/filter", json=body)
    response.raise_for_status()
    return response.json()


@pytest.mark.slow
def test_prefect_yaml_deploys_and_its_trigger_starts_a_run(tmp_path: Path) -> None:
    with (
        prefect_server(tmp_path, services=True) as api,
        httpx.Client(timeout=15, auth=AUTH) as client,
    ):
        pool = client.post(
            f"{api}/work_pools/", json={"name": "postmortem-process", "type": "process"}
        )
        assert pool.status_code == 201, pool.text
        _deploy(api, tmp_path / "client-home")

        weekly = client.get(f"{api}/deployments/name/weekly-review/weekly-review").json()
        assert [s["schedule"]["cron"] for s in weekly["schedules"]] == ["0 9 * * 1"]
        incident = client.get(f"{api}/deployments/name/postmortem-run/incident-postmortem").json()
        assert incident["work_pool_name"] == "postmortem-process"
        assert _runs_of(client, api, incident["id"]) == []

        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "incident.resolved",
            "resource": {"prefect.resource.id": "incident.INC-7"},
            "payload": SPEC,
        }
        assert client.post(f"{api}/events", json=[event]).status_code == 204

        deadline = time.monotonic() + 60
        while not (runs := _runs_of(client, api, incident["id"])):
            assert time.monotonic() < deadline, "the event started no run within 60 s"
            time.sleep(1)

    (run,) = runs
    spec = IncidentSpec.model_validate(run["parameters"]["spec"])
    assert (spec.id, spec.severity, spec.sources[0].uri) == (
        "INC-7",
        "SEV2",
        "s3://incident-logs/logs/checkout/",
    )
