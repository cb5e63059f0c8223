"""`postmortem demo`: an embedded S3 (moto's server on loopback), a seeded incident, the flow.

With its review gate (the default), the run must outlive the command: `start_demo` starts a
background process (`python -m flows.demo ...`) that holds the embedded S3, drafts the incident
and waits for review; the command returns once the run waits, printing the `postmortem review`
command. That command (another process) resumes the run through Prefect, and the background
process publishes to its S3 (`s3://demo-postmortems/`) and to `<out>/published/`, then exits;
its S3 goes with it, the folder copy and published.json stay. `--no-review` keeps everything
in the one process and stops at the draft.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flows.postmortem import incident_postmortem
from tasks.contracts import DraftResult, GatherStats, IncidentSpec
from tasks.errors import StageError
from tasks.gather.storage import s3_client
from tasks.output import write_model_json
from tasks.settings import Settings
from tasks.synthetic.embedded_s3 import embedded_s3
from tasks.synthetic.generator import GroundTruth, S3Sink, generate_incident, write_outputs

DEMO_BUCKET = "demo-incident-logs"


class DemoOutcome(BaseModel):
    scenario: str
    seed: int
    endpoint_url: str
    spec_path: Path
    truth: GroundTruth
    draft: DraftResult

    @property
    def top_suspect_correct(self) -> bool:
        return self.draft.top_suspect == self.truth.root_cause_service


def open_bucket(client: Any, name: str) -> None:
    """A bucket on the embedded server that unsigned requests may use: moto's server refuses an
    anonymous GetObject (403) on a private bucket, though it lets the listing through."""
    client.create_bucket(Bucket=name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def _seed_incident(
    client: Any, scenario: str, seed: int, scale: float, out: Path
) -> tuple[IncidentSpec, GroundTruth, Path]:
    """Write the scenario's logs to the embedded S3 and its spec and ground truth under
    `<out>/inputs/<id>/` (apart from the logs, so the flow cannot see the truth)."""
    open_bucket(client, DEMO_BUCKET)
    spec, truth = generate_incident(
        scenario, seed, S3Sink(client, DEMO_BUCKET), source_root=f"s3://{DEMO_BUCKET}", scale=scale
    )
    inputs = out / "inputs" / spec.id
    write_outputs(spec, truth, inputs)
    return spec, truth, inputs


def run_demo(
    scenario: str,
    seed: int,
    out: Path,
    *,
    scale: float = 1.0,
    progress: bool = False,
    log: Callable[[str], None] = print,
    settings: Settings | None = None,
) -> DemoOutcome:
    with embedded_s3() as endpoint:
        # The demo must never touch a real account, whatever the user's shell holds: every S3
        # request goes unsigned to the embedded server, so no credentials are read at all.
        settings = (settings or Settings()).model_copy(
            update={"s3_endpoint_url": endpoint, "s3_unsigned": True, "out_dir": Path(out)}
        )
        log(f"Embedded S3 at {endpoint}; writing the '{scenario}' incident (seed {seed})...")
        spec, truth, inputs = _seed_incident(s3_client(settings), scenario, seed, scale, Path(out))
        log(f"Incident spec: {inputs / 'incident.yaml'}; running the flow...")
        draft = incident_postmortem(spec, settings=settings, progress=progress)
    return DemoOutcome(
        scenario=scenario,
        seed=seed,
        endpoint_url=endpoint,
        spec_path=inputs / "incident.yaml",
        truth=truth,
        draft=draft,
    )


# --------------------------------------------------------------------------------------------
# The demo with its review gate: the run waits in a background process
# --------------------------------------------------------------------------------------------

PUBLISH_BUCKET = "demo-postmortems"
HOST_FILE = "demo-host.json"
HOST_LOG = "demo-host.log"
#: A demo should not leave a process behind for the default three days.
DEMO_REVIEW_HOURS = 1.0


class DemoHost(BaseModel):
    """demo-host.json: what the background process serves, written before its run starts."""

    pid: int
    endpoint_url: str
    scenario: str
    seed: int
    spec_path: Path
    incident_id: str
    out_dir: Path
    truth: GroundTruth
    publish_to: list[str]


class WaitingDemo(BaseModel):
    """What `postmortem demo` reports: a drafted incident whose run waits for review."""

    scenario: str
    seed: int
    endpoint_url: str
    spec_path: Path
    truth: GroundTruth
    draft_path: Path
    stats: GatherStats
    top_suspect: str | None
    flow_run_id: str
    review_command: str
    host_pid: int
    host_log: Path
    publish_to: list[str]

    @property
    def top_suspect_correct(self) -> bool:
        return self.top_suspect == self.truth.root_cause_service


def serve_demo(scenario: str, seed: int, out: Path, *, scale: float, settings: Settings) -> None:
    """The background process: an embedded S3 holding the incident's logs and the publish bucket,
    and the whole run (draft, wait for review, publish), for as long as the review takes."""
    from flows.postmortem import postmortem_run

    out = Path(out).resolve()
    with embedded_s3() as endpoint:
        settings = settings.model_copy(
            update={
                "s3_endpoint_url": endpoint,
                "s3_unsigned": True,
                "out_dir": out,
                "review_timeout_hours": min(settings.review_timeout_hours, DEMO_REVIEW_HOURS),
            }
        )
        client = s3_client(settings)
        open_bucket(client, PUBLISH_BUCKET)
        spec, truth, inputs = _seed_incident(client, scenario, seed, scale, out)
        publish_to = [f"s3://{PUBLISH_BUCKET}", str(out / "published")]
        host = DemoHost(
            pid=os.getpid(),
            endpoint_url=endpoint,
            scenario=scenario,
            seed=seed,
            spec_path=inputs / "incident.yaml",
            incident_id=spec.id,
            out_dir=out / spec.id,
            truth=truth,
            publish_to=publish_to,
        )
        # Atomic: `start_demo` polls for this file and must never read half of it.
        write_model_json(host, out / HOST_FILE)
        result = postmortem_run(spec, settings=settings, publish_to=publish_to)
        print(result.review.message, file=sys.stderr, flush=True)


def start_demo(
    scenario: str,
    seed: int,
    out: Path,
    *,
    scale: float = 1.0,
    log: Callable[[str], None] = print,
    startup_timeout: float = 900.0,
) -> WaitingDemo:
    """Start the background process and return once its run waits for review."""
    from flows.review import STATUS_FILE, read_status
    from tasks.contracts import EvidenceManifest, Findings

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / HOST_FILE).unlink(missing_ok=True)
    host_log = out / HOST_LOG
    started = time.time()
    with open(host_log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.demo", scenario, str(seed), str(out), str(scale)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # it outlives this command, and Ctrl-C here
        )
    log(
        f"Started the demo in the background (pid {process.pid}, log {host_log}): an embedded S3 "
        f"with the '{scenario}' incident (seed {seed}), then the flow up to its review..."
    )
    deadline = time.monotonic() + startup_timeout
    host: DemoHost | None = None
    while True:
        if process.poll() is not None:
            tail = host_log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise StageError("demo", f"the background process exited early:\n{tail}")
        if time.monotonic() > deadline:
            raise StageError(
                "demo",
                f"no run was waiting for review after {startup_timeout:.0f} s; see {host_log}",
            )
        if host is None and (out / HOST_FILE).is_file():
            host = DemoHost.model_validate_json((out / HOST_FILE).read_text(encoding="utf-8"))
        if host is not None:
            status_path = host.out_dir / STATUS_FILE
            if status_path.is_file() and status_path.stat().st_mtime >= started:
                status = read_status(host.out_dir)
                if status and status.state == "waiting" and status.flow_run_id:
                    break
        time.sleep(0.5)
    findings = Findings.model_validate_json((host.out_dir / "findings.json").read_text("utf-8"))
    manifest = EvidenceManifest.model_validate_json(
        (host.out_dir / "evidence" / "manifest.json").read_text("utf-8")
    )
    return WaitingDemo(
        scenario=scenario,
        seed=seed,
        endpoint_url=host.endpoint_url,
        spec_path=host.spec_path,
        truth=host.truth,
        draft_path=host.out_dir / "draft.md",
        stats=manifest.stats,
        top_suspect=findings.suspects[0].service if findings.suspects else None,
        flow_run_id=status.flow_run_id,
        review_command=f'postmortem review {status.flow_run_id} --approve --reviewer "$USER"',
        host_pid=process.pid,
        host_log=host_log,
        publish_to=host.publish_to,
    )


def exit_on_sigterm() -> None:
    """Make `kill PID` an orderly exit (SystemExit) instead of an immediate one.

    Python's default SIGTERM ends the process at once: no exit handlers run, and Prefect's
    ephemeral API, a child process of the demo, was left running after `kill` on the demo.
    """

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


if __name__ == "__main__":
    # The background half of `postmortem demo`: python -m flows.demo SCENARIO SEED OUT SCALE
    from tasks.settings import load_settings

    exit_on_sigterm()
    _scenario, _seed, _out, _scale = sys.argv[1:5]
    serve_demo(_scenario, int(_seed), Path(_out), scale=float(_scale), settings=load_settings())
