"""The weekly flow: load one ISO week of postmortems, compute the review, add the AI summary of
themes, render it, and (with the review gate on) wait for a reviewer before it is marked reviewed.

It wires the steps; the logic lives in tasks/weekly and flows/review.py.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from flows.postmortem import artifact_key, publish_targets
from tasks.contracts import Publication, ReviewRecord, ReviewStatus
from tasks.errors import ObjectError
from tasks.output import write_atomic, write_model_json
from tasks.render.approval import stamp_html, stamp_markdown
from tasks.settings import Settings, load_settings
from tasks.weekly import (
    WeeklyReview,
    WeeklySummary,
    build_weekly_charts,
    build_weekly_review,
    check_edited_weekly,
    iso_week,
    load_postmortems,
    render_weekly_html,
    summarise_week,
    write_weekly,
)

WEEKLY_DIR = "weekly"
REVIEWED_MD = "reviewed.md"
REVIEWED_HTML = "reviewed.html"


def last_week(now: datetime) -> str:
    """The ISO week before `now`: a Monday-morning run reviews the week that just ended."""
    return iso_week(now.astimezone(UTC) - timedelta(days=7))


# Persisted results: under a deployment the review gate suspends the run, which then runs again
# from the top on resume. The steps below come back from their results instead of calling the
# model again or re-rendering the page a reviewer is approving.
@task(name="weekly-review", persist_result=True)
def weekly_stage(week: str, root: Path, settings: Settings) -> WeeklyReview:
    records, problems = load_postmortems(root, week)
    review = build_weekly_review(records, week, settings)
    return review.model_copy(update={"warnings": [*review.warnings, *problems]})


@task(name="weekly-summary", persist_result=True)
def summary_stage(review: WeeklyReview, settings: Settings) -> WeeklySummary:
    return summarise_week(review, settings, api_key=os.environ.get("ANTHROPIC_API_KEY"))


@task(name="weekly-render", persist_result=True)
def render_stage(review: WeeklyReview, out_dir: Path, awaiting_review: bool) -> Path:
    return write_weekly(review, out_dir, datetime.now(UTC), awaiting_review=awaiting_review)


@task(name="weekly-publish")
def publish_stage(
    folder: Path, week: str, review: ReviewRecord, targets: list[str], settings: Settings
) -> Publication:
    from tasks.publish import publish_weekly

    return publish_weekly(folder, week, review, targets, settings)


def weekly_run_name() -> str:
    """`weekly-<ISO week>`, also for a scheduled run, whose `week` parameter is left empty."""
    from prefect.runtime import flow_run

    week = flow_run.parameters.get("week")
    return f"weekly-{week or last_week(datetime.now(UTC))}"


@flow(name="weekly-review", flow_run_name=weekly_run_name)
def weekly_review(
    week: str | None = None,
    settings: Settings | None = None,
    root: Path | None = None,
    publish_to: list[str] | None = None,
) -> Path:
    """Write `<root>/weekly/<week>/weekly_review.md` (and .html, charts, .json); returns the .md,
    or, when the review gate approved it, the reviewed copy `reviewed.md` beside it, which is
    then published like a postmortem (`weekly/<week>/v<N>/` under each publish target).

    `week` defaults to last week; `root` to settings.out_dir, where the drafts are; `publish_to`
    to settings.publish_to, else a `published` folder under `root`.
    """
    settings = settings or load_settings()
    week = week or last_week(datetime.now(UTC))
    if root is None:
        root = Path(settings.out_dir)
        # The configured output folder is the tool's own: on a fresh deployment no draft has
        # made it yet, and the scheduled review of that quiet week should say so, not fail.
        # A folder passed explicitly (`--out`) must exist: a typo must not pass for a quiet week.
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ObjectError(
                f"{root}: cannot create the output folder ({exc.strerror or exc}); "
                "set settings.out_dir to a folder this process may write."
            ) from None
    root = Path(root)
    review = weekly_stage(week, root, settings)
    if settings.weekly_ai_summary:
        review = review.model_copy(update={"summary": summary_stage(review, settings)})
    gate = settings.weekly_review_gate
    path = render_stage(review, root / WEEKLY_DIR / review.week, gate)
    if not gate:
        create_markdown_artifact(
            key=artifact_key("weekly", review.week),
            markdown=path.read_text(encoding="utf-8"),
            description=f"Weekly reliability review {review.week} (not reviewed)",
        )
        return path
    status = wait_for_weekly_review(review, path, settings)
    if status.state != "approved":
        return path
    reviewed = mark_reviewed(review, path, status)
    targets = publish_targets(settings, publish_to, root)
    publication = publish_stage(path.parent, review.week, status.history[-1], targets, settings)
    record_publication(path.parent, status, reviewed, publication)
    return reviewed


def wait_for_weekly_review(review: WeeklyReview, path: Path, settings: Settings) -> ReviewStatus:
    """The postmortem's review loop (flows/review.py) around the weekly page."""
    from flows.review import STATUS_FILE, name_draft, review_command, wait_for_decisions

    subject = f"weekly-{review.week}"
    html = path.with_suffix(".html")

    def announce(status: ReviewStatus, warnings: list[str]) -> None:
        write_model_json(status, path.parent / STATUS_FILE)
        name_draft(status, path, html)
        print(
            f"Waiting for review of the weekly review {review.week} (round {status.round}); "
            f"page: {path.resolve()}\n  decide with: {review_command(status.flow_run_id)}",
            file=sys.stderr,
            flush=True,
        )
        create_markdown_artifact(
            key=artifact_key("weekly", review.week),
            markdown=path.read_text(encoding="utf-8"),
            description=f"Weekly reliability review {review.week}, round {status.round}: "
            "awaiting review",
        )

    def revise(text: str) -> None:
        write_atomic(html, render_weekly_html(text, review, build_weekly_charts(review)))
        write_atomic(path, text)

    return wait_for_decisions(
        subject,
        path,
        settings,
        describe=lambda status, warnings: pause_description(review, path, status, settings),
        announce=announce,
        revise=revise,
        # Re-read at each edit: the page on disk is the one the reviewer changed.
        recheck=lambda markdown, folder, s: check_edited_weekly(
            path.read_text(encoding="utf-8"), markdown, review
        ),
        again=f"postmortem weekly --week {review.week}",
    )


def pause_description(
    review: WeeklyReview, path: Path, status: ReviewStatus, settings: Settings
) -> str:
    """What a reviewer needs in the pause form: the week's counts, the summary's state, the page."""
    from flows.review import review_command

    summary = review.summary
    if summary is None:
        said = "AI summary turned off in the settings."
    elif summary.state == "omitted":
        said = f"No AI summary: {summary.note}"
    else:
        said = (
            f"AI summary: {summary.verified} of {len(summary.themes) + summary.dropped} themes "
            f"verified, {summary.dropped} dropped."
        )
    lines = [
        f"## Review the weekly reliability review {review.week}",
        "",
        f"**Round {status.round}.** {len(review.incidents)} incident(s) "
        f"({review.published} published, {review.pending} awaiting review), "
        f"{len(review.recurring)} recurring item(s), {len(review.action_items)} open action "
        f"item(s). {said}",
        "",
        f"**Page:** `{path}` (HTML: `{path.with_suffix('.html')}`), sha256 "
        f"`{status.draft_sha256[:16]}…`. Approving approves exactly this text.",
    ]
    if settings.reviewers:
        lines.append(f"**Reviewers allowed:** {', '.join(settings.reviewers)}.")
    lines += [f"> Refused: {r}." for r in status.refused]
    lines += ["", f"From a shell: `{review_command(status.flow_run_id)}`"]
    return "\n".join(lines)


def mark_reviewed(review: WeeklyReview, path: Path, status: ReviewStatus) -> Path:
    """reviewed.md and reviewed.html: the approved page with the approval where the draft
    banner was. weekly_review.md stays byte-identical to what was approved."""
    record = status.history[-1]
    folder = path.parent
    reviewed = write_atomic(
        folder / REVIEWED_MD, stamp_markdown(path.read_text(encoding="utf-8"), record)
    )
    write_atomic(
        folder / REVIEWED_HTML,
        stamp_html(path.with_suffix(".html").read_text(encoding="utf-8"), record),
    )
    create_markdown_artifact(
        key=artifact_key("weekly", review.week),
        markdown=reviewed.read_text(encoding="utf-8"),
        description=f"Weekly reliability review {review.week}, reviewed by {record.reviewer}",
    )
    return reviewed


def record_publication(
    folder: Path, status: ReviewStatus, reviewed: Path, publication: Publication
) -> None:
    """published.json, and the review status marked published with where the copies went."""
    from flows.review import STATUS_FILE
    from tasks.publish import PUBLISHED_FILE

    write_model_json(publication, folder / PUBLISHED_FILE)
    where = ", ".join(c.target for c in publication.copies) or "nowhere"
    final = status.model_copy(
        update={
            "state": "published",
            "message": f"{status.message} The reviewed copy is {reviewed}; published to {where} "
            f"({PUBLISHED_FILE}).",
            "updated_at": datetime.now(UTC),
        }
    )
    write_model_json(final, folder / STATUS_FILE)
