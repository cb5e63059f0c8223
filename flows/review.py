"""The review gate: a draft waits for a named reviewer, and nothing is published without one.

`wait_for_review()` runs inside the incident flow. Outside a deployment it blocks in
`pause_flow_run` (the process stays up and polls); under a deployment it calls
`suspend_flow_run`, which ends the process: on resume the flow runs again from the top, its
expensive tasks come back from their persisted results, and the decisions already given are
replayed from their explicit pause keys (`review-r<round>-a<attempt>`), so the loop below must
give the same result when it runs twice. That is why the review notes are one block rebuilt from
the decisions so far, never appended to the file on disk.

`submit_review()` is the reviewer's side, shared by `postmortem review` and the tests.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar
from uuid import UUID

from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from pydantic import BaseModel, Field

from tasks.contracts import (
    Findings,
    IncidentSpec,
    ReviewRecord,
    ReviewStatus,
    Verification,
)
from tasks.errors import ObjectError, ReviewError
from tasks.output import read_model_json, write_model_json
from tasks.publish import sha256_file
from tasks.settings import Settings

M = TypeVar("M", bound=BaseModel)

STATUS_FILE = "review-status.json"
#: The flow-run input under which a waiting run names its draft, for `postmortem pending`.
DRAFT_INPUT_KEY = "postmortem-review-draft"
FLOW_NAME = "postmortem-run"
#: The weekly review's flow, which waits for a reviewer the same way.
WEEKLY_FLOW_NAME = "weekly-review"
NOTES_BEGIN = "<!-- review-notes:begin -->"
NOTES_END = "<!-- review-notes:end -->"
_NOTES = re.compile(re.escape(NOTES_BEGIN) + r".*?" + re.escape(NOTES_END) + r"\n?", re.S)


class ReviewDecision(RunInput):
    """What a reviewer decides about one draft (a Prefect `RunInput`, so the UI shows a form)."""

    decision: Literal["approve", "request_changes", "reject"] = Field(
        description="approve publishes this exact draft; request_changes re-renders and waits "
        "again; reject ends the run and publishes nothing."
    )
    reviewer: str = Field(min_length=1, description="Who decides (checked against the allowlist).")
    comments: str = Field("", description="Why, or what to change.")
    edited_markdown: str | None = Field(
        None, description="A corrected draft.md; replaces the draft and is verified again."
    )


#: Re-checks a draft a reviewer edited: (markdown, out_dir, settings) -> warnings.
Recheck = Callable[[str, Path, Settings], list[str]]


class PendingReview(BaseModel):
    """One run waiting for review, as `postmortem pending` lists it."""

    flow_run_id: str
    flow_run_name: str
    incident_id: str | None = None
    round: int | None = None
    draft_path: str | None = None
    html_path: str | None = None
    paused_at: datetime | None = None
    ui_url: str | None = None


# --------------------------------------------------------------------------------------------
# The flow's side
# --------------------------------------------------------------------------------------------


def wait_for_review(
    spec: IncidentSpec,
    out_dir: Path,
    settings: Settings,
    *,
    recheck: Recheck,
) -> ReviewStatus:
    """Wait for decisions until one approves or rejects the draft in `out_dir`, or time runs out.

    Returns the final status (also written to review-status.json): `approved` with the record in
    `history[-1]`, `rejected`, or `timed_out`. Only an approval's record can publish.
    """
    from tasks.render import write_draft

    return wait_for_decisions(
        spec.id,
        out_dir / "draft.md",
        settings,
        describe=lambda status, warnings: pause_description(
            spec, out_dir, status, warnings, settings
        ),
        announce=lambda status, warnings: _announce_waiting(
            spec, out_dir, status, warnings, settings
        ),
        revise=lambda text: write_draft(text, spec, out_dir),
        recheck=recheck,
        again=f"postmortem run INCIDENT.yaml --review-only (with the spec of {spec.id})",
    )


#: (status, warnings) -> the pause form's Markdown, or -> None after announcing the wait.
Describe = Callable[[ReviewStatus, list[str]], str]
Announce = Callable[[ReviewStatus, list[str]], None]


def wait_for_decisions(
    subject_id: str,
    draft: Path,
    settings: Settings,
    *,
    describe: Describe,
    announce: Announce,
    revise: Callable[[str], object],
    recheck: Recheck,
    again: str,
) -> ReviewStatus:
    """The review loop any document goes through (a postmortem draft, a weekly review): pause
    for a decision, refuse reviewers off the allowlist, re-render on a request for changes, and
    stop on approval, rejection or time-out. `subject_id` is what review.json records as
    `incident_id` (the weekly review's is `weekly-<week>`); `again` is the command that waits
    for a review again after a time-out."""
    out_dir = draft.parent
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else None
    history: list[ReviewRecord] = []
    refused: list[str] = []
    warnings: list[str] = []
    round_, attempt = 1, 1
    while True:
        sha = sha256_file(draft)
        status = ReviewStatus(
            incident_id=subject_id,
            state="waiting",
            flow_run_id=run_id,
            round=round_,
            draft_path=str(draft),
            draft_sha256=sha,
            updated_at=datetime.now(UTC),
            message=f"Waiting for review: {review_command(run_id)}",
            history=history,
            refused=refused,
        )
        announce(status, warnings)
        try:
            decision = _pause(
                describe(status, warnings),
                key=f"review-r{round_}-a{attempt}",
                settings=settings,
            )
        except FlowPauseTimeout:
            return _finish(
                out_dir,
                status,
                "timed_out",
                f"No decision within {settings.review_timeout_hours:g} h; the draft stays "
                f"unpublished. To wait for a review again without redrafting, run: {again}.",
            )
        attempt += 1
        if settings.reviewers and decision.reviewer not in settings.reviewers:
            refused.append(
                f"{decision.reviewer} ({decision.decision}) at {datetime.now(UTC):%Y-%m-%d %H:%M}Z: "
                "not on the reviewer allowlist"
            )
            _log().warning(
                "Refused a decision from %r: not on the reviewer allowlist %s; still waiting.",
                decision.reviewer,
                settings.reviewers,
            )
            continue
        record = ReviewRecord(
            incident_id=subject_id,
            decision=decision.decision,
            reviewer=decision.reviewer,
            decided_at=datetime.now(UTC),
            draft_sha256=sha,
            comments=decision.comments,
            round=round_,
        )
        history = [*history, record]
        write_model_json(record, out_dir / "review.json")
        status = status.model_copy(update={"history": history, "refused": refused})
        if decision.decision == "approve":
            return _finish(out_dir, status, "approved", f"Approved by {record.reviewer}.")
        if decision.decision == "reject":
            return _finish(
                out_dir,
                status,
                "rejected",
                f"Rejected by {record.reviewer}; nothing was published.",
            )
        text = draft.read_text(encoding="utf-8")
        if decision.edited_markdown is not None:
            text = decision.edited_markdown
            warnings = recheck(_NOTES.sub("", text), out_dir, settings)
        text = with_review_notes(text, history, warnings)
        revise(text)
        _finish(out_dir, status, "changes_requested", f"Changes requested by {record.reviewer}.")
        round_, attempt = round_ + 1, 1


def _pause(description: str, *, key: str, settings: Settings) -> ReviewDecision:
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    ctx = FlowRunContext.get()
    form = ReviewDecision.with_initial_data(description=description)
    timeout = max(1, round(settings.review_timeout_hours * 3600))
    if ctx and ctx.flow_run and ctx.flow_run.deployment_id:
        # Under a deployment nothing should hold a machine for days: the process ends here and
        # the run is rescheduled when the decision arrives.
        return suspend_flow_run(wait_for_input=form, timeout=timeout, key=key)
    return pause_flow_run(
        wait_for_input=form, timeout=timeout, poll_interval=settings.review_poll_seconds, key=key
    )


def with_review_notes(text: str, history: list[ReviewRecord], warnings: list[str]) -> str:
    """The draft with one review-notes block at the end, rebuilt from all the decisions so far."""
    body = _NOTES.sub("", text).rstrip("\n")
    lines = [NOTES_BEGIN, "", "## Review notes", ""]
    for record in history:
        said = record.comments.strip() or "(no comment)"
        lines.append(
            f"- **Round {record.round}, {record.reviewer}** ({record.decision.replace('_', ' ')}): "
            + said.replace("\n", " ")
        )
    if warnings:
        lines += ["", "**Checks on the edited text:**", ""]
        lines += [f"- ⚠ {w}" for w in warnings]
    lines += ["", NOTES_END, ""]
    return body + "\n\n" + "\n".join(lines)


def _finish(out_dir: Path, status: ReviewStatus, state: str, message: str) -> ReviewStatus:
    final = status.model_copy(
        update={"state": state, "message": message, "updated_at": datetime.now(UTC)}
    )
    write_model_json(final, out_dir / STATUS_FILE)
    _log().info(message)
    return final


def _log():
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except Exception:  # outside a run (unit tests of the helpers)
        import logging

        return logging.getLogger("postmortem.review")


def review_command(run_id: str | None) -> str:
    return (
        f"postmortem review {run_id or 'RUN_ID'} --approve --reviewer NAME "
        "(or --request-changes/--reject, --comment TEXT, --edited FILE)"
    )


def pause_description(
    spec: IncidentSpec,
    out_dir: Path,
    status: ReviewStatus,
    warnings: list[str],
    settings: Settings,
) -> str:
    """What a reviewer needs in the pause form: summary, suspects, grounding, where the draft is."""
    from flows.postmortem import FINDINGS_FILE, VERIFICATION_FILE
    from tasks.render import markdown_inline

    findings = _read(out_dir / FINDINGS_FILE, Findings)
    verification = _read(out_dir / VERIFICATION_FILE, Verification)
    # The UI renders this Markdown: the model's summary and the log-derived suspects are
    # untrusted text, kept inert as the draft's templates keep them.
    summary = markdown_inline(_summary(out_dir) or spec.title)
    lines = [
        f"## Review {spec.id}: {spec.title}",
        "",
        f"**Round {status.round}.** {summary}",
        "",
    ]
    if findings and findings.suspects:
        lines += ["| rank | service | score | why |", "|---|---|---|---|"]
        for s in findings.suspects[:3]:
            why = markdown_inline("; ".join(s.reasons[:2]), 300)
            lines.append(f"| {s.rank} | {markdown_inline(s.service)} | {s.score:.2f} | {why} |")
        lines.append("")
    if verification:
        lines.append(
            f"**Grounding:** {verification.grounding_rate:.0%} of claims verified, "
            f"{verification.unsupported_rate:.0%} unsupported, "
            f"{verification.contradicted_rate:.0%} contradicted"
            + (" — the analyst was degraded: low trust." if verification.degraded else ".")
        )
    else:
        lines.append("**Grounding:** no verification.json: no AI claims were checked.")
    lines += [
        "",
        f"**Draft:** `{out_dir / 'draft.md'}` (HTML: `{out_dir / 'draft.html'}`), "
        f"sha256 `{status.draft_sha256[:16]}…`. Approving approves exactly this text.",
    ]
    if settings.reviewers:
        lines.append(f"**Reviewers allowed:** {', '.join(settings.reviewers)}.")
    for refusal in status.refused:
        lines.append(f"> Refused: {markdown_inline(refusal)}.")
    for warning in warnings:
        lines.append(f"> ⚠ Edited text: {warning}")
    lines += ["", f"From a shell: `{review_command(status.flow_run_id)}`"]
    return "\n".join(lines)


def _summary(out_dir: Path) -> str | None:
    """The analysis's summary claims, facts filled in as the draft shows them, when an analysis
    exists. The claims cite `{F:...}` rather than numbers; a reviewer must see the numbers."""
    from flows.postmortem import ANALYSIS_FILE, PACK_FILE
    from tasks.contracts import Analysis, EvidencePack
    from tasks.render.claims import fill_facts

    analysis = _read(out_dir / ANALYSIS_FILE, Analysis)
    if not analysis:
        return None
    pack = _read(out_dir / PACK_FILE, EvidencePack)
    said = [fill_facts(c.text, pack)[0] for c in analysis.claims if c.section == "summary"]
    return " ".join(said) or analysis.title or None


def _read(path: Path, model: type[M]) -> M | None:
    """The model in `path`, or None when it is missing or unreadable: every caller does without."""
    try:
        return read_model_json(model, path)
    except ObjectError:
        return None


def name_draft(status: ReviewStatus, draft: Path, html: Path) -> None:
    """The run input that names what a waiting run waits on (`postmortem review` and `pending`
    read it to find the draft and its review-status.json)."""
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
    from prefect.input import create_flow_run_input, delete_flow_run_input

    if not status.flow_run_id:
        return
    # A later round, or a replay after a suspend: the input exists already; replace it.
    with contextlib.suppress(PrefectHTTPStatusError, ObjectNotFound):
        delete_flow_run_input(DRAFT_INPUT_KEY)
    create_flow_run_input(
        DRAFT_INPUT_KEY,
        {
            "incident_id": status.incident_id,
            "round": status.round,
            "draft_path": str(draft.resolve()),
            "html_path": str(html.resolve()),
        },
    )


def _announce_waiting(
    spec: IncidentSpec,
    out_dir: Path,
    status: ReviewStatus,
    warnings: list[str],
    settings: Settings,
) -> None:
    """review-status.json, the run input `postmortem pending` reads, and the Prefect artifacts."""
    from prefect.artifacts import (
        create_link_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    from flows.postmortem import FINDINGS_FILE, artifact_key

    write_model_json(status, out_dir / STATUS_FILE)
    draft = out_dir / "draft.md"
    # The person who started the run needs the run id to decide; in a deployment this line
    # lands in the worker's log, and the UI shows the form.
    print(
        f"Waiting for review of {spec.id} (round {status.round}); draft: {draft.resolve()}\n"
        f"  decide with: {review_command(status.flow_run_id)}",
        file=sys.stderr,
        flush=True,
    )
    name_draft(status, draft, out_dir / "draft.html")
    create_markdown_artifact(
        key=artifact_key("draft", spec.id),
        markdown=draft.read_text(encoding="utf-8"),
        description=f"Draft postmortem for {spec.id}, round {status.round}: awaiting review",
    )
    create_link_artifact(
        key=artifact_key("draft-link", spec.id),
        link=(out_dir / "draft.html").resolve().as_uri(),
        link_text=f"{spec.id} draft (round {status.round})",
        description="Where the draft under review is",
    )
    findings = _read(out_dir / FINDINGS_FILE, Findings)
    if findings:
        create_table_artifact(
            key=artifact_key("suspects", spec.id),
            table=[
                {
                    "rank": s.rank,
                    "service": s.service,
                    "score": round(s.score, 3),
                    "reasons": "; ".join(s.reasons),
                }
                for s in findings.suspects
            ],
            description=f"Suspects ranked by the baseline comparison for {spec.id}",
        )


# --------------------------------------------------------------------------------------------
# The reviewer's side (the CLI and the tests)
# --------------------------------------------------------------------------------------------


def submit_review(
    flow_run_id: str | UUID, decision: ReviewDecision, *, retry_seconds: float = 30.0
) -> None:
    """Resume a run waiting for review with a decision.

    Right after a run pauses there is a short window in which the server answers "Run input
    schema not found" (the schema is saved just after the state changes): that is retried.
    Everything else is one clear `ReviewError`.
    """
    from prefect.exceptions import NotPausedError, ObjectNotFound
    from prefect.flow_runs import resume_flow_run

    try:
        run_id = UUID(str(flow_run_id))
    except ValueError:
        raise ReviewError(f"{flow_run_id!r} is not a flow run id (a UUID).") from None
    deadline = time.monotonic() + retry_seconds
    payload = decision.model_dump(mode="json", exclude_none=True)
    while True:
        try:
            resume_flow_run(run_id, run_input=payload)
            return
        except ObjectNotFound:
            raise ReviewError(f"There is no flow run {run_id}.") from None
        except FlowPauseTimeout:
            raise ReviewError(
                f"Run {run_id} timed out waiting for review and can no longer be resumed; "
                "start a new review with: postmortem run INCIDENT.yaml --review-only."
            ) from None
        except NotPausedError:
            state = _state_of(run_id)
            # RUNNING: the pause (or the next round's) is on its way; PAUSED: it arrived
            # between the two reads. Either way, try again.
            if state in ("RUNNING", "PENDING", "PAUSED") and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ReviewError(
                f"Run {run_id} is not waiting for review (its state is {state})."
            ) from None
        except RuntimeError as exc:
            if "schema not found" in str(exc) and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ReviewError(f"Run {run_id} refused the decision: {exc}") from None


def draft_of(flow_run_id: str | UUID) -> dict | None:
    """What a waiting run says about its draft (incident, round, paths), or None."""
    from prefect.input import read_flow_run_input

    try:
        return read_flow_run_input(DRAFT_INPUT_KEY, flow_run_id=UUID(str(flow_run_id)))
    except Exception:  # no such run, or no such input: the caller reports it
        return None


def read_status(out_dir: Path) -> ReviewStatus | None:
    return _read(out_dir / STATUS_FILE, ReviewStatus)


def await_outcome(out_dir: Path, before: ReviewStatus, timeout: float) -> ReviewStatus | None:
    """The review status once the waiting run has acted on the decision sent after `before`:
    published, rejected, refused (still waiting), or waiting for the next round. None when that
    has not happened within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(out_dir)
        if status and (
            status.state in ("published", "rejected", "timed_out")
            or (status.state == "waiting" and status.round > before.round)
            or (status.state == "waiting" and len(status.refused) > len(before.refused))
        ):
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def _state_of(run_id: UUID) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    return run.state.type.value if run.state else "unknown"


def refuse_a_second_live_run(incident_id: str, settings: Settings) -> None:
    """Raise ReviewError when an earlier run of `postmortem-run` for this incident is still
    running or waiting for review: two runs would draft into the same folder and ask for two
    reviews. An incident tool that sends `incident.resolved` twice must not cause that.

    Of two runs started together, the earlier-created one goes on. A run left RUNNING or PAUSED by
    a process that died stops counting once it is older than the review timeout.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.runtime import flow_run
    from prefect.states import StateType
    from prefect.utilities.urls import url_for

    me = flow_run.id
    if me is None:
        return
    # SCHEDULED too: a suspended run that was approved waits there ("Resuming") to run again.
    live = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=[f"review-{incident_id}"]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=live)),
            ),
        )
        mine = client.read_flow_run(me)
    since = datetime.now(UTC) - timedelta(hours=settings.review_timeout_hours)
    first = first_earlier_run(runs, me, mine.created or datetime.now(UTC), since)
    if first is not None:
        state = first.state.name if first.state else "running"
        raise ReviewError(
            f"Not drafting {incident_id} again: run {first.name} ({first.id}) is already "
            f"{state.lower()} for it ({url_for(first) or 'see prefect flow-run ls'}); decide that "
            f"one with `postmortem review {first.id}`, or cancel it with "
            f"`prefect flow-run cancel {first.id}` to start over."
        )


def first_earlier_run(
    runs: list[FlowRun], me: str, created: datetime, since: datetime
) -> FlowRun | None:
    """The live run that goes on instead of run `me` (created at `created`), if any: the
    earliest-created other run, ties broken by run ID so that of two runs created in the same
    instant exactly one goes on. Runs created before `since` (older than the review timeout)
    were left by a process that died and do not count."""
    earlier = sorted(
        (
            r
            for r in runs
            if str(r.id) != me
            and r.created is not None
            and r.created >= since
            and (r.created, str(r.id)) < (created, me)
        ),
        key=lambda r: (r.created, str(r.id)),
    )
    return earlier[0] if earlier else None


def list_pending(limit: int = 50) -> list[PendingReview]:
    """The postmortem and weekly runs paused for review, newest first, with their drafts and UI
    links (a weekly run's incident_id is `weekly-<week>`)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.input import read_flow_run_input
    from prefect.states import StateType
    from prefect.utilities.urls import url_for

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME, WEEKLY_FLOW_NAME])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            sort=FlowRunSort.START_TIME_DESC,
            limit=limit,
        )
    pending = []
    for run in runs:
        info = read_flow_run_input(DRAFT_INPUT_KEY, flow_run_id=run.id) or {}
        pending.append(
            PendingReview(
                flow_run_id=str(run.id),
                flow_run_name=run.name,
                incident_id=info.get("incident_id"),
                round=info.get("round"),
                draft_path=info.get("draft_path"),
                html_path=info.get("html_path"),
                paused_at=run.state.timestamp if run.state else None,
                ui_url=url_for(run),
            )
        )
    return pending
