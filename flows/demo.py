"""`postmortem demo`: an embedded S3 (moto's server on loopback), a seeded incident, the flow."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import boto3
from pydantic import BaseModel

from flows.postmortem import incident_postmortem
from tasks.embedded_s3 import embedded_s3
from tasks.generator import GroundTruth, S3Sink, generate_incident, write_outputs
from tasks.models import DraftResult

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


def _use_demo_credentials(endpoint: str) -> None:
    # The demo must never touch a real account, whatever the user's shell holds.
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = "demo"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "demo"
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def run_demo(
    scenario: str,
    seed: int,
    out: Path,
    *,
    scale: float = 1.0,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> DemoOutcome:
    with embedded_s3() as endpoint:
        _use_demo_credentials(endpoint)
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket=DEMO_BUCKET)
        log(f"Embedded S3 at {endpoint}; writing the '{scenario}' incident (seed {seed})...")
        spec, truth = generate_incident(
            scenario,
            seed,
            S3Sink(client, DEMO_BUCKET),
            source_root=f"s3://{DEMO_BUCKET}",
            scale=scale,
        )
        # Ground truth lives apart from the logs, so the flow cannot see it.
        inputs = Path(out) / "inputs" / spec.id
        write_outputs(spec, truth, inputs)
        log(f"Incident spec: {inputs / 'incident.yaml'}; running the flow...")
        draft = incident_postmortem(spec, out=Path(out), progress=progress)
    return DemoOutcome(
        scenario=scenario,
        seed=seed,
        endpoint_url=endpoint,
        spec_path=inputs / "incident.yaml",
        truth=truth,
        draft=draft,
    )
