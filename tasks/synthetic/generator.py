"""A deterministic generator of realistic incidents: logs in their S3 layouts, plus the truth.

Every later test, benchmark and `postmortem demo` reuses it, so it aims at two things at once:

* **Realism.** A small shop runs on EKS: eight services with a call graph, Fluent Bit shipping
  container logs to S3, an internet-facing ALB writing access logs, and CloudTrail. Each scenario
  is simulated request by request through the call graph, so a failure in one service shows up
  downstream exactly as it would: callers time out, retry, log their own errors and return 5xx.
  The root cause is therefore never the loudest service, its onset rarely matches the window the
  SRE reported, and the data also holds what confuses real responders: background errors, a
  harmless deploy and config write in the baseline, and a red-herring burst in an unrelated
  service during the incident.
* **Determinism and bounded cost.** Everything is drawn from generators seeded by
  (scenario, seed), so the same arguments give the same bytes. Objects are written one at a
  time as simulated time passes them, so memory is bounded by one flush interval whatever the
  `scale`.

What is written under `source_root` (keys relative to it):

* `fluent-bit-logs/kube.prod.<service>/%Y/%m/%d/%H/%M/%S` — Fluent Bit S3 output, gzip JSON
  lines, one object per service per 1–5 minutes, some made of several gzip members.
* `AWSLogs/<acct>/elasticloadbalancing/<region>/yyyy/mm/dd/<acct>_elasticloadbalancing_<region>_
  app.<lb>.<lb-id>_<end-time>_<node-ip>_<random>.log.gz` — one file per LB node per 5 minutes.
* `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<time>_<random>.json.gz`
  and hourly `AWSLogs/<acct>/CloudTrail-Digest/...` objects, which a reader must skip.

The parts: `topology` (services, endpoints, dependencies), `scenarios` (the scenarios and the
frozen plan of one incident), `simulation` (runs a plan), `writers` (one per log format).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tasks.contracts import IncidentSpec, LogFormat, Source, TimeWindow
from tasks.synthetic._util import to_datetime
from tasks.synthetic.scenarios import SCENARIOS, GroundTruth, Plan, Scenario, plan_incident
from tasks.synthetic.simulation import simulate
from tasks.synthetic.sinks import LocalSink, ObjectSink, S3Sink
from tasks.synthetic.stats import GenerationStats, SourceStats
from tasks.synthetic.topology import (
    ACCOUNT_ID,
    ALB_PREFIX,
    APP_PREFIX,
    CALL_GRAPH,
    CLOUDTRAIL_PREFIX,
    REGION,
    SERVICES,
    TARGET_GROUPS,
    ServiceDef,
)

__all__ = [
    "ACCOUNT_ID",
    "ALB_PREFIX",
    "APP_PREFIX",
    "CALL_GRAPH",
    "CLOUDTRAIL_PREFIX",
    "DEFAULT_INCIDENT_START",
    "REGION",
    "SCENARIOS",
    "SERVICES",
    "TARGET_GROUPS",
    "GeneratedIncident",
    "GenerationStats",
    "GroundTruth",
    "LocalSink",
    "ObjectSink",
    "S3Sink",
    "Scenario",
    "ServiceDef",
    "SourceStats",
    "generate",
    "generate_incident",
    "write_outputs",
]

DEFAULT_INCIDENT_START = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)


@dataclass
class GeneratedIncident:
    spec: IncidentSpec
    truth: GroundTruth
    stats: GenerationStats


def generate_incident(
    scenario: str,
    seed: int,
    sink: ObjectSink,
    *,
    source_root: str,
    scale: float = 1.0,
    incident_start: datetime | None = None,
) -> tuple[IncidentSpec, GroundTruth]:
    """Write one incident's logs to `sink` and return the SRE's spec and the ground truth."""
    result = generate(
        scenario, seed, sink, source_root=source_root, scale=scale, incident_start=incident_start
    )
    return result.spec, result.truth


def generate(
    scenario: str,
    seed: int,
    sink: ObjectSink,
    *,
    source_root: str,
    scale: float = 1.0,
    incident_start: datetime | None = None,
) -> GeneratedIncident:
    """Like `generate_incident`, and also return what was written (volumes, error counts)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    start = DEFAULT_INCIDENT_START if incident_start is None else incident_start
    if start.tzinfo is None:
        raise ValueError("incident_start has no timezone; pass an aware datetime (UTC)")
    started = time.perf_counter()
    plan = plan_incident(SCENARIOS[scenario], seed, start.astimezone(UTC).timestamp())
    stats = GenerationStats(sources={n: SourceStats() for n in ("app", "alb", "cloudtrail")})
    cascade = simulate(plan, scale, sink, stats)
    stats.seconds = time.perf_counter() - started
    spec = _spec(plan, stats, source_root.rstrip("/"))
    return GeneratedIncident(spec=spec, truth=_truth(plan, cascade), stats=stats)


def write_outputs(spec: IncidentSpec, truth: GroundTruth, folder: Path) -> None:
    """Write `incident.yaml` (what the SRE hands over) and `ground_truth.json` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = spec.model_dump(mode="json")
    (folder / "incident.yaml").write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    (folder / "ground_truth.json").write_text(truth.model_dump_json(indent=2) + "\n", "utf-8")


def _spec(plan: Plan, stats: GenerationStats, source_root: str) -> IncidentSpec:
    """What the SRE hands over: the two loudest services name the incident, not the cause."""
    loud = sorted(stats.errors_incident.items(), key=lambda kv: (-kv[1], kv[0]))
    affected = [s for s, n in loud[:2] if n > 0]
    sc = plan.scenario
    return IncidentSpec(
        id=f"INC-{sc.name}-{plan.seed}",
        title=f"{sc.symptom} on {' and '.join(affected) or 'the storefront'}",
        severity=sc.severity,
        window=TimeWindow(start=to_datetime(plan.times.start), end=to_datetime(plan.times.end)),
        services=affected,
        sources=[
            Source(name="app", uri=f"{source_root}/{APP_PREFIX}", format=LogFormat.FLUENTBIT_K8S),
            Source(name="alb", uri=f"{source_root}/{ALB_PREFIX}", format=LogFormat.ALB),
            Source(
                name="cloudtrail",
                uri=f"{source_root}/{CLOUDTRAIL_PREFIX}",
                format=LogFormat.CLOUDTRAIL,
            ),
        ],
        baseline=[],
    )


def _truth(plan: Plan, cascade: Counter[str]) -> GroundTruth:
    cascading = [
        s
        for s, n in sorted(cascade.items(), key=lambda kv: (-kv[1], kv[0]))
        if s != plan.root and n > 0
    ]
    tl = plan.times
    return GroundTruth(
        scenario=plan.scenario.name,
        seed=plan.seed,
        root_cause_service=plan.root,
        kind=plan.scenario.kind,
        onset=to_datetime(tl.onset),
        incident_window=TimeWindow(start=to_datetime(tl.onset), end=to_datetime(tl.mitigated)),
        change_event=plan.change_event,
        cascading_services=cascading,
        noise=list(plan.noise),
        description=plan.description,
    )
