"""A generated incident run through gather and the baseline stage as plain functions (no Prefect)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.baseline import findings_from_parquet
from tasks.baseline.frame import candidate_windows
from tasks.contracts import Findings, GatherResult, IncidentSpec
from tasks.gather import gather_logs
from tasks.settings import Settings
from tasks.synthetic.generator import GroundTruth, LocalSink, generate_incident


@dataclass(frozen=True)
class Drafted:
    spec: IncidentSpec
    truth: GroundTruth
    gathered: GatherResult
    findings: Findings


def draft_generated(folder: Path, scenario: str, seed: int, scale: float) -> Drafted:
    """Generate `scenario` into `folder`/logs, gather it into `folder`/out, then its findings."""
    logs = folder / "logs"
    spec, truth = generate_incident(
        scenario, seed, LocalSink(logs), source_root=str(logs), scale=scale
    )
    windows = candidate_windows(spec)
    settings = Settings()
    gathered = gather_logs(
        spec.sources,
        [windows.incident, *windows.baselines],
        folder / "out",
        incident_id=spec.id,
        settings=settings,
    )
    findings = findings_from_parquet(gathered.parquet_path, windows, spec.id, settings)
    return Drafted(spec, truth, gathered, findings)
