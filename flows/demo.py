"""`postmortem demo`: an embedded S3 (moto's server on loopback), a seeded incident, the flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from flows.postmortem import incident_postmortem
from tasks.contracts import DraftResult
from tasks.gather.storage import s3_client
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
        client = s3_client(settings)
        # Unsigned requests are anonymous to S3, so the sandbox bucket on loopback is open to them.
        client.create_bucket(Bucket=DEMO_BUCKET, ACL="public-read-write")
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
        draft = incident_postmortem(spec, settings=settings, progress=progress)
    return DemoOutcome(
        scenario=scenario,
        seed=seed,
        endpoint_url=endpoint,
        spec_path=inputs / "incident.yaml",
        truth=truth,
        draft=draft,
    )
