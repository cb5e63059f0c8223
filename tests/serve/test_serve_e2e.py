"""`postmortem serve` against a real Prefect server, the way an SRE team runs it.

A generated incident sits in moto's S3. `postmortem serve` runs as a subprocess; an
`incident.resolved` event starts the postmortem deployment, the run drafts and suspends for
review, `postmortem review --approve` (another subprocess) resumes it, and the served process
runs it again to publish into moto's S3. A bad payload fails its run, naming the field. The
weekly deployment carries its cron schedule and timezone, and one run started by hand writes
its report, waits for review like a postmortem (the same automation tells the reviewers) and
publishes into moto's S3 on approval.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from flows.serve import EVENT_NAME, POSTMORTEM_DEPLOYMENT, WEEKLY_DEPLOYMENT
from tasks.contracts import IncidentSpec
from tasks.synthetic.generator import S3Sink, generate_incident
from tasks.weekly import iso_week
from tests.prefect_server import log_tail, stop, wait_until
from tests.serve.conftest import BIN, RestServer

pytestmark = pytest.mark.slow

WEEKLY_CRON = "30 8 * * 1"
WEEKLY_TIMEZONE = "Europe/Paris"
# Bounds, not expectations: on a quiet 2-core machine each wait takes a fraction of this.
RUN_TIMEOUT = 300.0


@dataclass(frozen=True)
class Served:
    server: RestServer
    process: subprocess.Popen
    log: Path
    env: dict[str, str]
    out_dir: Path
    publish_bucket: str
    spec: IncidentSpec
    s3: object

    def deployment(self, flow: str, name: str) -> dict:
        response = self.server.call("GET", f"/deployments/name/{flow}/{name}")
        response.raise_for_status()
        return response.json()

    def runs_of(self, deployment_id: str) -> list[dict]:
        response = self.server.call(
            "POST",
            "/flow_runs/filter",
            json={"deployments": {"id": {"any_": [deployment_id]}}, "limit": 50},
        )
        response.raise_for_status()
        return response.json()

    def run(self, flow_run_id: str) -> dict:
        response = self.server.call("GET", f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def wait_for_state(self, flow_run_id: str, *states: str, timeout: float = RUN_TIMEOUT) -> dict:
        def reached() -> dict | None:
            run = self.run(flow_run_id)
            state = run.get("state") or {}
            if state.get("type") in ("FAILED", "CRASHED") and "FAILED" not in states:
                pytest.fail(
                    f"run {flow_run_id} ended {state.get('name')}: {state.get('message')}\n"
                    + log_tail(self.log)
                )
            return run if state.get("type") in states else None

        return wait_until(
            reached,
            timeout,
            f"run {flow_run_id} to reach {'/'.join(states)}",
            process=self.process,
            log=self.log,
        )

    def cli(self, *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess:
        """`postmortem ...` as a user types it, against the served server."""
        return subprocess.run(
            [str(BIN / "postmortem"), *args],
            env=self.env,
            cwd=self.out_dir.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def served(
    prefect_server: RestServer, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A small generated incident in moto's S3, and `postmortem serve` running against the
    server until the module's tests are done."""
    work = tmp_path_factory.mktemp("serve")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    logs_bucket, publish_bucket = (f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("logs", "pub"))
    s3.create_bucket(Bucket=logs_bucket)
    s3.create_bucket(Bucket=publish_bucket)
    # Written while the server starts (requested first, it is starting already).
    spec, _ = generate_incident(
        "bad-deploy", 5, S3Sink(s3, logs_bucket), source_root=f"s3://{logs_bucket}", scale=0.02
    )
    prefect_server.ready()
    out_dir = work / "postmortems"
    # As on a real deployment (a volume), the output root exists before any run: the weekly run,
    # started with the events, must not race the first draft to create it.
    out_dir.mkdir()
    env = prefect_server.client_env(
        work / "prefect-home",
        # The runs are the served process's children: these are their settings.
        POSTMORTEM_OUT_DIR=str(out_dir),
        POSTMORTEM_S3_ENDPOINT_URL=moto_endpoint,
        POSTMORTEM_ANALYST="offline",
        POSTMORTEM_PUBLISH_TO=json.dumps([f"s3://{publish_bucket}/team"]),
        POSTMORTEM_WEEKLY_CRON=WEEKLY_CRON,
        POSTMORTEM_WEEKLY_TIMEZONE=WEEKLY_TIMEZONE,
        POSTMORTEM_WEEKLY_AI_SUMMARY="false",
        # Pick up new and resumed runs within 2 s instead of 10.
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "postmortem"), "serve"],
            env=env,
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(prefect_server, process, log, env, out_dir, publish_bucket, spec, s3)
    try:
        wait_until(
            lambda: _has_trigger(served),
            150.0,
            "`postmortem serve` to create its deployments and event trigger",
            process=process,
            log=log,
        )
        yield served
    finally:
        stop(process, sig=signal.SIGINT)


def _has_trigger(served: Served) -> bool:
    """Both deployments exist, and the automation behind the event trigger too."""
    weekly = served.server.call("GET", f"/deployments/name/weekly-review/{WEEKLY_DEPLOYMENT}")
    automations = served.server.call("POST", "/automations/filter", json={})
    if weekly.status_code != 200 or automations.status_code != 200:
        return False
    return any(EVENT_NAME in (a.get("trigger") or {}).get("expect", []) for a in automations.json())


BAD_ID = "INC-bad-payload"


def notify_reviewers_yaml(block_id: str) -> str:
    """The automation docs/serve.md tells users to create, with this block's id in it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text(encoding="utf-8")
    (yaml,) = re.findall(r"```yaml\n(name: postmortem-waiting-for-review\n.*?)```", text, re.S)
    placeholder = "00000000-0000-0000-0000-000000000000"
    assert placeholder in yaml
    return yaml.replace(placeholder, block_id)


class Webhook:
    """A loopback HTTP endpoint standing in for Slack: it records what it is sent."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(self.rfile.read(length).decode("utf-8", "replace"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _notify_reviewers(served: Served, webhook: Webhook) -> None:
    """A notification block on `webhook`, and the README's automation, created the README's
    way (Python for the block, `prefect automation create --from-file` for the automation)."""
    saved = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from prefect.blocks.notifications import CustomWebhookNotificationBlock"
            " as B; print(B(name='reviewers', url=sys.argv[1], json_data={'text': "
            "'{{subject}}|{{body}}'}).save('postmortem-reviewers'))",
            webhook.url,
        ],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert saved.returncode == 0, saved.stderr
    automation = served.out_dir.parent / "notify-reviewers.yaml"
    automation.write_text(notify_reviewers_yaml(saved.stdout.strip()))
    created = subprocess.run(
        [str(BIN / "prefect"), "automation", "create", "--from-file", str(automation)],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout + created.stderr


@dataclass(frozen=True)
class Started:
    """What the module's tests started at once, so that their runs overlap."""

    postmortem_deployment_id: str
    week: str
    weekly_run_id: str


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def started(served: Served, webhook: Webhook) -> Started:
    """Both events and a weekly run, sent together: each run spends most of its time starting
    a Python process, and overlapping them keeps the module within CI's budget."""
    spec = served.spec
    _notify_reviewers(served, webhook)
    deployment = served.deployment("postmortem-run", POSTMORTEM_DEPLOYMENT)
    response = served.server.call(  # the README's curl POST, in Python
        "POST", "/events", json=[_event(spec.model_dump(mode="json"), f"incident.{spec.id}")]
    )
    assert response.status_code == 204, response.text

    bad = spec.model_dump(mode="json")
    bad["id"] = BAD_ID
    bad["window"]["start"] = "2026-11-24T13:05:00"  # no timezone
    emitted = subprocess.run(  # the README's `prefect event emit`
        [
            str(BIN / "prefect"),
            "event",
            "emit",
            EVENT_NAME,
            "--resource-id",
            f"incident.{BAD_ID}",
            "--payload",
            json.dumps(bad),
        ],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert emitted.returncode == 0, emitted.stderr

    weekly = served.deployment("weekly-review", WEEKLY_DEPLOYMENT)
    week = iso_week(spec.window.start)
    response = served.server.call(  # `prefect deployment run weekly-review/weekly-review`, by hand
        "POST", f"/deployments/{weekly['id']}/create_flow_run", json={"parameters": {"week": week}}
    )
    assert response.status_code == 201, response.text
    return Started(deployment["id"], week, response.json()["id"])


def _event(spec_payload: dict, resource_id: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": EVENT_NAME,
        "resource": {"prefect.resource.id": resource_id},
        "payload": spec_payload,
    }


def _published_keys(served: Served) -> list[str]:
    listed = served.s3.list_objects_v2(Bucket=served.publish_bucket)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _run_for(served: Served, deployment_id: str, incident_id: str) -> dict | None:
    for run in served.runs_of(deployment_id):
        spec = (run.get("parameters") or {}).get("spec")
        if isinstance(spec, dict) and spec.get("id") == incident_id:
            return run
    return None


def test_an_incident_resolved_event_drafts_waits_for_review_and_publishes(
    served: Served, started: Started, webhook: Webhook
) -> None:
    spec = served.spec
    run = wait_until(
        lambda: _run_for(served, started.postmortem_deployment_id, spec.id),
        60.0,
        f"the event to start a run for {spec.id}",
        process=served.process,
        log=served.log,
    )
    paused = served.wait_for_state(run["id"], "PAUSED")
    assert paused["state"]["name"] == "Suspended"  # under a deployment the process ends
    assert _published_keys(served) == []  # nothing before a review
    # The reviewers heard about it, through the README's automation.
    notice = wait_until(
        lambda: [m for m in webhook.received if run["id"] in m],
        60.0,
        "the reviewers' notification",
        process=served.process,
        log=served.log,
    )
    assert f"Waiting for review: review-{spec.id}" in notice[0], notice
    assert f"postmortem review {run['id']} --approve" in notice[0], notice

    pending = served.cli("pending", "--json")
    assert pending.returncode == 0, pending.stderr
    assert run["id"] in [p["flow_run_id"] for p in json.loads(pending.stdout)]

    approved = served.cli("review", run["id"], "--approve", "--reviewer", "erin", "--wait", "150")
    assert approved.returncode == 0, approved.stderr + log_tail(served.log)
    served.wait_for_state(run["id"], "COMPLETED")

    folder = f"team/postmortems/{spec.id}/v1/"
    keys = _published_keys(served)
    assert f"{folder}draft.md" in keys, keys
    body = served.s3.get_object(Bucket=served.publish_bucket, Key=f"{folder}draft.md")["Body"]
    assert body.read() == (served.out_dir / spec.id / "draft.md").read_bytes()
    published = json.loads((served.out_dir / spec.id / "published.json").read_text())
    assert published["approved_by"] == "erin"


def test_a_bad_payload_fails_its_run_naming_the_field_and_publishes_nothing(
    served: Served, started: Started
) -> None:
    run = wait_until(
        lambda: _run_for(served, started.postmortem_deployment_id, BAD_ID),
        60.0,
        "the bad event to start a run",
        process=served.process,
        log=served.log,
    )
    failed = served.wait_for_state(run["id"], "FAILED")
    assert "spec.window.start" in failed["state"]["message"], failed["state"]["message"]
    assert not (served.out_dir / BAD_ID).exists()
    assert not [k for k in _published_keys(served) if BAD_ID in k]


def test_the_weekly_deployment_has_its_schedule_writes_its_report_and_publishes_on_approval(
    served: Served, started: Started, webhook: Webhook
) -> None:
    deployment = served.deployment("weekly-review", WEEKLY_DEPLOYMENT)
    [schedule] = deployment["schedules"]
    assert schedule["active"]
    assert schedule["schedule"]["cron"] == WEEKLY_CRON
    assert schedule["schedule"]["timezone"] == WEEKLY_TIMEZONE
    assert not deployment["paused"]

    # The weekly review waits for a reviewer too, who hears of it through the same automation.
    paused = served.wait_for_state(started.weekly_run_id, "PAUSED")
    assert paused["state"]["name"] == "Suspended"
    report = served.out_dir / "weekly" / started.week / "weekly_review.md"
    assert report.is_file(), sorted(p.name for p in served.out_dir.rglob("*"))
    assert started.week in report.read_text(encoding="utf-8")
    assert report.with_suffix(".html").is_file()
    run_id = started.weekly_run_id
    notice = wait_until(
        lambda: [m for m in webhook.received if run_id in m],
        60.0,
        "the reviewers' notification of the weekly review",
        process=served.process,
        log=served.log,
    )
    assert f"Waiting for review: weekly-{started.week}" in notice[0], notice
    assert not [k for k in _published_keys(served) if "/weekly/" in k]

    approved = served.cli("review", run_id, "--approve", "--reviewer", "erin", "--wait", "150")
    assert approved.returncode == 0, approved.stderr + log_tail(served.log)
    served.wait_for_state(run_id, "COMPLETED")
    key = f"team/weekly/{started.week}/v1/weekly_review.md"
    assert key in _published_keys(served)
    body = served.s3.get_object(Bucket=served.publish_bucket, Key=key)["Body"].read()
    assert body == report.read_bytes()
