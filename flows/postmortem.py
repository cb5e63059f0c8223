"""The incident flows: gather -> baseline -> render (-> review -> publish). They wire stages; the
logic lives in tasks/."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE

from flows.progress import RichProgress
from tasks.baseline import findings_from_parquet
from tasks.baseline.frame import candidate_windows
from tasks.contracts import (
    DraftResult,
    EvidenceManifest,
    Findings,
    GatherResult,
    IncidentSpec,
    Publication,
    ReviewRecord,
    RunResult,
    WindowSet,
)
from tasks.errors import ReviewError
from tasks.gather import gather_logs
from tasks.output import incident_dir, write_model_json
from tasks.render import render_draft, write_draft
from tasks.settings import Settings, load_settings

FINDINGS_FILE = "findings.json"


def artifact_key(kind: str, incident_id: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", incident_id.lower()).strip("-")


# Persisted results let a crashed or resumed run pick up where it stopped: a suspended run that
# is resumed runs its flow function again from the top, in the same flow run, so these tasks
# come back from storage instead of reading S3 or calling the model again. The run id is part
# of the key on purpose: a new run never reuses another run's logs (late-delivered objects) or
# a result whose files were deleted since. Expensive stages (analysis too) use this policy.
RESUMABLE = INPUTS + TASK_SOURCE + RUN_ID


@task(name="gather", persist_result=True, cache_policy=RESUMABLE)
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


@task(name="baseline", persist_result=True, cache_policy=RESUMABLE)
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


# Cached too, so a resumed run does not re-render (and so change) the draft under review.
@task(name="render", persist_result=True, cache_policy=RESUMABLE)
def render_stage(
    spec: IncidentSpec, findings: Findings, manifest: EvidenceManifest, out_dir: Path
) -> Path:
    return write_draft(
        render_draft(spec, findings, manifest, generated_at=datetime.now(UTC)), spec, out_dir
    )


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
    return build_draft(spec, settings, incident_dir(out or settings.out_dir, spec.id), progress)


def build_draft(
    spec: IncidentSpec, settings: Settings, out_dir: Path, progress: bool = False
) -> DraftResult:
    """The drafting stages, run as tasks of whichever flow calls this (the draft flow, or the
    whole run, where they must belong to the run itself for a resume to find their results)."""
    windows = candidate_windows(spec)
    gathered = gather_stage(spec, windows, out_dir, settings, progress)
    findings = baseline_stage(spec, windows, gathered, out_dir, settings)
    draft_path = render_stage(spec, findings, gathered.manifest, out_dir)
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
    )


@task(name="publish")
def publish_stage(
    out_dir: Path, review: ReviewRecord, targets: list[str], settings: Settings
) -> Publication:
    from tasks.publish import publish

    return publish(out_dir, review, targets, settings)


def publish_targets(settings: Settings, publish_to: list[str] | None, out_root: Path) -> list[str]:
    """--publish-to, else settings.publish_to, else a `published` folder beside the drafts."""
    return list(publish_to or settings.publish_to or [str(Path(out_root) / "published")])


@flow(name="postmortem-run", flow_run_name="review-{spec.id}")
def postmortem_run(
    spec: IncidentSpec,
    settings: Settings | None = None,
    out: Path | None = None,
    publish_to: list[str] | None = None,
    review_only: bool = False,
    progress: bool = False,
) -> RunResult:
    """The whole procedure: draft, wait for a reviewer, publish on approval.

    `review_only` skips drafting and waits for a review of the draft already in the output folder
    (after a review timed out). Nothing is published without an approval of the exact draft.md.
    """
    from flows.review import STATUS_FILE, wait_for_review
    from tasks.publish import PUBLISHED_FILE

    settings = settings or load_settings()
    out_root = Path(out or settings.out_dir)
    out_dir = incident_dir(out_root, spec.id)
    draft = None
    if review_only:
        if not (out_dir / "draft.md").is_file():
            raise ReviewError(
                f"--review-only: there is no draft to review at {out_dir / 'draft.md'}."
            )
    else:
        draft = build_draft(spec, settings, out_dir, progress)
    status = wait_for_review(spec, out_dir, settings, recheck=RECHECK)
    publication = None
    if status.state == "approved":
        publication = publish_stage(
            out_dir, status.history[-1], publish_targets(settings, publish_to, out_root), settings
        )
        where = ", ".join(c.target for c in publication.copies) or "nowhere"
        status = status.model_copy(
            update={
                "state": "published",
                "message": f"{status.message} Published to {where} ({PUBLISHED_FILE}).",
            }
        )
        write_model_json(status, out_dir / STATUS_FILE)
    return RunResult(draft=draft, review=status, publication=publication)


#: Re-checks a reviewer's edited draft, (markdown, out_dir, settings) -> warnings: the lead wires
#: the verifier and the blameless check in here. None: no re-check.
RECHECK: Callable[[str, Path, Settings], list[str]] | None = None
