"""The incident flow: gather -> baseline -> render. It wires stages; the logic lives in tasks/.

A stage that fails after gather does not take the draft down with it: the draft ships with what
the earlier stages found and a section naming the failed stage and its cause, and the command
exits non-zero.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.progress import RichProgress
from tasks.baseline import findings_from_parquet
from tasks.baseline.frame import candidate_windows
from tasks.contracts import (
    DraftResult,
    EvidenceManifest,
    Findings,
    GatherResult,
    IncidentSpec,
    StageFailure,
    WindowSet,
)
from tasks.errors import PostmortemError
from tasks.gather import gather_logs
from tasks.output import incident_dir, write_model_json
from tasks.render import bare_draft, build_charts, render_draft, write_draft
from tasks.settings import Settings, load_settings

FINDINGS_FILE = "findings.json"


def artifact_key(kind: str, incident_id: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", incident_id.lower()).strip("-")


# Persisted results let a crashed or resumed run pick up where it stopped; the default cache
# policy includes the run id, so a new run never reuses another run's logs.
@task(name="gather", persist_result=True)
def gather_stage(
    spec: IncidentSpec,
    windows: WindowSet,
    out_dir: Path,
    settings: Settings,
    progress: bool = False,
) -> GatherResult:
    if not progress:
        return gather_logs(
            spec.sources, [windows.incident, *windows.baselines], out_dir, spec.id, settings
        )
    bars = RichProgress()
    with bars.shown():
        return gather_logs(
            spec.sources, [windows.incident, *windows.baselines], out_dir, spec.id, settings, bars
        )


@task(name="baseline", persist_result=True)
def baseline_stage(
    spec: IncidentSpec,
    windows: WindowSet,
    gathered: GatherResult,
    out_dir: Path,
    settings: Settings,
) -> Findings:
    findings = findings_from_parquet(gathered.parquet_path, windows, spec.id, settings)
    write_model_json(findings, out_dir / FINDINGS_FILE)
    return findings


@task(name="render")
def render_stage(
    spec: IncidentSpec,
    findings: Findings,
    manifest: EvidenceManifest,
    out_dir: Path,
    failures: list[StageFailure],
) -> Path:
    charts = build_charts(findings)
    text = render_draft(spec, findings, manifest, datetime.now(UTC), failures, charts=charts)
    return write_draft(text, spec, out_dir, charts)


def describe_failure(stage: str, exc: BaseException) -> StageFailure:
    """One sentence for the draft and the terminal; the traceback stays in Prefect's logs."""
    if isinstance(exc, PostmortemError):
        cause = str(exc)
    else:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        cause = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return StageFailure(stage=stage, cause=cause)


@flow(name="incident-postmortem", flow_run_name="postmortem-{spec.id}")
def incident_postmortem(
    spec: IncidentSpec,
    settings: Settings | None = None,
    out: Path | None = None,
    progress: bool = False,
) -> DraftResult:
    """Draft a postmortem for one incident: nothing is reviewed or published here.

    `settings` defaults to the environment and postmortem.toml, read once here; every stage
    receives them, and findings.json records them.
    """
    settings = settings or load_settings()
    out_dir = incident_dir(out or settings.out_dir, spec.id)
    windows = candidate_windows(spec)
    gathered = gather_stage(spec, windows, out_dir, settings, progress)
    failures: list[StageFailure] = []
    try:
        findings = baseline_stage(spec, windows, gathered, out_dir, settings)
    except Exception as exc:
        failures.append(describe_failure("baseline", exc))
        findings = Findings(incident_id=spec.id, windows=windows)
        write_model_json(findings, out_dir / FINDINGS_FILE)
    try:
        draft_path = render_stage(spec, findings, gathered.manifest, out_dir, failures)
    except Exception as exc:
        failures.append(describe_failure("render", exc))
        draft_path = write_draft(bare_draft(spec, failures), spec, out_dir)
    create_markdown_artifact(
        key=artifact_key("draft", spec.id),
        markdown=draft_path.read_text(encoding="utf-8"),
        description=f"Draft postmortem for {spec.id} (not reviewed)",
    )
    return DraftResult(
        incident_id=spec.id,
        out_dir=out_dir,
        draft_path=draft_path,
        findings_path=out_dir / FINDINGS_FILE,
        manifest_path=gathered.manifest_path,
        parquet_path=gathered.parquet_path,
        stats=gathered.manifest.stats,
        errors=gathered.manifest.errors,
        warnings=findings.warnings,
        top_suspect=findings.suspects[0].service if findings.suspects else None,
        stage_failures=failures,
    )
