"""The incident flows: gather -> baseline -> evidence -> analysis -> verify -> render, then
(in `postmortem_run`) review -> publish. They wire stages; the logic lives in tasks/.

A stage that fails after gather does not take the draft down with it: the draft ships with what
the earlier stages found and a section naming the failed stage and its cause, and the command
exits non-zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE

from flows.progress import RichProgress
from flows.run_log import (
    analysis_summary,
    baseline_summary,
    evidence_summary,
    gather_summary,
    log_stage,
    verification_summary,
)
from tasks.analysis import analyze, api_token_counter
from tasks.analysis.compare import compare_analyses
from tasks.baseline import findings_from_parquet
from tasks.baseline.frame import candidate_windows
from tasks.contracts import (
    Analysis,
    DraftResult,
    EvidenceManifest,
    EvidencePack,
    Findings,
    GatherResult,
    IncidentSpec,
    Publication,
    ReviewRecord,
    RunResult,
    StageFailure,
    Verification,
    WindowSet,
)
from tasks.errors import PostmortemError, ReviewError, StageError
from tasks.evidence import build_evidence_pack
from tasks.gather import gather_logs
from tasks.output import incident_dir, read_model_json, write_model_json
from tasks.render import BlameNote, bare_draft, build_charts, render_draft, write_draft
from tasks.settings import Settings, load_settings
from tasks.verify import check_edited_draft, find_blame, verify_analysis

T = TypeVar("T")

SPEC_FILE = "spec.json"
FINDINGS_FILE = "findings.json"
PACK_FILE = "evidence/pack.json"
ANALYSIS_FILE = "analysis.json"
VERIFICATION_FILE = "verification.json"


def artifact_key(kind: str, incident_id: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return f"{kind}-" + re.sub(r"[^a-z0-9-]+", "-", incident_id.lower()).strip("-")


# Persisted results let a crashed or resumed run pick up where it stopped: a suspended run that
# is resumed runs its flow function again from the top, in the same flow run, so these tasks
# come back from storage instead of reading S3 or calling the model again. The run id is part
# of the key on purpose: a new run never reuses another run's logs (late-delivered objects) or
# a result whose files were deleted since.
RESUMABLE = INPUTS + TASK_SOURCE + RUN_ID


@task(name="gather", persist_result=True, cache_policy=RESUMABLE)
def gather_stage(
    spec: IncidentSpec,
    windows: WindowSet,
    out_dir: Path,
    settings: Settings,
    progress: bool = False,
) -> GatherResult:
    bars = RichProgress() if progress else None
    with bars.shown() if bars else nullcontext():
        gathered = gather_logs(
            spec.sources, [windows.incident, *windows.baselines], out_dir, spec.id, settings, bars
        )
    log_stage(gather_summary(gathered.manifest.stats), errors=gathered.manifest.errors)
    return gathered


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
    log_stage(baseline_summary(findings), warnings=findings.warnings)
    return findings


@task(name="evidence", persist_result=True, cache_policy=RESUMABLE)
def evidence_stage(
    findings: Findings, gathered: GatherResult, out_dir: Path, settings: Settings
) -> EvidencePack:
    counter = api_token_counter(settings, os.environ.get("ANTHROPIC_API_KEY"))
    pack = build_evidence_pack(
        findings, gathered.manifest, gathered.parquet_path, settings, count_tokens=counter
    )
    write_model_json(pack, out_dir / PACK_FILE)
    log_stage(evidence_summary(pack))
    return pack


# The model call is the expensive, non-deterministic step: its result is persisted, so a run
# resumed after a review pause never calls the model again.
@task(name="analysis", persist_result=True, cache_policy=RESUMABLE)
def analysis_stage(
    pack: EvidencePack, findings: Findings, spec: IncidentSpec, out_dir: Path, settings: Settings
) -> Analysis:
    # The key is a secret: read here at the flow's edge, never passed as a (recorded) parameter.
    analysis = analyze(pack, findings, spec, settings, api_key=os.environ.get("ANTHROPIC_API_KEY"))
    write_model_json(analysis, out_dir / ANALYSIS_FILE)
    log_stage(analysis_summary(analysis))
    return analysis


@task(name="verify", persist_result=True, cache_policy=RESUMABLE)
def verify_stage(
    analysis: Analysis,
    findings: Findings,
    pack: EvidencePack,
    manifest: EvidenceManifest,
    spec: IncidentSpec,
    out_dir: Path,
    settings: Settings,
) -> Verification:
    verification = verify_analysis(analysis, findings, pack, manifest, spec, settings)
    write_model_json(verification, out_dir / VERIFICATION_FILE)
    log_stage(verification_summary(verification), warnings=verification.warnings)
    return verification


def blame_notes(analysis: Analysis | None, findings: Findings) -> list[BlameNote]:
    """Blaming wording in the analyst's statements, as warnings for the draft."""
    if analysis is None:
        return []
    services = [s.service for s in findings.services]
    return [
        BlameNote(excerpt=b.sentence, where=f"statement {c.id} ({c.section})", hint=b.suggestion)
        for c in analysis.claims
        for b in find_blame(c.text, services)
    ]


# Cached too, so a resumed run does not re-render (and so change) the draft under review.
@task(name="render", persist_result=True, cache_policy=RESUMABLE)
def render_stage(
    spec: IncidentSpec,
    findings: Findings,
    manifest: EvidenceManifest,
    out_dir: Path,
    failures: list[StageFailure],
    pack: EvidencePack | None = None,
    analysis: Analysis | None = None,
    verification: Verification | None = None,
) -> Path:
    charts = build_charts(findings)
    text = render_draft(
        spec,
        findings,
        manifest,
        datetime.now(UTC),
        failures,
        analysis=analysis,
        verification=verification,
        pack=pack,
        charts=charts,
        blame=blame_notes(analysis, findings),
    )
    return write_draft(text, spec, out_dir, charts)


def render_or_bare(
    spec: IncidentSpec,
    findings: Findings,
    manifest: EvidenceManifest,
    out_dir: Path,
    failures: list[StageFailure],
    pack: EvidencePack | None,
    analysis: Analysis | None,
    verification: Verification | None,
) -> Path:
    """The rendered draft; if rendering itself fails, a bare one that names the failures."""
    draft_path = run_stage(
        "render",
        failures,
        lambda: render_stage(
            spec, findings, manifest, out_dir, failures, pack, analysis, verification
        ),
    )
    return draft_path or write_draft(bare_draft(spec, failures), spec, out_dir)


def run_stage(name: str, failures: list[StageFailure], call: Callable[[], T]) -> T | None:
    """Run one stage; if it fails, note why and carry on with what the others found."""
    try:
        return call()
    except Exception as exc:
        failures.append(describe_failure(name, exc))
        return None


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
    return build_draft(spec, settings, incident_dir(out or settings.out_dir, spec.id), progress)


def build_draft(
    spec: IncidentSpec, settings: Settings, out_dir: Path, progress: bool = False
) -> DraftResult:
    """The drafting stages, run as tasks of whichever flow calls this (the draft flow, or the
    whole run, where they must belong to the run itself for a resume to find their results)."""
    write_model_json(spec, out_dir / SPEC_FILE)  # the weekly review reads severity and MTTD/MTTR
    windows = candidate_windows(spec)
    gathered = gather_stage(spec, windows, out_dir, settings, progress)
    failures: list[StageFailure] = []
    manifest = gathered.manifest
    findings = run_stage(
        "baseline", failures, lambda: baseline_stage(spec, windows, gathered, out_dir, settings)
    )
    pack = analysis = verification = None
    if findings is None:
        findings = Findings(incident_id=spec.id, windows=windows)
        write_model_json(findings, out_dir / FINDINGS_FILE)
    else:
        pack = run_stage(
            "evidence", failures, lambda: evidence_stage(findings, gathered, out_dir, settings)
        )
    if pack is not None:
        analysis = run_stage(
            "analysis",
            failures,
            lambda: analysis_stage(pack, findings, spec, out_dir, settings),
        )
    if analysis is not None:
        verification = run_stage(
            "verify",
            failures,
            lambda: verify_stage(analysis, findings, pack, manifest, spec, out_dir, settings),
        )
    draft_path = render_or_bare(
        spec, findings, manifest, out_dir, failures, pack, analysis, verification
    )
    create_markdown_artifact(
        key=artifact_key("draft", spec.id),
        markdown=draft_path.read_text(encoding="utf-8"),
        description=f"Draft postmortem for {spec.id} (not reviewed)",
    )
    return _draft_result(
        spec,
        out_dir,
        draft_path,
        manifest,
        findings,
        analysis,
        verification,
        failures,
        manifest_path=gathered.manifest_path,
        parquet_path=gathered.parquet_path,
    )


def _draft_result(
    spec: IncidentSpec,
    out_dir: Path,
    draft_path: Path,
    manifest: EvidenceManifest,
    findings: Findings,
    analysis: Analysis | None,
    verification: Verification | None,
    failures: list[StageFailure],
    *,
    manifest_path: Path,
    parquet_path: Path,
    reanalysis_changes: list[str] | None = None,
) -> DraftResult:
    return DraftResult(
        incident_id=spec.id,
        out_dir=out_dir,
        draft_path=draft_path,
        findings_path=out_dir / FINDINGS_FILE,
        manifest_path=manifest_path,
        parquet_path=parquet_path,
        stats=manifest.stats,
        errors=manifest.errors,
        warnings=findings.warnings,
        top_suspect=findings.suspects[0].service if findings.suspects else None,
        analyst=analysis.analyst if analysis else None,
        grounding_rate=verification.grounding_rate if verification else None,
        stage_failures=failures,
        reanalysis_changes=reanalysis_changes,
    )


@flow(name="reanalyze-postmortem", flow_run_name="reanalyze-{spec.id}")
def reanalyze_postmortem(
    spec: IncidentSpec, settings: Settings | None = None, out: Path | None = None
) -> DraftResult:
    """Run the AI stage again on the stored evidence (no gather, no baseline), verify and render,
    and say what changed against the previous analysis, which is kept beside it."""
    settings = settings or load_settings()
    out_dir = Path(out or settings.out_dir) / spec.id
    findings = read_model_json(Findings, out_dir / FINDINGS_FILE)
    manifest = read_model_json(EvidenceManifest, out_dir / "evidence" / "manifest.json")
    pack = read_model_json(EvidencePack, out_dir / PACK_FILE)
    if findings is None or manifest is None or pack is None:
        raise StageError(
            "reanalyze",
            f"{out_dir} has no stored evidence (findings.json, evidence/manifest.json and "
            "evidence/pack.json); run `postmortem draft` first.",
        )
    before = read_model_json(Analysis, out_dir / ANALYSIS_FILE)
    before_verification = read_model_json(Verification, out_dir / VERIFICATION_FILE)
    if before is not None:
        write_model_json(before, out_dir / "analysis.previous.json")
    if before_verification is not None:
        write_model_json(before_verification, out_dir / "verification.previous.json")
    failures: list[StageFailure] = []
    analysis = run_stage(
        "analysis", failures, lambda: analysis_stage(pack, findings, spec, out_dir, settings)
    )
    verification = None
    if analysis is not None:
        verification = run_stage(
            "verify",
            failures,
            lambda: verify_stage(analysis, findings, pack, manifest, spec, out_dir, settings),
        )
    draft_path = render_or_bare(
        spec, findings, manifest, out_dir, failures, pack, analysis, verification
    )
    changes = (
        compare_analyses(before, before_verification, analysis, verification)
        if before is not None and analysis is not None
        else []
    )
    return _draft_result(
        spec,
        out_dir,
        draft_path,
        manifest,
        findings,
        analysis,
        verification,
        failures,
        manifest_path=out_dir / "evidence" / "manifest.json",
        parquet_path=out_dir / "evidence" / "logs.parquet",
        reanalysis_changes=changes if before is not None else None,
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


def recheck_edited_draft(markdown: str, out_dir: Path, settings: Settings) -> list[str]:
    """Warnings about a reviewer's edited draft, against the draft it replaces (still on disk)."""
    draft = out_dir / "draft.md"
    original = draft.read_text(encoding="utf-8") if draft.is_file() else ""
    return check_edited_draft(
        original, markdown, read_model_json(Findings, out_dir / FINDINGS_FILE)
    )


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
    from flows.review import STATUS_FILE, refuse_a_second_live_run, wait_for_review
    from tasks.publish import PUBLISHED_FILE

    settings = settings or load_settings()
    refuse_a_second_live_run(spec.id, settings)
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
    status = wait_for_review(spec, out_dir, settings, recheck=recheck_edited_draft)
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
